"""One API for the Delta tables of the lake, with a delta-rs backend (local) and a delta-spark one (cluster).

Writers call `append`/`insert_missing` with an application transaction (app_id, version) so that a
replayed streaming batch lands once. Maintenance (`optimize`, `vacuum`) is left to the single writer of
a table: delta-rs compaction fails beside a concurrent appender.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession

    from anpr.settings import Settings

    Rows: TypeAlias = DataFrame | pa.Table

# (column, op, value) tuples: a flat list is AND, a list of lists is OR of ANDs (pyarrow's DNF filters).
Filters: TypeAlias = list[tuple[str, str, Any]] | list[list[tuple[str, str, Any]]]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(/[A-Za-z0-9_][A-Za-z0-9_\-]*)*$")
_ROW_INDEX = "__anpr_row_index"


class LakeError(RuntimeError):
    """A lake operation cannot proceed as asked."""


class SchemaMismatchError(LakeError):
    """A table exists with another schema or partitioning than the one asked for."""


class Lake(ABC):
    """Delta tables under one root, addressed by name (`<root>/<name>`)."""

    def __init__(self, root: str, checkpoint_every: int = 50) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.root = root.rstrip("/")
        self.checkpoint_every = checkpoint_every

    def path(self, name: str) -> str:
        if not _TABLE_NAME.match(name):
            raise ValueError(f"invalid table name {name!r}: use letters, digits, _ and - separated by /")
        return f"{self.root}/{name}"

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    @abstractmethod
    def create(self, name: str, schema: StructType, partition_by: Sequence[str] = ()) -> None:
        """Create the table; a no-op if it exists with this schema, SchemaMismatchError if not."""

    @abstractmethod
    def append(self, name: str, df: Rows, app_id: str | None = None, version: int | None = None) -> bool:
        """Append rows; with app_id/version, skip a batch the table already holds.

        Returns whether a commit was made: False for an already applied (app_id, version) and, on
        delta-rs, for empty input.
        """

    @abstractmethod
    def overwrite_partition(self, name: str, df: Rows, partition: Mapping[str, object]) -> None:
        """Replace exactly the rows of one partition (a subset of the partition columns may be given)."""

    @abstractmethod
    def merge(self, name: str, df: Rows, keys: Sequence[str]) -> dict[str, int]:
        """Upsert on keys; returns {"inserted": n, "updated": m}."""

    @abstractmethod
    def insert_missing(
        self,
        name: str,
        df: Rows,
        keys: Sequence[str],
        app_id: str | None = None,
        version: int | None = None,
    ) -> int:
        """Insert the rows whose keys the table does not hold yet; returns the rows inserted.

        Rows of df sharing a key are inserted once. On a partitioned table only the partitions present
        in df are read, which assumes a key never moves between partitions (e.g. event_date derives
        from the event itself).
        """

    @abstractmethod
    def delete(self, name: str, predicate: str) -> int:
        """Delete rows matching a SQL predicate; returns the rows deleted."""

    @abstractmethod
    def vacuum(self, name: str, retention_hours: int = 168) -> list[str]:
        """Remove files no version younger than retention_hours needs; returns the files removed."""

    @abstractmethod
    def read(self, name: str, version: int | None = None) -> DataFrame: ...

    @abstractmethod
    def read_arrow(
        self,
        name: str,
        version: int | None = None,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
    ) -> pa.Table: ...

    @abstractmethod
    def version(self, name: str) -> int: ...

    @abstractmethod
    def history(self, name: str, limit: int = 10) -> list[dict[str, Any]]:
        """Newest first: version, timestamp (UTC), operation, parameters, metrics, user_metadata."""

    @abstractmethod
    def optimize(self, name: str) -> None:
        """Compact small files; only the table's single writer may call this."""


# ---------------------------------------------------------------------------------------------------
# Schema conversion and SQL helpers shared by both backends


_ATOMIC_ARROW_TYPES: dict[type[DataType], pa.DataType] = {
    StringType: pa.string(),
    BinaryType: pa.binary(),
    BooleanType: pa.bool_(),
    ByteType: pa.int8(),
    ShortType: pa.int16(),
    IntegerType: pa.int32(),
    LongType: pa.int64(),
    FloatType: pa.float32(),
    DoubleType: pa.float64(),
    DateType: pa.date32(),
    # Delta stores timestamps as UTC microseconds; Spark's TimestampType is an instant, NTZ is not.
    TimestampType: pa.timestamp("us", tz="UTC"),
    TimestampNTZType: pa.timestamp("us"),
}


def spark_to_arrow_type(data_type: DataType) -> pa.DataType:
    if isinstance(data_type, DecimalType):
        return pa.decimal128(data_type.precision, data_type.scale)
    if isinstance(data_type, ArrayType):
        element = pa.field("element", spark_to_arrow_type(data_type.elementType), data_type.containsNull)
        return pa.list_(element)
    if isinstance(data_type, MapType):
        value = pa.field("value", spark_to_arrow_type(data_type.valueType), data_type.valueContainsNull)
        return pa.map_(spark_to_arrow_type(data_type.keyType), value)
    if isinstance(data_type, StructType):
        return pa.struct([_arrow_field(f) for f in data_type.fields])
    try:
        return _ATOMIC_ARROW_TYPES[type(data_type)]
    except KeyError:
        raise TypeError(f"no Delta/Arrow equivalent for Spark type {data_type.simpleString()}") from None


def _arrow_field(field: StructField) -> pa.Field:
    return pa.field(field.name, spark_to_arrow_type(field.dataType), field.nullable)


def spark_to_arrow_schema(schema: StructType) -> pa.Schema:
    """The Arrow schema of a Spark schema in delta-rs: timestamps in UTC microseconds, dates as date32."""
    return pa.schema([_arrow_field(f) for f in schema.fields])


def _schema_signature(schema: StructType) -> Any:
    """Names, types and nullability, without column metadata (Delta adds its own)."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "metadata"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(json.loads(schema.json()))


def check_same_table(
    name: str,
    existing: StructType,
    existing_partitions: Sequence[str],
    wanted: StructType,
    wanted_partitions: Sequence[str],
    compare_nullability: bool = True,
) -> None:
    def sig(schema: StructType) -> Any:
        if compare_nullability:
            return _schema_signature(schema)
        return [(f.name, f.dataType.simpleString()) for f in schema.fields]

    if sig(existing) != sig(wanted):
        raise SchemaMismatchError(
            f"table {name!r} exists with schema {existing.simpleString()}, not {wanted.simpleString()}"
        )
    if list(existing_partitions) != list(wanted_partitions):
        raise SchemaMismatchError(
            f"table {name!r} exists partitioned by {list(existing_partitions)}, not {list(wanted_partitions)}"
        )


def check_identifiers(columns: Sequence[str], what: str) -> list[str]:
    columns = list(columns)
    if not columns:
        raise ValueError(f"{what} must name at least one column")
    for column in columns:
        if not _IDENTIFIER.match(column):
            raise ValueError(f"{what}: {column!r} is not a plain column name")
    return columns


def check_partition_by(schema: StructType, partition_by: Sequence[str]) -> list[str]:
    partition_by = list(partition_by)
    unknown = [c for c in partition_by if c not in schema.fieldNames()]
    if unknown:
        raise ValueError(f"partition columns {unknown} are not in the schema")
    return partition_by


def check_transaction(app_id: str | None, version: int | None) -> None:
    if (app_id is None) != (version is None):
        raise ValueError("app_id and version go together: give both or neither")
    if version is not None and version < 0:
        raise ValueError("transaction version must be >= 0")


def sql_literal(value: object) -> str:
    """A literal both delta-rs (DataFusion) and Spark SQL compare against the column's type.

    Dates and timestamps stay quoted strings: delta-rs reads `TIMESTAMP '...'` as nanoseconds and then
    refuses to compare it with a microsecond column.
    """
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | Decimal):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dt.datetime):
        utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return f"'{utc.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'"
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as a SQL literal")


def partition_predicate(partition: Mapping[str, object], partition_columns: Sequence[str]) -> str:
    if not partition:
        raise ValueError("partition must name at least one partition column")
    unknown = [c for c in partition if c not in partition_columns]
    if unknown:
        raise ValueError(f"{unknown} are not partition columns (the table has {list(partition_columns)})")
    check_identifiers(list(partition), "partition")
    terms = [
        f"{column} IS NULL" if value is None else f"{column} = {sql_literal(value)}"
        for column, value in partition.items()
    ]
    return " AND ".join(terms)


def normalise_history(
    version: int,
    timestamp: dt.datetime | int | None,
    operation: str | None,
    parameters: Mapping[str, Any] | None,
    metrics: Mapping[str, Any] | None,
    user_metadata: str | None,
) -> dict[str, Any]:
    if isinstance(timestamp, int):
        timestamp = dt.datetime.fromtimestamp(timestamp / 1000, tz=dt.UTC)
    elif isinstance(timestamp, dt.datetime) and timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=dt.UTC)
    return {
        "version": version,
        "timestamp": timestamp,
        "operation": operation,
        "parameters": dict(parameters or {}),
        "metrics": dict(metrics or {}),
        "user_metadata": user_metadata,
    }


# ---------------------------------------------------------------------------------------------------
# Arrow helpers for the delta-rs backend


def to_arrow(df: Rows) -> pa.Table:
    if isinstance(df, pa.Table):
        return df
    if hasattr(df, "toArrow"):
        return df.toArrow()
    raise TypeError(f"expected a Spark DataFrame or a pyarrow Table, got {type(df).__name__}")


def conform(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """Rows in the table's column order and types, so small type differences never fail a write.

    Missing nullable columns become nulls; unknown columns and nulls in non-nullable ones are errors,
    because silently dropping or inventing data is worse than failing the batch.
    """
    extra = [c for c in rows.column_names if c not in schema.names]
    if extra:
        raise ValueError(f"columns {extra} are not in the table schema {schema.names}")
    columns = [_conform_column(rows, field) for field in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _conform_column(rows: pa.Table, field: pa.Field) -> pa.ChunkedArray | pa.Array:
    if field.name not in rows.column_names:
        if not field.nullable:
            raise ValueError(f"non-nullable column {field.name!r} is missing")
        return pa.nulls(rows.num_rows, field.type)
    column = rows.column(field.name)
    if column.type != field.type:
        # Spark and pandas may hand over nanoseconds; the lake keeps microseconds.
        column = pc.cast(column, options=pc.CastOptions(field.type, allow_time_truncate=True))
    if not field.nullable and column.null_count:
        raise ValueError(f"non-nullable column {field.name!r} has {column.null_count} nulls")
    return column


def first_per_key(rows: pa.Table, keys: Sequence[str]) -> pa.Table:
    indexed = rows.append_column(_ROW_INDEX, pa.array(range(rows.num_rows), pa.int64()))
    firsts = indexed.group_by(list(keys), use_threads=False).aggregate([(_ROW_INDEX, "min")])
    if firsts.num_rows == rows.num_rows:
        return rows
    first_rows = firsts.column(f"{_ROW_INDEX}_min")
    return rows.take(pc.take(first_rows, pc.sort_indices(first_rows)))


def rows_outside(rows: pa.Table, partition: Mapping[str, object]) -> int:
    if rows.num_rows == 0:
        return 0
    outside = pa.array([False] * rows.num_rows, pa.bool_())
    for column, value in partition.items():
        values = rows.column(column)
        if value is None:
            matches = pc.is_null(values)
        else:
            matches = pc.fill_null(pc.equal(values, pa.scalar(value, values.type)), False)
        outside = pc.or_(outside, pc.invert(matches))
    return int(pc.sum(pc.cast(outside, pa.int64())).as_py())


# ---------------------------------------------------------------------------------------------------
# delta-rs backend


class LocalLake(Lake):
    """delta-rs tables, read by Spark straight from the snapshot's Parquet files."""

    def __init__(self, root: str, spark: SparkSession | None = None, checkpoint_every: int = 50) -> None:
        super().__init__(root, checkpoint_every)
        self.spark = spark

    # -- table handles ------------------------------------------------------------------------------

    def exists(self, name: str) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.path(name))

    def _table(self, name: str, version: int | None = None) -> DeltaTable:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            return DeltaTable(self.path(name), version=version)
        except TableNotFoundError:
            raise LakeError(f"no Delta table {name!r} at {self.path(name)}: create it first") from None

    @staticmethod
    def _spark_schema(table: DeltaTable) -> StructType:
        # Delta's schema JSON is Spark's, so this round trip is exact (timestamp_ntz included).
        return StructType.fromJson(json.loads(table.schema().to_json()))

    @staticmethod
    def _arrow_schema(table: DeltaTable) -> pa.Schema:
        return pa.schema(table.schema().to_arrow())

    # -- commits ------------------------------------------------------------------------------------

    @staticmethod
    def _hooks() -> Any:
        from deltalake import PostCommitHookProperties

        # delta-rs checkpoints on its own at (version + 1) % interval; we checkpoint explicitly instead
        # so the cadence follows settings even for tables created elsewhere.
        return PostCommitHookProperties(create_checkpoint=False)

    @staticmethod
    def _commit_properties(app_id: str | None, version: int | None) -> Any:
        from deltalake import CommitProperties, Transaction

        if app_id is None or version is None:
            return None
        return CommitProperties(app_transactions=[Transaction(app_id, version)])

    @staticmethod
    def _applied(table: DeltaTable, app_id: str | None, version: int | None) -> bool:
        if app_id is None or version is None:
            return False
        last = table.transaction_version(app_id)
        return last is not None and last >= version

    def _after_commit(self, table: DeltaTable, before: int) -> None:
        # Without checkpoints a table of thousands of commits takes long to open.
        table.update_incremental()
        if table.version() // self.checkpoint_every > before // self.checkpoint_every:
            table.create_checkpoint()
            table.cleanup_metadata()

    def _write(
        self,
        table: DeltaTable,
        rows: pa.Table,
        app_id: str | None = None,
        version: int | None = None,
        replace_where: str | None = None,
    ) -> None:
        from deltalake import write_deltalake

        before = table.version()
        common: dict[str, Any] = {
            "commit_properties": self._commit_properties(app_id, version),
            "post_commithook_properties": self._hooks(),
        }
        if replace_where is None:
            write_deltalake(table, rows, mode="append", **common)
        else:
            write_deltalake(table, rows, mode="overwrite", predicate=replace_where, **common)
        self._after_commit(table, before)

    # -- API ----------------------------------------------------------------------------------------

    def create(self, name: str, schema: StructType, partition_by: Sequence[str] = ()) -> None:
        from deltalake import DeltaTable

        partition_by = check_partition_by(schema, partition_by)
        path = self.path(name)
        if "://" not in path:
            Path(path).mkdir(parents=True, exist_ok=True)
        # "ignore" keeps a concurrent creator's table; the comparison below still guards its schema.
        DeltaTable.create(
            path,
            spark_to_arrow_schema(schema),
            mode="ignore",
            partition_by=partition_by,
            configuration=table_properties(self.checkpoint_every),
            post_commithook_properties=self._hooks(),
        )
        table = self._table(name)
        check_same_table(
            name, self._spark_schema(table), table.metadata().partition_columns, schema, partition_by
        )

    def append(self, name: str, df: Rows, app_id: str | None = None, version: int | None = None) -> bool:
        check_transaction(app_id, version)
        table = self._table(name)
        if self._applied(table, app_id, version):
            return False
        rows = conform(to_arrow(df), self._arrow_schema(table))
        if rows.num_rows == 0:
            return False
        self._write(table, rows, app_id, version)
        return True

    def overwrite_partition(self, name: str, df: Rows, partition: Mapping[str, object]) -> None:
        table = self._table(name)
        predicate = partition_predicate(partition, table.metadata().partition_columns)
        rows = conform(to_arrow(df), self._arrow_schema(table))
        outside = rows_outside(rows, partition)
        if outside:
            raise ValueError(f"{outside} rows of the data lie outside the partition {dict(partition)}")
        self._write(table, rows, replace_where=predicate)

    def merge(self, name: str, df: Rows, keys: Sequence[str]) -> dict[str, int]:
        keys = check_identifiers(keys, "merge keys")
        table = self._table(name)
        rows = conform(to_arrow(df), self._arrow_schema(table))
        if rows.num_rows == 0:
            return {"inserted": 0, "updated": 0}
        before = table.version()
        metrics = (
            table.merge(
                rows,
                predicate=" AND ".join(f"t.{k} = s.{k}" for k in keys),
                source_alias="s",
                target_alias="t",
                # Source statistics let delta-rs skip target files; merge sources here are small.
                streamed_exec=False,
                post_commithook_properties=self._hooks(),
            )
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
        self._after_commit(table, before)
        return {
            "inserted": int(metrics.get("num_target_rows_inserted", 0)),
            "updated": int(metrics.get("num_target_rows_updated", 0)),
        }

    def insert_missing(
        self,
        name: str,
        df: Rows,
        keys: Sequence[str],
        app_id: str | None = None,
        version: int | None = None,
    ) -> int:
        keys = check_identifiers(keys, "insert_missing keys")
        check_transaction(app_id, version)
        table = self._table(name)
        if self._applied(table, app_id, version):
            return 0
        schema = self._arrow_schema(table)
        rows = first_per_key(conform(to_arrow(df), schema), keys)
        if rows.num_rows == 0:
            return 0
        existing = self._existing_keys(table, rows, keys)
        missing = conform(rows.join(existing, keys=keys, join_type="left anti"), schema)
        if missing.num_rows == 0:
            return 0
        self._write(table, missing, app_id, version)
        return missing.num_rows

    @staticmethod
    def _existing_keys(table: DeltaTable, rows: pa.Table, keys: Sequence[str]) -> pa.Table:
        # A superset of rows' partitions (per-column IN lists) keeps the pruning predicate small; the
        # anti-join on keys makes the extra partitions harmless.
        pruning = []
        for column in table.metadata().partition_columns:
            values = pc.unique(rows.column(column))
            if values.null_count == 0:
                pruning.append((column, "in", values.to_pylist()))
        dataset = table.to_pyarrow_dataset(file_pruning_predicate=pruning or None)
        existing = dataset.to_table(columns=list(keys))
        return existing.cast(pa.schema([rows.schema.field(k) for k in keys]))

    def delete(self, name: str, predicate: str) -> int:
        table = self._table(name)
        before = table.version()
        metrics = table.delete(predicate, post_commithook_properties=self._hooks())
        self._after_commit(table, before)
        if "num_deleted_rows" in metrics:
            return int(metrics["num_deleted_rows"])
        # delta-rs leaves the count out when it removed whole files without scanning them.
        if table.version() == before:
            return 0
        return self._row_count(self._table(name, before)) - self._row_count(table)

    @staticmethod
    def _row_count(table: DeltaTable) -> int:
        return table.to_pyarrow_dataset().count_rows()

    def vacuum(self, name: str, retention_hours: int = 168) -> list[str]:
        table = self._table(name)
        before = table.version()
        removed = table.vacuum(
            retention_hours,
            dry_run=False,
            # The caller picks the retention explicitly; below the table default is its decision.
            enforce_retention_duration=False,
            post_commithook_properties=self._hooks(),
            # Full: also files no commit ever referenced (crashed writers), not only tombstones.
            full=True,
        )
        self._after_commit(table, before)
        return list(removed)

    def read(self, name: str, version: int | None = None) -> DataFrame:
        if self.spark is None:
            raise LakeError("LocalLake.read needs a SparkSession; use read_arrow without Spark")
        table = self._table(name, version)
        schema = self._spark_schema(table)
        files = table.file_uris()
        if not files:
            return self.spark.createDataFrame([], schema)
        self._check_plain_parquet(name, table)
        # The explicit schema types the partition columns: left to inference, "0363" becomes 363.
        return (
            self.spark.read.schema(schema)
            .option("basePath", table.table_uri)
            .parquet(*files)
            .select(*schema.fieldNames())
        )

    @staticmethod
    def _check_plain_parquet(name: str, table: DeltaTable) -> None:
        """Reading the Parquet files directly is only right if they hold exactly the table's rows."""
        if table.metadata().configuration.get("delta.columnMapping.mode", "none") != "none":
            raise LakeError(f"table {name!r} uses column mapping; Spark cannot read its files directly")
        has_vectors = "deletionVectors" in (table.protocol().reader_features or [])
        if has_vectors and pa.table(table.deletion_vectors()).num_rows:
            raise LakeError(f"table {name!r} has deletion vectors; Spark would read deleted rows")

    def read_arrow(
        self,
        name: str,
        version: int | None = None,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
    ) -> pa.Table:
        table = self._table(name, version)
        return table.to_pyarrow_table(columns=list(columns) if columns else None, filters=filters)

    def version(self, name: str) -> int:
        return self._table(name).version()

    def history(self, name: str, limit: int = 10) -> list[dict[str, Any]]:
        return [
            normalise_history(
                commit["version"],
                commit.get("timestamp"),
                commit.get("operation"),
                commit.get("operationParameters"),
                commit.get("operationMetrics"),
                commit.get("userMetadata"),
            )
            for commit in self._table(name).history(limit)
        ]

    def optimize(self, name: str) -> None:
        table = self._table(name)
        before = table.version()
        # delta-rs 1.6 ignores create_checkpoint=False here and may checkpoint on its own as well.
        table.optimize.compact(post_commithook_properties=self._hooks())
        self._after_commit(table, before)


def table_properties(checkpoint_every: int) -> dict[str, str]:
    return {
        # Spark reads delta-rs snapshots as plain Parquet, which is only right without deletion
        # vectors; keeping them off in both backends keeps every table readable by both.
        "delta.enableDeletionVectors": "false",
        # delta-spark checkpoints at this cadence on its own; for delta-rs it documents ours.
        "delta.checkpointInterval": str(checkpoint_every),
    }


def make_lake(settings: Settings, spark: SparkSession | None = None) -> Lake:
    if settings.lake.backend == "delta-spark":
        if spark is None:
            raise LakeError("the delta-spark backend needs a SparkSession")
        from anpr.lake_spark import SparkDeltaLake

        return SparkDeltaLake(settings.lake_root, spark, settings.lake.checkpoint_every)
    return LocalLake(settings.lake_root, spark, settings.lake.checkpoint_every)
