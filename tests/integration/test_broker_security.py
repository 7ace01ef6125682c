"""The embedded broker with SASL_SSL and least-privilege ACLs: the producer principal writes, the stream
principal reads through Spark's kafka source, a wrong password or no credentials are refused in one line,
each principal is refused the other's part, and the password shows in no plan and no log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, TopicAuthorizationFailedError, TransactionalIdAuthorizationFailedError

from anpr.broker import create_topics, embedded_broker, high_watermarks, produce_all, reliable_producer
from anpr.feeds.publisher import BrokerUnavailable, Publisher
from anpr.kafka_security import client_config, spark_options
from anpr.settings import Settings
from streaming.source import read_kafka_stream

pytestmark = pytest.mark.integration

OBS, CAMS = "anpr.observations", "anpr.cameras"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - (settings, broker)
    data = tmp_path_factory.mktemp("sasl")
    settings = Settings(data_dir=data, kafka={"security": {"protocol": "SASL_SSL"}})
    broker = embedded_broker(settings).start()
    try:
        create_topics(broker.bootstrap, {OBS: 2, CAMS: 1}, compacted=[CAMS], client=broker.admin_client)
        yield settings.model_copy(update={"kafka": settings.kafka.model_copy(
            update={"bootstrap_servers": broker.bootstrap})}), broker
    finally:
        broker.stop()


def as_principal(settings: Settings, principal: str, **changes: object) -> dict[str, object]:
    return {**client_config(settings, principal), **changes}  # type: ignore[arg-type]


def test_the_producer_writes_and_the_stream_reads_through_sparks_kafka_source(secured, spark, settings):
    spark_log = settings.log_dir / "spark.log"  # the driver JVM's log (anpr.spark), executors' in local mode
    logged_before = spark_log.stat().st_size if spark_log.exists() else 0
    settings, broker = secured
    with reliable_producer(broker.bootstrap, client_config(settings, "producer")) as producer:
        assert produce_all(producer, OBS, [(b"k%d" % i, b"v%d" % i, []) for i in range(10)]) == 10
    # a transaction under the ingest prefix, as the ingest service publishes
    publisher = Publisher(broker.bootstrap, {OBS: 2, CAMS: 1}, compacted=[CAMS], timeout_s=20,
                          transactional_id="anpr-ingest-test-1", client=client_config(settings, "producer"))
    try:
        assert publisher.publish(OBS, [(b"t", b"in a transaction", [])]) == 1
    finally:
        publisher.close()

    spark.sparkContext.setLogLevel("INFO")  # Kafka's clients log their whole configuration at INFO
    try:
        batch = (spark.read.format("kafka").option("kafka.bootstrap.servers", broker.bootstrap)
                 .option("subscribe", OBS).option("kafka.isolation.level", "read_committed")
                 .options(**spark_options(settings)).load())
        assert sorted(r.value for r in batch.select("value").collect()) == sorted(
            [b"v%d" % i for i in range(10)] + [b"in a transaction"])
        stream = read_kafka_stream(spark, settings, OBS)
        query = stream.writeStream.format("memory").queryName("sasl_read").trigger(availableNow=True).start()
        query.awaitTermination(120)
        assert spark.table("sasl_read").count() == 11
        plans = (batch._jdf.queryExecution().toString() + query._jsq.explainInternal(True)  # noqa: SLF001
                 + stream._jdf.queryExecution().toString())  # noqa: SLF001
        query.stop()
    finally:
        spark.sparkContext.setLogLevel("ERROR")
    secret = spark_options(settings)["kafka.sasl.jaas.config"].split('password="')[1].split('"')[0]
    with open(spark_log, "rb") as log:
        log.seek(logged_before)
        logged = log.read().decode(errors="replace")
    assert "*********(redacted)" in plans and secret not in plans  # the options are shown, masked
    assert "sasl.jaas.config = [hidden]" in logged  # Kafka's clients did log their configuration
    assert secret not in logged
    broker_log = broker.log_file.read_text()
    assert broker.security is not None and "KafkaConfig values" in broker_log
    for password in (secret, broker.security.admin.password, broker.security.producer.password,
                     (broker.home / "tls" / "keystore.password").read_text()):
        assert password not in broker_log


def test_a_wrong_password_and_no_credentials_are_refused_in_one_line(secured):
    settings, broker = secured
    wrong = as_principal(settings, "producer", sasl_plain_password="not-the-password-" + "x" * 20)
    publisher = Publisher(broker.bootstrap, {OBS: 2}, timeout_s=5, client=wrong)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as refused:
        publisher.publish(OBS, [(None, b"never", [])])
    message = str(refused.value)
    assert "\n" not in message and "authentication" in message.lower(), message
    assert "not-the-password" not in message and time.monotonic() - started < 30
    with pytest.raises(BrokerUnavailable) as anonymous:  # PLAINTEXT client to the SASL_SSL listener
        Publisher(broker.bootstrap, {OBS: 2}, timeout_s=5, client={}).publish(OBS, [(None, b"never", [])])
    assert "\n" not in str(anonymous.value)


def test_the_stream_cannot_write_and_the_producer_cannot_read(secured):
    settings, broker = secured
    # Not idempotent: an idempotent producer is refused even earlier (ClusterAuthorizationFailed on
    # InitProducerId: the stream may write no topic at all); this one reaches the topic's own refusal.
    stream_producer = KafkaProducer(bootstrap_servers=broker.bootstrap, max_block_ms=10_000,
                                    enable_idempotence=False, **client_config(settings, "stream"))
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            stream_producer.send(OBS, b"forged").get(timeout=20)
    finally:
        stream_producer.close(timeout=5)
    # the producer may see the end offsets (DESCRIBE) but not read a record
    assert sum(high_watermarks(broker.bootstrap, OBS, client=client_config(settings, "producer")).values()) > 0
    reader = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                           **client_config(settings, "producer"))
    try:
        reader.assign([TopicPartition(OBS, 0), TopicPartition(OBS, 1)])
        reader.seek_to_beginning()
        with pytest.raises(TopicAuthorizationFailedError):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                assert not reader.poll(timeout_ms=500), "the producer principal read a record"
    finally:
        reader.close()
    # a transactional id outside the ingest prefix, and topic creation, are the admin's only
    outside = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="someone-else", max_block_ms=10_000,
                            **client_config(settings, "producer"))
    try:
        with pytest.raises((TransactionalIdAuthorizationFailedError, KafkaError)):
            outside.init_transactions()
    finally:
        outside.close(timeout=0)
    with pytest.raises(KafkaError):
        create_topics(broker.bootstrap, {"anpr.other": 1}, client=client_config(settings, "producer"))


def test_a_restart_keeps_users_acls_and_the_ca(secured, tmp_path: Path):
    settings, broker = secured
    ca_before = broker.ca_file.read_bytes()
    broker.stop()
    broker.start()
    assert broker.ca_file.read_bytes() == ca_before
    with reliable_producer(broker.bootstrap, client_config(settings, "producer")) as producer:
        assert produce_all(producer, OBS, [(None, b"after restart", [])]) == 1
