"""camera_update against the camera registry: what an update keeps, changes and clears. No broker; a lake once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from anpr.delta_reader import DeltaReader
from anpr.feeds.camera_table import ARROW_SCHEMA, CAMERAS, CAMERAS_SCHEMA
from api.ingest.cameras import CameraError, CameraRegistry
from api.ingest.examples import CAMERA_REGISTRATION
from api.ingest.models import CameraRegistration, CameraUpdate
from tests.unit.api.ingest.test_ingest import KEY, UTRECHT, registry

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
CAMERA = json.loads(CAMERA_REGISTRATION)["payload"][0]


def registered(**changes) -> tuple[CameraRegistry, object]:
    suppliers = registry()
    cameras = CameraRegistry([UTRECHT], suppliers, None)
    supplier = suppliers.authenticate(KEY)
    item = CameraRegistration.model_validate_json(json.dumps({**CAMERA, **changes})).model_dump(exclude_unset=True)
    cameras.commit(cameras.prepare(supplier, [item], update=False, now=NOW), "req-1", NOW)
    return cameras, supplier


def update(cameras: CameraRegistry, supplier, **fields):
    """As the ingest service passes an update: only the fields sent, explicit nulls included."""
    sent = json.dumps({"camera_id": CAMERA["camera_id"], **fields})
    item = CameraUpdate.model_validate_json(sent).model_dump(exclude_unset=True)
    [version] = cameras.prepare(supplier, [item], update=True, now=NOW)
    return version


def test_an_update_keeps_what_it_leaves_out_and_clears_what_it_sends_as_null():
    cameras, supplier = registered(zone_id="GM0344-ZE1", supplier_camera_ref="UTR-TOL-01")
    assert cameras.current[CAMERA["camera_id"]].zone_source == "declared"
    version = update(cameras, supplier, zone_id=None, fov_deg=None, tilt_deg=-10)
    # zone_id null: placed by its location again (inside the same zone), not declared
    assert (version.zone_id, version.zone_source) == ("GM0344-ZE1", "location")
    assert "fov_deg" not in version.record and "zone_id" not in version.record
    assert (version.record["tilt_deg"], version.record["supplier_camera_ref"]) == (-10, "UTR-TOL-01")
    assert version.record["location_lat"] == CAMERA["location_lat"]


@pytest.mark.parametrize("field", ["location_lat", "camera_type", "address_formatted"])
def test_an_update_cannot_clear_what_a_registration_requires(field):
    cameras, supplier = registered()
    with pytest.raises(CameraError, match=f"camera {CAMERA['camera_id']}: {field} cannot be cleared") as caught:
        update(cameras, supplier, **{field: None})
    assert caught.value.status == 422


def test_an_update_giving_one_end_of_the_active_period_is_checked_against_the_registered_other():
    """A review moved only active_to before the registered active_from, and it was accepted."""
    cameras, supplier = registered(active_from="2025-05-01T00:00:00.000Z")
    with pytest.raises(CameraError) as caught:
        update(cameras, supplier, active_to="2025-04-30T00:00:00.000Z")
    assert caught.value.status == 422 and str(caught.value) == (
        f"camera {CAMERA['camera_id']}: active_from must be before active_to (registered active_from "
        "2025-05-01T00:00:00+00:00, active_to 2025-04-30T00:00:00+00:00)")
    assert update(cameras, supplier, active_from=None, active_to="2025-04-30T00:00:00.000Z")  # start cleared
    ended = update(cameras, supplier, active_to="2025-06-01T00:00:00.000Z")
    cameras.commit([ended], "req-2", NOW)
    with pytest.raises(CameraError, match="active_from must be before active_to"):
        update(cameras, supplier, active_from="2025-06-02T00:00:00.000Z")


@pytest.mark.parametrize("update_it", [False, True])
def test_a_configured_camera_is_refused_by_messages_and_listed_as_configured(update_it):
    """The stream places conf/municipalities' cameras from there and ignores versions sent for them: a
    registration of one was accepted and changed nothing, an update was told to register first."""
    suppliers = registry()
    cameras = CameraRegistry([UTRECHT], suppliers, None)
    supplier = suppliers.authenticate(KEY)
    configured = UTRECHT.cameras[0]
    item = {**CAMERA, "camera_id": configured.camera_id.upper()}
    with pytest.raises(CameraError) as caught:
        cameras.prepare(supplier, [item], update=update_it, now=NOW)
    kind = "camera_update" if update_it else "camera_registration"
    assert caught.value.status == 422 and str(caught.value) == (
        f"camera {configured.camera_id} is configured by the platform team (conf/municipalities), which places "
        f"it; a {kind} here would change nothing")
    cameras.commit(cameras.prepare(supplier, [CAMERA], update=False, now=NOW), "req-1", NOW)
    states = cameras.states(supplier)
    assert [(s.camera_id, s.source) for s in states] == sorted(
        [(c.camera_id, "configured") for c in UTRECHT.cameras[:6]] + [(CAMERA["camera_id"], "registered")])
    mine = next(s for s in states if s.camera_id == configured.camera_id)
    assert (mine.municipality, mine.zone_id, mine.obverse_direction, mine.valid_from) == (
        "GM0344", configured.zone_id, configured.obverse_direction, None)


def test_a_registrations_null_is_only_absent():
    cameras, _ = registered(fov_deg=None)
    assert "fov_deg" not in cameras.current[CAMERA["camera_id"]].record


def test_an_update_of_a_field_replaces_its_older_spelling_in_a_stored_record():
    """Records stored before the working group's spelling hold address_number; a review saw an update's
    null (or new value) leave that key beside the new one."""
    cameras, supplier = registered()
    cameras.current[CAMERA["camera_id"]].record |= {"address_number": "12", "address_postcode": "3511AB"}
    version = update(cameras, supplier, address_number=None, address_postal_code="3582 AA")
    assert "address_number" not in version.record and "address_house_number" not in version.record
    assert "address_postcode" not in version.record and version.record["address_postal_code"] == "3582 AA"


def test_a_version_stored_under_an_upper_case_id_is_closed_by_the_next(tmp_path):
    """Rows stored before ids were compared in lower case: the registry did not know them as current, so an
    update was refused as unregistered, and a registration left two current versions of one camera."""
    lake = DeltaReader(str(tmp_path))
    stored = registered()[0].current[CAMERA["camera_id"]].row("req-0", NOW) | {"camera_id": CAMERA["camera_id"].upper()}
    lake.create(CAMERAS, CAMERAS_SCHEMA)
    lake.merge(CAMERAS, pa.Table.from_pylist([stored], schema=ARROW_SCHEMA), keys=["camera_id", "valid_from"])
    suppliers = registry()
    cameras = CameraRegistry([UTRECHT], suppliers, lake)
    sent = {"camera_id": CAMERA["camera_id"], "camera_status": "inactive",
            "camera_status_updated_at": "2026-03-11T08:00:00.000Z"}
    item = CameraUpdate.model_validate_json(json.dumps(sent)).model_dump(exclude_unset=True)
    cameras.commit(cameras.prepare(suppliers.authenticate(KEY), [item], update=True, now=NOW), "req-2", NOW)
    rows = sorted(lake.read_arrow(CAMERAS).to_pylist(), key=lambda r: r["valid_from"])
    assert [(r["camera_id"], r["camera_status"], r["valid_to"]) for r in rows] == [
        (CAMERA["camera_id"].upper(), "active", datetime(2026, 3, 11, 8, tzinfo=UTC)),
        (CAMERA["camera_id"], "inactive", None)]
