"""`anpr stream`: the query that runs the stream's plan (streaming/plan.py) from Kafka into the sink
(streaming/sink.py): Delta passages (in scope) and anonymous counts (out of scope)."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kafka.errors import KafkaError
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession

from anpr.broker import topic_ids
from anpr.kafka_security import client_config
from anpr.keyring import Pepper
from anpr.lake import Lake, session_confs
from anpr.register_tables import ensure_register_tables
from anpr.settings import Settings
from anpr.spark import CACHE_COMPRESSED, SNAPSHOT_PARTITIONS
from anpr.stream_tables import (
    OUT_OF_SCOPE,
    OUT_OF_SCOPE_PARTITIONS,
    OUT_OF_SCOPE_SCHEMA,
    PASSAGES,
    PASSAGES_PARTITIONS,
    PASSAGES_SCHEMA,
    QUARANTINE,
    QUARANTINE_SCHEMA,
    STREAM_METRICS,
    STREAM_METRICS_SCHEMA,
)
from anpr.zones import load_municipalities
from streaming import plan
from streaming.cameras import Registered, cameras_frame, cameras_version, registered_cameras
from streaming.enrich import release
from streaming.sink import BatchReport, PassageSink, register_pepper
from streaming.source import broker_unreachable, read_kafka_stream, unreachable_error
from streaming.topics import batch_guard, check_topic_identity

log = logging.getLogger(__name__)
QUERY_NAME = "passages"
# The stream's own SQL confs while it runs: a micro-batch's persisted frames live for that batch only, so the
# CPU of compressing them (anpr/spark.py) buys nothing.
STREAM_CONFS = {CACHE_COMPRESSED: "false"}


def ensure_tables(lake: Lake) -> None:
    lake.create(PASSAGES, PASSAGES_SCHEMA, partition_by=PASSAGES_PARTITIONS)
    lake.create(QUARANTINE, QUARANTINE_SCHEMA, partition_by=["ingest_date"])
    lake.create(STREAM_METRICS, STREAM_METRICS_SCHEMA)
    lake.create(OUT_OF_SCOPE, OUT_OF_SCOPE_SCHEMA, partition_by=OUT_OF_SCOPE_PARTITIONS)
    ensure_register_tables(lake)


def checked_stream(spark: SparkSession, settings: Settings, records: DataFrame, lake: Lake | None = None,
                   pepper: Pepper | None = None, registered: Registered | None = None) -> DataFrame:
    """The streaming part of the plan: the plate is replaced by its key before the sink sees a row.

    Stateless: repeated deliveries are dropped by the sink, within a micro-batch (`first_deliveries`) and
    against the passages table (insert-if-absent), so no state store is kept or checkpointed per batch.
    pepper: the one the keys are derived with (default: the register's, or the configured one without a lake).
    registered: the API-registered cameras the plan holds (default: the lake's current ones).
    """
    pepper = pepper or (register_pepper(lake, settings) if lake is not None else settings.keyring().active(None))
    return plan.checked(records, cameras_frame(spark, lake, registered), pepper.path, settings.stream)


class StreamAlreadyRunning(RuntimeError):
    """Another stream holds the query's checkpoint."""


@contextmanager
def checkpoint_lock(checkpoint: Path) -> Iterator[None]:
    """Holds an exclusive lock beside the checkpoint (`<checkpoint>.lock`) while the block runs; the system
    lets go of it when the process ends, however it ends. Two streams on one checkpoint (`anpr stream` twice,
    an old driver still alive) would both run its unfinished micro-batch, and after batch 0 the sink's appends
    rely on one run at a time (streaming/sink.py). StreamAlreadyRunning when another process holds it."""
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    path = checkpoint.with_name(f"{checkpoint.name}.lock")
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StreamAlreadyRunning(f"another stream runs on checkpoint {checkpoint} (it holds {path}): "
                                       "stop it before starting this one") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_stream(spark: SparkSession, settings: Settings, lake: Lake, until_idle: bool = True,
               on_batch: Callable[[BatchReport], None] | None = None, checkpoint: Path | None = None,
               accept_data_loss: bool = False) -> None:
    """Run the passages query; with until_idle it drains what the topic holds now and returns.

    Raises streaming.topics.TopicIdentityError when the topic is not the one the checkpoint read (deleted
    and created again, or a reset broker), unless accept_data_loss; see `check_topic_identity`. Raises
    streaming.source.BrokerUnreachableError when Kafka did not answer for kafka.broker_wait_seconds (the
    query's own exception is its __cause__); what was committed before stays, and a restart resumes.
    Raises StreamAlreadyRunning when another stream holds the checkpoint (`checkpoint_lock`).
    While it runs, Delta rebuilds table states in stream.delta_snapshot_partitions tasks, and the micro-batches
    the sink persists are kept uncompressed (CACHE_COMPRESSED; at most kafka.max_offsets_per_trigger rows, held
    for one batch); the session's own values are back when it returns.
    """
    with session_confs(spark, STREAM_CONFS | {SNAPSHOT_PARTITIONS: str(settings.stream.delta_snapshot_partitions)}):
        _run_queries(spark, settings, lake, until_idle, on_batch, checkpoint, accept_data_loss)


def _run_queries(spark: SparkSession, settings: Settings, lake: Lake, until_idle: bool,
                 on_batch: Callable[[BatchReport], None] | None, checkpoint: Path | None,
                 accept_data_loss: bool) -> None:
    checkpoint = checkpoint or settings.checkpoint_dir / QUERY_NAME
    with checkpoint_lock(checkpoint):
        _run_locked(spark, settings, lake, until_idle, on_batch, checkpoint, accept_data_loss)


def _run_locked(spark: SparkSession, settings: Settings, lake: Lake, until_idle: bool,
                on_batch: Callable[[BatchReport], None] | None, checkpoint: Path, accept_data_loss: bool) -> None:
    ensure_tables(lake)
    topic = settings.kafka.observations_topic
    bootstrap = settings.kafka.bootstrap_servers or ""

    def current_ids() -> dict[str, str | None]:
        return topic_ids(bootstrap, [topic], client=client_config(settings, "stream"))

    try:
        ids = current_ids()
    except KafkaError as exc:
        text = str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"
        raise broker_unreachable(bootstrap, f"at the start ({text})") from exc
    check_topic_identity(checkpoint, ids, accept_data_loss)
    register = None  # a query restarted for new cameras keeps the register snapshot (and its broadcast)
    while True:  # a re-keyed register or newly registered cameras restart the query with them
        pepper = register_pepper(lake, settings)
        records = read_kafka_stream(spark, settings, topic)
        cameras_at = cameras_version(lake)  # before the rows: a version that moves after them costs one re-read
        registered = registered_cameras(lake, load_municipalities())
        sink = PassageSink.open(spark, settings, lake, on_batch, before_write=batch_guard(checkpoint, current_ids),
                                pepper=pepper, cameras_at=cameras_at, register=register, registered=registered)
        writer = (checked_stream(spark, settings, records, lake, pepper, registered).writeStream.queryName(QUERY_NAME)
                  .foreachBatch(sink).option("checkpointLocation", str(checkpoint)))
        if until_idle:
            query = writer.trigger(availableNow=True).start()
        else:
            query = writer.trigger(processingTime=f"{settings.stream.trigger_seconds} seconds").start()
        try:
            query.awaitTermination()
        except KeyboardInterrupt:
            log.info("stopping the stream; the last committed batch is kept")
            query.stop()
        except StreamingQueryException as exc:
            if sink.rotated_to is None and sink.cameras_to is None:
                unreachable = unreachable_error(exc, bootstrap, settings.kafka.broker_wait_seconds)
                if unreachable is not None:
                    raise unreachable from exc
                raise
            # The failed batch wrote nothing; the new query replays it from the checkpoint's offsets.
            if sink.rotated_to is not None:
                log.info("pepper rotated from %s to %s: the query restarts under it", pepper.id, sink.rotated_to)
                release(sink.register)
                register = None
            else:
                register = sink.register
                log.info("cameras registered or changed (table version %s -> %s): the query restarts with them",
                         sink.cameras_at, sink.cameras_to)
            continue
        return
