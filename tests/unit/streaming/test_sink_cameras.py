"""A camera registered through the ingest endpoint while the stream runs: its reads are not quarantined."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from anpr.feeds.camera_table import CAMERAS, CAMERAS_SCHEMA, camera_placements, registered_camera_rows
from anpr.lake import Lake
from anpr.stream_tables import PASSAGES, QUARANTINE
from anpr.zones import load_municipalities
from streaming import pipeline as P
from streaming.cameras import cameras_frame, cameras_version, changed_cameras, registered_cameras
from streaming.job import ensure_tables
from streaming.sink import CamerasChanged, PassageSink
from tests.peppers import pepper_file
from tests.unit.streaming.test_pipeline import PEPPER, kafka_rows, obs, prepared

UNREGISTERED = "99999999-2222-4333-8444-555555555555"  # no camera of the unit tests' cameras frame


def registration(camera_id: str) -> dict:
    """A current version of an API-registered camera in Utrecht's zone, as the ingest endpoint writes it."""
    zone = load_municipalities()[0].zones[0].zone_id
    now = datetime(2026, 3, 10, tzinfo=UTC)
    return {"camera_id": camera_id, "valid_from": now, "valid_to": None, "supplier": "test-supplier",
            "municipality": "GM0344", "zone_id": zone, "zone_source": "declared", "obverse_direction": "Inbound",
            "reverse_direction": "Outbound", "direction_source": "geometry", "problem": None,
            "camera_type": "enforcement", "camera_status": "active", "latitude": 52.09, "longitude": 5.12,
            "azimuth_deg": 90.0, "record": "{}", "request_id": None, "recorded_at": now}


def test_a_batch_meeting_cameras_registered_since_its_query_began_restarts_it_uncommitted(spark, settings,
                                                                                         tmp_path):
    own = settings.model_copy(update={"data_dir": tmp_path, "pepper": SecretStr(PEPPER.decode())})
    lake = Lake(str(tmp_path / "lake"), spark)
    ensure_tables(lake)
    assert cameras_version(lake) is None and cameras_version(None) is None
    lake.create(CAMERAS, CAMERAS_SCHEMA)  # the ingest endpoint's first registration makes the table
    created = cameras_version(lake)
    batch = P.validate(prepared(spark, [json.dumps(obs(1, camera_id=UNREGISTERED)).encode(),
                                        json.dumps(obs(2)).encode()]), 5, 7, 0.6)
    spark.sparkContext.setLocalProperty("sql.streaming.queryId", "unit-query")
    try:
        # A newer table that registers none of the batch's unknown cameras costs no restart: quarantined.
        reports: list = []
        unmoved = PassageSink.open(spark, own, lake, reports.append, cameras_at=None)
        unmoved(batch, 0)
        assert [r.quarantined for r in reports] == [{P.Reason.UNKNOWN_CAMERA: 1}] and unmoved.cameras_at == created
        lake.append(CAMERAS, spark.createDataFrame([registration(UNREGISTERED.upper())], CAMERAS_SCHEMA))
        registered = cameras_version(lake)
        began_before = PassageSink.open(spark, own, lake, pepper=None, cameras_at=created)
        with pytest.raises(CamerasChanged, match=rf"1 reads of cameras unknown .* {created} -> {registered}"):
            began_before(batch, 1)
        assert began_before.cameras_to == registered
        assert lake.read_arrow(QUARANTINE).num_rows == 1 and lake.read_arrow(PASSAGES).num_rows == 1  # batch 0's
    finally:
        spark.sparkContext.setLocalProperty("sql.streaming.queryId", None)


def test_a_camera_update_that_moves_a_held_camera_restarts_the_query_and_a_cosmetic_one_does_not(spark, settings,
                                                                                                 tmp_path):
    """Before, an update reached the stream only on its next restart: a camera turned round (direction rule
    swapped) or moved to another zone was counted by its old place meanwhile."""
    own = settings.model_copy(update={"data_dir": tmp_path, "pepper": SecretStr(PEPPER.decode())})
    own = own.model_copy(update={"stream": own.stream.model_copy(update={"register_check_seconds": 0})})
    lake = Lake(str(tmp_path / "lake"), spark)
    ensure_tables(lake)
    camera, municipalities = "5b7e2c44-1d3f-4a8b-9c6d-2e1f0a9b8c7d", load_municipalities()
    first = registration(camera)
    lake.create(CAMERAS, CAMERAS_SCHEMA)
    lake.append(CAMERAS, spark.createDataFrame([first], CAMERAS_SCHEMA))
    began, held = cameras_version(lake), registered_cameras(lake, municipalities)
    assert list(held) == [camera] and [p["obverse_direction"] for p in held[camera]] == ["Inbound"]

    def update(**changes) -> None:
        """A new current version, the previous one closed: as the ingest endpoint commits a camera_update."""
        [current] = [r for r in lake.read_arrow(CAMERAS).to_pylist() if r["valid_to"] is None]
        moment = current["valid_from"] + timedelta(days=1)
        lake.merge(CAMERAS, spark.createDataFrame([current | {"valid_to": moment},
                                                   current | changes | {"valid_from": moment}], CAMERAS_SCHEMA),
                   keys=["camera_id", "valid_from"])

    batch = P.validate(prepared(spark, [json.dumps(obs(1)).encode()]), 5, 7, 0.6)
    spark.sparkContext.setLocalProperty("sql.streaming.queryId", "unit-query")
    try:
        update(camera_status="inactive", record='{"notes": "lens replaced"}')  # nothing the stream places by
        sink = PassageSink.open(spark, own, lake, pepper=None, cameras_at=began, registered=held)
        sink(batch, 0)
        assert lake.read_arrow(PASSAGES).num_rows == 1 and sink.cameras_to is None
        update(obverse_direction="Outbound", reverse_direction="Inbound")
        moved = cameras_version(lake)
        with pytest.raises(CamerasChanged, match=rf"1 cameras of this query changed .* -> {moved}\)"):
            sink(P.validate(prepared(spark, [json.dumps(obs(2)).encode()]), 5, 7, 0.6), 1)
        assert sink.cameras_to == moved and lake.read_arrow(PASSAGES).num_rows == 1  # batch 1 wrote nothing
        assert changed_cameras(held, registered_cameras(lake, municipalities)) == [camera]
    finally:
        spark.sparkContext.setLocalProperty("sql.streaming.queryId", None)


def test_a_cameras_versions_become_its_placements_over_event_time(spark, tmp_path):
    """A status update places alike (one placement); a move starts another; a version without a zone places
    nothing, so reads of that time stay UNKNOWN_CAMERA; the first placement also holds reads from before it."""
    lake = Lake(str(tmp_path / "lake"), spark)
    lake.create(CAMERAS, CAMERAS_SCHEMA)
    camera, municipalities = "5b7e2c44-1d3f-4a8b-9c6d-2e1f0a9b8c7d", load_municipalities()
    first = registration(camera.upper())
    at = [first["valid_from"] + timedelta(days=d) for d in range(5)]
    changes = [{}, {"camera_status": "inactive"}, {"obverse_direction": "Outbound", "reverse_direction": "Inbound"},
               {"zone_id": None, "zone_source": "unresolved"}, {}]
    rows = [first | change | {"valid_from": since, "valid_to": until}
            for change, since, until in zip(changes, at, at[1:] + [None], strict=True)]
    lake.append(CAMERAS, spark.createDataFrame(rows, CAMERAS_SCHEMA))
    placed = [(p["camera_id"], p["valid_from"], p["valid_to"], p["obverse_direction"])
              for p in camera_placements(lake, municipalities)]
    assert placed == [(camera, None, at[2], "Inbound"), (camera, at[2], at[3], "Outbound"),
                      (camera, at[4], None, "Inbound")]
    assert [p["obverse_direction"] for p in registered_camera_rows(lake, municipalities)] == ["Inbound"]
    assert [p["obverse_direction"] for p in registered_camera_rows(lake, municipalities, at=at[0] - timedelta(days=3))
            ] == ["Inbound"]
    assert registered_camera_rows(lake, municipalities, at=at[3]) == []
    assert [len(places) for places in registered_cameras(lake, municipalities).values()] == [3]


def test_reads_of_a_camera_without_a_zone_now_restart_no_query_at_other_cameras_commits(spark, settings, tmp_path):
    """A review's case: a held camera moved out of every zone reads on (UNKNOWN_CAMERA, as meant); each commit
    of another camera's registration or update restarted the query at that batch again."""
    own = settings.model_copy(update={"data_dir": tmp_path, "pepper": SecretStr(PEPPER.decode())})
    lake = Lake(str(tmp_path / "lake"), spark)
    ensure_tables(lake)
    lake.create(CAMERAS, CAMERAS_SCHEMA)
    zoned, unzoned = datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
    outside = {"zone_id": None, "zone_source": "unresolved", "obverse_direction": None, "reverse_direction": None}
    lake.append(CAMERAS, spark.createDataFrame([registration(UNREGISTERED) | {"valid_to": unzoned, "valid_from": zoned},
                                                registration(UNREGISTERED) | outside | {"valid_from": unzoned}],
                                               CAMERAS_SCHEMA))
    held = registered_cameras(lake, load_municipalities())
    parsed = P.parse_observations(kafka_rows(spark, [json.dumps(obs(1, camera_id=UNREGISTERED)).encode()]))
    placed = P.attach_cameras(P.pseudonymize(parsed, pepper_file(PEPPER)), cameras_frame(spark, lake, held))
    batch = P.validate(placed, 5, 7, 0.6)
    spark.sparkContext.setLocalProperty("sql.streaming.queryId", "unit-query")
    try:
        sink = PassageSink.open(spark, own, lake, pepper=None, cameras_at=cameras_version(lake), registered=held)
        for i in range(2):
            other = registration(f"88888888-2222-4333-8444-55555555555{i}")
            lake.append(CAMERAS, spark.createDataFrame([other], CAMERAS_SCHEMA))
            sink(batch, i)
        assert sink.cameras_to is None and lake.read_arrow(QUARANTINE).num_rows == 2
        back = registration(UNREGISTERED) | {"valid_from": unzoned + timedelta(hours=1)}  # a zone again from 01:00
        lake.append(CAMERAS, spark.createDataFrame([back], CAMERAS_SCHEMA))
        with pytest.raises(CamerasChanged, match="1 reads of cameras unknown .* registered or placed anew"):
            sink(batch, 2)  # placed anew, the read's 11:59 in it: restarts once
    finally:
        spark.sparkContext.setLocalProperty("sql.streaming.queryId", None)


def test_a_camera_whose_first_versions_had_no_zone_places_its_earlier_reads_by_its_first_zone(spark, tmp_path):
    lake = Lake(str(tmp_path / "lake"), spark)
    lake.create(CAMERAS, CAMERAS_SCHEMA)
    typo, fixed = datetime(2026, 3, 10, 10, tzinfo=UTC), datetime(2026, 3, 10, 10, 5, tzinfo=UTC)
    outside = {"zone_id": None, "zone_source": "unresolved", "obverse_direction": None, "reverse_direction": None}
    lake.append(CAMERAS, spark.createDataFrame([registration(UNREGISTERED) | outside | {"valid_from": typo,
                                                                                        "valid_to": fixed},
                                                registration(UNREGISTERED) | {"valid_from": fixed}], CAMERAS_SCHEMA))
    assert [(p["valid_from"], p["valid_to"]) for p in camera_placements(lake, load_municipalities())] == [(None, None)]
