"""The stream reads committed Kafka transactions only (`kafka.isolation.level=read_committed`)."""

from __future__ import annotations

import json

import pytest
from kafka import KafkaProducer

from anpr.broker import create_topics
from anpr.stream_tables import PASSAGES, STREAM_METRICS
from anpr.synth.detections import synth_day
from anpr.zones import municipality_by_code
from cli.demo import default_day

pytestmark = pytest.mark.integration
TOPIC = "anpr.observations"


def observation_id(value: bytes) -> str | None:
    try:
        found = json.loads(value).get("observation_id")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def publish_in_transaction(producer: KafkaProducer, messages: list, commit: bool) -> None:
    producer.begin_transaction()
    for key, value, headers in messages:
        producer.send(TOPIC, key=key, value=value, headers=headers)
    producer.flush(timeout=30)
    if commit:
        producer.commit_transaction()
    else:
        producer.abort_transaction()


@pytest.mark.timeout(600)
def test_the_stream_reads_a_committed_transaction_and_never_an_aborted_one(spark, settings, broker, tmp_path):
    from anpr.lake import make_lake
    from streaming.job import run_stream

    cameras = municipality_by_code("GM0344").cameras
    feed = synth_day(default_day(), cameras, detections=600, seed=17)
    # Split by camera (the record key) so a double read never straddles the two transactions.
    aborted_cameras = {c.camera_id.encode() for c in cameras[: len(cameras) // 2]}
    aborted = [m for m in feed.messages if m[0] in aborted_cameras]
    committed = [m for m in feed.messages if m[0] not in aborted_cameras]
    assert aborted and committed

    create_topics(broker.bootstrap, {TOPIC: 4})
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="stream-isolation-test")
    try:
        producer.init_transactions()
        publish_in_transaction(producer, aborted, commit=False)
        publish_in_transaction(producer, committed, commit=True)
    finally:
        producer.close(timeout=10)

    local = settings.model_copy(update={
        "data_dir": tmp_path / "data",
        "kafka": settings.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap})})
    assert local.kafka.isolation_level == "read_committed"
    lake = make_lake(local, spark)
    run_stream(spark, local, lake, until_idle=True)

    committed_ids = {observation_id(value) for _, value, _ in committed}
    passages = {r["observation_id"] for r in lake.read_arrow(PASSAGES, columns=["observation_id"]).to_pylist()}
    assert passages == feed.valid_ids & committed_ids
    assert not passages & {observation_id(value) for _, value, _ in aborted}
    # Records of the aborted transaction are not even read: every record read is one of the committed.
    assert sum(r["rows_in"] for r in lake.read_arrow(STREAM_METRICS).to_pylist()) == len(committed)
