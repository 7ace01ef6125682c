"""`anpr privacy request` on real Delta tables: one vehicle's passages counted, then erased with its
register rows, the other vehicle untouched, and neither plate nor erased pseudonym left on disk."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from anpr.delta_reader import DeltaReader
from anpr.lake import make_lake, spark_to_arrow_schema
from anpr.operator_audit import read_audit
from anpr.pseudonym import period_token, vehicle_key
from anpr.register_tables import EXEMPTIONS, OWNERS, OWNERS_SCHEMA, VEHICLES, VEHICLES_SCHEMA
from anpr.settings import get_settings
from anpr.stream_tables import PASSAGES, PASSAGES_SCHEMA
from cli.main import main
from jobs.stats.release import RELEASES, RELEASES_SCHEMA
from tests.privacy import find_plates

pytestmark = pytest.mark.integration
ERASED, KEPT = "QX-941-Z", "TR-207-K"  # synthetic plates
RANGE = ["--from", "2026-10-01", "--to", "2026-11-15"]


def rows(schema, dicts: list[dict]) -> pa.Table:
    arrow = spark_to_arrow_schema(schema)
    return pa.Table.from_pylist(dicts, schema=pa.schema([f for f in arrow if f.name in dicts[0]]))


def passage(pepper: bytes, plate: str, day: date, zone: str, camera: str, n: int) -> dict:
    ts = datetime(day.year, day.month, day.day, 8, n, tzinfo=UTC)
    # The id says which vehicle without its plate: the plate must be nowhere on disk.
    return {"observation_id": f"{plate == ERASED}-{day}-{camera}-{n}", "camera_id": camera, "municipality": "GM0344",
            "zone_id": zone, "event_ts": ts, "event_date": day, "jaar": day.year, "maand": day.month,
            "week_dag": day.isoweekday(), "uur": 8, "voertuig_type": "Personenauto", "register_hit": True,
            "period_token": period_token(pepper, f"{day:%Y-%m}", vehicle_key(pepper, plate, "NL")),
            "ingested_at": ts + timedelta(minutes=1)}


@pytest.fixture
def lake_of_two_vehicles(spark, tmp_path, monkeypatch):
    from streaming.job import ensure_tables

    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ANPR_RETENTION__TIME_TRAVEL_HOURS", "0")  # VACUUM removes the erased rows' files now
    get_settings.cache_clear()
    settings = get_settings()
    lake = make_lake(settings, spark)
    ensure_tables(lake)
    pepper = settings.pepper_bytes
    erased = [(date(2026, 10, 2), "GM0344-ZE1", "cam-1", 2), (date(2026, 10, 2), "GM0344-ZE1", "cam-2", 1),
              (date(2026, 10, 30), "GM0344-ZE2", "cam-3", 1), (date(2026, 11, 3), "GM0344-ZE1", "cam-1", 1),
              (date(2026, 12, 3), "GM0344-ZE1", "cam-1", 1)]  # after --to: kept
    kept = [(date(2026, 10, 2), "GM0344-ZE1", "cam-1", 3), (date(2026, 11, 3), "GM0344-ZE2", "cam-3", 2)]
    lake.append(PASSAGES, rows(PASSAGES_SCHEMA, [
        passage(pepper, plate, day, zone, camera, i)
        for plate, found in ((ERASED, erased), (KEPT, kept)) for day, zone, camera, n in found for i in range(n)]))
    since = datetime(2026, 1, 1, tzinfo=UTC)
    lake.append(VEHICLES, rows(VEHICLES_SCHEMA, [
        {"vehicle_key": vehicle_key(pepper, p, "NL"), "valid_from": since, "voertuig_type": "Personenauto"}
        for p in (ERASED, KEPT)]))
    lake.append(OWNERS, rows(OWNERS_SCHEMA, [
        {"vehicle_key": vehicle_key(pepper, p, "NL"), "valid_from": since, "eigenaar_type": "Particulier"}
        for p in (ERASED, KEPT)]))
    lake.create(RELEASES, RELEASES_SCHEMA)
    lake.append(RELEASES, rows(RELEASES_SCHEMA, [
        {"release_id": r, "month": m, "created_at": c, "tables": "[]", "row_counts": "{}", "source_versions": "{}",
         "config_hash": "x", "protection": "{}"}
        for r, m, c in (("2026-10-early", "2026-10", datetime(2026, 10, 1, 12, tzinfo=UTC)),  # before its passages
                        ("2026-10-final", "2026-10", datetime(2026, 11, 9, 3, tzinfo=UTC)),
                        ("2026-09-final", "2026-09", datetime(2026, 10, 9, 3, tzinfo=UTC)))]))
    # `anpr privacy request` starts and stops its own session: here it gets the tests' one, kept running.
    monkeypatch.setattr("anpr.spark.get_spark", lambda _settings: spark)
    monkeypatch.setattr(spark, "stop", lambda: None)
    yield settings, lake
    get_settings.cache_clear()
    logging.getLogger().handlers.clear()


def token_count(lake, pepper: bytes, plate: str) -> int:
    key = vehicle_key(pepper, plate, "NL")
    tokens = [period_token(pepper, m, key) for m in ("2026-10", "2026-11", "2026-12")]
    return lake.read_arrow(PASSAGES, filters=[("period_token", "in", tokens)]).num_rows


def test_a_vehicles_passages_are_reported_then_erased_and_nothing_of_it_is_left(lake_of_two_vehicles, capsys):
    settings, lake = lake_of_two_vehicles
    pepper, data_dir = settings.pepper_bytes, settings.data_dir
    request = ["privacy", "request", "--plate", "qx 941 z", "--country", "NL", *RANGE]

    assert main([*request, "--report", str(data_dir / "reports" / "access.json")]) == 0
    shown = capsys.readouterr().out
    assert shown.splitlines()[0] == "vehicle (NL) from 2026-10-01 to 2026-11-15: 5 passages"
    access = json.loads((data_dir / "reports" / "access.json").read_text())
    assert access["passages"]["by_day_zone_camera"] == [
        {"day": "2026-10-02", "zone_id": "GM0344-ZE1", "camera_id": "cam-1", "passages": 2},
        {"day": "2026-10-02", "zone_id": "GM0344-ZE1", "camera_id": "cam-2", "passages": 1},
        {"day": "2026-10-30", "zone_id": "GM0344-ZE2", "camera_id": "cam-3", "passages": 1},
        {"day": "2026-11-03", "zone_id": "GM0344-ZE1", "camera_id": "cam-1", "passages": 1}]
    assert [r["release_id"] for r in access["releases"]] == ["2026-10-final"]
    assert token_count(lake, pepper, ERASED) == 6 and token_count(lake, pepper, KEPT) == 5  # nothing changed

    assert main([*request, "--erase", "--report", str(data_dir / "reports" / "erasure.json")]) == 0
    erasure = json.loads((data_dir / "reports" / "erasure.json").read_text())
    assert erasure["erased"] == {PASSAGES: 5, VEHICLES: 1, OWNERS: 1, EXEMPTIONS: 0}
    assert erasure["files_removed"][PASSAGES] >= 1
    assert any("not recomputed" in n for n in erasure["notes"])
    assert token_count(lake, pepper, ERASED) == 1  # December, after --to
    assert token_count(lake, pepper, KEPT) == 5
    keys = {r["vehicle_key"] for t in (VEHICLES, OWNERS) for r in lake.read_arrow(t).to_pylist()}
    assert keys == {vehicle_key(pepper, KEPT, "NL")}

    [erase_row, access_row] = read_audit(DeltaReader(settings.lake_root), command="privacy request")
    assert json.loads(erase_row["argv"])[3] == "***" and json.loads(access_row["argv"])[3] == "***"
    assert json.loads(erase_row["facts"])["rows_deleted"][PASSAGES] == 5

    # Neither plate in any form, nor the erased key or its October/November tokens, anywhere on disk.
    assert find_plates(data_dir, [ERASED, KEPT]) == []
    key = vehicle_key(pepper, ERASED, "NL")
    gone = [key.encode(), *(period_token(pepper, m, key).encode() for m in ("2026-10", "2026-11"))]
    holding = [p for p in Path(data_dir).rglob("*") if p.is_file() and any(g in p.read_bytes() for g in gone)]
    assert holding == []
