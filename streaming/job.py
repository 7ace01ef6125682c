"""`anpr stream`: Kafka -> validate -> pseudonymize -> enrich -> Delta passages, exactly once.

Exactly once across crashes: every Delta commit of a micro-batch carries an application transaction
(query id, batch id), so a batch replayed after a crash between the Delta commit and Spark's
checkpoint commit writes nothing twice. Passages are also inserted only when their observation_id is
not in the table yet, which drops duplicates delivered in another batch, on another day or after a
replay into a fresh broker.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from anpr.lake import Lake
from anpr.settings import Settings
from jobs.stats import cameras_frame
from streaming import pipeline as P
from streaming.source import read_kafka_stream
from streaming.tables import (
    PASSAGES,
    PASSAGES_PARTITIONS,
    PASSAGES_SCHEMA,
    QUARANTINE,
    QUARANTINE_SCHEMA,
    REGISTER_VEHICLES,
    REGISTER_VEHICLES_SCHEMA,
    STREAM_METRICS,
    STREAM_METRICS_SCHEMA,
)

log = logging.getLogger(__name__)
QUERY_NAME = "passages"


@dataclass
class BatchReport:
    batch_id: int
    rows_in: int
    passages_written: int
    duplicates: int
    quarantined: dict[str, int]
    duration_ms: int


def ensure_tables(lake: Lake) -> None:
    lake.create(PASSAGES, PASSAGES_SCHEMA, partition_by=PASSAGES_PARTITIONS)
    lake.create(QUARANTINE, QUARANTINE_SCHEMA, partition_by=["ingest_date"])
    lake.create(STREAM_METRICS, STREAM_METRICS_SCHEMA)
    lake.create(REGISTER_VEHICLES, REGISTER_VEHICLES_SCHEMA)


def conform(df: DataFrame, schema) -> DataFrame:  # noqa: ANN001 - a StructType
    return df.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])


def _offsets(checked: DataFrame) -> str:
    ranges = checked.groupBy("kafka_partition").agg(F.min("kafka_offset"), F.max("kafka_offset")).collect()
    return json.dumps({str(r[0]): [r[1], r[2]] for r in sorted(ranges, key=lambda r: r[0] or 0)})


class PassageSink:
    """The foreachBatch function: one micro-batch to passages, quarantine and metrics."""

    def __init__(self, spark: SparkSession, settings: Settings, lake: Lake,
                 on_batch: Callable[[BatchReport], None] | None = None) -> None:
        self.spark, self.settings, self.lake, self.on_batch = spark, settings, lake, on_batch
        self.cameras = cameras_frame(spark).cache()
        self.register = lake.read(REGISTER_VEHICLES).cache()

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        query_id = self.spark.sparkContext.getLocalProperty("sql.streaming.queryId")
        if not query_id:
            raise RuntimeError("foreachBatch ran outside a streaming query: no query id for idempotent commits")
        s, pepper = self.settings.stream, self.settings.pepper_bytes
        # pseudonymize before persist: the cache never holds a plate, and MEMORY_ONLY never spills to disk
        checked = P.validate(
            P.attach_cameras(P.pseudonymize(P.parse_observations(batch), pepper), self.cameras),
            s.future_tolerance_minutes, s.max_lateness_days, s.min_read_confidence,
        ).persist(StorageLevel.MEMORY_ONLY)
        try:
            self._write(checked, query_id, batch_id, started)
        finally:
            checked.unpersist()

    def _write(self, checked: DataFrame, query_id: str, batch_id: int, started: float) -> None:
        valid = checked.where(F.col("reason").isNull())
        enriched = P.enrich(P.add_period_token(valid, self.settings.pepper_bytes, self.settings.timezone),
                            self.register)
        passages = conform(P.to_passages(enriched), PASSAGES_SCHEMA).persist(StorageLevel.MEMORY_ONLY)
        try:
            n_valid = passages.count()
            hits = passages.where("register_hit").count()
            written = self.lake.insert_missing(PASSAGES, passages, keys=["observation_id"],
                                               app_id=f"{query_id}/{PASSAGES}", version=batch_id)
        finally:
            passages.unpersist()
        quarantine = conform(P.to_quarantine(checked.where(F.col("reason").isNotNull())), QUARANTINE_SCHEMA)
        by_reason = {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
        self.lake.append(QUARANTINE, quarantine, app_id=f"{query_id}/{QUARANTINE}", version=batch_id)
        rows_in = checked.count()
        report = BatchReport(batch_id, rows_in, written, n_valid - written, by_reason,
                             int((time.monotonic() - started) * 1000))
        metrics = self.spark.createDataFrame([(
            query_id, batch_id, datetime.now(UTC), report.duration_ms, rows_in, n_valid, written,
            report.duplicates, sum(by_reason.values()), json.dumps(by_reason, sort_keys=True),
            hits / n_valid if n_valid else None, _offsets(checked),
        )], STREAM_METRICS_SCHEMA)
        self.lake.append(STREAM_METRICS, metrics, app_id=f"{query_id}/{STREAM_METRICS}", version=batch_id)
        log.info("batch %d: %d in, %d passages written, %d duplicates, quarantined %s, %d ms",
                 batch_id, rows_in, written, report.duplicates, by_reason or "none", report.duration_ms)
        if self.on_batch:
            self.on_batch(report)


def run_stream(spark: SparkSession, settings: Settings, lake: Lake, until_idle: bool = True,
               on_batch: Callable[[BatchReport], None] | None = None, checkpoint: Path | None = None) -> None:
    """Run the passages query; with until_idle it drains what the topic holds now and returns."""
    ensure_tables(lake)
    records = read_kafka_stream(spark, settings, settings.kafka.observations_topic)
    writer = (records.writeStream.queryName(QUERY_NAME)
              .foreachBatch(PassageSink(spark, settings, lake, on_batch))
              .option("checkpointLocation", str(checkpoint or settings.checkpoint_dir / QUERY_NAME)))
    if until_idle:
        query = writer.trigger(availableNow=True).start()
    else:
        query = writer.trigger(processingTime=f"{settings.stream.trigger_seconds} seconds").start()
    try:
        query.awaitTermination()
    except KeyboardInterrupt:
        log.info("stopping the stream; the last committed batch is kept")
        query.stop()
