"""Every table kind of the platform stays readable by both engines.

Spark writes each table through the one Lake (delta-spark), including MERGE, OPTIMIZE and the
checkpoints of `delta.checkpointInterval`; delta-rs (the vendor API's reader) must then open it at a
protocol it supports and read the same rows. The tables the API processes write with delta-rs
themselves (access log, camera registrations) must read the same in Spark.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import types as T

from anpr.delta_reader import DeltaReader
from anpr.feeds.camera_table import CAMERAS, CAMERAS_SCHEMA
from anpr.lake import Lake, spark_to_arrow_schema
from anpr.register_tables import ALL_SCHEMAS
from anpr.stream_tables import (
    PASSAGES,
    PASSAGES_PARTITIONS,
    PASSAGES_SCHEMA,
    QUARANTINE,
    QUARANTINE_SCHEMA,
    STREAM_METRICS,
    STREAM_METRICS_SCHEMA,
)
from api.access_log import ACCESS_LOG
from api.access_log import SCHEMA as ACCESS_LOG_SCHEMA
from api.vendor.sample import publish_sample
from jobs.stats.release import RELEASES, SUPPRESSIONS, published_table
from jobs.stats.rows import INTERNAL_SCHEMA

pytestmark = pytest.mark.integration
START = dt.datetime(2026, 3, 2, 7, 59, 58, 123456, tzinfo=dt.UTC)


def value(field: T.StructField, i: int, partition: bool) -> object:
    """A deterministic value of the field's type; partition columns take two values, nullable ones
    are null on every third row."""
    if field.nullable and not partition and i % 3 == 2:
        return None
    k = i % 2 if partition else i
    kind = field.dataType
    if isinstance(kind, T.StringType):
        return f"{field.name}-{k:03d}"
    if isinstance(kind, T.TimestampType):
        return START + dt.timedelta(hours=k, microseconds=k)
    if isinstance(kind, T.DateType):
        return START.date() + dt.timedelta(days=k)
    if isinstance(kind, T.BooleanType):
        return k % 2 == 0
    if isinstance(kind, T.IntegerType):
        return k - 1
    if isinstance(kind, T.LongType):
        return k * 10_000_000_000
    if isinstance(kind, T.DoubleType):
        return k + 0.25
    raise TypeError(f"no sample value for {kind.simpleString()}")


def sample(schema: T.StructType, rows: int, partitions: list[str] | None = None, first: int = 0) -> pa.Table:
    parts = set(partitions or [])
    return pa.Table.from_pylist(
        [{f.name: value(f, i, f.name in parts) for f in schema.fields} for i in range(first, first + rows)],
        schema=spark_to_arrow_schema(schema),
    )


def canonical(table: pa.Table, schema: T.StructType) -> list[str]:
    """Rows in the table's Arrow types (delta-rs may hand out string views or dictionaries), sorted."""
    arrow = spark_to_arrow_schema(schema)
    columns = [table.column(f.name).cast(f.type) for f in arrow]
    typed = pa.Table.from_arrays(columns, schema=arrow)
    return sorted(json.dumps(r, default=str, sort_keys=True) for r in typed.to_pylist())


def assert_delta_rs_reads(lake: Lake, name: str, expected: pa.Table | None = None) -> None:
    table = DeltaTable(lake.path(name))
    protocol = table.protocol()
    # (1,2): no table features at all, so nothing delta-rs could lack (row tracking, type widening, ...).
    assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2), (name, protocol)
    assert not protocol.reader_features and not protocol.writer_features, (name, protocol)
    config = table.metadata().configuration
    assert config.get("delta.enableDeletionVectors") == "false", name
    assert not any(k.startswith(("delta.enableRowTracking", "delta.enableTypeWidening", "delta.clustering"))
                   for k in config if config[k] == "true"), (name, config)
    schema = lake.state(name).schema
    assert T.StructType.fromJson(json.loads(table.schema().to_json())) == schema, name
    by_spark = canonical(lake.read(name).toArrow(), schema)
    by_delta_rs = canonical(table.to_pyarrow_table(), schema)
    assert by_delta_rs == by_spark, name
    assert canonical(lake.read_arrow(name), schema) == by_spark, name  # the files delta-spark lists
    assert DeltaReader(lake.root).version(name) == lake.version(name)
    if expected is not None:
        assert by_spark == canonical(expected, schema), name


@pytest.fixture
def lake(tmp_path: Path, spark) -> Lake:
    return Lake(str(tmp_path / "lake"), spark, checkpoint_every=3)


def test_stream_tables_written_by_spark_read_the_same_in_delta_rs(lake: Lake, spark) -> None:
    lake.create(PASSAGES, PASSAGES_SCHEMA, partition_by=PASSAGES_PARTITIONS)
    lake.create(QUARANTINE, QUARANTINE_SCHEMA, partition_by=["ingest_date"])
    lake.create(STREAM_METRICS, STREAM_METRICS_SCHEMA)
    batches = [sample(PASSAGES_SCHEMA, 20, PASSAGES_PARTITIONS, first) for first in (0, 10, 30)]  # overlapping
    for batch_id, batch in enumerate(batches):
        frame = spark.createDataFrame(batch) if batch_id == 1 else batch  # Spark frames and Arrow alike
        lake.insert_missing(PASSAGES, frame, ["observation_id"], "query/passages", batch_id)
        lake.append(QUARANTINE, sample(QUARANTINE_SCHEMA, 7, ["ingest_date"], 7 * batch_id),
                    "query/quarantine", batch_id)
        lake.append(STREAM_METRICS, sample(STREAM_METRICS_SCHEMA, 1, first=batch_id), "query/metrics", batch_id)
    log = Path(lake.path(PASSAGES)) / "_delta_log"
    assert list(log.glob("*.checkpoint*.parquet")), "delta-spark checkpoints every 3 commits"
    lake.optimize(PASSAGES)
    passages = sample(PASSAGES_SCHEMA, 50, PASSAGES_PARTITIONS)
    assert_delta_rs_reads(lake, PASSAGES, passages)
    assert DeltaTable(lake.path(PASSAGES)).transaction_version("query/passages") == 2
    assert_delta_rs_reads(lake, QUARANTINE, sample(QUARANTINE_SCHEMA, 21, ["ingest_date"]))
    assert_delta_rs_reads(lake, STREAM_METRICS, sample(STREAM_METRICS_SCHEMA, 3))


def test_register_tables_written_by_spark_read_the_same_in_delta_rs(lake: Lake) -> None:
    for name, schema in ALL_SCHEMAS.items():
        lake.create(name, schema)
        lake.append(name, sample(schema, 12))
        key = schema.fields[0].name
        if "valid_from" in schema.fieldNames():  # a later load closes intervals and adds new ones
            changed = sample(schema, 4, first=10).to_pylist()
            for r in changed:
                r["valid_to"] = None
            lake.merge(name, pa.Table.from_pylist(changed, schema=spark_to_arrow_schema(schema)),
                       keys=[key, "valid_from"])
        lake.delete(name, f"{key} = '{value(schema.fields[0], 0, False)}'")
        assert_delta_rs_reads(lake, name)
        assert lake.read_arrow(name).num_rows == (13 if "valid_from" in schema.fieldNames() else 11)


def test_releases_written_by_spark_read_the_same_in_delta_rs(lake: Lake, spark) -> None:
    from anpr.catalogue import TABLES

    release = publish_sample(spark, lake, "2026-03", cap=2, seed=3)
    assert_delta_rs_reads(lake, RELEASES)
    assert DeltaTable(lake.path(RELEASES)).to_pyarrow_table().column("release_id").to_pylist() == [release.release_id]
    for name in TABLES:
        assert_delta_rs_reads(lake, published_table(name))
    internal = T.StructType([f for f in INTERNAL_SCHEMA.fields if f.name != "release_id"])
    rows = sample(internal, 5)
    rows = rows.append_column(pa.field("release_id", pa.string(), False), pa.array([release.release_id] * 5))
    lake.create(SUPPRESSIONS, T.StructType([*internal.fields, T.StructField("release_id", T.StringType(), False)]),
                partition_by=["release_id"])
    lake.append(SUPPRESSIONS, rows)
    assert_delta_rs_reads(lake, SUPPRESSIONS, rows)


def test_api_tables_written_by_delta_rs_read_the_same_in_spark(lake: Lake) -> None:
    api = DeltaReader(lake.root, checkpoint_every=3)
    api.create(CAMERAS, CAMERAS_SCHEMA)
    api.merge(CAMERAS, sample(CAMERAS_SCHEMA, 6), keys=["camera_id", "valid_from"])
    api.create(ACCESS_LOG, ACCESS_LOG_SCHEMA, partition_by=["day"])
    for first in range(0, 12, 3):
        api.append(ACCESS_LOG, sample(ACCESS_LOG_SCHEMA, 3, ["day"], first))
    for name, schema, rows in ((CAMERAS, CAMERAS_SCHEMA, sample(CAMERAS_SCHEMA, 6)),
                               (ACCESS_LOG, ACCESS_LOG_SCHEMA, sample(ACCESS_LOG_SCHEMA, 12, ["day"]))):
        assert canonical(lake.read_arrow(name), schema) == canonical(rows, schema), name
        assert canonical(api.read_arrow(name), schema) == canonical(rows, schema), name
        assert lake.version(name) == api.version(name)


def test_the_api_reader_writes_only_the_api_tables(lake: Lake) -> None:
    from anpr.lake import LakeError

    lake.create(PASSAGES, PASSAGES_SCHEMA, partition_by=PASSAGES_PARTITIONS)
    api = DeltaReader(lake.root)
    with pytest.raises(LakeError, match="delta-spark"):
        api.append(PASSAGES, sample(PASSAGES_SCHEMA, 1, PASSAGES_PARTITIONS))
    with pytest.raises(LakeError, match="delta-spark"):
        api.create(QUARANTINE, QUARANTINE_SCHEMA)
    assert api.read_arrow(PASSAGES).num_rows == 0
