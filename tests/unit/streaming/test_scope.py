"""Data minimization at the stream: only detections in their municipality's scope become passages; the
rest are counted without any token (tests/unit/streaming/test_pipeline.py style, a few inline rows)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest
from pyspark.sql import Row

from anpr import pseudonym
from anpr.lake import spark_to_arrow_schema
from anpr.register_conf import load_register_conf
from anpr.register_tables import OWNERS, OWNERS_SCHEMA, VEHICLES, VEHICLES_SCHEMA
from anpr.stream_tables import OUT_OF_SCOPE, OUT_OF_SCOPE_KEYS, STREAM_METRICS
from anpr.zones import Municipality, Scope, Zone, load_municipalities
from streaming import pipeline as P
from streaming.sink import check_scopes
from tests.unit.streaming.test_pipeline import CAM, PEPPER, obs, run_sink

CAR, VAN = "12-DFG-3", "VZ-456-D"  # synthetic plates: a private passenger car, a company van


def municipality(code: str, scope: Scope) -> Municipality:
    zone = Zone(zone_id=f"{code}-ZE1", ndw_code=int(code[2:]) * 1000 + 1, name="Zone",
                polygon=[(5.0, 52.0), (5.1, 52.0), (5.1, 52.1)])
    return Municipality(municipality=code, code=code, zones=[zone], scope=scope)


@pytest.mark.parametrize(("code", "voertuig_type", "eigenaar_type", "kept"), [
    ("GM0344", "Personenauto", "Particulier", False),  # the private passenger car
    ("GM0344", "Personenauto", "Bedrijf", True),  # a company car
    ("GM0344", "Bestelauto", "Particulier", True),  # a van, whoever owns it
    ("GM0344", "Vrachtauto", None, True),  # no owner on record: the type decides
    ("GM0344", "Bus", "Particulier", True),
    ("GM0344", "Overig", "Particulier", False),  # a private motorcycle
    ("GM0344", "Overig", None, False),
    ("GM0344", "Buitenlands", None, True),  # unclassified: kept by default
    ("GM0344", "Onbekend", None, True),
    ("GM0001", "Buitenlands", None, False),  # a municipality that drops unclassified plates
    ("GM0001", "Onbekend", None, True),
    ("GM0001", "Personenauto", "Bedrijf", False),  # and company cars
    ("GM9999", "Personenauto", "Particulier", False),  # not declared: the default scope
    ("GM9999", "Buitenlands", None, True),
])
def test_a_detection_is_in_scope_by_vehicle_type_owner_type_or_unclassified_label(spark, code, voertuig_type,
                                                                                 eigenaar_type, kept):
    municipalities = [municipality("GM0344", Scope()),
                      municipality("GM0001", Scope(eigenaar_types=[], unclassified=["Onbekend"]))]
    frame = spark.createDataFrame([Row(municipality=code, voertuig_type=voertuig_type, eigenaar_type=eigenaar_type)],
                                  "municipality string, voertuig_type string, eigenaar_type string")
    [row] = P.mark_scope(frame, municipalities).collect()
    assert row.in_scope is kept


def test_out_of_scope_counts_hold_no_key_token_or_id(spark):
    day = date(2026, 3, 10)
    rows = [Row(observation_id=f"o{i}", vehicle_key=f"k{i % 2}", municipality="GM0344", zone_id="Z1", camera_id=CAM,
                rij_richting_zone=direction, event_date=day, uur=hour, voertuig_type="Personenauto")
            for i, (direction, hour) in enumerate([("Inbound", 8), ("Inbound", 8), ("Outbound", 8), ("Inbound", 9),
                                                    (None, 9)])]
    out = P.out_of_scope_counts(spark.createDataFrame(rows)).collect()
    assert set(out[0].asDict()) == {*OUT_OF_SCOPE_KEYS, "detections"}
    counts = {(r.rij_richting_zone, r.uur): r.detections for r in out}
    assert counts == {("Inbound", 8): 2, ("Outbound", 8): 1, ("Inbound", 9): 1, (None, 9): 1}


def test_a_mistyped_scope_vehicle_type_is_refused_naming_the_municipality():
    conf = load_register_conf()
    check_scopes(load_municipalities(), conf)  # the shipped configuration is consistent
    with pytest.raises(ValueError, match=r"GM0344.*\['Bestelautos'\]"):
        check_scopes([municipality("GM0344", Scope(voertuig_types=["Bestelautos", "Bus"]))], conf)


def register_of_a_car_and_a_van(lake) -> None:  # noqa: ANN001 - a Lake
    since = datetime(2026, 1, 1, tzinfo=UTC)

    def table(schema, rows: list[dict]) -> pa.Table:  # noqa: ANN001
        arrow = spark_to_arrow_schema(schema)
        return pa.Table.from_pylist(rows, schema=pa.schema([f for f in arrow if f.name in rows[0]]))

    car, van = (pseudonym.vehicle_key(PEPPER, p, "NL") for p in (CAR, VAN))
    lake.append(VEHICLES, table(VEHICLES_SCHEMA, [
        {"vehicle_key": car, "valid_from": since, "voertuig_type": "Personenauto"},
        {"vehicle_key": van, "valid_from": since, "voertuig_type": "Bestelauto"}]))
    lake.append(OWNERS, table(OWNERS_SCHEMA, [
        {"vehicle_key": car, "valid_from": since, "eigenaar_type": "Particulier", "company_key": None},
        {"vehicle_key": van, "valid_from": since, "eigenaar_type": "Bedrijf",
         "company_key": pseudonym.company_key(PEPPER, "87654321")}]))


def test_a_private_car_is_counted_not_written_and_every_read_is_accounted_for(spark, settings, tmp_path):
    reads = [obs(1, plate_text=CAR), obs(2, plate_text=VAN),
             obs(3, plate_text=CAR, lane=2, event_time="2026-03-10T11:59:01.000Z"),  # a double read of the car
             obs(4, plate_country="DE", plate_text="B AB 1234"),  # unclassified: kept
             obs(5, plate_text=CAR, read_confidence=0.1)]  # quarantined
    # delivered twice: the replay after a crash writes nothing twice, the count included
    report, written = run_sink(spark, settings, tmp_path, reads, register=register_of_a_car_and_a_van, times=2)
    assert written == sorted([obs(2)["observation_id"], obs(4)["observation_id"]])
    assert (report.out_of_scope, report.double_reads, report.duplicates, report.passages_written) == (1, 1, 0, 2)
    assert report.rows_in == (report.passages_written + report.duplicates + report.double_reads
                              + sum(report.quarantined.values()) + report.out_of_scope)
    from anpr.lake import Lake

    lake = Lake(str(tmp_path / "lake"), spark)
    [metrics] = lake.read_arrow(STREAM_METRICS).to_pylist()
    assert metrics["out_of_scope"] == 1
    [count] = lake.read_arrow(OUT_OF_SCOPE).to_pylist()
    # 11:59 UTC is 12:59 in Amsterdam; the unit test camera's front plates drive in
    assert count == {"municipality": "GM0344", "zone_id": "Z1", "camera_id": CAM, "rij_richting_zone": "Inbound",
                     "event_date": date(2026, 3, 10), "uur": 12, "detections": 1}
    token = pseudonym.period_token(PEPPER, "2026-03", pseudonym.vehicle_key(PEPPER, CAR, "NL"))
    tokens = set(lake.read_arrow("passages", columns=["period_token"]).column("period_token").to_pylist())
    assert token not in tokens and len(tokens) == 2
