"""The foreachBatch sink: one checked micro-batch to passages, quarantine and metrics.

Exactly once across crashes: every Delta commit of a micro-batch carries an application transaction
(query id, batch id), so a batch replayed after a crash between the Delta commit and Spark's
checkpoint commit writes nothing twice. The passages MERGE carries it as a Delta transaction, which Delta
checks; so do a query's appends (quarantine, out_of_scope, metrics) in batch 0. Later appends carry it in
their commit's userMetadata only (Lake.append marked): Delta's check rebuilds the table's whole state at
each new version, three tables' worth of Spark jobs in every micro-batch. A run of a query hands the sink
each batch once and in order, so the batch after one whose metrics row the sink wrote is new to the tables;
for any other (a run's first, or one after a batch the tables already held, as behind a restored checkpoint)
the sink reads which appends the commit logs already hold (`replayed`).

Repeated deliveries of an observation are dropped in two places: within the micro-batch only the first
delivery is kept (`first_deliveries`), and a passage is inserted only when its observation_id is not in
the table yet, however old the first delivery (this also covers replays into a fresh broker).
`duplicates` in the metrics counts both. A batch replayed after a crash between its passages commit and
its metrics commit reports the rows its first attempt wrote (Lake.committed_rows), not its own empty
insert, so its metrics row is the one it would have had.

Double reads (one vehicle read twice by one camera within `passages.double_read_seconds`,
anpr/double_reads.py) are merged within the micro-batch and counted as `double_reads`; a double read
whose first read came in an earlier micro-batch is written, and the monthly statistics merge it by the
same rule. `ambiguous_plates` counts valid reads whose plate cannot be told apart from another
(anpr.pseudonym.is_ambiguous_plate).

Data minimization: right after enrichment, reads out of their municipality's scope (conf/municipalities,
anpr.zones.Scope: by default private passenger cars and other privately owned vehicles that are no van,
truck or bus) are dropped before any token is derived; they only add to an anonymous count per zone,
camera, direction, day and hour (table out_of_scope), appended in the same micro-batch under its own
application transaction, and to `out_of_scope` in the metrics. Per batch:
rows_in = passages_written + duplicates + double_reads + quarantined + out_of_scope, each from its own
step (streaming/accounting.py); a batch whose counts do not add up is logged and stops the stream
(BatchAccountingError) after its metrics row is recorded. An observation
re-delivered in a later micro-batch is a duplicate when it was a passage, but counted out of scope again
when it was dropped: nothing of a dropped read is kept to recognise it by.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.util import inheritable_thread_target

from anpr.keyring import Pepper, RekeyInProgress
from anpr.lake import Lake
from anpr.register_conf import RegisterConf, load_register_conf
from anpr.register_snapshot import RegisterSnapshot
from anpr.register_tables import LOADS
from anpr.settings import Settings
from anpr.spark import side_by_side
from anpr.stream_tables import (
    OUT_OF_SCOPE,
    PASSAGES,
    QUARANTINE,
    STREAM_METRICS,
    STREAM_METRICS_SCHEMA,
)
from anpr.zones import Municipality, load_municipalities
from streaming import plan
from streaming.accounting import BatchCounts, check, mismatches
from streaming.cameras import Registered, cameras_version, changed_cameras, placed_anew, registered_cameras
from streaming.enrich import is_current, load_register_snapshot, release
from streaming.pipeline import Reason

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class BatchReport:
    batch_id: int
    rows_in: int
    passages_written: int
    duplicates: int
    double_reads: int  # reads merged into another read's passage
    ambiguous_plates: int  # valid reads whose plate may be one of several vehicles
    quarantined: dict[str, int]
    register_hit_rate: float | None  # of the enriched reads, in scope or not
    duration_ms: int
    out_of_scope: int = 0  # valid reads dropped as out of scope, only counted (table out_of_scope)


@dataclass(frozen=True)
class BatchSummary:
    rows_in: int
    quarantined: dict[str, int]  # rejected deliveries by reason code
    ambiguous_plates: int  # valid deliveries whose plate is ambiguous (column plate_ambiguous)
    offsets: str  # JSON {partition: [first offset, last offset]}


def summarize(checked: DataFrame) -> BatchSummary:
    """Rows in, rejections by reason, ambiguous plates and each Kafka partition's offset range of a
    checked batch, in one job."""
    groups = (checked.groupBy("kafka_partition", "reason")
              .agg(F.count(F.lit(1)).alias("n"), F.min("kafka_offset").alias("low"),
                   F.max("kafka_offset").alias("high"),
                   F.count(F.when(F.col("plate_ambiguous"), 1)).alias("ambiguous")).collect())
    quarantined: dict[str, int] = {}
    ranges: dict[str, list[int]] = {}
    for g in groups:
        if g["reason"] is not None:
            quarantined[g["reason"]] = quarantined.get(g["reason"], 0) + g["n"]
        low, high = ranges.get(str(g["kafka_partition"]), [g["low"], g["high"]])
        ranges[str(g["kafka_partition"])] = [min(low, g["low"]), max(high, g["high"])]
    offsets = json.dumps({k: ranges[k] for k in sorted(ranges, key=int)})
    ambiguous = sum(g["ambiguous"] for g in groups if g["reason"] is None)
    return BatchSummary(sum(g["n"] for g in groups), dict(sorted(quarantined.items())), ambiguous, offsets)


def commit_together(spark: SparkSession, commits: Mapping[str, Callable[[], T]], seconds: dict[str, float]
                    ) -> dict[str, T]:
    """Run a micro-batch's commits to different tables at once (anpr.spark.side_by_side) and return each
    one's result by name; each one's own seconds go into `seconds`. They are independent (each its own Delta
    table and application transaction, so a replay redoes only what did not commit), and mostly driver-side
    waiting: side by side they take the time of the longest. The threads inherit the batch's Spark properties
    (its query id)."""
    def timed(name: str, commit: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            began = time.monotonic()
            try:
                return commit()
            finally:
                seconds[name] = time.monotonic() - began
        return run

    return side_by_side(spark, {name: timed(name, commit) for name, commit in commits.items()},
                        prefix="batch-commit")


# Every table a micro-batch may commit to, each under its own application transaction (`app_id`).
BATCH_TABLES = (PASSAGES, OUT_OF_SCOPE, QUARANTINE, STREAM_METRICS)
# The appends among them: after a query's batch 0, marked appends (Lake.append marked), checked by `replayed`.
APPENDED = (OUT_OF_SCOPE, QUARANTINE, STREAM_METRICS)
# Commit times of one batch come from the drivers of successive runs of its query: a margin for their clocks.
CLOCK_SKEW_MS = 10 * 60 * 1000


def app_id(query_id: str, table: str) -> str:
    """The Delta application transaction id of a query's commits to one table; the batch id is its version."""
    return f"{query_id}/{table}"


@contextmanager
def warmed(spark: SparkSession, lake: Lake, app_ids: Mapping[str, str]) -> Iterator[None]:
    """Reads each table's application transactions in the background while the block runs, and waits for
    them at its end.

    An idempotent Delta write looks its transaction up in the table's state, which delta-spark 4.4.0
    rebuilds from the log in Spark jobs once per table version (`Snapshot.transactions`, a lazy value, not
    the `.crc`): about 0.3-1.3 s per table on 2 cores, on the batch's critical path before each commit.
    Rebuilt here while the batch computes, the write finds it ready. A failure is left for the write to
    meet and report."""
    def warm(name: str, app: str) -> None:
        try:
            lake.transaction_version(name, app)
        except Exception as exc:  # noqa: BLE001 - the write itself meets and reports it
            log.debug("warming %s's transactions failed: %s", name, type(exc).__name__)

    with ThreadPoolExecutor(len(app_ids), thread_name_prefix="batch-warm") as pool:
        for name, app in app_ids.items():
            pool.submit(inheritable_thread_target(spark)(warm), name, app)
        yield


def replayed(lake: Lake, query_id: str, batch_id: int) -> set[str]:
    """The tables of APPENDED that already hold batch batch_id (> 0) of the query: for a batch the sink may
    be running again after a crash (the first of a run of the query), or that a checkpoint restored behind the
    tables hands it again.

    Each holds it when its newest commit of the query's transaction names this batch or a later one
    (Lake.marked_version). The metrics row is a batch's last commit, so a batch recorded there is whole; else
    the search in the others goes back to the commit of the batch before it in the metrics, less
    CLOCK_SKEW_MS (the clocks of the hosts that ran the query), as no commit of this batch can be older.
    LakeError when log retention removed a commit the search needed."""
    found = lake.marked_version(STREAM_METRICS, app_id(query_id, STREAM_METRICS))
    held = found[0] if found is not None else -1
    if held >= batch_id:
        return set(APPENDED)
    since = found[1] - CLOCK_SKEW_MS if found is not None and held == batch_id - 1 else None
    return {t for t in (OUT_OF_SCOPE, QUARANTINE)
            if (mark := lake.marked_version(t, app_id(query_id, t), since)) is not None and mark[0] >= batch_id}


def vehicle_type_labels(conf: RegisterConf) -> set[str]:
    """Every voertuig_type the register derives (conf/register.toml [voertuig_type], anpr.dimensions)."""
    c = conf.voertuig_type
    return {*c.eu_categorie.values(), *c.voertuigsoort.values(), "Bestelauto", "Vrachtauto", c.anders}


def check_scopes(municipalities: list[Municipality], conf: RegisterConf) -> None:
    """ValueError naming the municipality for a scope vehicle type the register never derives: a typo
    there would silently drop every such vehicle."""
    labels = vehicle_type_labels(conf)
    for m in municipalities:
        unknown = sorted(set(m.scope.voertuig_types) - labels)
        if unknown:
            raise ValueError(f"conf/municipalities ({m.code}): scope voertuig_types {unknown} are no vehicle "
                             f"type the register derives ({sorted(labels)})")


class PepperRotated(RuntimeError):
    """The register was re-keyed under another pepper: the query stops uncommitted and restarts under it."""


class CamerasChanged(RuntimeError):
    """A batch met cameras unknown to its query while cameras were registered since the query began, or a
    camera the query holds was changed (camera_update: moved, re-aimed, another zone): it stops uncommitted
    and restarts with them, so a camera the ingest endpoint accepted is not quarantined, nor counted where
    it no longer stands."""


def register_pepper(lake: Lake, settings: Settings, poll_seconds: float = 2.0) -> Pepper:
    """The pepper that made the register's keys (anpr/keyring.py), which the stream must derive its keys
    with. Holds, logging once a minute, while a re-key is under way: Kafka keeps the detections meanwhile.

    Raises KeyringError when that pepper is not held here.
    """
    keyring, logged = settings.keyring(), None
    while True:
        try:
            return keyring.active(lake.read_arrow(LOADS) if lake.exists(LOADS) else None)
        except RekeyInProgress as exc:
            if logged is None or time.monotonic() - logged >= 60:
                log.warning("%s; the stream holds its next batch until then", exc)
                logged = time.monotonic()
            time.sleep(poll_seconds)


class PassageSink:
    """foreachBatch: one checked micro-batch through the plan's batch steps (streaming/plan.py) into the
    tables. It reads nothing when made: `open` reads what it needs; the register is re-read between
    batches only when a load committed since."""

    def __init__(self, spark: SparkSession, settings: Settings, lake: Lake, pepper: Pepper,
                 municipalities: list[Municipality], register: RegisterSnapshot,
                 on_batch: Callable[[BatchReport], None] | None = None,
                 before_write: Callable[[], None] | None = None, cameras_at: int | None = None,
                 registered: Registered | None = None) -> None:
        """before_write runs before each batch writes anything (the topic identity check); what it raises
        fails the batch uncommitted. pepper: the one the query's plan derives vehicle keys with; when the
        register changes to another, the next batch raises PepperRotated before it writes, and
        `rotated_to` names the new pepper. cameras_at: the cameras table version the query's plan knows
        (streaming/cameras.py cameras_version); a batch with unknown cameras after a newer one raises
        CamerasChanged before it writes, and `cameras_to` names that version. registered: the API-registered
        cameras the plan holds (streaming/cameras.py registered_cameras); when one of them changed, the first
        batch after the check (every stream.register_check_seconds) raises CamerasChanged likewise."""
        self.spark, self.settings, self.lake, self.on_batch = spark, settings, lake, on_batch
        self.before_write = before_write
        self.pepper, self.municipalities, self.register = pepper, municipalities, register
        self.rotated_to: str | None = None
        self.cameras_to: int | None = None
        self.cameras_at = cameras_at
        self.registered, self._registered_at = registered, cameras_at
        self._register_checked = self._cameras_checked = time.monotonic()
        # (run id, batch id) of the last batch whose metrics row this sink wrote: its successor in the run is new
        self._committed: tuple[str, int] | None = None

    @classmethod
    def open(cls, spark: SparkSession, settings: Settings, lake: Lake,
             on_batch: Callable[[BatchReport], None] | None = None,
             before_write: Callable[[], None] | None = None, pepper: Pepper | None = None,
             cameras_at: int | None = None, register: RegisterSnapshot | None = None,
             registered: Registered | None = None) -> PassageSink:
        """A sink over the configured municipalities (their scopes checked against the register's vehicle
        types) and the register's current snapshot (or `register`, a restarted query's); pepper: default the
        register's (`register_pepper`)."""
        municipalities = load_municipalities()
        check_scopes(municipalities, load_register_conf())
        return cls(spark, settings, lake, pepper or register_pepper(lake, settings), municipalities,
                   register or load_register_snapshot(spark, lake), on_batch, before_write, cameras_at, registered)

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        query_id = self.spark.sparkContext.getLocalProperty("sql.streaming.queryId")
        if not query_id:
            raise RuntimeError("foreachBatch ran outside a streaming query: no query id for idempotent commits")
        if self.before_write:
            self.before_write()
        # Spark's id of this run of the query (StreamExecution sets it as the job group): a run hands the sink
        # each batch once, in order, so after a batch whose metrics row it wrote, the next is new to the tables.
        # Any other (a run's first, or one after a batch the tables held, as behind a restored checkpoint) is
        # looked up.
        run = self.spark.sparkContext.getLocalProperty("spark.jobGroup.id")
        # Batch 0 has no batch before it to bound the search for its commits: Delta's transactions check it.
        delta_txn = batch_id == 0
        fresh = run is not None and self._committed == (run, batch_id - 1)
        skip = set() if delta_txn or fresh else replayed(self.lake, query_id, batch_id)
        self._committed = None
        # The batch holds no plate (pseudonymized upstream); MEMORY_ONLY keeps even keys off disk.
        checked = batch.persist(StorageLevel.MEMORY_ONLY)
        try:
            with warmed(self.spark, self.lake, {t: app_id(query_id, t) for t in BATCH_TABLES
                                                 if t == PASSAGES or delta_txn}):
                recorded = self._write(checked, query_id, batch_id, started, skip)
        finally:
            checked.unpersist()
        if recorded and run is not None:
            self._committed = (run, batch_id)

    def _append(self, name: str, rows: DataFrame, query_id: str, batch_id: int) -> bool:
        """One of the batch's appends (APPENDED), under the query's transaction for the table: a Delta
        transaction for batch 0, a marked one after it (`replayed` finds them)."""
        return self.lake.append(name, rows, app_id=app_id(query_id, name), version=batch_id, nonempty=True,
                                marked=batch_id > 0)

    def _restart_for_new_cameras(self, checked: DataFrame, batch_id: int, unknown: int) -> None:
        """CamerasChanged when a camera of this batch's UNKNOWN_CAMERA reads was registered (with a zone) since
        the query began, or placed otherwise than the query holds it. Reads only the cameras table's version
        unless it moved; a move that places none of them anew (another camera's update, a camera without a
        zone) is taken as known, so it costs no restart."""
        now = cameras_version(self.lake)
        if now == self.cameras_at:
            return
        registered = placed_anew(self.registered, registered_cameras(self.lake, self.municipalities))
        met = {r.camera_id for r in checked.where(F.col("reason") == Reason.UNKNOWN_CAMERA)
               .select("camera_id").distinct().collect()}
        if not met & registered:
            self.cameras_at = now
            return
        self.cameras_to = now
        raise CamerasChanged(f"batch {batch_id} has {unknown} reads of cameras unknown to this query, of which "
                             f"{len(met & registered)} were registered or placed anew since it began (table version "
                             f"{self.cameras_at} -> {now}): it restarts with them at this batch")

    def _restart_for_changed_cameras(self, batch_id: int) -> None:
        """CamerasChanged when a registered camera the query holds changed since it began (`changed_cameras`).
        Looks every stream.register_check_seconds, and reads the rows only when the table's version moved."""
        now = time.monotonic()
        if self.registered is None or now - self._cameras_checked < self.settings.stream.register_check_seconds:
            return
        self._cameras_checked = now
        version = cameras_version(self.lake)
        if version == self._registered_at:
            return
        changed = changed_cameras(self.registered, registered_cameras(self.lake, self.municipalities))
        if not changed:
            self._registered_at = version
            return
        self.cameras_to = version
        raise CamerasChanged(f"batch {batch_id}: {len(changed)} cameras of this query changed since it began "
                             f"(place, zone or direction rule; table version {self._registered_at} -> {version}): "
                             "it restarts with them at this batch")

    def current_register(self) -> RegisterSnapshot:
        """The register snapshot, re-read when a register load committed since it was read.

        Checked between batches only, so every row of a batch is enriched against one register version.
        A batch replayed after a crash may meet a newer register than its first attempt; the insert-if-absent
        sink keeps the rows of the first attempt that committed.
        """
        now = time.monotonic()
        if now - self._register_checked < self.settings.stream.register_check_seconds:
            return self.register
        self._register_checked = now
        if not is_current(self.register, self.lake):
            pepper = register_pepper(self.lake, self.settings)
            if pepper.id != self.pepper.id:
                self.rotated_to = pepper.id
                raise PepperRotated(f"the register was re-keyed from pepper {self.pepper.id} to {pepper.id}: "
                                    "the query restarts under it at this batch")
            stale = self.register
            self.register = load_register_snapshot(self.spark, self.lake)
            release(stale)
            log.info("register changed (table versions %s -> %s): snapshot re-read, %d vehicles",
                     stale.versions, self.register.versions, self.register.size)
        return self.register

    def _write(self, checked: DataFrame, query_id: str, batch_id: int, started: float, skip: set[str]) -> bool:
        """skip: the appends an earlier run of the query already committed for this batch (`replayed`).
        Returns whether this attempt wrote the batch's metrics row."""
        phases: dict[str, float] = {}  # seconds per step, for the batch's log line
        clock = time.monotonic()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.monotonic()
            phases[name], clock = now - clock, now

        self._restart_for_changed_cameras(batch_id)
        summary = summarize(checked)
        lap("summary")
        if Reason.UNKNOWN_CAMERA in summary.quarantined:
            self._restart_for_new_cameras(checked, batch_id, summary.quarantined[Reason.UNKNOWN_CAMERA])
        n_valid = summary.rows_in - sum(summary.quarantined.values())
        n_first = n_unique = hits = written = n_double = n_out = n_offered = 0
        commits: dict[str, Callable[[], int | None]] = {}
        persisted: list[DataFrame] = []
        try:
            if n_valid:  # an idle trigger or an all-rejected batch costs no passages job and no commit
                s = self.settings
                # Read by the double reads and the enrichment both, and counted on its own for the accounting.
                reads = plan.reads(checked, s.timezone, s.day_parts, self.municipalities)
                reads = reads.persist(StorageLevel.MEMORY_ONLY)
                # Only ids, filled by the enrichment job below: counting them afterwards costs no job of its own.
                doubles = plan.double_reads(reads, s.passages.double_read_seconds).persist(StorageLevel.MEMORY_ONLY)
                # Enriched once for passages and counts; memory only, as the keys it still holds must not spill.
                scoped = plan.scoped(reads, doubles, self.current_register(), self.municipalities)
                scoped = scoped.persist(StorageLevel.MEMORY_ONLY)
                passages = plan.passages(scoped, self.pepper.path, self.pepper.id).persist(StorageLevel.MEMORY_ONLY)
                persisted += [passages, scoped, doubles, reads]
                n_first = reads.count()
                counts = scoped.agg(F.count(F.lit(1)).alias("n"),
                                    F.count(F.when(F.col("register_hit"), 1)).alias("hits"),
                                    F.count(F.when(~F.col("in_scope"), 1)).alias("out")).first()
                n_unique, hits, n_out = (counts["n"], counts["hits"], counts["out"]) if counts else (0, 0, 0)
                n_double = doubles.count()
                lap("compute")
                if n_out < n_unique:  # all dropped: no passages job and no commit
                    n_offered = passages.count()  # cached: the insert reads these same rows
                    commits[PASSAGES] = lambda: self._insert_passages(passages, query_id, batch_id)
                if n_out and OUT_OF_SCOPE not in skip:
                    # Same micro-batch, own transaction: a replay appends the counts at most once.
                    commits[OUT_OF_SCOPE] = lambda: self._append(OUT_OF_SCOPE, plan.dropped(scoped), query_id, batch_id)
            if summary.quarantined and QUARANTINE not in skip:  # an append of no rows would still cost a commit
                commits[QUARANTINE] = lambda: self._append(QUARANTINE, plan.quarantine(checked), query_id, batch_id)
            done = commit_together(self.spark, commits, phases)
            written = int(done.get(PASSAGES) or 0)
            lap("commits")
        finally:
            for frame in persisted:
                frame.unpersist()
        tally = BatchCounts(summary.rows_in, sum(summary.quarantined.values()), n_first, n_double, n_unique,
                             n_out, n_offered, written)
        report = BatchReport(batch_id, summary.rows_in, written, tally.duplicates, n_double,
                             summary.ambiguous_plates, summary.quarantined, hits / n_unique if n_unique else None,
                             int((time.monotonic() - started) * 1000), n_out)
        recorded = self._record(query_id, report, n_valid, summary.offsets, STREAM_METRICS not in skip)
        lap("metrics")
        if wrong := mismatches(tally):
            # Recorded first, so `anpr stream status` shows the batch; the stream then stops on it.
            log.error("batch %d does not add up: %s", batch_id, "; ".join(wrong))
            check(tally, batch_id)
        log.info("batch %d steps: %s", batch_id, ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in phases.items()))
        if self.on_batch:
            self.on_batch(report)
        return recorded

    def _insert_passages(self, passages: DataFrame, query_id: str, batch_id: int) -> int:
        app = app_id(query_id, PASSAGES)
        written = self.lake.insert_missing(PASSAGES, passages, keys=["observation_id"], app_id=app,
                                           version=batch_id, unique_keys=True)
        # A replay after a crash before the metrics commit: the first attempt's rows.
        return written or self.lake.committed_rows(PASSAGES, app, batch_id)

    def _record(self, query_id: str, report: BatchReport, n_valid: int, offsets: str, write: bool = True) -> bool:
        """The batch's metrics row and log line; returns whether the row was written (not write: an earlier
        attempt did; Delta skips it for batch 0 likewise)."""
        metrics = self.spark.createDataFrame([(
            query_id, report.batch_id, datetime.now(UTC), report.duration_ms, report.rows_in, n_valid,
            report.passages_written, report.duplicates, report.double_reads, report.ambiguous_plates,
            sum(report.quarantined.values()),
            json.dumps(report.quarantined, sort_keys=True), report.register_hit_rate, offsets, report.out_of_scope,
        )], STREAM_METRICS_SCHEMA)
        written = write and self._append(STREAM_METRICS, metrics, query_id, report.batch_id)
        hit = "n/a" if report.register_hit_rate is None else f"{report.register_hit_rate:.1%}"
        log.info("batch %d: %d in, %d passages written, %d duplicates, %d double reads, %d out of scope, "
                 "%d ambiguous plates, quarantined %s, register hits %s, offsets %s, %d ms", report.batch_id,
                 report.rows_in, report.passages_written, report.duplicates, report.double_reads,
                 report.out_of_scope, report.ambiguous_plates, report.quarantined or "none", hit, offsets,
                 report.duration_ms)
        return written
