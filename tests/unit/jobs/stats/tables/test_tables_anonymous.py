"""Table 5.5 computed by hand from inline out_of_scope rows: weekdays add up, cameras and months stay apart."""

from __future__ import annotations

from datetime import date

import pandas as pd

from anpr.catalogue import CATALOGUE, TABLES
from anpr.lake import to_arrow
from anpr.stream_tables import OUT_OF_SCOPE_SCHEMA
from anpr.zones import Municipality
from jobs.stats.rows import spec_schema
from jobs.stats.tables.anonymous import anonymous_rows

SPEC = TABLES["t5_5_buiten_doelgroep"]
TOWN = Municipality.model_validate({
    "municipality": "Teststad", "code": "GM0999",
    "zones": [{"zone_id": "GM0999-ZE1", "ndw_code": 999001, "name": "ZE-zone Teststad",
               "polygon": [[5.0, 52.0], [5.01, 52.0], [5.01, 52.01], [5.0, 52.01], [5.0, 52.0]]}],
    "cameras": [{"camera_id": f"c{i}", "name": f"Camera {i}", "lat": 52.0, "lon": 5.0 + i / 1000, "azimuth_deg": 0.0,
                 "zone_id": "GM0999-ZE1", "obverse_direction": "Inbound"} for i in (1, 2)],
})


def counts(*rows: tuple) -> pd.DataFrame:
    """rows: (camera, direction, local day, hour, detections) in GM0999-ZE1."""
    return pd.DataFrame([{"municipality": "GM0999", "zone_id": "GM0999-ZE1", "camera_id": c, "rij_richting_zone": d,
                          "event_date": day, "uur": u, "detections": n} for c, d, day, u, n in rows])


def test_two_days_of_one_weekday_add_up_and_another_camera_or_month_stays_apart():
    rows = counts(
        ("c1", "Inbound", date(2026, 3, 2), 8, 5),  # Monday
        ("c1", "Inbound", date(2026, 3, 9), 8, 7),  # the next Monday: the same cell
        ("c1", "Inbound", date(2026, 3, 9), 8, 1),  # a later micro-batch of that cell
        ("c2", "Inbound", date(2026, 3, 2), 8, 4),  # the same hour at another camera
        ("c1", None, date(2026, 3, 7), 23, 2),  # Saturday, direction unknown
        ("c1", "Inbound", date(2026, 2, 23), 8, 100),  # a Monday of February
        ("c1", "Inbound", date(2026, 4, 6), 8, 100),  # a Monday of April
    )
    out = anonymous_rows(SPEC, CATALOGUE.dimensions, rows, [TOWN], 2026, 3)
    assert list(out.columns) == SPEC.columns
    got = {(r["cameraId"], r["rijRichtingZone"], r["weekDag"], r["uur"]): r["aantalDetectiesBuitenDoelgroep"]
           for r in out.to_dict("records")}
    assert got == {("c1", "Inbound", 1, 8): 13, ("c2", "Inbound", 1, 8): 4, ("c1", "Onbekend", 6, 23): 2}
    first = out.iloc[0].to_dict()
    assert first["zoneId"] == 999001 and first["zoneAanduiding"] == "GM0999-ZE1"
    assert first["zoneNaam"] == "ZE-zone Teststad" and first["gemeenteCode"] == "GM0999"
    assert (out["maand"] == 3).all() and (out["jaar"] == 2026).all()
    assert dict(zip(out["cameraId"], out["locatie"], strict=True)) == {"c1": "Camera 1", "c2": "Camera 2"}


def test_a_month_without_out_of_scope_rows_gives_an_empty_table():
    none = counts(("c1", "Inbound", date(2026, 2, 23), 8, 3))
    # read_month's frame when the stream never dropped a detection: the columns, untyped
    never = pd.DataFrame({c: pd.Series(dtype=object) for c in OUT_OF_SCOPE_SCHEMA.fieldNames()})
    for rows in (none, none.iloc[0:0], never):
        out = anonymous_rows(SPEC, CATALOGUE.dimensions, rows, [TOWN], 2026, 3)
        assert out.empty and list(out.columns) == SPEC.columns
        assert to_arrow(out, spec_schema(SPEC, CATALOGUE)).num_rows == 0


def test_rows_of_a_zone_not_configured_are_left_out():
    rows = counts(("c1", "Inbound", date(2026, 3, 2), 8, 5)).assign(zone_id="GM0999-ZE9")
    assert anonymous_rows(SPEC, CATALOGUE.dimensions, rows, [TOWN], 2026, 3).empty
