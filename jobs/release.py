"""Immutable, versioned releases: every publication appends a new release id, never edits an old one."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from anpr.catalogue import TableSpec
from anpr.lake import Lake
from api.releases import RELEASES, published_table

RELEASES_SCHEMA = T.StructType([
    T.StructField("release_id", T.StringType(), False),
    T.StructField("month", T.StringType(), False),
    T.StructField("created_at", T.TimestampType(), False),
    T.StructField("tables", T.StringType(), False),
    T.StructField("row_counts", T.StringType(), False),
    T.StructField("source_versions", T.StringType(), False),
    T.StructField("config_hash", T.StringType(), False),
    T.StructField("protection", T.StringType(), False),
])


@dataclass(frozen=True)
class Release:
    release_id: str
    month: str
    row_counts: dict[str, int]


def config_hash(config: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def publish(spark: SparkSession, lake: Lake, month: str, tables: list[tuple[TableSpec, DataFrame]],
            source_versions: dict[str, int], config: dict[str, object]) -> Release:
    """Write each table's rows under a new release id, then record the release (the commit point).

    Rows of a release whose record never got written are invisible to the API, which lists releases
    from the `releases` table only.
    """
    created = datetime.now(UTC)
    digest = config_hash({"config": config, "sources": source_versions})
    # Creation time orders releases; the random part keeps two publications in one second apart.
    release_id = f"{month}-{created.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
    counts = {}
    for spec, frame in tables:
        rows = frame.select(*spec.columns).withColumn("release_id", F.lit(release_id))
        name = published_table(spec.name)
        lake.create(name, rows.schema, partition_by=["release_id"])
        lake.append(name, rows)
        counts[spec.name] = lake.read_arrow(name, filters=[("release_id", "=", release_id)]).num_rows
    record = spark.createDataFrame([(
        release_id, month, created, json.dumps(sorted(s.name for s, _ in tables)), json.dumps(counts),
        json.dumps(source_versions, sort_keys=True), digest,
        json.dumps({s.name: s.protection for s, _ in tables}),
    )], RELEASES_SCHEMA)
    lake.create(RELEASES, RELEASES_SCHEMA)
    lake.append(RELEASES, record)
    return Release(release_id, month, counts)
