"""Kafka streaming source on Spark's Python Data Source API, registered as ``anpr_kafka``.

It reads with kafka-python, so the local profile needs no Kafka connector jar, and it emits the
columns and types of Spark's built-in ``kafka`` source so jobs can switch with ``kafka.source``.
Offsets live only in Spark's checkpoint, as ``{"topic": {"partition": next_offset}}``: consumer
groups are never used, so a restarted query resumes exactly where its last committed batch ended.

Planning (start offsets, rate limiting, new partitions, data loss) is done by the pure functions of
``streaming.kafka_offsets`` over ``{(topic, partition): offset}`` maps; the reader classes here only
fetch broker state and delegate.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import OffsetOutOfRangeError
from pyspark.sql import SparkSession
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from anpr.broker import confirmed_end_offsets
from streaming.kafka_offsets import (
    SHORT_NAME,
    DataLossError,
    JsonOffsets,
    OffsetRange,
    PartitionOffsets,
    SourceOptions,
    cap_to_target,
    data_loss_message,
    max_rows_for,
    offset_ranges,
    offsets_from_json,
    offsets_to_json,
    parse_options,
    plan_end_offsets,
    resolve_starting_offsets,
)

log = logging.getLogger(__name__)

# Same layout as Spark's KafkaRecordToRowConverter, so both backends are interchangeable.
HEADERS_TYPE = ArrayType(StructType([StructField("key", StringType()), StructField("value", BinaryType())]))
KAFKA_SCHEMA = StructType([
    StructField("key", BinaryType()),
    StructField("value", BinaryType()),
    StructField("topic", StringType()),
    StructField("partition", IntegerType()),
    StructField("offset", LongType()),
    StructField("timestamp", TimestampType()),
    StructField("timestampType", IntegerType()),
])

# CRC checks stay on (kafka-python's default): with the crc32c wheel installed they are cheap.
_READ_CONSUMER_DEFAULTS: dict[str, Any] = {
    "fetch_max_bytes": 64 << 20,
    "max_partition_fetch_bytes": 16 << 20,
    "max_poll_records": 20_000,
    "receive_buffer_bytes": 4 << 20,
}
ARROW_BATCH_ROWS = 20_000


def kafka_schema(include_headers: bool = False) -> StructType:
    if not include_headers:
        return KAFKA_SCHEMA
    return StructType([*KAFKA_SCHEMA.fields, StructField("headers", HEADERS_TYPE)])


# ---------------------------------------------------------------- broker access


def new_consumer(options: SourceOptions, **settings: Any) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=options.bootstrap_servers.split(","),
        group_id=None,
        enable_auto_commit=False,
        # 'none' makes an out-of-range position an error the reader decides on, never a silent jump.
        auto_offset_reset="none",
        allow_auto_create_topics=False,
        client_id=f"{SHORT_NAME}-source",
        **{**settings, **dict(options.consumer_config)},
    )


@dataclass(frozen=True)
class BrokerOffsets:
    earliest: PartitionOffsets
    latest: PartitionOffsets


def fetch_broker_offsets(options: SourceOptions) -> BrokerOffsets:
    """Earliest and fetch-confirmed latest offsets of every partition that exists now.

    A fresh consumer per call has fresh metadata, so partitions added since the last trigger show
    up, and no highwater cached from an earlier probe can leak into this one.
    """
    consumer = new_consumer(options)
    try:
        tps = [
            TopicPartition(topic, partition)
            for topic in options.topics
            for partition in sorted(consumer.partitions_for_topic(topic))
        ]
        if not tps:
            return BrokerOffsets({}, {})
        ends = confirmed_end_offsets(consumer, tps, options.poll_timeout_ms / 1000)
        begins = consumer.beginning_offsets(tps)
        latest = {(tp.topic, tp.partition): ends[tp] for tp in tps}
        # Retention can advance between the two requests; an empty partition is still empty.
        earliest = {(tp.topic, tp.partition): min(int(begins[tp]), ends[tp]) for tp in tps}
        return BrokerOffsets(earliest, latest)
    finally:
        consumer.close()


class _ColumnBuilder:
    """Accumulates records column-wise; Arrow batches avoid Spark's per-row conversion."""

    def __init__(self, schema: pa.Schema, topic: str, partition: int) -> None:
        self.schema, self.topic, self.partition = schema, topic, partition
        self.with_headers = "headers" in schema.names
        self._reset()

    def _reset(self) -> None:
        self.keys: list[bytes | None] = []
        self.values: list[bytes | None] = []
        self.offsets: list[int] = []
        self.timestamps: list[int] = []
        self.timestamp_types: list[int] = []
        self.headers: list[list[tuple[str, bytes]] | None] = []

    def __len__(self) -> int:
        return len(self.offsets)

    def add(self, record: Any) -> None:
        self.keys.append(record.key)
        self.values.append(record.value)
        self.offsets.append(record.offset)
        # Pre-0.10 messages carry no timestamp; Spark's source shows them as -1 ms, type -1.
        timestamp, timestamp_type = record.timestamp, record.timestamp_type
        self.timestamps.append(-1000 if timestamp is None else timestamp * 1000)
        self.timestamp_types.append(-1 if timestamp_type is None else timestamp_type)
        if self.with_headers:
            self.headers.append(list(record.headers) or None)

    def flush(self) -> pa.RecordBatch:
        n = len(self)
        types = [f.type for f in self.schema]
        columns = [
            pa.array(self.keys, types[0]),
            pa.array(self.values, types[1]),
            pa.array([self.topic] * n, types[2]),
            pa.array([self.partition] * n, types[3]),
            pa.array(self.offsets, types[4]),
            pa.array(self.timestamps, pa.int64()).cast(types[5]),
            pa.array(self.timestamp_types, types[6]),
        ]
        if self.with_headers:
            columns.append(pa.array(self.headers, types[7]))
        self._reset()
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)


def read_offset_range(
    options: SourceOptions, rng: OffsetRange, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """Exactly the records of [start, end); offsets missing inside it (compaction) are skipped."""
    tp = TopicPartition(rng.topic, rng.partition)
    consumer = new_consumer(options, **_READ_CONSUMER_DEFAULTS)
    try:
        consumer.assign([tp])
        consumer.seek(tp, rng.start)
        builder = _ColumnBuilder(schema, rng.topic, rng.partition)
        deadline = time.monotonic() + options.poll_timeout_ms / 1000
        while consumer.position(tp) < rng.end:
            try:
                records = consumer.poll(timeout_ms=500).get(tp, [])
            except OffsetOutOfRangeError as exc:
                if not _recover_out_of_range(consumer, tp, options, rng, exc):
                    break
                continue
            if records:
                deadline = time.monotonic() + options.poll_timeout_ms / 1000
            for record in records:
                if rng.start <= record.offset < rng.end:
                    builder.add(record)
            if len(builder) >= ARROW_BATCH_ROWS:
                yield builder.flush()
            if time.monotonic() > deadline:
                _report_missing(options, rng, consumer.position(tp))
                break
        if len(builder):
            yield builder.flush()
    finally:
        consumer.close()


def _recover_out_of_range(
    consumer: KafkaConsumer, tp: TopicPartition, options: SourceOptions, rng: OffsetRange, exc: Exception
) -> bool:
    """True to keep reading from the earliest offset, False when the rest of the range is gone."""
    position = consumer.position(tp)
    earliest = int(consumer.beginning_offsets([tp])[tp])
    reason = f"{rng.topic}-{rng.partition} offset {position} is out of range (earliest {earliest})"
    if options.fail_on_data_loss:
        raise DataLossError(data_loss_message([reason])) from exc
    if position < earliest:
        log.warning("%s; failOnDataLoss=false, so reading continues at %d", reason, earliest)
        consumer.seek(tp, earliest)
        return True
    log.warning("%s; failOnDataLoss=false, so the rest of [%d, %d) is skipped", reason, rng.start, rng.end)
    return False


def _report_missing(options: SourceOptions, rng: OffsetRange, position: int) -> None:
    reason = (f"{rng.topic}-{rng.partition} returned nothing at offset {position} for "
              f"{options.poll_timeout_ms} ms though the batch ends at {rng.end}")
    if options.fail_on_data_loss:
        raise DataLossError(data_loss_message([reason]))
    log.warning("%s; failOnDataLoss=false, so the rest of the range is skipped", reason)


# ---------------------------------------------------------------- Spark data source


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Driver side: one long-lived instance per query run. Executor side: only ``read``."""

    def __init__(self, options: SourceOptions, schema: StructType) -> None:
        self.options = options
        self.schema = schema
        self._initial: JsonOffsets | None = None
        self._target: PartitionOffsets | None = None
        self._latest_seen: PartitionOffsets | None = None

    def initialOffset(self) -> JsonOffsets:
        # Resolved once per run: asking again on a later trigger would move "latest" forward and
        # skip whatever arrived before the first batch was planned.
        if self._initial is None:
            broker = fetch_broker_offsets(self.options)
            self._initial = offsets_to_json(
                resolve_starting_offsets(self.options.starting_offsets, broker.earliest, broker.latest)
            )
        return self._initial

    def getDefaultReadLimit(self) -> ReadLimit:
        limit = self.options.max_offsets_per_trigger
        return ReadAllAvailable() if limit is None else ReadMaxRows(limit)

    def latestOffset(self, start: JsonOffsets, limit: ReadLimit) -> JsonOffsets:
        broker = fetch_broker_offsets(self.options)
        self._latest_seen = broker.latest
        # A topic dropped from `subscribe` since the checkpoint is forgotten, not reported as lost.
        subscribed = {tp: o for tp, o in offsets_from_json(start).items() if tp[0] in self.options.topics}
        plan = plan_end_offsets(
            subscribed,
            cap_to_target(broker.earliest, self._target),
            cap_to_target(broker.latest, self._target),
            max_rows_for(limit),
        )
        self._handle_data_loss(plan.data_loss)
        return offsets_to_json(plan.end)

    def prepareForTriggerAvailableNow(self) -> None:
        self._target = fetch_broker_offsets(self.options).latest

    def reportLatestOffset(self) -> JsonOffsets | None:
        return None if self._latest_seen is None else offsets_to_json(self._latest_seen)

    def partitions(self, start: JsonOffsets, end: JsonOffsets) -> Sequence[InputPartition]:
        return offset_ranges(offsets_from_json(start), offsets_from_json(end), self.options.min_partitions)

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, OffsetRange)
        return read_offset_range(self.options, partition, to_arrow_schema(self.schema, timezone="UTC"))

    def commit(self, end: JsonOffsets) -> None:
        # Progress lives in Spark's checkpoint; committing to a consumer group would add nothing.
        pass

    def _handle_data_loss(self, reasons: Sequence[str]) -> None:
        if not reasons:
            return
        if self.options.fail_on_data_loss:
            raise DataLossError(data_loss_message(reasons))
        for reason in reasons:
            log.warning("%s; failOnDataLoss=false: the partition restarts from its earliest offset", reason)


class KafkaDataSource(DataSource):
    """``spark.readStream.format("anpr_kafka")`` with the options of Spark's kafka source."""

    @classmethod
    def name(cls) -> str:
        return SHORT_NAME

    def schema(self) -> StructType:
        # Parsing here makes bad options fail at load() rather than when the query starts.
        return kafka_schema(parse_options(self.options).include_headers)

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return KafkaStreamReader(parse_options(self.options), schema)


_registered: weakref.WeakSet[SparkSession] = weakref.WeakSet()


def register(spark: SparkSession) -> None:
    """Register the source with this session once; a new session (after stop) registers again."""
    if spark not in _registered:
        spark.dataSource.register(KafkaDataSource)
        _registered.add(spark)
