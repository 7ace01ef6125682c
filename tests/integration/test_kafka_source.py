"""The anpr_kafka streaming source against the embedded broker and a local Spark session."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery
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

from anpr.broker import create_topics, produce_all, reliable_producer
from streaming.kafka_source import SHORT_NAME, register
from streaming.source import read_kafka_stream

pytestmark = pytest.mark.integration

TOPIC = "anpr.test.observations"
QUERY_TIMEOUT = 90.0

# Copied from Spark's KafkaRecordToRowConverter: the connector jar is not on the local classpath.
BUILTIN_KAFKA_SCHEMA = StructType([
    StructField("key", BinaryType()),
    StructField("value", BinaryType()),
    StructField("topic", StringType()),
    StructField("partition", IntegerType()),
    StructField("offset", LongType()),
    StructField("timestamp", TimestampType()),
    StructField("timestampType", IntegerType()),
])
BUILTIN_HEADERS = StructField(
    "headers", ArrayType(StructType([StructField("key", StringType()), StructField("value", BinaryType())]))
)

Row = tuple[int, int, bytes]  # partition, offset, value


class Collector:
    """foreachBatch sink keeping every attempt of every batch, so replays can be compared."""

    def __init__(self) -> None:
        self.attempts: dict[int, list[list[Row]]] = defaultdict(list)

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        rows = [(r.partition, r.offset, bytes(r.value)) for r in df.collect()]
        self.attempts[batch_id].append(sorted(rows))

    def batches(self) -> dict[int, list[Row]]:
        return {batch_id: attempts[-1] for batch_id, attempts in sorted(self.attempts.items())}

    def rows(self) -> list[Row]:
        return [row for rows in self.batches().values() for row in rows]


@pytest.fixture
def source(spark: SparkSession) -> SparkSession:
    register(spark)
    return spark


def produce(bootstrap: str, values: list[bytes], topic: str = TOPIC) -> None:
    with reliable_producer(bootstrap) as producer:
        produce_all(producer, topic, ((str(i).encode(), v, []) for i, v in enumerate(values)))


def values(prefix: str, n: int) -> list[bytes]:
    return [f"{prefix}-{i:06d}".encode() for i in range(n)]


def kafka_stream(spark: SparkSession, bootstrap: str, **options: str) -> DataFrame:
    reader = spark.readStream.format(SHORT_NAME).option("kafka.bootstrap.servers", bootstrap)
    reader = reader.option("subscribe", TOPIC).option("startingOffsets", "earliest")
    for key, value in options.items():
        reader = reader.option(key, value)
    return reader.load()


def start(df: DataFrame, sink: Collector, checkpoint: Path, available_now: bool = False) -> StreamingQuery:
    writer = df.writeStream.foreachBatch(sink).option("checkpointLocation", str(checkpoint))
    if available_now:
        return writer.trigger(availableNow=True).start()
    return writer.trigger(processingTime="200 milliseconds").start()


def drain(df: DataFrame, sink: Collector, checkpoint: Path) -> None:
    query = start(df, sink, checkpoint, available_now=True)
    assert query.awaitTermination(QUERY_TIMEOUT), "availableNow query did not finish"
    assert query.exception() is None


def wait_until(condition: Callable[[], bool], what: str, timeout: float = QUERY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_schema_equals_builtin_kafka_source(source: SparkSession, broker) -> None:
    assert kafka_stream(source, broker.bootstrap).schema == BUILTIN_KAFKA_SCHEMA
    with_headers = kafka_stream(source, broker.bootstrap, includeHeaders="true").schema
    assert with_headers == StructType([*BUILTIN_KAFKA_SCHEMA.fields, BUILTIN_HEADERS])


def test_exactly_once_across_restart(source: SparkSession, settings, broker, tmp_path: Path) -> None:
    create_topics(broker.bootstrap, {TOPIC: 3})
    first, second = values("first", 3000), values("second", 1000)
    produce(broker.bootstrap, first)
    kafka = settings.kafka.model_copy(
        update={"bootstrap_servers": broker.bootstrap, "max_offsets_per_trigger": 500}
    )
    local = settings.model_copy(update={"kafka": kafka})
    sink, checkpoint = Collector(), tmp_path / "checkpoint"

    query = start(read_kafka_stream(source, local, [TOPIC]), sink, checkpoint)
    wait_until(lambda: len(sink.attempts) >= 2, "two micro-batches")
    query.stop()
    assert len(sink.rows()) < len(first), "the first run should stop mid-stream"

    produce(broker.bootstrap, second)
    drain(read_kafka_stream(source, local, TOPIC), sink, checkpoint)

    rows = sink.rows()
    positions = [(partition, offset) for partition, offset, _ in rows]
    assert len(positions) == len(set(positions)) == len(first) + len(second)
    assert sorted(value for _, _, value in rows) == sorted(first + second)
    for partition in range(3):
        offsets = sorted(o for p, o in positions if p == partition)
        assert offsets == list(range(len(offsets))), f"partition {partition} has gaps or repeats"
    for batch_id, attempts in sink.attempts.items():
        assert all(a == attempts[0] for a in attempts), f"batch {batch_id} was replayed with other rows"
        assert len(attempts[-1]) <= 500


def test_max_offsets_per_trigger_bounds_every_batch(source: SparkSession, broker, tmp_path: Path) -> None:
    create_topics(broker.bootstrap, {TOPIC: 3})
    produce(broker.bootstrap, values("m", 1000))
    sink = Collector()
    drain(kafka_stream(source, broker.bootstrap, maxOffsetsPerTrigger="150"), sink, tmp_path / "checkpoint")
    sizes = [len(rows) for rows in sink.batches().values()]
    assert sum(sizes) == 1000
    assert len(sizes) == math.ceil(1000 / 150)
    assert all(size == 150 for size in sizes[:-1]) and 0 < sizes[-1] <= 150


def test_starting_offsets_latest_skips_existing(source: SparkSession, broker, tmp_path: Path) -> None:
    create_topics(broker.bootstrap, {TOPIC: 3})
    produce(broker.bootstrap, values("old", 100))
    sink = Collector()
    df = kafka_stream(source, broker.bootstrap, startingOffsets="latest")
    query = start(df, sink, tmp_path / "checkpoint")
    try:
        # The first trigger resolves "latest"; only then may new messages arrive.
        wait_until(lambda: query.status["message"] == "Waiting for data to arrive", "the first trigger")
        new = values("new", 50)
        produce(broker.bootstrap, new)
        wait_until(lambda: len(sink.rows()) >= len(new), "the new messages")
    finally:
        query.stop()
    assert sorted(value for _, _, value in sink.rows()) == sorted(new)


def test_partitions_created_later_are_read_from_earliest(
    source: SparkSession, broker, tmp_path: Path
) -> None:
    late_topic = f"{TOPIC}.late"
    create_topics(broker.bootstrap, {TOPIC: 1})
    early, late = values("early", 30), values("late", 40)
    produce(broker.bootstrap, early)
    sink = Collector()
    df = kafka_stream(source, broker.bootstrap, subscribe=f"{TOPIC},{late_topic}", startingOffsets="latest")
    query = start(df, sink, tmp_path / "checkpoint")
    try:
        wait_until(lambda: query.status["message"] == "Waiting for data to arrive", "the first trigger")
        create_topics(broker.bootstrap, {late_topic: 2})
        produce(broker.bootstrap, late, topic=late_topic)
        wait_until(lambda: len(sink.rows()) >= len(late), "the new topic's messages")
    finally:
        query.stop()
    assert sorted(value for _, _, value in sink.rows()) == sorted(late)


def test_broker_reset_is_data_loss_unless_allowed(source: SparkSession, broker, tmp_path: Path) -> None:
    create_topics(broker.bootstrap, {TOPIC: 2})
    produce(broker.bootstrap, values("before", 200))
    checkpoint = tmp_path / "checkpoint"
    drain(kafka_stream(source, broker.bootstrap), Collector(), checkpoint)

    broker.stop()
    broker.start()  # same port, empty memory storage
    create_topics(broker.bootstrap, {TOPIC: 2})
    after = values("after", 20)
    produce(broker.bootstrap, after)

    failing = start(kafka_stream(source, broker.bootstrap), Collector(), checkpoint, available_now=True)
    with pytest.raises(StreamingQueryException, match="failOnDataLoss"):
        failing.awaitTermination(QUERY_TIMEOUT)

    sink = Collector()
    drain(kafka_stream(source, broker.bootstrap, failOnDataLoss="false"), sink, checkpoint)
    assert sorted(value for _, _, value in sink.rows()) == sorted(after)
