"""delta-spark backend of the lake (cluster profile).

`delta` is imported inside the methods so that this module, and `anpr.lake`, import without delta-spark.
Row counts come from the commit's operationMetrics in the table history; writes tag their commit with
`userMetadata` to find it, DML takes the newest commit of its operation (single writer per table).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from anpr.lake import (
    Filters,
    Lake,
    check_identifiers,
    check_partition_by,
    check_same_table,
    check_transaction,
    normalise_history,
    partition_predicate,
    table_properties,
)

if TYPE_CHECKING:
    from delta.tables import DeltaTable

    from anpr.lake import Rows

_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


class SparkDeltaLake(Lake):
    def __init__(self, root: str, spark: SparkSession, checkpoint_every: int = 50) -> None:
        super().__init__(root, checkpoint_every)
        self.spark = spark

    # -- table handles ------------------------------------------------------------------------------

    def _delta(self, name: str) -> DeltaTable:
        from delta.tables import DeltaTable

        return DeltaTable.forPath(self.spark, self.path(name))

    def _schema(self, name: str) -> StructType:
        return self._delta(name).toDF().schema

    def _partition_columns(self, name: str) -> list[str]:
        return list(self._delta(name).detail().select("partitionColumns").first()[0])

    def _to_spark(self, df: Rows) -> DataFrame:
        if isinstance(df, pa.Table):
            return self.spark.createDataFrame(df)
        return df

    def _conformed(self, name: str, df: Rows) -> DataFrame:
        """Columns in table order and types, as LocalLake's `conform` does for Arrow."""
        sdf = self._to_spark(df)
        schema = self._schema(name)
        extra = [c for c in sdf.columns if c not in schema.fieldNames()]
        if extra:
            raise ValueError(f"columns {extra} are not in the table schema {schema.fieldNames()}")
        columns = []
        for field in schema.fields:
            if field.name in sdf.columns:
                columns.append(F.col(field.name).cast(field.dataType).alias(field.name))
            elif field.nullable:
                columns.append(F.lit(None).cast(field.dataType).alias(field.name))
            else:
                raise ValueError(f"non-nullable column {field.name!r} is missing")
        return sdf.select(*columns)

    # -- commits and their metrics ------------------------------------------------------------------

    def _write(self, name: str, sdf: DataFrame, mode: str, options: Mapping[str, str]) -> dict | None:
        """Write and return the commit's operationMetrics, or None when Delta skipped the write."""
        before = self.version(name)
        tag = f"anpr-{uuid.uuid4().hex}"
        writer = sdf.write.format("delta").mode(mode).option("userMetadata", tag)
        for key, value in options.items():
            writer = writer.option(key, value)
        writer.save(self.path(name))
        commits = self._commits_since(name, before).where(F.col("userMetadata") == tag)
        row = commits.select("operationMetrics").first()
        return dict(row[0] or {}) if row else None

    def _latest_metrics(self, name: str, before: int, operation: str) -> dict:
        commits = self._commits_since(name, before).where(F.col("operation") == operation)
        row = commits.orderBy(F.col("version").desc()).select("operationMetrics").first()
        return dict(row[0] or {}) if row else {}

    def _commits_since(self, name: str, before: int) -> DataFrame:
        latest = self.version(name)
        history = self._delta(name).history(max(latest - before, 1))
        return history.where(F.col("version") > before)

    @staticmethod
    def _transaction_options(app_id: str | None, version: int | None) -> dict[str, str]:
        # Delta skips the write when the table already holds this (txnAppId, txnVersion) or a later one.
        if app_id is None or version is None:
            return {}
        return {"txnAppId": app_id, "txnVersion": str(version)}

    # -- API ----------------------------------------------------------------------------------------

    def exists(self, name: str) -> bool:
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(self.spark, self.path(name))

    def create(self, name: str, schema: StructType, partition_by: Sequence[str] = ()) -> None:
        from delta.tables import DeltaTable

        partition_by = check_partition_by(schema, partition_by)
        if not self.exists(name):
            builder = DeltaTable.createIfNotExists(self.spark).location(self.path(name)).addColumns(schema)
            if partition_by:
                builder = builder.partitionedBy(*partition_by)
            for key, value in table_properties(self.checkpoint_every).items():
                builder = builder.property(key, value)
            builder.execute()
        # Spark's reported nullability is not the stored one, so only names and types are compared.
        check_same_table(
            name,
            self._schema(name),
            self._partition_columns(name),
            schema,
            partition_by,
            compare_nullability=False,
        )

    def append(self, name: str, df: Rows, app_id: str | None = None, version: int | None = None) -> bool:
        check_transaction(app_id, version)
        sdf = self._conformed(name, df)
        return self._write(name, sdf, "append", self._transaction_options(app_id, version)) is not None

    def overwrite_partition(self, name: str, df: Rows, partition: Mapping[str, object]) -> None:
        predicate = partition_predicate(partition, self._partition_columns(name))
        # replaceWhere's constraint check fails the write if a row lies outside the predicate.
        self._write(name, self._conformed(name, df), "overwrite", {"replaceWhere": predicate})

    def merge(self, name: str, df: Rows, keys: Sequence[str]) -> dict[str, int]:
        keys = check_identifiers(keys, "merge keys")
        source = self._conformed(name, df)
        before = self.version(name)
        result = (
            self._delta(name)
            .alias("t")
            .merge(source.alias("s"), " AND ".join(f"t.{k} = s.{k}" for k in keys))
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
        # Newer delta-spark returns the counts; older ones return None and leave them in the history.
        has_counts = isinstance(result, DataFrame) and "num_inserted_rows" in result.columns
        counts = result.first() if has_counts else None
        if counts is not None:
            return {"inserted": int(counts["num_inserted_rows"]), "updated": int(counts["num_updated_rows"])}
        metrics = self._latest_metrics(name, before, "MERGE")
        return {
            "inserted": int(metrics.get("numTargetRowsInserted", 0)),
            "updated": int(metrics.get("numTargetRowsUpdated", 0)),
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
        # Persisted: a foreachBatch DataFrame would otherwise be recomputed from the source per action.
        source = self._conformed(name, df).dropDuplicates(keys).persist()
        try:
            existing = self._existing_keys(name, source, keys)
            missing = source.join(existing, on=keys, how="left_anti").select(*source.columns)
            metrics = self._write(name, missing, "append", self._transaction_options(app_id, version))
        finally:
            source.unpersist()
        return int(metrics.get("numOutputRows", 0)) if metrics else 0

    def _existing_keys(self, name: str, source: DataFrame, keys: Sequence[str]) -> DataFrame:
        target = self.read(name)
        partition_columns = self._partition_columns(name)
        if partition_columns:
            combos = source.select(*partition_columns).distinct().collect()
            for column in partition_columns:
                values = {row[column] for row in combos}
                if None not in values:
                    target = target.where(F.col(column).isin(sorted(values)))
        return target.select(*keys)

    def delete(self, name: str, predicate: str) -> int:
        before = self.version(name)
        self._delta(name).delete(predicate)
        metrics = self._latest_metrics(name, before, "DELETE")
        if "numDeletedRows" in metrics:
            return int(metrics["numDeletedRows"])
        if self.version(name) == before:
            return 0
        return self.read(name, before).where(predicate).count()

    def vacuum(self, name: str, retention_hours: int = 168) -> list[str]:
        quoted = self.path(name).replace("`", "``")
        previous = self.spark.conf.get(_RETENTION_CHECK, None)
        # The caller picks the retention explicitly; Delta refuses less than 168 h unless told.
        self.spark.conf.set(_RETENTION_CHECK, "false")
        try:
            dry_run = self.spark.sql(
                f"VACUUM delta.`{quoted}` RETAIN {int(retention_hours)} HOURS DRY RUN"
            ).collect()
            self._delta(name).vacuum(float(retention_hours))
        finally:
            if previous is None:
                self.spark.conf.unset(_RETENTION_CHECK)
            else:
                self.spark.conf.set(_RETENTION_CHECK, previous)
        return [row[0] for row in dry_run]

    def read(self, name: str, version: int | None = None) -> DataFrame:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.path(name))

    def read_arrow(
        self,
        name: str,
        version: int | None = None,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
    ) -> pa.Table:
        sdf = self.read(name, version)
        if filters:
            sdf = sdf.where(filters_to_column(filters))
        if columns:
            sdf = sdf.select(*columns)
        return sdf.toArrow()

    def version(self, name: str) -> int:
        return int(self._delta(name).history(1).select("version").first()[0])

    def history(self, name: str, limit: int = 10) -> list[dict[str, Any]]:
        rows = (
            self._delta(name)
            .history(limit)
            # Milliseconds, because collected timestamps come back naive in the driver's local zone.
            .select(
                "version",
                F.expr("unix_millis(timestamp)").alias("ms"),
                "operation",
                "operationParameters",
                "operationMetrics",
                "userMetadata",
            )
            .collect()
        )
        return [
            normalise_history(
                row["version"],
                row["ms"],
                row["operation"],
                row["operationParameters"],
                row["operationMetrics"],
                row["userMetadata"],
            )
            for row in rows
        ]

    def optimize(self, name: str) -> None:
        self._delta(name).optimize().executeCompaction()


_COMPARISONS = {
    "=": Column.__eq__,
    "==": Column.__eq__,
    "!=": Column.__ne__,
    "<": Column.__lt__,
    "<=": Column.__le__,
    ">": Column.__gt__,
    ">=": Column.__ge__,
}


def filters_to_column(filters: Filters) -> Column:
    """pyarrow-style DNF filters as a Spark condition: read_arrow takes the same filters on both backends."""
    groups = filters if isinstance(filters[0], list) else [filters]
    conjunctions = [reduce(Column.__and__, (_term(*term) for term in group)) for group in groups]
    return reduce(Column.__or__, conjunctions)


def _term(column: str, op: str, value: Any) -> Column:
    target = F.col(column)
    if op == "in":
        return target.isin(list(value))
    if op == "not in":
        return ~target.isin(list(value))
    try:
        return _COMPARISONS[op](target, F.lit(value))
    except KeyError:
        raise ValueError(f"unsupported filter operator {op!r}") from None
