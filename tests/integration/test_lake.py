from __future__ import annotations

import datetime as dt
import os
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from anpr.lake import (
    Lake,
    LakeError,
    SchemaMismatchError,
    make_lake,
    spark_to_arrow_schema,
    transaction_marker,
)

pytestmark = pytest.mark.integration

SCHEMA = StructType(
    [
        StructField("observation_id", StringType(), False),
        StructField("municipality", StringType(), True),
        StructField("event_date", DateType(), True),
        StructField("observed_at", TimestampType(), True),
        StructField("confidence", DoubleType(), True),
    ]
)
PARTITIONS = ["municipality", "event_date"]
DAY1 = dt.date(2026, 3, 2)
DAY2 = dt.date(2026, 3, 3)
UTC = dt.UTC


def row(i: int, municipality: str = "0363", day: dt.date = DAY1, confidence: float = 0.9) -> tuple:
    observed = dt.datetime.combine(day, dt.time(8, 0), tzinfo=UTC) + dt.timedelta(seconds=i, microseconds=7)
    return (f"obs-{i}", municipality, day, observed, confidence)


def arrow_rows(rows: list[tuple]) -> pa.Table:
    return pa.Table.from_pylist(
        [dict(zip(SCHEMA.fieldNames(), r, strict=True)) for r in rows], schema=spark_to_arrow_schema(SCHEMA)
    )


def sorted_tuples(table: pa.Table) -> list[tuple]:
    table = table.select(SCHEMA.fieldNames())
    return sorted(tuple(r.values()) for r in table.to_pylist())


def spark_tuples(df) -> list[tuple]:
    # Through Arrow: collected Python datetimes would be naive in the driver's local zone.
    return sorted_tuples(df.toArrow())


@pytest.fixture
def lake(tmp_path: Path, spark) -> Lake:
    return Lake(str(tmp_path / "lake"), spark, checkpoint_every=3)


@pytest.fixture
def observations(lake: Lake) -> str:
    lake.create("observations", SCHEMA, PARTITIONS)
    return "observations"


def test_roundtrip_keeps_types_and_partition_values(lake: Lake, spark, observations: str) -> None:
    rows = [row(1), row(2, "0796"), row(3, "0363", DAY2), row(4, "'s-Hertogenbosch / a")]
    assert lake.append(observations, spark.createDataFrame(rows, SCHEMA))

    df = lake.read(observations)
    assert [(f.name, f.dataType) for f in df.schema.fields] == [(f.name, f.dataType) for f in SCHEMA.fields]
    expected = sorted_tuples(arrow_rows(rows))
    assert spark_tuples(df) == expected  # "0363" stays a string, microseconds survive
    assert sorted_tuples(DeltaTable(lake.path(observations)).to_pyarrow_table()) == expected
    assert sorted_tuples(lake.read_arrow(observations)) == expected
    filtered = lake.read_arrow(observations, columns=["observation_id"], filters=[("event_date", "=", DAY2)])
    assert filtered.column("observation_id").to_pylist() == ["obs-3"]


def test_spark_reads_a_multi_file_table_in_parallel(lake: Lake, observations: str) -> None:
    for i in range(4):
        lake.append(observations, arrow_rows([row(i, f"m{i}")]))
    df = lake.read(observations)
    assert len(DeltaTable(lake.path(observations)).file_uris()) == 4
    assert df.rdd.getNumPartitions() > 1
    assert df.count() == 4


def test_empty_table_reads_as_empty_frame_with_schema(lake: Lake, observations: str) -> None:
    df = lake.read(observations)
    assert df.count() == 0
    assert df.schema == SCHEMA
    assert lake.read_arrow(observations).num_rows == 0


def test_create_is_idempotent_and_refuses_another_schema(lake: Lake, observations: str) -> None:
    lake.create(observations, SCHEMA, PARTITIONS)
    assert lake.version(observations) == 0
    other = StructType([*SCHEMA.fields[:-1], StructField("confidence", StringType(), True)])
    with pytest.raises(SchemaMismatchError):
        lake.create(observations, other, PARTITIONS)
    with pytest.raises(SchemaMismatchError):
        lake.create(observations, SCHEMA, ["event_date"])


def leave_unfinished_creation(log_dir: Path, leftover: str, age_seconds: float) -> None:
    """What a creation killed between Delta making _delta_log and writing commit 0 leaves, age_seconds old."""
    log_dir.mkdir(parents=True)
    made = [log_dir]
    if leftover == "commit's temporary file":
        made.append(log_dir / ".00000000000000000000.json.0b9c2e6d.tmp")
        made[-1].write_text('{"commitInfo":{}}\n')
    elif leftover == "empty commits folder":
        made.append(log_dir / "_commits")
        made[-1].mkdir()
    then = time.time() - age_seconds
    for path in reversed(made):
        os.utime(path, (then, then))


@pytest.mark.parametrize("leftover", ["empty log", "commit's temporary file", "empty commits folder"])
def test_a_creation_killed_before_its_first_commit_does_not_block_the_next(lake: Lake, leftover: str) -> None:
    # A SIGKILL between the two left this, and every restart of the stream then failed with
    # DELTA_TABLE_NOT_FOUND (CI, test_stream_faults, kill seed 592879698).
    leave_unfinished_creation(Path(lake.path("observations")) / "_delta_log", leftover, age_seconds=60)
    lake.create("observations", SCHEMA, PARTITIONS)
    assert lake.version("observations") == 0
    assert lake.state("observations").partition_columns == PARTITIONS
    assert lake.append("observations", arrow_rows([row(1)]))
    lake.create("observations", SCHEMA, PARTITIONS)  # the table's own log is kept, with its rows
    assert sorted_tuples(lake.read_arrow("observations")) == sorted_tuples(arrow_rows([row(1)]))


def test_a_log_another_process_is_creating_is_left_to_it(lake: Lake) -> None:
    """A young log without a commit may be another process's creation under way: create waits for it
    instead of removing it, and keeps what that process committed."""
    path = lake.path("observations")
    leave_unfinished_creation(Path(path) / "_delta_log", "commit's temporary file", age_seconds=0)

    def other_process() -> None:
        time.sleep(2)
        DeltaTable.create(path, spark_to_arrow_schema(SCHEMA), partition_by=PARTITIONS)
        write_deltalake(path, arrow_rows([row(5)]), mode="append")

    other = threading.Thread(target=other_process)
    other.start()
    lake.create("observations", SCHEMA, PARTITIONS)
    other.join()
    assert lake.version("observations") >= 1
    assert sorted_tuples(lake.read_arrow("observations")) == sorted_tuples(arrow_rows([row(5)]))


def test_new_trailing_nullable_columns_upgrade_an_existing_table_in_place(lake: Lake, observations: str) -> None:
    lake.append(observations, arrow_rows([row(1)]))
    wider = StructType([*SCHEMA.fields, StructField("double_reads", LongType(), True)])
    lake.create(observations, wider, PARTITIONS)
    assert lake.state(observations).schema.fieldNames() == wider.fieldNames()
    assert lake.read_arrow(observations).column("double_reads").to_pylist() == [None]
    required = StructType([*wider.fields, StructField("ambiguous_plates", LongType(), False)])
    with pytest.raises(SchemaMismatchError):  # existing rows would break a NOT NULL column
        lake.create(observations, required, PARTITIONS)


def test_arrow_input_is_conformed_to_the_table_schema(lake: Lake, observations: str) -> None:
    loose = pa.table(
        {
            "event_date": pa.array([DAY1]),
            "observation_id": pa.array(["obs-1"], pa.large_string()),
            "observed_at": pa.array([dt.datetime(2026, 3, 2, 8, 0, 0, 1)], pa.timestamp("ns")),
            "municipality": pa.array(["0363"], pa.large_string()),
        }
    )  # other column order, large strings, naive nanoseconds, no confidence column
    assert lake.append(observations, loose)
    stored = lake.read_arrow(observations)
    assert stored.schema == spark_to_arrow_schema(SCHEMA).remove_metadata()
    assert stored.column("observed_at").to_pylist() == [dt.datetime(2026, 3, 2, 8, 0, 0, 1, tzinfo=UTC)]
    assert stored.column("confidence").to_pylist() == [None]
    with pytest.raises(ValueError, match="not in the table schema"):
        lake.append(observations, loose.append_column("plate", pa.array(["XX-11-YY"])))
    with pytest.raises(ValueError, match="non-nullable"):
        lake.append(observations, loose.drop_columns(["observation_id"]))


def test_arrow_input_with_empty_chunks_lands_whole(lake: Lake, observations: str) -> None:
    rows = arrow_rows([row(1), row(2)])
    chunked = pa.concat_tables([rows.slice(0, 0), rows.slice(0, 1), rows.slice(0, 0), rows.slice(1)])
    assert lake.append(observations, chunked)
    assert lake.insert_missing(observations, pa.concat_tables([rows.slice(0, 0), arrow_rows([row(3)])]),
                               ["observation_id"]) == 1
    assert sorted_tuples(lake.read_arrow(observations)) == sorted_tuples(arrow_rows([row(1), row(2), row(3)]))


def test_a_repeated_batch_lands_once(lake: Lake, spark, observations: str) -> None:
    batch = spark.createDataFrame([row(1), row(2)], SCHEMA)
    assert lake.append(observations, batch, app_id="query-a", version=0) is True
    assert lake.append(observations, batch, app_id="query-a", version=0) is False
    # rows the caller counted skip the emptiness job, never the transaction check
    assert lake.append(observations, batch, app_id="query-a", version=0, nonempty=True) is False
    assert DeltaTable(lake.path(observations)).transaction_version("query-a") == 0
    assert lake.read(observations).count() == 2

    assert lake.append(observations, spark.createDataFrame([row(3)], SCHEMA), "query-a", 1) is True
    assert lake.read(observations).count() == 3
    # what each transaction's commit wrote stays known to a replay; an overtaken version reads as nothing
    assert (lake.committed_rows(observations, "query-a", 1), lake.committed_rows(observations, "query-a", 0)) == (1, 0)
    with pytest.raises(ValueError, match="together"):
        lake.append(observations, batch, app_id="query-a")


def test_insert_missing_inserts_each_key_once(lake: Lake, spark, observations: str) -> None:
    first = spark.createDataFrame([row(1), row(2), row(3, "0796", DAY2)], SCHEMA)
    assert lake.insert_missing(observations, first, ["observation_id"], "run-1", 0) == 3
    assert lake.insert_missing(observations, first, ["observation_id"], "run-1", 0) == 0  # replayed batch
    assert lake.insert_missing(observations, first, ["observation_id"], "run-2", 0) == 0  # same data, new run

    overlapping = [row(2), row(3, "0796", DAY2), row(4), row(4), row(5, "0796", DAY2)]
    assert lake.insert_missing(observations, arrow_rows(overlapping), ["observation_id"], "run-2", 1) == 2
    ids = sorted(r.observation_id for r in lake.read(observations).select("observation_id").collect())
    assert ids == ["obs-1", "obs-2", "obs-3", "obs-4", "obs-5"]
    assert lake.insert_missing(observations, arrow_rows([row(6)]), ["observation_id"]) == 1


def test_insert_missing_reads_only_the_partitions_of_the_batch(lake: Lake, observations: str) -> None:
    lake.append(observations, arrow_rows([row(1, "0363"), row(2, "0796")]))
    # Corrupt the other partition: reading it would fail the call.
    for uri in DeltaTable(lake.path(observations)).file_uris():
        if "municipality=0796" in uri:
            Path(uri).write_bytes(b"not parquet")
    batch = arrow_rows([row(1, "0363"), row(3, "0363")])
    assert lake.insert_missing(observations, batch, ["observation_id"]) == 1


def test_overwrite_partition_replaces_only_that_partition(lake: Lake, observations: str) -> None:
    lake.append(observations, arrow_rows([row(1), row(2), row(3, "0363", DAY2), row(4, "0796")]))
    lake.overwrite_partition(
        observations, arrow_rows([row(10), row(11)]), {"municipality": "0363", "event_date": DAY1}
    )
    ids = sorted(lake.read_arrow(observations).column("observation_id").to_pylist())
    assert ids == ["obs-10", "obs-11", "obs-3", "obs-4"]
    with pytest.raises(ValueError, match="outside the partition"):
        lake.overwrite_partition(
            observations, arrow_rows([row(12, "0796")]), {"municipality": "0363", "event_date": DAY1}
        )
    with pytest.raises(ValueError, match="not partition columns"):
        lake.overwrite_partition(observations, arrow_rows([row(12)]), {"observation_id": "obs-12"})


def test_merge_updates_and_inserts(lake: Lake, spark, observations: str) -> None:
    lake.append(observations, arrow_rows([row(1), row(2)]))
    changes = spark.createDataFrame([row(2, confidence=0.5), row(3, confidence=0.7)], SCHEMA)
    assert lake.merge(observations, changes, ["observation_id"]) == {"inserted": 1, "updated": 1}
    stored = lake.read_arrow(observations, columns=["observation_id", "confidence"]).to_pylist()
    confidence = {r["observation_id"]: r["confidence"] for r in stored}
    assert confidence == {"obs-1": 0.9, "obs-2": 0.5, "obs-3": 0.7}


def test_delete_then_vacuum_removes_the_files(lake: Lake, observations: str) -> None:
    lake.append(observations, arrow_rows([row(1), row(2, "0363", DAY2), row(3, "0796", DAY2)]))
    lake.append(observations, arrow_rows([row(4, "0363", DAY2)]))
    assert lake.delete(observations, f"event_date = '{DAY2.isoformat()}' AND municipality = '0363'") == 2
    assert lake.delete(observations, "observation_id = 'nothing'") == 0
    assert sorted(lake.read_arrow(observations).column("observation_id").to_pylist()) == ["obs-1", "obs-3"]
    assert not (DeltaTable(lake.path(observations)).protocol().reader_features or [])  # no deletion vectors

    removed = lake.vacuum(observations, retention_hours=0)
    assert len(removed) == 2
    root = Path(lake.path(observations))
    assert all(not (root / f).exists() for f in removed)
    assert spark_tuples(lake.read(observations)) == sorted_tuples(arrow_rows([row(1), row(3, "0796", DAY2)]))


def test_reads_an_older_version(lake: Lake, observations: str) -> None:
    lake.append(observations, arrow_rows([row(1)]))
    lake.append(observations, arrow_rows([row(2)]))
    lake.delete(observations, "observation_id = 'obs-1'")
    assert lake.version(observations) == 3
    assert spark_tuples(lake.read(observations, version=2)) == sorted_tuples(arrow_rows([row(1), row(2)]))
    assert lake.read_arrow(observations, version=1).column("observation_id").to_pylist() == ["obs-1"]
    operations = [c["operation"] for c in lake.history(observations, limit=2)]
    assert operations == ["DELETE", "WRITE"]
    assert lake.history(observations, limit=1)[0]["timestamp"].tzinfo is not None


def test_checkpoints_every_n_commits_and_optimize(lake: Lake, observations: str) -> None:
    log = Path(lake.path(observations)) / "_delta_log"
    lake.append(observations, arrow_rows([row(1)]))
    lake.append(observations, arrow_rows([row(2)]))
    assert not list(log.glob("*.checkpoint.parquet"))
    lake.append(observations, arrow_rows([row(3)]))  # version 3
    assert [p.name for p in log.glob("*.checkpoint.parquet")] == [f"{3:020d}.checkpoint.parquet"]

    lake.optimize(observations)
    assert len(DeltaTable(lake.path(observations)).file_uris()) == 1
    assert lake.read(observations).count() == 3


def test_make_lake_uses_the_settings(settings, spark, tmp_path: Path) -> None:
    local = settings.model_copy(update={"lake": settings.lake.model_copy(update={"root": str(tmp_path)})})
    lake = make_lake(local, spark)
    assert isinstance(lake, Lake)
    assert lake.path("observations") == f"{tmp_path}/observations"
    assert lake.checkpoint_every == settings.lake.checkpoint_every
    with pytest.raises(LakeError, match="SparkSession"):
        Lake(str(tmp_path), None)  # type: ignore[arg-type]


def test_spark_to_arrow_schema_covers_nested_types() -> None:
    schema = StructType(
        [
            StructField("id", LongType(), False),
            StructField("tags", ArrayType(StringType(), False), True),
            StructField("counts", MapType(StringType(), LongType(), True), True),
            StructField("at", TimestampType(), True),
        ]
    )
    arrow = spark_to_arrow_schema(schema)
    assert arrow.field("id").nullable is False
    assert arrow.field("tags").type == pa.list_(pa.field("element", pa.string(), nullable=False))
    assert arrow.field("counts").type.item_type == pa.int64()
    assert arrow.field("at").type == pa.timestamp("us", tz="UTC")


def test_a_replayed_merge_is_skipped_by_delta_itself(lake: Lake, spark, observations: str, monkeypatch) -> None:
    batch = arrow_rows([row(1), row(2)])
    assert lake.insert_missing(observations, batch, ["observation_id"], "query-b", 4) == 2
    assert lake.transaction_version(observations, "query-b") == 4
    assert DeltaTable(lake.path(observations)).transaction_version("query-b") == 4  # in the MERGE's commit
    before = lake.version(observations)
    # Without our own look-up first, the MERGE must find the transaction in the log and skip.
    monkeypatch.setattr(lake, "_applied", lambda *_: False)
    assert lake.insert_missing(observations, arrow_rows([row(3)]), ["observation_id"], "query-b", 4) == 0
    assert lake.insert_missing(observations, arrow_rows([row(3)]), ["observation_id"], "query-b", 3) == 0
    assert lake.version(observations) == before
    assert lake.committed_rows(observations, "query-b", 4) == 2  # what the replayed batch first wrote
    assert lake.insert_missing(observations, arrow_rows([row(3)]), ["observation_id"], "query-b", 5) == 1
    assert lake.committed_rows(observations, "query-b", 5) == 1
    for key in ("write.txnAppId", "write.txnVersion", "write.txnVersion.autoReset.enabled",
                "commitInfo.userMetadata"):
        assert spark.conf.get(f"spark.databricks.delta.{key}", None) is None  # never left behind
    # A write without a transaction right after still lands (it would be skipped under a left-over conf).
    assert lake.insert_missing(observations, arrow_rows([row(4)]), ["observation_id"]) == 1
    assert lake.append(observations, arrow_rows([row(5)]))
    assert lake.read(observations).count() == 5


def test_insert_missing_counts_and_commits_nothing_for_known_keys(lake: Lake, observations: str) -> None:
    lake.append(observations, arrow_rows([row(1)]))
    before = lake.version(observations)
    assert lake.insert_missing(observations, arrow_rows([row(1)]), ["observation_id"]) == 0
    assert lake.insert_missing(observations, arrow_rows([]), ["observation_id"], "q", 0) == 0
    assert lake.version(observations) == before  # an insert-only MERGE without inserts makes no commit


def test_two_writers_never_insert_a_key_twice(lake: Lake, spark, observations: str) -> None:
    """Two sessions (own transaction confs) insert the same ids at once under different app ids."""
    import threading

    other = Lake(lake.root, spark.newSession(), checkpoint_every=3)
    rows = [row(i, "0363" if i % 2 else "0796") for i in range(200)]
    start = threading.Barrier(2)
    inserted: dict[str, int] = {}
    errors: list[BaseException] = []

    def insert(writer: Lake, app_id: str) -> None:
        try:
            start.wait()
            inserted[app_id] = writer.insert_missing(observations, arrow_rows(rows), ["observation_id"], app_id, 0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=insert, args=(w, a)) for w, a in ((lake, "writer-a"), (other, "writer-b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(inserted.values()) == 200
    ids = lake.read_arrow(observations, columns=["observation_id"]).column("observation_id").to_pylist()
    assert len(ids) == len(set(ids)) == 200



def test_appends_beside_a_merge_of_one_session_keep_their_own_transactions(lake: Lake, spark,
                                                                           observations: str) -> None:
    """The sink's commits run at once in one session: an append's own transaction must not take, nor be
    taken by, the MERGE's session-wide transaction confs; replays of every batch then write nothing."""
    from concurrent.futures import ThreadPoolExecutor

    lake.create("counts", SCHEMA, PARTITIONS)

    def batch(version: int) -> tuple[int, bool]:
        with ThreadPoolExecutor(2) as pool:
            rows = arrow_rows([row(10 * version + i) for i in range(3)])
            merged = pool.submit(lake.insert_missing, observations, rows, ["observation_id"], "q/observations", version)
            appended = pool.submit(lake.append, "counts", arrow_rows([row(100 + version)]), "q/counts", version)
            return merged.result(), appended.result()

    assert [batch(v) for v in range(4)] == [(3, True)] * 4
    assert [batch(v) for v in range(4)] == [(0, False)] * 4  # replays
    apps = {observations: "q/observations", "counts": "q/counts"}
    for table, rows in ((observations, 12), ("counts", 4)):
        assert [lake.transaction_version(table, app) for app in apps.values()] == \
            [3 if app == apps[table] else None for app in apps.values()]
        assert lake.read(table).count() == rows
        assert {c["user_metadata"] for c in lake.history(table, 4)} == \
            {transaction_marker(apps[table], v) for v in range(4)}


@pytest.mark.timeout(300)  # a thread of the block that waited on the block's own lock would hang
def test_an_exclusive_blocks_threads_create_and_append_side_by_side_and_hold_off_the_sessions_merge(
        lake: Lake, spark, observations: str) -> None:
    """A release writes its tables at once through lake.exclusive(): every table lands whole, a MERGE of
    another thread waits for the block (its transaction confs are session-wide), and the view refuses a
    write that would set those confs itself."""
    from anpr.spark import side_by_side

    names = [f"published/t{i}" for i in range(5)]
    merged: list[int] = []
    with lake.exclusive() as shared:
        merge = threading.Thread(target=lambda: merged.append(lake.insert_missing(
            observations, arrow_rows([row(1), row(2)]), ["observation_id"], "q/observations", 0)))
        merge.start()

        def write(i: int) -> int:
            shared.create(names[i], SCHEMA, PARTITIONS)
            shared.append(names[i], arrow_rows([row(10 * i + j) for j in range(i + 1)]))
            if i == 0:  # a marked append of the lake's own session, in a thread of the block: no deadlock
                shared.append(names[i], arrow_rows([row(99)]), "q/t0", 1, marked=True)
            return lake.version(names[i])

        versions = side_by_side(spark, {name: (lambda i=i: write(i)) for i, name in enumerate(names)}, 3)
        with pytest.raises(LakeError, match="session transaction"):
            shared.insert_missing(observations, arrow_rows([row(3)]), ["observation_id"], "q/observations", 1)
        time.sleep(1.0)
        assert merged == []  # still waiting for the lock
    merge.join(timeout=120)
    assert merged == [2]
    assert versions == {name: 2 if name == names[0] else 1 for name in names}  # create, then the appends
    assert [lake.read(name).count() for name in names] == [2, 2, 3, 4, 5]
    assert lake.history(observations, 1)[0]["user_metadata"] == transaction_marker("q/observations", 0)
    # no published commit took the MERGE's session transaction
    assert all(lake.transaction_version(name, "q/observations") is None for name in names)
    assert [c["user_metadata"] for c in lake.history(names[1], 5)] == [None, None]


TOKENS = StructType([StructField("period_token", StringType(), False), StructField("company_token", StringType(), True),
                     StructField("uur", LongType(), True), StructField("maand", LongType(), True),
                     StructField("register_hit", BooleanType(), True)])  # Delta keeps no min/max for booleans


def _logged_stats(path: str) -> list[dict]:
    import json

    out = []
    for entry in sorted(Path(path, "_delta_log").glob("*.json")):
        for line in entry.read_text().splitlines():
            add = json.loads(line).get("add")
            if add and add.get("stats"):
                out.append(json.loads(add["stats"]))
    return out


def test_no_file_statistics_keep_pseudonyms_in_the_log(lake: Lake, spark, tmp_path: Path) -> None:
    """The log outlives erased rows: min/max of tokens would keep them there, so none are kept."""
    from delta.tables import DeltaTable as SparkDeltaTable

    rows = pa.table({"period_token": ["a" * 64, "f" * 64], "company_token": ["0" * 64, None], "uur": [7, 9],
                     "maand": [3, 3], "register_hit": [True, False]})
    lake.create("passages_like", TOKENS, ["maand"])  # a partition column takes no statistics either
    lake.append("passages_like", rows)
    stats = _logged_stats(lake.path("passages_like"))
    assert stats and all(set(s["minValues"]) == {"uur"} and set(s["nullCount"]) == {"uur"} for s in stats)
    assert "register_hit" not in str(stats)
    assert stats[-1]["minValues"]["uur"] == 7 and stats[-1]["maxValues"]["uur"] == 9  # skipping still works

    # a table made before this rule gets it when opened, and later files follow it
    old = str(tmp_path / "lake" / "older")
    SparkDeltaTable.createIfNotExists(spark).location(old).addColumns(TOKENS).execute()
    spark.createDataFrame([("b" * 64, None, 1, 3, True)], TOKENS).write.format("delta").mode("append").save(old)
    assert "period_token" in _logged_stats(old)[-1]["minValues"]
    lake.create("older", TOKENS)  # made unpartitioned, as before
    lake.append("older", rows)
    assert set(_logged_stats(old)[-1]["minValues"]) == {"uur", "maand"}


def test_a_marked_append_is_found_by_its_marker_newest_first_within_the_bound(lake: Lake, observations: str) -> None:
    """A marked append names its transaction in the commit's userMetadata only (no Delta transaction, whose
    check rebuilds the table's state): marked_version finds an app's newest one among other writers' commits,
    and stops at a commit older than its bound."""
    assert lake.append(observations, arrow_rows([row(1)]), "q/obs", 0) is True  # a Delta transaction
    assert lake.append(observations, arrow_rows([row(2)]), "q/obs", 1, marked=True) is True
    assert lake.append(observations, arrow_rows([row(3)]), "other/obs", 7, marked=True) is True
    assert lake.append(observations, arrow_rows([row(4)])) is True  # nobody's
    assert lake.transaction_version(observations, "q/obs") == 0  # the marked one is no Delta transaction
    found = lake.marked_version(observations, "q/obs")
    assert found is not None and found[0] == 1
    assert abs(found[1] / 1000 - dt.datetime.now(UTC).timestamp()) < 600  # the commit's time, epoch ms
    assert lake.marked_version(observations, "other/obs")[0] == 7  # type: ignore[index]
    assert lake.marked_version(observations, "q/ob") is None  # a prefix of an app is not the app
    assert lake.marked_version(observations, "q/obs", since_ms=found[1] + 3_600_000) is None
    assert lake.read(observations).count() == 4
    with pytest.raises(ValueError, match="app_id and version"):
        lake.append(observations, arrow_rows([row(5)]), marked=True)


def test_a_marked_append_of_another_sessions_rows_runs_beside_the_lake_sessions_merge(lake: Lake, spark,
                                                                                   observations: str) -> None:
    """A streaming micro-batch's rows belong to the query's own session: their marked append takes that
    session's lock, not the one a MERGE of the lake's session holds while its transaction confs are set."""
    rows = spark.newSession().createDataFrame([row(7)], SCHEMA)
    done = threading.Event()
    with lake._lock:
        writer = threading.Thread(target=lambda: lake.append(observations, rows, "q/obs", 1, marked=True)
                                  and done.set())
        writer.start()
        assert done.wait(120)
    writer.join()
    assert lake.marked_version(observations, "q/obs")[0] == 1  # type: ignore[index]


def test_a_search_that_reaches_commits_log_retention_removed_is_an_error(lake: Lake, observations: str) -> None:
    """Whether a removed commit held the transaction cannot be told: an error, not "not written"."""
    for i in range(5):  # versions 1-5; the fixture's lake checkpoints every 3 commits
        assert lake.append(observations, arrow_rows([row(i)]))
    found = lake.history(observations, 1)[0]
    for version in (0, 1):
        (Path(lake.path(observations)) / "_delta_log" / f"{version:020d}.json").unlink()
    assert lake.read(observations).count() == 5  # the checkpoint holds the table
    with pytest.raises(LakeError, match="commit 1 is no longer in the Delta log"):
        lake.marked_version(observations, "q/obs")
    assert lake.marked_version(observations, "q/obs", since_ms=int(found["timestamp"].timestamp() * 1000)) is None
