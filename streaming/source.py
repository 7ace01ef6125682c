"""The one way jobs open a Kafka stream: Spark's built-in `kafka` source, in every profile."""

from __future__ import annotations

import math
import re

from pyspark.sql import DataFrame, SparkSession

from anpr.broker import BrokerError
from anpr.kafka_security import spark_options
from anpr.settings import Settings

# Spark's kafka source asks the broker for offsets in this many tries (its option fetchOffset.numRetries,
# default 3), each waiting up to the client's default.api.timeout.ms (KafkaOffsetReaderAdmin).
OFFSET_TRIES = 3
KAFKA_TIMEOUT = re.compile(r"org\.apache\.kafka\.common\.errors\.TimeoutException: ([^\n]*?)(?: SQLSTATE: \w+)?$",
                           re.MULTILINE)


class BrokerUnreachableError(BrokerError):
    """The stream's query stopped because Kafka did not answer for kafka.broker_wait_seconds."""


def wait_options(seconds: float) -> dict[str, str]:
    """Options of the kafka source that make a query stop after about `seconds` without an answer from
    the broker (and not Spark's default of 3 x 60 s): OFFSET_TRIES tries of a third each. The request
    timeout may not exceed the API timeout (Kafka's clients refuse such a configuration)."""
    per_try = max(1000, math.ceil(seconds * 1000 / OFFSET_TRIES))
    return {"fetchOffset.numRetries": str(OFFSET_TRIES), "kafka.default.api.timeout.ms": str(per_try),
            "kafka.request.timeout.ms": str(min(30_000, per_try))}


def unreachable_error(exc: BaseException, servers: str, seconds: float) -> BrokerUnreachableError | None:
    """The one-line error for a query that failed on a Kafka client timeout (the broker stopped, or its
    address is wrong), or None for any other failure. The Kafka message is kept; the stack stays on exc."""
    found = KAFKA_TIMEOUT.findall(str(exc))
    if not found:
        return None
    return broker_unreachable(servers, f"for {seconds:.0f} s (TimeoutException: {found[-1].strip()})")


def broker_unreachable(servers: str, how: str) -> BrokerUnreachableError:
    """`Kafka at <servers> did not answer <how>: ...what to do`, one line."""
    return BrokerUnreachableError(
        f"Kafka at {servers} did not answer {how}: is the broker running, and do the address, CA file and "
        "password match it? `anpr broker` starts the embedded one; `anpr stream` then resumes from its checkpoint, "
        "nothing is lost")


def read_kafka_stream(spark: SparkSession, settings: Settings, topics: list[str] | str) -> DataFrame:
    """A streaming DataFrame of Spark's kafka source (key, value, topic, partition, offset, timestamp,
    timestampType, headers) over ``topics``.

    Options, all from ``settings.kafka``:
    - ``startingOffsets`` (earliest): where a query without a checkpoint starts; a checkpointed query
      always resumes from its own offsets.
    - ``maxOffsetsPerTrigger`` (500,000): the most records one micro-batch reads, spread over partitions,
      so a backlog drains in bounded batches instead of one huge one.
    - ``failOnDataLoss`` (true): offsets in the checkpoint that the broker no longer has (retention, a
      deleted and recreated topic) stop the query instead of being skipped without a word. The topic keeps
      records ``retention.kafka_hours`` (22 h: raw plates gone within 24 hours), so a stream stopped for
      longer stops here when started; ``ANPR_KAFKA__FAIL_ON_DATA_LOSS=false`` starts it past the gap, whose
      detections are gone.
    - ``fetchOffset.numRetries``, ``kafka.default.api.timeout.ms``, ``kafka.request.timeout.ms``: from
      ``kafka.broker_wait_seconds`` (`wait_options`), how long a query waits for a broker that does not
      answer before it fails (run_stream then raises BrokerUnreachableError).
    - ``kafka.max.partition.fetch.bytes`` (16 MiB), ``kafka.fetch.max.bytes`` (64 MiB): fewer, larger
      fetches than the consumer's defaults (1 MiB per partition) for a micro-batch of up to
      ``maxOffsetsPerTrigger`` records.
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
        .option("kafka.max.partition.fetch.bytes", str(k.fetch_partition_bytes))
        .option("kafka.fetch.max.bytes", str(k.fetch_max_bytes))
        # headers name the supplier, municipality and ingest request of each detection
        .option("includeHeaders", "true")
        .options(**wait_options(k.broker_wait_seconds))
        .options(**spark_options(settings, "stream"))
        .load()
    )
