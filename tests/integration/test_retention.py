"""`anpr retention run` on real Delta tables: expired rows and their files are gone, the rest untouched."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from anpr.idempotency import IdempotencyStore, store_path
from anpr.lake import Lake, make_lake, spark_to_arrow_schema
from anpr.stream_tables import PASSAGES, PASSAGES_SCHEMA, QUARANTINE, QUARANTINE_SCHEMA, STREAM_METRICS
from jobs.retention import render, run_retention
from jobs.stats.release import RELEASES, RELEASES_SCHEMA

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def passages(day: date, count: int, tag: str) -> pa.Table:
    rows = [{"observation_id": f"{tag}-{i}", "camera_id": "cam-1", "municipality": "GM0344", "zone_id": "GM0344-ZE1",
             "event_ts": datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9, minutes=i),
             "event_date": day, "jaar": day.year, "maand": day.month, "week_dag": day.isoweekday(), "uur": 9,
             "voertuig_type": "Bestelauto", "register_hit": True, "period_token": f"tok-{tag}-{i}"}
            for i in range(count)]
    return table(PASSAGES_SCHEMA, rows)


def table(schema, rows: list[dict]) -> pa.Table:
    """Rows with the given columns only; the lake fills the table's other (nullable) columns with nulls."""
    arrow = spark_to_arrow_schema(schema)
    return pa.Table.from_pylist(rows, schema=pa.schema([f for f in arrow if f.name in rows[0]]))


def release(month: str, created: datetime) -> dict:
    return {"release_id": f"{month}-{created:%Y%m%dT%H%M%S}-abc", "month": month, "created_at": created,
            "tables": "[]", "row_counts": "{}", "source_versions": "{}", "config_hash": "x", "protection": "{}"}


def metrics(finished: datetime, batch: int) -> dict:
    return {"query_id": "q", "batch_id": batch, "finished_at": finished, "duration_ms": 1, "rows_in": 1, "valid": 1,
            "passages_written": 1, "duplicates": 0, "quarantined": 0, "quarantined_by_reason": "{}",
            "offsets": "{}"}


def parquet_files(lake: Lake, name: str, partition: str) -> list[Path]:
    return [p for p in Path(lake.path(name)).rglob("*.parquet") if partition in str(p)]


@pytest.fixture
def lake_with_history(spark, settings, tmp_path):
    from streaming.job import ensure_tables

    local = settings.model_copy(update={"data_dir": tmp_path / "data", "retention": settings.retention.model_copy(
        update={"time_travel_hours": 0})})
    lake = make_lake(local, spark)
    ensure_tables(lake)
    for day, count, tag in ((date(2026, 8, 14), 3, "aug"), (date(2026, 9, 10), 2, "sep"),
                            (date(2026, 10, 2), 2, "oct"), (date(2026, 11, 20), 2, "nov")):
        lake.append(PASSAGES, passages(day, count, tag))
    lake.create(RELEASES, RELEASES_SCHEMA)
    lake.append(RELEASES, table(RELEASES_SCHEMA, [
        release("2026-08", datetime(2026, 9, 9, tzinfo=UTC)),  # built after August was final (8 September)
        release("2026-09", datetime(2026, 10, 3, tzinfo=UTC)),  # provisional only: September final on 8 October
        release("2026-10", datetime(2026, 11, 9, tzinfo=UTC))]))
    lake.append(QUARANTINE, table(QUARANTINE_SCHEMA, [
        {"reason": "BAD_JSON", "ingest_date": date(2026, 10, 15)},
        {"reason": "BAD_JSON", "ingest_date": date(2026, 11, 25)}]))
    lake.append(STREAM_METRICS, table(lake.state(STREAM_METRICS).schema, [
        metrics(datetime(2025, 10, 1, tzinfo=UTC), 1), metrics(datetime(2026, 11, 30, tzinfo=UTC), 2)]))
    old = NOW.timestamp() - 8 * 86_400
    for key, at in (("old", old), ("new", NOW.timestamp())):
        store = IdempotencyStore(store_path(local.data_dir), clock=lambda at=at: at)
        store.claim("demo-supplier", key, "sha")
        store.complete("demo-supplier", key, {"status": "accepted"})
        store.close()
    return local, lake


def test_expired_rows_and_their_files_are_gone_and_the_rest_is_kept(lake_with_history):
    local, lake = lake_with_history
    assert parquet_files(lake, PASSAGES, "event_date=2026-08-14")

    report = run_retention(lake, local, now=NOW)
    outcomes = {o.dataset: o for o in report}
    first_line = render(report, dry_run=False).splitlines()[0]
    assert first_line.startswith("quarantine                 deleted          1 rows")

    # August: final on 8 Sep, released after, +30 d passed. September: only a provisional release.
    # October: final on 8 Nov and released, but kept until 8 December. November: current.
    left = sorted({r["event_date"] for r in lake.read_arrow(PASSAGES, columns=["event_date"]).to_pylist()})
    assert left == [date(2026, 9, 10), date(2026, 10, 2), date(2026, 11, 20)]
    assert outcomes[PASSAGES].rows_deleted == 3
    assert outcomes[PASSAGES].notes == ["2026-09 kept: no release built after it became final "
                                        "(run `anpr stats --month 2026-09` first)"]
    assert parquet_files(lake, PASSAGES, "event_date=2026-08-14") == []  # the bytes left the disk
    assert outcomes[PASSAGES].files_removed >= 1

    assert [r["ingest_date"] for r in lake.read_arrow(QUARANTINE, columns=["ingest_date"]).to_pylist()] == [
        date(2026, 11, 25)]
    assert outcomes[QUARANTINE].rows_deleted == 1 and parquet_files(lake, QUARANTINE, "ingest_date=2026-10-15") == []
    assert [r["batch_id"] for r in lake.read_arrow(STREAM_METRICS, columns=["batch_id"]).to_pylist()] == [2]
    assert outcomes["ingest idempotency keys"].rows_deleted == 1
    store = IdempotencyStore(store_path(local.data_dir), clock=NOW.timestamp)
    assert store.claim("demo-supplier", "new", "sha").receipt == {"status": "accepted"}
    assert store.claim("demo-supplier", "old", "sha").receipt is None  # gone: a new request may use the key
    store.close()
    assert "topic retention not checked" in outcomes["kafka anpr.observations"].notes[0]

    again = {o.dataset: o.rows_deleted for o in run_retention(lake, local, now=NOW)}
    assert again[PASSAGES] == again[QUARANTINE] == again[STREAM_METRICS] == 0


def test_a_dry_run_counts_and_changes_nothing(lake_with_history):
    local, lake = lake_with_history
    before = {t: lake.version(t) for t in (PASSAGES, QUARANTINE, STREAM_METRICS)}
    outcomes = {o.dataset: o.rows_deleted for o in run_retention(lake, local, now=NOW, dry_run=True)}
    assert (outcomes[PASSAGES], outcomes[QUARANTINE], outcomes[STREAM_METRICS]) == (3, 1, 1)
    assert {t: lake.version(t) for t in before} == before


def test_retention_beside_a_writing_stream_loses_none_of_its_rows(lake_with_history, spark):
    """The stream's insert-only MERGEs into current partitions run while retention deletes old months."""
    local, lake = lake_with_history
    writer = Lake(lake.root, spark.newSession())
    errors: list[BaseException] = []
    inserted: list[int] = []

    def stream() -> None:
        try:
            for batch in range(4):
                inserted.append(writer.insert_missing(PASSAGES, passages(date(2026, 11, 30), 5, f"live{batch}"),
                                                      ["observation_id"], "stream-query/passages", batch))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=stream)
    thread.start()
    run_retention(lake, local, now=NOW)
    thread.join()
    assert not errors and inserted == [5, 5, 5, 5]
    ids = {r["observation_id"] for r in lake.read_arrow(PASSAGES, columns=["observation_id"]).to_pylist()}
    assert {f"live{b}-{i}" for b in range(4) for i in range(5)} <= ids
    assert not any(i.startswith("aug-") for i in ids)


def test_files_of_erased_register_rows_are_vacuumed(lake_with_history):
    from anpr.register_tables import VEHICLES

    local, lake = lake_with_history
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"vehicle_key": key, "valid_from": start, "voertuig_type": "Bestelauto"} for key in ("erased-key", "kept")]
    lake.append(VEHICLES, table(lake.state(VEHICLES).schema, rows))
    assert lake.delete(VEHICLES, "vehicle_key = 'erased-key'") == 1  # as `anpr privacy request --erase` does
    files = list(Path(lake.path(VEHICLES)).rglob("*.parquet"))
    assert any(b"erased-key" in f.read_bytes() for f in files)  # the delete alone leaves the bytes on disk
    outcomes = {o.dataset: o for o in run_retention(lake, local, now=NOW)}
    assert outcomes[VEHICLES].rows_deleted == 0 and outcomes[VEHICLES].files_removed >= 1
    files = list(Path(lake.path(VEHICLES)).rglob("*.parquet"))
    assert files and not any(b"erased-key" in f.read_bytes() for f in files)
    assert lake.read_arrow(VEHICLES).column("vehicle_key").to_pylist() == ["kept"]
