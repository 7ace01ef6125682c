"""Immutable, versioned releases: every publication appends a new release id, never edits an old one."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.pandas.types import from_arrow_schema

from anpr.catalogue import TableSpec
from anpr.lake import Lake, to_arrow
from anpr.spark import side_by_side

# The writer owns the names: the API (api/releases.py) reads these tables and imports them from here.
RELEASES = "releases"


# Where a table's rows live. Releases published before the working group's field spec (zoneId a text id,
# detectieRichting obverse/reverse) stay under LEGACY_PUBLISHED, whose schema a new release cannot append
# to (Delta does not change a column's type in place); the API does not serve them (docs/api.md "Field names").
PUBLISHED = "published/v2"
LEGACY_PUBLISHED = "published"


def published_table(spec_name: str) -> str:
    return f"{PUBLISHED}/{spec_name}"


def legacy_published_table(spec_name: str) -> str:
    """Where releases written before the field spec keep a table's rows."""
    return f"{LEGACY_PUBLISHED}/{spec_name}"


RELEASES_SCHEMA = T.StructType([
    T.StructField("release_id", T.StringType(), False),
    T.StructField("month", T.StringType(), False),
    T.StructField("created_at", T.TimestampType(), False),
    T.StructField("tables", T.StringType(), False),
    T.StructField("row_counts", T.StringType(), False),
    T.StructField("source_versions", T.StringType(), False),
    T.StructField("config_hash", T.StringType(), False),
    # JSON: {"tables": protection text per table, "audit": the audit summary, "content_sha256": digest}
    T.StructField("protection", T.StringType(), False),
])
# Why cells were suppressed and what the audit found: internal, never served (the API reads published/*).
SUPPRESSIONS = "internal/suppressions"
# Tables a release writes at once (anpr.spark.side_by_side).
PUBLISH_WRITERS = 4


@dataclass(frozen=True)
class Release:
    release_id: str
    month: str
    row_counts: dict[str, int]
    content_sha256: str = ""
    audit: dict[str, object] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    source_versions: dict[str, object] = field(default_factory=dict)  # what it was built from (RELEASES_SCHEMA)


def config_hash(config: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


# Which formula made a release's cells_settings: a digest recorded without it is the formula before the texts
# were left out (stop 49), which no build can reproduce (revisions.check_settings).
CELLS_SETTINGS_VERSION = 2
# The tables' and dimensions' texts for readers: they decide no cell. The protection text and definitions
# also quote the recoding policy, which a month keeps from its first release anyway.
_TEXTS = {"tables": ("title", "purpose", "definitions", "protection", "recoding_note", "english"),
          "dimensions": ("definition", "en")}


def cells_settings(config: Mapping[str, object]) -> str:
    """A digest of the settings that decide a release's cells and the rules they must meet: all of the
    job's config (jobs/stats/job.py _config) but the municipalities (a zone's cells do not depend on the
    others), the audit's own settings (how hard it searches, never what a cell must meet), the recoding
    policy (a month keeps its first release's recoding) and the tables' texts (_TEXTS). Two releases of a
    month are only audited jointly, cell against cell, under one such digest (jobs/stats/revisions.py)."""
    disclosure = {k: v for k, v in dict(config.get("disclosure") or {}).items()  # type: ignore[call-overload]
                  if k not in ("audit", "recoding")}
    plain = {part: {name: {k: v for k, v in dict(entry).items() if k not in texts}
                    for name, entry in dict(config.get(part) or {}).items()}  # type: ignore[call-overload]
             for part, texts in _TEXTS.items()}
    return config_hash({k: v for k, v in config.items() if k != "municipalities"} | {"disclosure": disclosure}
                       | plain)


def content_digest(tables: Mapping[str, pa.Table]) -> str:
    """A digest of the published rows alone: equal digests mean bit-identical tables."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        digest.update(name.encode())
        digest.update(tables[name].to_pandas().to_csv(index=False, lineterminator="\n").encode())
    return digest.hexdigest()


def _rows(spec: TableSpec, frame: DataFrame | pa.Table) -> pa.Table:
    table = frame if isinstance(frame, pa.Table) else to_arrow(frame.select(*spec.columns))
    return table.select(spec.columns)


def _write(lake: Lake, name: str, rows: pa.Table, release_id: str) -> int:
    rows = rows.append_column(pa.field("release_id", pa.string(), nullable=False),
                              pa.array([release_id] * rows.num_rows, pa.string()))
    lake.create(name, from_arrow_schema(rows.schema), partition_by=["release_id"])
    if rows.num_rows:
        lake.append(name, rows)
    # One commit holds every row of this (new, random) release id: the count is the rows written.
    return rows.num_rows


def publish(spark: SparkSession, lake: Lake, month: str, tables: Sequence[tuple[TableSpec, DataFrame | pa.Table]],
            source_versions: Mapping[str, object], config: Mapping[str, object], *,
            audit: Mapping[str, object] | None = None, internal: pa.Table | None = None,
            recoded: Mapping[str, Mapping[str, str]] | None = None) -> Release:
    """Write each table's rows under a new release id, then record the release (the commit point).

    Rows of a release whose record never got written are invisible to the API, which lists releases
    from the `releases` table only. `internal` rows (INTERNAL_SCHEMA of jobs/stats/rows.py, without
    release_id) go to the internal suppressions table.
    """
    created = datetime.now(UTC)
    digest = config_hash({"config": config, "sources": source_versions})
    # Creation time orders releases; the random part keeps two publications in one second apart.
    release_id = f"{month}-{created.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
    rows = {spec.name: _rows(spec, frame) for spec, frame in tables}
    writes = {published_table(name): table for name, table in rows.items()}
    if internal is not None:
        writes[SUPPRESSIONS] = internal
    # Each table's create and append are a few small Spark jobs and a Delta commit, mostly driver-side: one
    # after the other, a release's 24 tables took 21 s of a small month's job on 2 cores (15 s four at a time).
    with lake.exclusive() as shared:
        written = side_by_side(spark, {name: partial(_write, shared, name, table, release_id)
                                       for name, table in writes.items()}, PUBLISH_WRITERS, "publish")
    counts = {name: written[published_table(name)] for name in rows}
    content = content_digest(rows)
    protection = {"tables": {s.name: s.protection for s, _ in tables}, "audit": dict(audit or {}),
                  "content_sha256": content, "recoded": {t: dict(d) for t, d in (recoded or {}).items()},
                  "cells_settings": cells_settings(config), "cells_settings_version": CELLS_SETTINGS_VERSION}
    record = spark.createDataFrame([(
        release_id, month, created, json.dumps(sorted(rows)), json.dumps(counts),
        json.dumps(dict(source_versions), sort_keys=True), digest, json.dumps(protection, sort_keys=True),
    )], RELEASES_SCHEMA)
    lake.create(RELEASES, RELEASES_SCHEMA)
    lake.append(RELEASES, record)
    return Release(release_id, month, counts, content, dict(audit or {}), source_versions=dict(source_versions))


def zone_summaries(release: Mapping[str, object]) -> dict[str, dict[str, Any]]:
    """What a release's audit recorded per zone ("<municipality>/<zone>" -> jobs/stats/sdc/zone.py summarize),
    from its RELEASES row; {} if nothing."""
    protection = json.loads(str(release.get("protection") or "{}"))
    return {k: dict(v) for k, v in protection.get("audit", {}).get("per_zone", {}).items()}


def latest_release(lake: Lake, month: str) -> dict[str, object] | None:
    if not lake.exists(RELEASES):
        return None
    frame = lake.read_arrow(RELEASES, filters=[("month", "=", month)]).to_pandas()
    if frame.empty:
        return None
    return dict(frame.sort_values(["created_at", "release_id"], kind="mergesort").iloc[-1])


def predates_field_spec(lake: Lake, release: Mapping[str, object]) -> bool:
    """Whether a release (a row of RELEASES) was published before the field spec: its rows are not under
    PUBLISHED, so a rebuild of one municipality cannot carry the others' rows over from it."""
    counts = json.loads(str(release["row_counts"]))
    name = next((n for n, c in sorted(counts.items()) if c), None)
    if name is None:
        return False
    if not lake.exists(published_table(name)):
        return True
    found = lake.read_arrow(published_table(name), columns=["release_id"],
                            filters=[("release_id", "=", str(release["release_id"]))])
    return found.num_rows == 0


def carried_rows(lake: Lake, name: str, release_id: str, columns: Sequence[str], drop_municipality: str
                 ) -> pa.Table | None:
    """Rows of an earlier release for every municipality but one; None if that release lacks the table."""
    if not lake.exists(name):
        return None
    table = lake.read_arrow(name, filters=[("release_id", "=", release_id)])
    if not set(columns) <= set(table.column_names):
        return None
    frame = table.to_pandas()
    return pa.Table.from_pandas(frame[frame["gemeenteCode"] != drop_municipality][list(columns)],
                                schema=table.select(list(columns)).schema, preserve_index=False)

