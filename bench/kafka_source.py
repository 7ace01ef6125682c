"""Kafka -> Spark through the Python Data Source, against a plain kafka-python consumer (baseline)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from anpr.broker import EmbeddedBroker, create_topics, high_watermarks, produce_all, reliable_producer
from anpr.settings import KafkaSettings, Settings
from anpr.spark import get_spark
from streaming.source import read_kafka_stream

MESSAGES = 400_000
PARTITIONS = 4
VALUE = b'{"observation_id":"00000000-0000-4000-8000-000000000000","camera_id":"c","event_time":"t"}'


def plain_consumer_seconds(bootstrap: str, topic: str, total: int) -> float:
    started = time.perf_counter()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=20_000,
                             fetch_max_bytes=64 << 20, max_partition_fetch_bytes=16 << 20)
    consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    consumer.seek_to_beginning()
    seen = 0
    while seen < total:
        seen += sum(len(records) for records in consumer.poll(timeout_ms=500).values())
    consumer.close()
    return time.perf_counter() - started


def spark_source_seconds(settings: Settings, topic: str, checkpoint: Path) -> tuple[float, float]:
    """(first query incl. Python worker start-up, second warm query over the same data)."""
    spark = get_spark(settings)
    times = []
    for run in range(2):
        started = time.perf_counter()
        query = (read_kafka_stream(spark, settings, topic).writeStream.format("noop")
                 .option("checkpointLocation", str(checkpoint / f"run{run}")).trigger(availableNow=True).start())
        query.awaitTermination()
        times.append(time.perf_counter() - started)
    spark.stop()
    return times[0], times[1]


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="anpr-bench-") as tmp, EmbeddedBroker(Path(tmp) / "broker") as broker:
        topic = "bench.observations"
        create_topics(broker.bootstrap, {topic: PARTITIONS})
        with reliable_producer(broker.bootstrap) as producer:
            for start in range(0, MESSAGES, 50_000):
                produce_all(producer, topic, ((str(i).encode(), VALUE, []) for i in range(start, start + 50_000)))
        assert sum(high_watermarks(broker.bootstrap, topic).values()) == MESSAGES
        settings = Settings(data_dir=Path(tmp) / "data",
                            kafka=KafkaSettings(bootstrap_servers=broker.bootstrap, max_offsets_per_trigger=1_000_000))
        baseline = plain_consumer_seconds(broker.bootstrap, topic, MESSAGES)
        cold, warm = spark_source_seconds(settings, topic, Path(tmp) / "ckpt")
    return {
        "messages": MESSAGES, "partitions": PARTITIONS,
        "baseline_plain_consumer_rows_per_s": round(MESSAGES / baseline),
        "spark_source_cold_rows_per_s": round(MESSAGES / cold),
        "spark_source_warm_rows_per_s": round(MESSAGES / warm),
        "ratio_warm_to_baseline": round(baseline / warm, 2),
        "note": "warm = second query in the same Spark session, incl. query start-up; noop sink",
    }
