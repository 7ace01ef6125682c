"""Enrichment: register attributes of each passage as of its event time, by point lookups.

Why no join: against a 10-million-vehicle register a shuffle or sort-merge join costs 3-18 s per
micro-batch whatever its size (DESIGN.md, performance notes). Instead the register is read once per
stream start into sorted arrays (anpr/register_snapshot.py), broadcast, and every Arrow batch of
passages is looked up with binary searches inside mapInArrow: no shuffle, cost linear in the batch.

Rows without a register match keep every row: Buitenlands (foreign plate) or Onbekend, with null
register attributes; exemptions are looked up for every key, register match or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from anpr.delta_reader import TableReader
from anpr.lake import Lake, spark_to_arrow_schema
from anpr.register_conf import RegisterConf, load_register_conf
from anpr.register_snapshot import OUTPUT, RegisterSnapshot, build_snapshot
from anpr.register_tables import ALL_SCHEMAS, COMPANIES, EXEMPTIONS, OWNERS, REGIONS, VEHICLES

INPUT_COLUMNS = ["vehicle_key", "plate_country", "event_ts", "event_date", "municipality"]
ENRICH_FIELDS = [T.StructField(name, T.BooleanType() if name == "register_hit" else T.StringType(),
                               name != "register_hit") for name in OUTPUT]
SNAPSHOT_COLUMNS = {
    VEHICLES: ["vehicle_key", "valid_from", "valid_to", "voertuig_type", "brandstof", "emissieklasse", "carrosserie",
               "datum_eerste_toelating"],
    OWNERS: ["vehicle_key", "valid_from", "valid_to", "eigenaar_type", "company_key", "postcode4"],
    COMPANIES: ["company_key", "valid_from", "valid_to", "sbi_code", "werkzame_personen"],
    REGIONS: ["postcode4", "valid_from", "valid_to", "nuts3_code", "provincie_naam"],
    EXEMPTIONS: ["vehicle_key", "municipality", "soort", "valid_from", "valid_to"],
}
# One broadcast per snapshot and Spark context, reused by every micro-batch.
_BROADCASTS: dict[tuple[int, int], tuple[RegisterSnapshot, Any]] = {}


def _read(lake: TableReader, name: str) -> pa.Table:
    columns = SNAPSHOT_COLUMNS[name]
    if not lake.exists(name):  # no register loaded yet: every passage is Onbekend or Buitenlands
        return spark_to_arrow_schema(ALL_SCHEMAS[name]).empty_table().select(columns)
    return lake.read_arrow(name, columns=columns)


def read_register_snapshot(lake: TableReader, conf: RegisterConf | None = None) -> RegisterSnapshot:
    """The register tables as they are now, as a snapshot (read through Spark in a Spark process)."""
    versions = {name: lake.version(name) for name in SNAPSHOT_COLUMNS if lake.exists(name)}
    tables = {name: _read(lake, name) for name in SNAPSHOT_COLUMNS}
    snapshot = build_snapshot(tables[VEHICLES], tables[OWNERS], tables[COMPANIES], tables[REGIONS],
                              tables[EXEMPTIONS], conf or load_register_conf())
    snapshot.versions = versions
    return snapshot


def load_register_snapshot(spark: SparkSession, lake: Lake, conf: RegisterConf | None = None) -> RegisterSnapshot:
    """Read the register once (per stream start, or per batch job) and broadcast it to the workers."""
    snapshot = read_register_snapshot(lake, conf)
    _broadcast(spark, snapshot)
    return snapshot


def is_current(snapshot: RegisterSnapshot, lake: TableReader) -> bool:
    """False once a register load committed after the snapshot was read (the stream then re-reads it)."""
    return snapshot.versions == {name: lake.version(name) for name in SNAPSHOT_COLUMNS if lake.exists(name)}


def release(snapshot: RegisterSnapshot) -> None:
    """Free the snapshot's broadcast on the workers."""
    for key in [k for k in _BROADCASTS if k[0] == id(snapshot)]:
        _BROADCASTS.pop(key)[1].unpersist()


def _broadcast(spark: SparkSession, snapshot: RegisterSnapshot) -> Any:
    key = (id(snapshot), id(spark.sparkContext))
    entry = _BROADCASTS.get(key)
    if entry is None or entry[0] is not snapshot:
        entry = (snapshot, spark.sparkContext.broadcast(snapshot))
        _BROADCASTS[key] = entry
    return entry[1]


def enrich(df: DataFrame, register: RegisterSnapshot, access_on: date | None = None) -> DataFrame:
    """df plus the register columns (OUTPUT) as of each row's event time.

    Needs vehicle_key, plate_country, event_ts (UTC), event_date (local) and municipality. ze_toegang is
    the access status on the event date, or on access_on when given (what a coming tightening affects).
    """
    missing = [c for c in INPUT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"enrich needs the columns {missing}")
    shared = _broadcast(df.sparkSession, register)
    base = df.drop(*[c for c in OUTPUT if c in df.columns])
    names = base.columns
    schema = T.StructType([*base.schema.fields, *ENRICH_FIELDS])

    def lookup(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        snapshot: RegisterSnapshot = shared.value
        for batch in batches:
            key, country, ts, day, municipality = (batch.column(c) for c in INPUT_COLUMNS)
            added = snapshot.lookup(key, country, ts, day, municipality, access_on=access_on)
            yield pa.RecordBatch.from_arrays([*batch.columns, *added.values()], names=[*names, *added])

    return base.mapInArrow(lookup, schema)
