"""delta-rs access to the lake for processes that must not start a JVM.

The vendor API, the ingest service and `anpr stream status` read the tables Spark writes through this
module. It writes only the tables whose one writer it is (API_TABLES: the API's access log, the ingest
service's camera registrations, and the CLI's operator audit trail, which must record commands that
start no JVM too); every other table has delta-spark (`anpr.lake.Lake`) as its one writer, and no
table is written by both engines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
from pyspark.sql.types import StructType

from anpr.lake import (
    Filters,
    LakeError,
    check_identifiers,
    check_partition_by,
    check_same_table,
    conform,
    normalise_history,
    spark_to_arrow_schema,
    table_path,
    table_properties,
)

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from anpr.settings import Settings

# Tables written through delta-rs only (api/access_log.py, anpr/feeds/camera_table.py, anpr/operator_audit.py).
API_TABLES = frozenset({"api_access_log", "cameras", "operator_audit"})


class TableReader(Protocol):
    """What readers need of a lake; both anpr.lake.Lake and DeltaReader offer it."""

    root: str

    def exists(self, name: str) -> bool: ...

    def version(self, name: str) -> int: ...

    def read_arrow(self, name: str, version: int | None = None, columns: Sequence[str] | None = None,
                   filters: Filters | None = None) -> pa.Table: ...


class DeltaReader:
    """Delta tables under one root through delta-rs: reads of any table, writes of API_TABLES only."""

    def __init__(self, root: str, checkpoint_every: int = 50) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.root = root.rstrip("/")
        self.checkpoint_every = checkpoint_every

    def path(self, name: str) -> str:
        return table_path(self.root, name)

    # -- reads ----------------------------------------------------------------------------------------

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
        """Newest first: version, timestamp (UTC), operation, parameters, metrics, user_metadata."""
        return [
            normalise_history(commit["version"], commit.get("timestamp"), commit.get("operation"),
                              commit.get("operationParameters"), commit.get("operationMetrics"),
                              commit.get("userMetadata"))
            for commit in self._table(name).history(limit)
        ]

    def schema(self, name: str) -> StructType:
        # Delta's schema JSON is Spark's, so this round trip is exact.
        return StructType.fromJson(json.loads(self._table(name).schema().to_json()))

    # -- writes of the API's own tables ---------------------------------------------------------------

    @staticmethod
    def _check_writable(name: str) -> None:
        if name not in API_TABLES:
            raise LakeError(f"table {name!r} is written by delta-spark (anpr.lake.Lake) only; "
                            f"the API processes write {sorted(API_TABLES)}")

    def _writable(self, name: str) -> DeltaTable:
        self._check_writable(name)
        return self._table(name)

    @staticmethod
    def _hooks() -> Any:
        from deltalake import PostCommitHookProperties

        # Checkpoints follow checkpoint_every explicitly (see _after_commit), not delta-rs' own cadence.
        return PostCommitHookProperties(create_checkpoint=False)

    def _after_commit(self, table: DeltaTable, before: int) -> None:
        # Without checkpoints a table of thousands of commits takes long to open.
        table.update_incremental()
        if table.version() // self.checkpoint_every > before // self.checkpoint_every:
            table.create_checkpoint()
            table.cleanup_metadata()

    def create(self, name: str, schema: StructType, partition_by: Sequence[str] = (),
               append_only: bool = False) -> None:
        """Create the table; a no-op if it exists with this schema, SchemaMismatchError if not.

        append_only sets Delta's `delta.appendOnly`: every engine then refuses DELETE, UPDATE and MERGE
        updates on the table (only a new table gets it; an existing one keeps its properties)."""
        from deltalake import DeltaTable

        self._check_writable(name)
        partition_by = check_partition_by(schema, partition_by)
        path = self.path(name)
        if "://" not in path:
            Path(path).mkdir(parents=True, exist_ok=True)
        # "ignore" keeps a concurrent creator's table; the comparison below still guards its schema.
        DeltaTable.create(path, spark_to_arrow_schema(schema), mode="ignore", partition_by=partition_by,
                          configuration={**table_properties(self.checkpoint_every, schema, partition_by),
                                         **({"delta.appendOnly": "true"} if append_only else {})},
                          post_commithook_properties=self._hooks())
        table = self._table(name)
        check_same_table(name, self.schema(name), table.metadata().partition_columns, schema, partition_by)

    def append(self, name: str, rows: pa.Table) -> bool:
        """Append rows; returns whether a commit was made (False for no rows)."""
        from deltalake import write_deltalake

        table = self._writable(name)
        rows = conform(rows, pa.schema(table.schema().to_arrow()))
        if rows.num_rows == 0:
            return False
        before = table.version()
        write_deltalake(table, rows, mode="append", post_commithook_properties=self._hooks())
        self._after_commit(table, before)
        return True

    def merge(self, name: str, rows: pa.Table, keys: Sequence[str]) -> dict[str, int]:
        """Upsert on keys (unique in rows); returns {"inserted": n, "updated": m}."""
        keys = check_identifiers(keys, "merge keys")
        table = self._writable(name)
        rows = conform(rows, pa.schema(table.schema().to_arrow()))
        if rows.num_rows == 0:
            return {"inserted": 0, "updated": 0}
        before = table.version()
        metrics = (
            table.merge(rows, predicate=" AND ".join(f"t.{k} = s.{k}" for k in keys), source_alias="s",
                        target_alias="t", streamed_exec=False, post_commithook_properties=self._hooks())
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
        self._after_commit(table, before)
        return {"inserted": int(metrics.get("num_target_rows_inserted", 0)),
                "updated": int(metrics.get("num_target_rows_updated", 0))}

    def optimize(self, name: str) -> None:
        """Compact small files; only the table's single writer may call this."""
        table = self._writable(name)
        before = table.version()
        table.optimize.compact(post_commithook_properties=self._hooks())
        self._after_commit(table, before)


def make_reader(settings: Settings) -> DeltaReader:
    return DeltaReader(settings.lake_root, settings.lake.checkpoint_every)
