"""The one way jobs open a Kafka stream: Spark's built-in `kafka` source, in every profile."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from anpr.kafka_security import spark_options
from anpr.settings import Settings


def read_kafka_stream(spark: SparkSession, settings: Settings, topics: list[str] | str) -> DataFrame:
    """A streaming DataFrame of Spark's kafka source (key, value, topic, partition, offset, timestamp,
    timestampType, headers) over ``topics``.

    Options, all from ``settings.kafka``:
    - ``startingOffsets`` (earliest): where a query without a checkpoint starts; a checkpointed query
      always resumes from its own offsets.
    - ``maxOffsetsPerTrigger`` (500,000): the most records one micro-batch reads, spread over partitions,
      so a backlog drains in bounded batches instead of one huge one.
    - ``failOnDataLoss`` (true): offsets in the checkpoint that the broker no longer has (retention, a
      deleted and recreated topic) stop the query instead of being skipped without a word.
    - ``kafka.isolation.level`` (read_committed): only records of committed transactions (and records
      written outside any transaction) are read; an ingest request whose transaction was aborted after a
      broker failure is never read, and records of an open transaction wait until it ends.
    - with ``kafka.security.protocol = SASL_SSL``: ``kafka.security.protocol``, ``kafka.sasl.mechanism``
      (SCRAM-SHA-512), ``kafka.sasl.jaas.config`` (the stream principal; the password only there, a value
      Spark redacts in plans, the UI and logs) and the PEM truststore of the CA
      (anpr.kafka_security.spark_options).

    Raises ValueError when no bootstrap servers or no topic are given.
    """
    servers = settings.kafka.bootstrap_servers
    if not servers:
        raise ValueError(
            "settings.kafka.bootstrap_servers is not set: start the embedded broker (`anpr broker`) and "
            "set ANPR_KAFKA__BOOTSTRAP_SERVERS to the address it prints"
        )
    subscribe = topics if isinstance(topics, str) else ",".join(topics)
    if not subscribe.strip():
        raise ValueError("read_kafka_stream needs at least one topic")
    k = settings.kafka
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", servers)
        .option("subscribe", subscribe)
        .option("startingOffsets", k.starting_offsets)
        .option("maxOffsetsPerTrigger", str(k.max_offsets_per_trigger))
        .option("failOnDataLoss", str(k.fail_on_data_loss).lower())
        .option("kafka.isolation.level", k.isolation_level)
        # headers name the supplier, municipality and ingest request of each detection
        .option("includeHeaders", "true")
        .options(**spark_options(settings, "stream"))
        .load()
    )
