"""The one way jobs open a Kafka stream: the backend is a setting, the options and schema are the same."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from anpr.settings import Settings
from streaming.kafka_source import SHORT_NAME, register


def read_kafka_stream(
    spark: SparkSession,
    settings: Settings,
    topics: list[str] | str,
    starting_offsets: str = "earliest",
    fail_on_data_loss: bool = True,
) -> DataFrame:
    """A streaming DataFrame with the columns of Spark's kafka source, from ``settings.kafka.source``.

    "python" is the kafka-python source (no connector jar, fits the embedded broker); "native" is
    Spark's built-in source, which needs spark-sql-kafka on the classpath.
    """
    servers = settings.kafka.bootstrap_servers
    if not servers:
        raise ValueError(
            "settings.kafka.bootstrap_servers is not set: start the embedded broker and put its "
            "address there, or set ANPR_KAFKA__BOOTSTRAP_SERVERS"
        )
    subscribe = topics if isinstance(topics, str) else ",".join(topics)
    if not subscribe.strip():
        raise ValueError("read_kafka_stream needs at least one topic")
    if settings.kafka.source == "python":
        register(spark)
        fmt = SHORT_NAME
    else:
        fmt = "kafka"
    return (
        spark.readStream.format(fmt)
        .option("kafka.bootstrap.servers", servers)
        .option("subscribe", subscribe)
        .option("startingOffsets", starting_offsets)
        .option("maxOffsetsPerTrigger", str(settings.kafka.max_offsets_per_trigger))
        .option("failOnDataLoss", str(fail_on_data_loss).lower())
        # headers name the supplier, municipality and ingest request of each detection
        .option("includeHeaders", "true")
        .load()
    )
