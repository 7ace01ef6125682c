"""The Delta tables of the lake, written and read through delta-spark: the one write path of Spark data.

Every process that runs a SparkSession (stream, register loads, monthly statistics, the demo) uses
`Lake`. Processes that must not start a JVM (the vendor API, the ingest service, `anpr stream status`)
read through `anpr.delta_reader` with delta-rs, and write with it only the tables they own.

Exactly once: `append` passes (app_id, version) as Delta's `txnAppId`/`txnVersion` writer options, so a
replayed batch is skipped in the same commit check that records it. `insert_missing` is an insert-only
MERGE made idempotent the same way through the session confs `spark.databricks.delta.write.txnAppId`/
`.txnVersion`; those are shared by every thread of a session, so every write of a session takes one
lock (a write without options would otherwise pick up another thread's transaction), except an append
with its own transaction: writer options win over those confs, so it runs beside a MERGE. A `marked`
append names its transaction only in the commit's userMetadata, for a caller that knows it is not in the
table yet; `marked_version` finds it in the log without a Spark job. It takes the lock of the session its
rows belong to, so it runs beside a MERGE of another session (a streaming query runs in a clone).
`exclusive` holds a session's lock for a block whose own threads write side by side through a view that
takes it no more (a release's tables); the view refuses what sets session confs.

Tables stay at features delta-rs reads (protocol (1,2): no deletion vectors, row tracking, identity
columns, clustering or type widening), so the vendor API can read every table Spark writes.

Every transaction-guarded write makes Delta rebuild the new snapshot's state from the log (a Spark job
over all the table's files): compacting (`optimize`) keeps that cheap. `read_arrow` takes the file list
of the snapshot from delta-spark and reads the Parquet files with pyarrow, which is several times faster
than collecting the rows through Spark (bench/lake_append.py).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from functools import reduce
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import unquote

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from py4j.protocol import Py4JJavaError
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    BooleanType,
    ByteType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

if TYPE_CHECKING:
    from delta.tables import DeltaTable
    from pyspark.sql import SparkSession

    from anpr.settings import Settings

Rows: TypeAlias = "DataFrame | pa.Table"
# (column, op, value) tuples: a flat list is AND, a list of lists is OR of ANDs (pyarrow's DNF filters).
Filters: TypeAlias = list[tuple[str, str, Any]] | list[list[tuple[str, str, Any]]]

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(/[A-Za-z0-9_][A-Za-z0-9_\-]*)*$")
_ROW_INDEX = "__anpr_row_index"
# A Delta log folder without a commit younger than this may be another process creating the table now (Delta
# writes commit 0 milliseconds after the folder); an older one was left by a creation killed in between.
CREATION_GRACE_SECONDS = 10.0

_TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
_TXN_VERSION = "spark.databricks.delta.write.txnVersion"
# Delta unsets txnVersion after the write it applied to: a forgotten conf then cannot skip later writes.
_TXN_AUTO_RESET = "spark.databricks.delta.write.txnVersion.autoReset.enabled"
# Each transactional commit also names its transaction in commitInfo.userMetadata, so a replay can find
# what the first attempt wrote (committed_rows); the txn action itself carries no row count.
_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
_LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
# Rows per Spark partition of an Arrow input: Spark would otherwise make one file per 10,000-row batch.
ROWS_PER_PARTITION = 500_000
# Partition value types whose Delta log strings pyarrow casts exactly (timestamps and decimals go through Spark).
_PLAIN_PARTITION_TYPES = (StringType, DateType, BooleanType, ByteType, ShortType, IntegerType, LongType)
MERGE_ATTEMPTS = 5  # an insert-only MERGE that lost a race re-reads the table and inserts what is still missing


class LakeError(RuntimeError):
    """A lake operation cannot proceed as asked."""


class SchemaMismatchError(LakeError):
    """A table exists with another schema or partitioning than the one asked for."""


@dataclass(frozen=True)
class TableState:
    """What a table's newest snapshot says, read from the Delta log without a Spark job."""

    version: int
    schema: StructType  # as stored: nullability included
    partition_columns: list[str]
    configuration: dict[str, str]


# ---------------------------------------------------------------------------------------------------
# One write lock per Spark session: the transaction confs are session-wide.

_SESSION_LOCKS: dict[int, threading.RLock] = {}
_SESSION_LOCKS_GUARD = threading.Lock()


def _session_lock(spark: SparkSession) -> threading.RLock:
    # Keyed by the JVM session: two Python wrappers of one session share its confs, newSession() does not.
    key = int(spark._jsparkSession.hashCode())
    with _SESSION_LOCKS_GUARD:
        return _SESSION_LOCKS.setdefault(key, threading.RLock())


class Lake:
    """Delta tables under one root, addressed by name (`<root>/<name>`), through one SparkSession."""

    def __init__(self, root: str, spark: SparkSession, checkpoint_every: int = 50) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        if spark is None:
            raise LakeError("Lake writes through delta-spark and needs a SparkSession; "
                            "processes without Spark read with anpr.delta_reader.DeltaReader")
        self.root = root.rstrip("/")
        self.spark = spark
        self.checkpoint_every = checkpoint_every
        self._lock: AbstractContextManager[object] = _session_lock(spark)
        self._shared = False  # a view of `exclusive`, whose threads write side by side

    def path(self, name: str) -> str:
        return table_path(self.root, name)

    @contextmanager
    def exclusive(self) -> Iterator[Lake]:
        """Holds the session's write lock for the block and yields a view of this lake for the block's own
        threads: its writes do not take that lock again (a marked append of another session's rows still takes
        that session's). Creates and appends without a transaction then run side by side (each is a few Spark
        jobs and a commit, mostly driver-side), while no MERGE elsewhere in the session sets its session-wide
        transaction confs. The view refuses with LakeError what sets session confs itself (a write with a
        session transaction, vacuum), as its sibling threads' writes would take them. A thread of the block
        must write through the view: the lake itself waits for the block to end."""
        with self._lock:
            view = copy.copy(self)
            view._lock = nullcontext()
            view._shared = True
            yield view

    # -- table state from the Delta log ---------------------------------------------------------------

    def _latest(self, name: str) -> Any:
        """The table's newest snapshot (version -1: no table), from the cached DeltaLog: milliseconds,
        no Spark job (DESCRIBE HISTORY takes a job per call)."""
        jvm: Any = self.spark._jvm
        delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(self.spark._jsparkSession, self.path(name))
        none = jvm.scala.Option.empty()
        return delta_log.update(False, none, none)  # (stalenessAcceptable, checkIfUpdatedSinceTs, catalogTableOpt)

    def _snapshot(self, name: str) -> Any:
        snapshot = self._latest(name)
        if snapshot.version() < 0:
            raise LakeError(f"no Delta table {name!r} at {self.path(name)}: create it first")
        return snapshot

    def state(self, name: str) -> TableState:
        return self._state_of(self._snapshot(name))

    @staticmethod
    def _state_of(snapshot: Any) -> TableState:
        metadata = json.loads(snapshot.metadata().json())["metaData"]
        return TableState(
            version=int(snapshot.version()),
            schema=StructType.fromJson(json.loads(metadata["schemaString"])),
            partition_columns=list(metadata.get("partitionColumns") or []),
            configuration=dict(metadata.get("configuration") or {}),
        )

    def transaction_version(self, name: str, app_id: str) -> int | None:
        """The last (app_id, version) transaction the table recorded, or None."""
        found = self._snapshot(name).transactions().get(app_id)
        return int(found.get()) if found.isDefined() else None

    def committed_rows(self, name: str, app_id: str, version: int, search: int = 50) -> int:
        """Rows that the commit of transaction (app_id, version) added: what a batch replayed after a crash
        reports as written, since its replayed write adds nothing. Found by the commit's userMetadata
        among the table's last `search` commits; 0 when the table's last transaction of app_id is
        another version or its commit is not among them."""
        if self.transaction_version(name, app_id) != version:
            return 0
        marker = transaction_marker(app_id, version)
        for commit in self.history(name, search):
            if commit["user_metadata"] == marker:
                metrics = commit["metrics"]
                return int(metrics.get("numTargetRowsInserted", metrics.get("numOutputRows", 0)))
        return 0

    def marked_version(self, name: str, app_id: str, since_ms: int | None = None) -> tuple[int, int] | None:
        """(transaction version, commit time in epoch ms) of app_id's newest commit to the table, found by the
        transaction_marker in its commitInfo.userMetadata, which every commit of a transaction carries (a Delta
        transaction or a `marked` append); None when none is found.

        Reads the commits newest first on the driver, no Spark job: it stops at app_id's first, at a commit made
        before since_ms (commitInfo.timestamp, the committing driver's clock; a commit without one does not
        stop it), or at the table's first commit. A caller bounds the search with since_ms; each commit read
        is one small file. LakeError when Delta's log retention (delta.logRetentionDuration) removed a
        commit the search needed: whether it held the transaction is then unknown.
        """
        jvm: Any = self.spark._jvm
        log_dir = jvm.org.apache.hadoop.fs.Path(f"{self.path(name)}/_delta_log")
        fs = log_dir.getFileSystem(self.spark._jsc.hadoopConfiguration())
        for version in range(int(self._latest(name).version()), -1, -1):
            info = _commit_info(jvm, fs, jvm.org.apache.hadoop.fs.Path(log_dir, f"{version:020d}.json"))
            if info is None:
                raise LakeError(f"table {name}: commit {version} is no longer in the Delta log (log retention), so "
                                f"whether it holds transaction {app_id} cannot be told; the search had found "
                                "neither that transaction nor a commit older than its bound")
            marked = marked_transaction(info.get("userMetadata"), app_id)
            if marked is not None:
                return marked, int(info["timestamp"])
            if since_ms is not None and info.get("timestamp") is not None and int(info["timestamp"]) < since_ms:
                return None
        return None

    def _applied(self, name: str, app_id: str | None, version: int | None) -> bool:
        if app_id is None or version is None:
            return False
        last = self.transaction_version(name, app_id)
        return last is not None and last >= version

    def _delta(self, name: str) -> DeltaTable:
        from delta.tables import DeltaTable

        return DeltaTable.forPath(self.spark, self.path(name))

    # -- input ----------------------------------------------------------------------------------------

    def _conformed(self, schema: StructType, df: Rows) -> DataFrame:
        """Rows in the table's column order and types, so small type differences never fail a write.

        Missing nullable columns become nulls; unknown columns and missing non-nullable ones are errors,
        because silently dropping or inventing data is worse than failing the batch.
        """
        if isinstance(df, pa.Table):
            rows = conform(df, spark_to_arrow_schema(schema))
            # pyspark 4.2 reads an Arrow table as empty when its first batch is (e.g. after concat_tables).
            rows = pa.Table.from_batches([b for b in rows.to_batches() if b.num_rows], schema=rows.schema)
            sdf = self.spark.createDataFrame(rows, schema=schema)
            # One Spark partition per 10,000-row Arrow batch would write as many small files.
            wanted = max(1, min(self.spark.sparkContext.defaultParallelism,
                                math.ceil(rows.num_rows / ROWS_PER_PARTITION)))
            return sdf.coalesce(wanted) if sdf.rdd.getNumPartitions() > wanted else sdf
        if not isinstance(df, DataFrame):
            raise TypeError(f"expected a Spark DataFrame or a pyarrow Table, got {type(df).__name__}")
        return conform_frame(df, schema)

    @staticmethod
    def _is_empty(df: Rows, sdf: DataFrame) -> bool:
        return df.num_rows == 0 if isinstance(df, pa.Table) else sdf.isEmpty()

    # -- commits --------------------------------------------------------------------------------------

    def _save(self, sdf: DataFrame, name: str, mode: str, options: Mapping[str, str]) -> None:
        writer = sdf.write.format("delta").mode(mode)
        for key, value in options.items():
            writer = writer.option(key, value)
        writer.save(self.path(name))

    def _refuse_in_view(self, what: str) -> None:
        if self._shared:
            raise LakeError(f"{what} cannot run in a view of Lake.exclusive(): it sets session-wide confs that "
                            "the block's other threads' writes would take")

    @contextmanager
    def _session_transaction(self, app_id: str | None, version: int | None) -> Iterator[None]:
        """Commits of DML (MERGE) in this block record (app_id, version); the caller holds the lock."""
        if app_id is None or version is None:
            yield
            return
        self._refuse_in_view("a write with a session transaction")
        conf = self.spark.conf
        conf.set(_TXN_APP_ID, app_id)
        conf.set(_TXN_VERSION, str(version))
        conf.set(_TXN_AUTO_RESET, "true")
        conf.set(_USER_METADATA, transaction_marker(app_id, version))
        try:
            yield
        finally:
            for key in (_TXN_APP_ID, _TXN_VERSION, _TXN_AUTO_RESET, _USER_METADATA):
                conf.unset(key)

    # -- API ------------------------------------------------------------------------------------------

    def exists(self, name: str) -> bool:
        return int(self._latest(name).version()) >= 0

    def create(self, name: str, schema: StructType, partition_by: Sequence[str] = ()) -> None:
        """Create the table; a no-op if it exists with this schema, SchemaMismatchError if not."""
        from delta.tables import DeltaTable

        partition_by = check_partition_by(schema, partition_by)
        if not self.exists(name):
            self._clear_unfinished_creation(name)
            with self._lock:
                builder = DeltaTable.createIfNotExists(self.spark).location(self.path(name)).addColumns(schema)
                if partition_by:
                    builder = builder.partitionedBy(*partition_by)
                for key, value in table_properties(self.checkpoint_every, schema, partition_by).items():
                    builder = builder.property(key, value)
                builder.execute()
        state = self.state(name)
        added = added_columns(state.schema, schema)
        if added:
            # A release of the code that declares new trailing nullable columns upgrades the table in
            # place (rows written before read them as null) instead of refusing an existing data dir.
            columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in added)
            with self._lock:
                self.spark.sql(f"ALTER TABLE delta.`{_quoted(self.path(name))}` ADD COLUMNS ({columns})")
            log.info("table %s: added columns %s", name, [f.name for f in added])
            state = self.state(name)
        stats = stats_columns(schema, partition_by)
        if stats and state.configuration.get("delta.dataSkippingStatsColumns") != stats:
            # tables made before pseudonyms lost their statistics, or that gained columns since
            with self._lock:
                self.spark.sql(f"ALTER TABLE delta.`{_quoted(self.path(name))}` SET TBLPROPERTIES "
                               f"('delta.dataSkippingStatsColumns' = '{stats}')")
            log.info("table %s: no file statistics for its pseudonym columns", name)
            state = self.state(name)
        check_same_table(name, state.schema, state.partition_columns, schema, partition_by)

    def _clear_unfinished_creation(self, name: str) -> None:
        """Remove the `_delta_log` of a table whose creation was killed before its first commit.

        Delta makes the log folder before it writes commit 0; a process killed in between leaves a folder
        that delta-spark takes for a table (`createIfNotExists` then fails with DELTA_TABLE_NOT_FOUND) and
        every later start would refuse. Only a log holding nothing but hidden files (a commit's temporary
        file, checksums) and empty folders is removed, and only once it is CREATION_GRACE_SECONDS old: a
        younger one may be another process creating the table right now. Files are removed one by one and
        folders only when empty, so a commit that appears meanwhile stops the removal and is kept.
        """
        jvm: Any = self.spark._jvm
        log_dir = jvm.org.apache.hadoop.fs.Path(f"{self.path(name)}/_delta_log")
        fs = log_dir.getFileSystem(self.spark._jsc.hadoopConfiguration())
        found = _unfinished_log(fs, log_dir)
        if found is None:
            return
        wait = CREATION_GRACE_SECONDS - (time.time() - found.newest_ms / 1000)
        if wait > 0:
            time.sleep(wait)
            found = None if self.exists(name) else _unfinished_log(fs, log_dir)
            if found is None:
                return
        try:
            for leftover in found.files:
                fs.delete(leftover, False)
            for folder in found.folders:  # deepest first, the log folder last
                if not fs.delete(folder, False) and fs.exists(folder):
                    return
        except Py4JJavaError:
            log.info("table %s: its Delta log gained files while an unfinished creation's were removed; kept", name)
            return
        log.warning("table %s: removed a Delta log without a commit, left by a creation that did not finish", name)

    def append(self, name: str, df: Rows, app_id: str | None = None, version: int | None = None,
               nonempty: bool = False, marked: bool = False) -> bool:
        """Append rows; with app_id/version, skip a batch the table already holds.

        nonempty: the caller knows df holds rows (the stream counted them), which spares the Spark job
        that checks. marked: (app_id, version) goes into the commit's userMetadata only, not in a Delta
        transaction, and nothing is checked: for a caller that knows the table does not hold it
        (`marked_version`). Delta checks a transaction against the table's state, which delta-spark 4.4.0
        rebuilds in Spark jobs at every new table version (`Snapshot.transactions`). Returns whether a
        commit was made: False for an already applied (app_id, version) or no rows.
        """
        check_transaction(app_id, version)
        if marked:
            if app_id is None or version is None:
                raise ValueError("a marked append needs app_id and version")
            sdf = self._conformed(self.state(name).schema, df)
            # Without a writer transaction the write would take a concurrent MERGE's session-wide one: it holds
            # the lock of the session it writes through (a streaming micro-batch's frame is in the query's own
            # session, so it runs beside the lake session's MERGE). The lake's own session's is self._lock, which an
            # exclusive() view's threads do not take again (their block holds it).
            own = _session_lock(sdf.sparkSession) is _session_lock(self.spark)
            with self._lock if own else _session_lock(sdf.sparkSession):
                if not nonempty and self._is_empty(df, sdf):
                    return False
                self._save(sdf, name, "append", {"userMetadata": transaction_marker(app_id, version)})
                return True
        # Writer options win over the session's transaction confs (delta-spark 4.4.0
        # DeltaCommand.getTxnVersionAndAppId, TransactionHelper.getUserMetadata), so an append that
        # carries its own transaction needs no session lock and runs beside a MERGE (the sink's
        # commits); one without would take a concurrent MERGE's transaction for its own.
        lock: AbstractContextManager[object] = self._lock if app_id is None else nullcontext()
        with lock:
            if self._applied(name, app_id, version):
                return False
            sdf = self._conformed(self.state(name).schema, df)
            if not nonempty and self._is_empty(df, sdf):
                return False
            # Delta itself skips the write if the table holds this (txnAppId, txnVersion) or a later one.
            options = {}
            if app_id is not None and version is not None:  # check_transaction: both or neither
                options = {"txnAppId": app_id, "txnVersion": str(version),
                           "userMetadata": transaction_marker(app_id, version)}
            self._save(sdf, name, "append", options)
            return True

    def overwrite_partition(self, name: str, df: Rows, partition: Mapping[str, object]) -> None:
        """Replace exactly the rows of one partition (a subset of the partition columns may be given)."""
        with self._lock:
            state = self.state(name)
            predicate = partition_predicate(partition, state.partition_columns)
            sdf = self._conformed(state.schema, df)
            outside = sdf.where(~F.coalesce(F.expr(predicate), F.lit(False))).count()
            if outside:
                raise ValueError(f"{outside} rows of the data lie outside the partition {dict(partition)}")
            self._save(sdf, name, "overwrite", {"replaceWhere": predicate})

    def merge(self, name: str, df: Rows, keys: Sequence[str]) -> dict[str, int]:
        """Upsert on keys (unique in df); returns {"inserted": n, "updated": m}."""
        keys = check_identifiers(keys, "merge keys")
        with self._lock:
            source = self._conformed(self.state(name).schema, df)
            result = (
                self._delta(name).alias("t")
                .merge(source.alias("s"), _keys_match(keys))
                .whenMatchedUpdateAll()
                .whenNotMatchedInsertAll()
                .execute()
                .first()
            )
        if result is None:
            return {"inserted": 0, "updated": 0}
        return {"inserted": int(result["num_inserted_rows"]), "updated": int(result["num_updated_rows"])}

    def insert_missing(
        self,
        name: str,
        df: Rows,
        keys: Sequence[str],
        app_id: str | None = None,
        version: int | None = None,
        unique_keys: bool = False,
    ) -> int:
        """Insert the rows whose keys the table does not hold yet; returns the rows inserted.

        An insert-only MERGE on the keys. Rows of df sharing a key are inserted once; a caller whose
        rows are unique by construction (the stream, after its stateful dedupe) passes unique_keys and
        saves a sort of the batch. On a partitioned table only the partitions present in df are read,
        which assumes a key never moves between partitions (e.g. event_date derives from the event
        itself). With app_id/version, the MERGE commit records the transaction and a replay inserts
        nothing.
        """
        from delta.exceptions import (
            ConcurrentAppendException,
            ConcurrentDeleteReadException,
            ConcurrentTransactionException,
        )

        keys = check_identifiers(keys, "insert_missing keys")
        check_transaction(app_id, version)
        if app_id is not None:
            self._refuse_in_view("a write with a session transaction")  # even one already applied
        with self._lock:
            if self._applied(name, app_id, version):
                return 0
            state = self.state(name)
            source = self._conformed(state.schema, df)
            source = source if unique_keys else source.dropDuplicates(keys)
            # Read twice (partition values, then the MERGE): cached unless the caller's rows already are
            # and nothing costly lies on top. Memory only keeps even keys off disk.
            cache = not isinstance(df, pa.Table) and not (unique_keys and df.is_cached)
            if cache:
                from pyspark import StorageLevel

                source = source.persist(StorageLevel.MEMORY_ONLY)
            try:
                condition = _keys_match(keys)
                pruning = _partition_pruning(df, source, state.partition_columns)
                if pruning is None:
                    return 0  # no rows
                for term in pruning:
                    condition = condition & term
                for attempt in range(1, MERGE_ATTEMPTS + 1):
                    try:
                        with self._session_transaction(app_id, version):
                            result = (
                                self._delta(name).alias("t")
                                .merge(source.alias("s"), condition)
                                .whenNotMatchedInsertAll()
                                .execute()
                                .first()
                            )
                        # Delta returns no row when it skipped an already applied transaction.
                        return int(result["num_inserted_rows"]) if result is not None else 0
                    except (ConcurrentAppendException, ConcurrentDeleteReadException,
                            ConcurrentTransactionException) as exc:
                        if attempt == MERGE_ATTEMPTS:
                            raise
                        log.info("insert into %s lost a race (%s); attempt %d re-reads the table", name,
                                 type(exc).__name__, attempt + 1)
                raise AssertionError("unreachable")
            finally:
                if cache:
                    source.unpersist()

    def delete(self, name: str, predicate: str) -> int:
        """Delete rows matching a SQL predicate; returns the rows deleted.

        Safe beside a writer of the same table (the stream): a DELETE that lost a race with a commit
        touching the files it read is retried on the new table state, up to MERGE_ATTEMPTS times.
        The predicate is kept in the table's history (the commit's operationParameters).
        """
        def attempt() -> int:
            row = self.spark.sql(f"DELETE FROM delta.`{_quoted(self.path(name))}` WHERE {predicate}").first()
            return max(int(row[0]), 0) if row is not None else 0

        return self._retried(name, "delete", attempt)

    def delete_matching(self, name: str, keys: pa.Table, where: Column | None = None) -> int:
        """Delete the rows whose values in `keys`' columns equal one of its rows (and match `where`,
        a condition on the table's columns as `t.<column>`); returns the rows deleted.

        A MERGE ... WHEN MATCHED DELETE: unlike `delete`, the key values are not written into the
        table's history, only the join condition is, so it erases by values that must not be kept
        (a data subject's pseudonyms). Retried after a lost race as `delete` is.
        """
        columns = check_identifiers(keys.column_names, "delete_matching keys")

        def attempt() -> int:
            stored = self.state(name).schema
            schema = StructType([stored[c] for c in columns])
            source = self.spark.createDataFrame(conform(keys, spark_to_arrow_schema(schema)), schema=schema)
            condition = _keys_match(columns) if where is None else _keys_match(columns) & where
            row = (self._delta(name).alias("t").merge(source.alias("s"), condition)
                   .whenMatchedDelete().execute().first())
            return int(row["num_deleted_rows"]) if row is not None else 0

        return self._retried(name, "delete_matching", attempt) if keys.num_rows else 0

    def _retried(self, name: str, what: str, attempt: Callable[[], int]) -> int:
        from delta.exceptions import (
            ConcurrentAppendException,
            ConcurrentDeleteReadException,
            ConcurrentTransactionException,
        )

        for number in range(1, MERGE_ATTEMPTS + 1):
            try:
                with self._lock:
                    return attempt()
            except (ConcurrentAppendException, ConcurrentDeleteReadException, ConcurrentTransactionException) as exc:
                if number == MERGE_ATTEMPTS:
                    raise
                log.info("%s on %s lost a race (%s); attempt %d", what, name, type(exc).__name__, number + 1)
        raise AssertionError("unreachable")

    def vacuum(self, name: str, retention_hours: int = 168) -> list[str]:
        """Remove files no version younger than retention_hours needs; returns the files removed."""
        table = f"delta.`{_quoted(self.path(name))}`"
        overrides = {
            # The caller picks the retention explicitly; Delta refuses less than 168 h unless told.
            _RETENTION_CHECK: "false",
            # VACUUM lists files in this many tasks, 10,000 by default: minutes of empty tasks locally.
            _LISTING_PARALLELISM: str(2 * self.spark.sparkContext.defaultParallelism),
        }
        with self._lock, self._session_confs(overrides):
            doomed = self.spark.sql(f"VACUUM {table} RETAIN {int(retention_hours)} HOURS DRY RUN").collect()
            self.spark.sql(f"VACUUM {table} RETAIN {int(retention_hours)} HOURS").collect()
        return [row[0] for row in doomed]

    @contextmanager
    def _session_confs(self, overrides: Mapping[str, str]) -> Iterator[None]:
        """Session confs for one operation; a conf the operator set explicitly is kept (except the
        retention check, which the caller's explicit retention replaces)."""
        self._refuse_in_view("a write with its own session confs")
        conf = self.spark.conf
        chosen = {key: value for key, value in overrides.items()
                  if conf.get(key, None) is None or key == _RETENTION_CHECK}
        with session_confs(self.spark, chosen):
            yield

    def read(self, name: str, version: int | None = None) -> DataFrame:
        if not self.exists(name):
            raise LakeError(f"no Delta table {name!r} at {self.path(name)}: create it first")
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
        """The rows as Arrow in the driver, typed as stored (UTC microsecond timestamps, nullability).

        delta-spark decides which Parquet files make up the table; when those files alone hold its rows
        (no deletion vectors or column mapping, local storage), pyarrow reads them, several times faster
        than collecting rows through Spark. Otherwise, and for older versions, Spark reads them.
        """
        dataset = self._files_dataset(name) if version is None else None
        if dataset is not None:
            expression = pq.filters_to_expression(filters) if filters else None
            return dataset.to_table(columns=list(columns) if columns else None, filter=expression)
        sdf = self.read(name, version)
        if filters:
            sdf = sdf.where(filters_to_column(filters))
        if columns:
            sdf = sdf.select(*columns)
        # Spark reports the stored nullability of a Delta table; toArrow alone would not keep it.
        return sdf.toArrow().cast(spark_to_arrow_schema(sdf.schema))

    def _files_dataset(self, name: str) -> ds.Dataset | None:
        """The newest snapshot's data files as a pyarrow dataset, partition values from the Delta log;
        None when reading the files directly would not give exactly the table's rows."""
        root = self.path(name)
        if "://" in root and not root.startswith("file:"):
            return None  # object storage: Spark's file systems, not pyarrow's
        snapshot = self._snapshot(name)
        state = self._state_of(snapshot)
        if state.configuration.get("delta.columnMapping.mode", "none") != "none":
            return None
        kinds = {c: state.schema[c].dataType for c in state.partition_columns}
        if not all(isinstance(k, _PLAIN_PARTITION_TYPES) for k in kinds.values()):
            return None
        schema = spark_to_arrow_schema(state.schema)
        files = DataFrame(snapshot.allFiles().toDF(), self.spark).select("path", "partitionValues", "deletionVector")
        found = files.collect()
        if any(f["deletionVector"] is not None for f in found):
            return None
        base = root.removeprefix("file:")
        file_format = ds.ParquetFileFormat()
        local = pafs.LocalFileSystem()
        fragments = []
        for f in found:
            path = unquote(f["path"])
            path = path.removeprefix("file:") if path.startswith(("file:", "/")) else f"{base}/{path}"
            values = f["partitionValues"] or {}
            terms = [pc.field(c).is_null() if values.get(c) is None else
                     pc.field(c) == pa.scalar(values[c]).cast(schema.field(c).type) for c in kinds]
            guarantee = reduce(lambda a, b: a & b, terms) if terms else None
            fragments.append(file_format.make_fragment(path, local, partition_expression=guarantee))
        return ds.FileSystemDataset(fragments, schema, file_format, local)

    def version(self, name: str) -> int:
        return int(self._snapshot(name).version())

    def history(self, name: str, limit: int = 10) -> list[dict[str, Any]]:
        """Newest first: version, timestamp (UTC), operation, parameters, metrics, user_metadata, engine."""
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
                "engineInfo",
            )
            .collect()
        )
        return [
            normalise_history(row["version"], row["ms"], row["operation"], row["operationParameters"],
                              row["operationMetrics"], row["userMetadata"]) | {"engine": row["engineInfo"]}
            for row in rows
        ]

    def optimize(self, name: str) -> None:
        """Compact small files; only the table's single writer may call this."""
        with self._lock:
            self._delta(name).optimize().executeCompaction()


@contextmanager
def session_confs(spark: SparkSession, overrides: Mapping[str, str]) -> Iterator[None]:
    """The session's SQL confs set to `overrides` while the block runs; each one's own value (or its absence)
    is back after it, however it ends."""
    conf = spark.conf
    previous = {key: conf.get(key, None) for key in overrides}
    for key, value in overrides.items():
        conf.set(key, value)
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                conf.unset(key)
            else:
                conf.set(key, old)


def make_lake(settings: Settings, spark: SparkSession) -> Lake:
    return Lake(settings.lake_root, spark, settings.lake.checkpoint_every)


def _keys_match(keys: Sequence[str]) -> Column:
    return reduce(Column.__and__, (F.col(f"t.{k}") == F.col(f"s.{k}") for k in keys))


def _partition_pruning(df: Rows, source: DataFrame, partition_columns: Sequence[str]) -> list[Column] | None:
    """Target-side IN lists over the batch's partition values (a superset per column keeps them short);
    None when the batch has no rows."""
    if isinstance(df, pa.Table):
        if df.num_rows == 0:
            return None
        values = {c: pc.unique(df.column(c)).to_pylist() for c in partition_columns if c in df.column_names}
        values |= {c: [None] for c in partition_columns if c not in df.column_names}
    else:
        if not partition_columns:
            return [] if not source.isEmpty() else None
        combos = source.select(*partition_columns).distinct().collect()
        if not combos:
            return None
        values = {c: sorted({row[c] for row in combos}, key=lambda v: (v is None, v)) for c in partition_columns}
    terms = []
    for column, found in values.items():
        present = [v for v in found if v is not None]
        target = F.col(f"t.{column}")
        term = target.isin(present) if present else F.lit(False)
        if len(present) < len(found):
            term = term | target.isNull()
        terms.append(term)
    return terms


def _quoted(path: str) -> str:
    return path.replace("`", "``")


# ---------------------------------------------------------------------------------------------------
# Schemas, checks and SQL helpers (shared with anpr.delta_reader)


def table_path(root: str, name: str) -> str:
    if not _TABLE_NAME.match(name):
        raise ValueError(f"invalid table name {name!r}: use letters, digits, _ and - separated by /")
    return f"{root.rstrip('/')}/{name}"


def spark_to_arrow_schema(schema: StructType) -> pa.Schema:
    """The Arrow schema of a Delta table's rows: timestamps as UTC microseconds, dates as date32."""
    return to_arrow_schema(schema, timezone="UTC")


# Column types Delta keeps min/max statistics for (DeltaColumnMapping / StatisticsCollection)
_STATS_TYPES = (ByteType, ShortType, IntegerType, LongType, FloatType, DoubleType, DecimalType, DateType,
                TimestampType, TimestampNTZType, StringType)


def pseudonymous(column: str) -> bool:
    """Columns holding keyed pseudonyms (anpr/pseudonym.py): vehicle and company keys, period tokens."""
    return column.endswith(("_key", "_token"))


def stats_columns(schema: StructType, partition_by: Sequence[str] = ()) -> str | None:
    """`delta.dataSkippingStatsColumns` for a table with pseudonym columns: every other column.

    Delta records each data file's min and max per column in the transaction log, and the log outlives
    the data: after an erasure (jobs/privacy.py) the removed files' entries keep the erased tokens until
    log cleanup, and time travel serves them. Pseudonyms are never range-filtered, so no statistics are
    kept for them at all. None for a table without pseudonyms (the default statistics). Left out as
    well, because Delta refuses them here: partition columns (their values are in the file paths) and
    types it keeps no min/max for (booleans, binary, nested)."""
    names = [f.name for f in schema.fields if f.name not in partition_by]
    kept = [f.name for f in schema.fields if f.name in names and not pseudonymous(f.name)
            and isinstance(f.dataType, _STATS_TYPES)]
    return ",".join(kept) if any(pseudonymous(n) for n in names) else None


def table_properties(checkpoint_every: int, schema: StructType | None = None,
                     partition_by: Sequence[str] = ()) -> dict[str, str]:
    out = {
        # delta-rs (the vendor API's reader) reads deletion vectors, but protocol (1,2) keeps every table
        # readable and writable by both engines.
        "delta.enableDeletionVectors": "false",
        "delta.checkpointInterval": str(checkpoint_every),
    }
    stats = stats_columns(schema, partition_by) if schema is not None else None
    if stats:
        out["delta.dataSkippingStatsColumns"] = stats
    return out


def _schema_signature(schema: StructType) -> Any:
    """Names, types and nullability, without column metadata (Delta adds its own)."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "metadata"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(json.loads(schema.json()))


def added_columns(existing: StructType, wanted: StructType) -> list[StructField]:
    """The nullable columns `wanted` declares after all of `existing`'s (unchanged) ones: a schema change
    Delta can apply in place. Empty for any other difference, which check_same_table then refuses."""
    old, new = list(existing.fields), list(wanted.fields)
    if len(new) <= len(old) or _schema_signature(StructType(new[: len(old)])) != _schema_signature(existing):
        return []
    extra = new[len(old):]
    return extra if all(f.nullable for f in extra) else []


def check_same_table(
    name: str,
    existing: StructType,
    existing_partitions: Sequence[str],
    wanted: StructType,
    wanted_partitions: Sequence[str],
) -> None:
    if _schema_signature(existing) != _schema_signature(wanted):
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
    """A Spark SQL literal of a partition value."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | Decimal):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dt.datetime):
        utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return f"TIMESTAMP '{utc.strftime('%Y-%m-%d %H:%M:%S.%f')}+00:00'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
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


@dataclass(frozen=True)
class _UnfinishedLog:
    files: list[Any]  # hidden files (Hadoop Paths)
    folders: list[Any]  # deepest first, the log folder last
    newest_ms: int  # the latest modification time among them, epoch milliseconds


def _unfinished_log(fs: Any, log_dir: Any) -> _UnfinishedLog | None:
    """A Delta log folder that holds no file a table's state could be read from (none that is not hidden:
    commits, checkpoints, `_last_checkpoint`, in it or its subfolders such as `_commits`); None when there
    is no such folder or it holds one."""
    if not fs.exists(log_dir):
        return None
    files: list[Any] = []
    folders: list[Any] = []
    newest = int(fs.getFileStatus(log_dir).getModificationTime())
    pending = [log_dir]
    while pending:
        folder = pending.pop()
        folders.insert(0, folder)
        for status in fs.listStatus(folder):
            newest = max(newest, int(status.getModificationTime()))
            if status.isDirectory():
                pending.append(status.getPath())
            elif status.getPath().getName().startswith("."):
                files.append(status.getPath())
            else:
                return None
    return _UnfinishedLog(files, folders, newest)


def _commit_info(jvm: Any, fs: Any, path: Any) -> dict[str, Any] | None:
    """The commitInfo action of one Delta commit file ({} if it has none); None if the file is gone."""
    if not fs.exists(path):
        return None
    stream = fs.open(path)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        while (line := reader.readLine()) is not None:
            if line.startswith('{"commitInfo"'):  # delta-spark writes it first
                return dict(json.loads(line)["commitInfo"])
        return {}
    finally:
        stream.close()


def transaction_marker(app_id: str, version: int) -> str:
    """The commitInfo.userMetadata of the commit of transaction (app_id, version)."""
    return f"txn {app_id} {version}"


def marked_transaction(user_metadata: str | None, app_id: str) -> int | None:
    """The version of app_id's transaction a commit's userMetadata names (`transaction_marker`), or None."""
    prefix = transaction_marker(app_id, 0)[:-1]
    if user_metadata and user_metadata.startswith(prefix) and user_metadata[len(prefix):].isdigit():
        return int(user_metadata[len(prefix):])
    return None


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
    """pyarrow-style DNF filters as a Spark condition: read_arrow takes the same filters in both modules."""
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
        return _COMPARISONS[op](target, F.lit(value))  # type: ignore[operator]
    except KeyError:
        raise ValueError(f"unsupported filter operator {op!r}") from None


# ---------------------------------------------------------------------------------------------------
# Arrow helpers (register loads build their rows in Arrow)


def to_arrow(rows: Rows | pd.DataFrame, schema: StructType | None = None) -> pa.Table:
    """rows as an Arrow table. A pandas frame needs the table's schema (its NaN and None become nulls,
    columns outside it are left out); TypeError for anything else."""
    if isinstance(rows, pd.DataFrame):
        if schema is None:
            raise TypeError("a pandas frame needs the table schema to become Arrow")
        arrow = spark_to_arrow_schema(schema)
        table = pa.Table.from_pandas(rows, schema=arrow, preserve_index=False)
        return table.replace_schema_metadata(arrow.metadata)
    if isinstance(rows, pa.Table):
        return rows
    if hasattr(rows, "toArrow"):
        return rows.toArrow()
    raise TypeError(f"expected a Spark DataFrame or a pyarrow Table, got {type(rows).__name__}")


def conform_frame(df: DataFrame, schema: StructType, *, drop_extra: bool = False) -> DataFrame:
    """df in schema's column order and types: the Spark side of `conform`, with the same errors.

    drop_extra=True drops the columns schema lacks (a pipeline step's helper columns) instead of refusing.
    """
    # The frame's schema once: each `df.columns` is a round trip to the JVM and a parse of the whole schema,
    # and the stream conforms three frames on every micro-batch.
    present = {f.name: f.dataType for f in df.schema.fields}
    extra = [c for c in present if c not in schema.fieldNames()]
    if extra and not drop_extra:
        raise ValueError(f"columns {extra} are not in the table schema {schema.fieldNames()}")
    columns = []
    for field in schema.fields:
        if present.get(field.name) == field.dataType:
            columns.append(F.col(field.name))
        elif field.name in present:
            columns.append(F.col(field.name).cast(field.dataType).alias(field.name))
        elif field.nullable:
            columns.append(F.lit(None).cast(field.dataType).alias(field.name))
        else:
            raise ValueError(f"non-nullable column {field.name!r} is missing")
    return df.select(*columns)


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
