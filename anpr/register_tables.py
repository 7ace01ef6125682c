"""Names and schemas of the register's Delta tables, keyed by pseudonyms, with validity intervals.

Every table but exemptions and loads holds one row per key and validity interval [valid_from, valid_to):
UTC instants, valid_to null while the state holds. Dates of the sources (a registration day, a load's
as-of date) become the local (Europe/Amsterdam) midnight that starts them. Exemptions are per day:
[valid_from, valid_to) local dates.

The register load (jobs/register/) fills these tables (erasure, retention and key rotation in jobs/
remove rows and files), yet their names and schemas live in the core, not in that stage: the stream
reads them (its lookup snapshot, anpr/register_snapshot.py) and creates them empty at its start, and
`streaming` and `jobs` never import each other. What the writing stage owns is everything that makes
rows (reader, checks, history, the job); nothing here reads or writes one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import types as T

from anpr.lake import Lake, spark_to_arrow_schema

VEHICLES = "register/vehicles"
OWNERS = "register/owners"
COMPANIES = "register/companies"
REGIONS = "register/regions"
EXEMPTIONS = "register/exemptions"
LOADS = "register/loads"


def _interval(key: str, key_type: T.DataType | None = None) -> list[T.StructField]:
    return [T.StructField(key, key_type or T.StringType(), False),
            T.StructField("valid_from", T.TimestampType(), False),
            T.StructField("valid_to", T.TimestampType(), True)]


def _texts(*names: str) -> list[T.StructField]:
    return [T.StructField(n, T.StringType(), True) for n in names]


VEHICLES_SCHEMA = T.StructType([
    *_interval("vehicle_key"),
    T.StructField("voertuig_type", T.StringType(), False),
    *_texts("europese_voertuigcategorie", "brandstof", "emissieklasse", "carrosserie"),
    T.StructField("datum_eerste_toelating", T.DateType(), True),
    T.StructField("massa_rijklaar", T.IntegerType(), True),
    T.StructField("toegestane_maximum_massa", T.IntegerType(), True),
    *_texts("merk"),
])
OWNERS_SCHEMA = T.StructType([
    *_interval("vehicle_key"),
    T.StructField("eigenaar_type", T.StringType(), False),
    *_texts("company_key"),
    T.StructField("postcode4", T.IntegerType(), True),
])
COMPANIES_SCHEMA = T.StructType([
    *_interval("company_key"),
    *_texts("sbi_code"),
    T.StructField("werkzame_personen", T.IntegerType(), True),
])
REGIONS_SCHEMA = T.StructType([
    *_interval("postcode4", T.IntegerType()),
    *_texts("gemeente_code", "gemeente_naam", "nuts3_code", "nuts3_naam", "provincie_code", "provincie_naam"),
])
EXEMPTIONS_SCHEMA = T.StructType([
    T.StructField("vehicle_key", T.StringType(), False),
    T.StructField("municipality", T.StringType(), False),
    T.StructField("soort", T.StringType(), False),  # Tijdelijk | Langdurig; the reason is never loaded
    T.StructField("valid_from", T.DateType(), False),
    T.StructField("valid_to", T.DateType(), True),  # exclusive: the day after the last valid day
])
LOADS_SCHEMA = T.StructType([
    T.StructField("table_name", T.StringType(), False),
    T.StructField("as_of", T.DateType(), False),
    T.StructField("loaded_at", T.TimestampType(), False),
    T.StructField("source", T.StringType(), False),  # "csv" or "synthetic size=N seed=S"
    T.StructField("pepper_id", T.StringType(), False),  # which pepper made the keys (not the pepper)
    *[T.StructField(n, T.LongType(), False) for n in ("rows_in", "rejected", "inserted", "closed", "updated")],
])


@dataclass(frozen=True)
class HistoryTable:
    """A register table kept as history (type-2): one row per key and validity period [valid_from,
    valid_to). Not a published table: those are anpr.catalogue.TableSpec."""
    name: str
    schema: T.StructType
    key: str  # rows are unique on (key, valid_from)

    @property
    def attributes(self) -> list[str]:
        return [f for f in self.schema.fieldNames() if f not in (self.key, "valid_from", "valid_to")]

    @property
    def arrow_schema(self) -> pa.Schema:
        return spark_to_arrow_schema(self.schema)


VEHICLES_SPEC = HistoryTable(VEHICLES, VEHICLES_SCHEMA, "vehicle_key")
OWNERS_SPEC = HistoryTable(OWNERS, OWNERS_SCHEMA, "vehicle_key")
COMPANIES_SPEC = HistoryTable(COMPANIES, COMPANIES_SCHEMA, "company_key")
REGIONS_SPEC = HistoryTable(REGIONS, REGIONS_SCHEMA, "postcode4")
# The tables whose rows carry a vehicle's key (a data subject's erasure removes them), and with the
# companies' table those that carry any pseudonym (retention vacuums their removed files).
KEYED_BY_VEHICLE = (VEHICLES, OWNERS, EXEMPTIONS)
HOLDING_KEYS = (*KEYED_BY_VEHICLE, COMPANIES)
ALL_SCHEMAS = {VEHICLES: VEHICLES_SCHEMA, OWNERS: OWNERS_SCHEMA, COMPANIES: COMPANIES_SCHEMA,
               REGIONS: REGIONS_SCHEMA, EXEMPTIONS: EXEMPTIONS_SCHEMA, LOADS: LOADS_SCHEMA}
UTC_US = pa.timestamp("us", tz="UTC")


def ensure_register_tables(lake: Lake) -> None:
    """Empty register tables where none are loaded yet: the register loads fill them, the stream reads them."""
    for name, schema in ALL_SCHEMAS.items():
        lake.create(name, schema)


def local_midnight(dates: pa.Array | pa.ChunkedArray, timezone: str) -> pa.Array:
    """The UTC instant at which each local date begins (a register change takes effect at midnight)."""
    naive = pc.cast(pc.cast(dates, pa.date32()), pa.timestamp("us"))
    return pc.cast(pc.assume_timezone(naive, timezone), UTC_US)
