"""The ingest service against a real (embedded) broker: receipts only after Kafka acknowledged."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from anpr.broker import high_watermarks
from anpr.feeds.camera_table import CAMERAS as CAMERAS_TABLE
from anpr.feeds.camera_table import registered_camera_rows
from anpr.feeds.publisher import Publisher
from api.ingest.examples import EXAMPLES, OBSERVATION_BATCH
from api.ingest.main import create_ingest_app
from tests.unit.api.ingest.test_ingest import CAMERAS, JSON, KEY, OTHER_KEY, UTRECHT, error_of, make_services

pytestmark = pytest.mark.integration
OBS, CAMS = "anpr.observations", "anpr.cameras"


@pytest.fixture
def services(broker, tmp_path):
    """Builds the service's parts on the test broker; closes their producers before the broker stops."""
    made = []

    def build(**options):  # noqa: ANN003, ANN202
        made.append(make_services(tmp_path, broker.bootstrap, **options))
        return made[-1]

    yield build
    for built in made:
        built.publisher.close()


def request_id(name: str) -> str:
    """A supplier's X-Request-Id in the one shape carried on to Kafka and traces: a uuid (docs/ingest.md)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"request/{name}"))


def consume_committed(bootstrap: str, topic: str) -> list:
    """What a read_committed reader (the stream) sees: records of committed transactions only, up to
    each partition's last stable offset (aborted records and transaction markers never arrive)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed")
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)  # the last stable offsets under read_committed
        records: list = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def committed_counts(bootstrap: str) -> Counter:
    """observation_id -> how often a read_committed reader sees it."""
    return Counter(json.loads(r.value)["observation_id"] for r in consume_committed(bootstrap, OBS))


def interrupted_client(broker, services, chunk: int, after_chunk) -> TestClient:  # noqa: ANN001
    """The ingest service whose publisher calls `after_chunk` after every `chunk` acknowledged records
    (where a test stops the broker or fails), with a transactional id as the service has."""
    publisher = Publisher(broker.bootstrap, {OBS: 4, CAMS: 1}, compacted=[CAMS], timeout_s=3.0, chunk=chunk,
                          after_chunk=after_chunk, transactional_id="ingest-interrupted-test")
    return TestClient(create_ingest_app(services(publisher=publisher)))


def observations(n: int) -> dict:
    return {"message_type": "anpr_observation_batch", "schema_version": "anpr-2.0.0", "payload": [
        {"observation_id": str(uuid.uuid4()), "camera_id": CAMERAS[i % 6], "event_time": "2026-03-10T08:00:00.000Z",
         "plate_country": "NL", "plate_text": "GT-411-X", "read_confidence": 0.9} for i in range(n)]}


def test_every_example_message_is_accepted_and_published_with_its_headers(broker, services):
    client = TestClient(create_ingest_app(services()))
    for name, text in EXAMPLES.items():
        content_type = "application/octet-stream" if name == "camera_update" else "application/json"
        response = client.post("/", content=text, headers={"Content-Type": content_type, "X-API-Key": KEY,
                                                           "X-Request-Id": request_id(name),
                                                           "X-Filename": f"{name}.json"})
        assert response.status_code == 202, response.text
        assert response.json() == {"status": "accepted", "company": "Test ANPR B.V.", "requestId": request_id(name),
                                   "idempotencyKey": None, "timestamp": response.json()["timestamp"],
                                   "sizeBytes": len(text.encode()), "filename": f"{name}.json"}
    published = consume_committed(broker.bootstrap, OBS)
    sent = json.loads(OBSERVATION_BATCH)["payload"]
    assert sorted(json.loads(r.value)["observation_id"] for r in published) == sorted(o["observation_id"] for o in sent)
    for record in published:
        assert record.key.decode() == json.loads(record.value)["camera_id"]
        assert dict(record.headers) == {"supplier": b"test-supplier", "municipality": b"GM0344",
                                        "request_id": request_id("anpr_observation_batch").encode()}
    registered = consume_committed(broker.bootstrap, CAMS)
    assert [r.key for r in registered] == [b"5b7e2c44-1d3f-4a8b-9c6d-2e1f0a9b8c7d"] * 2
    placed = json.loads(registered[0].value)
    assert (placed["zone_id"], placed["zone_source"], placed["obverse_direction"]) == ("GM0344-ZE1", "location",
                                                                                       "Inbound")


def test_a_repeated_key_publishes_nothing_and_a_byte_order_mark_counts_in_the_receipt(broker, services):
    client = TestClient(create_ingest_app(services()))
    text = json.dumps(observations(2))
    repeated = text.replace('"read_confidence": 0.9', '"read_confidence": 0.9, "read_confidence": 0.8', 1)
    refused = client.post("/", content=repeated, headers={**JSON, "X-API-Key": KEY})
    assert (refused.status_code, error_of(refused)["code"]) == (400, "repeated_key")
    body = b"\xef\xbb\xbf" + text.encode()
    accepted = client.post("/", content=body, headers={**JSON, "X-API-Key": KEY})
    assert accepted.status_code == 202 and accepted.json()["sizeBytes"] == len(body) == len(text.encode()) + 3
    # the refused message held the same two observations: each is in Kafka once, from the accepted one
    assert sorted(committed_counts(broker.bootstrap).values()) == [1, 1]


def test_a_batch_with_an_item_over_the_limit_publishes_nothing_on_every_retry(broker, services):
    client = TestClient(create_ingest_app(services()))
    headers = {**JSON, "X-API-Key": KEY, "X-Idempotency-Key": "mixed-batch"}
    assert client.post("/", content=json.dumps(observations(1)), headers=JSON | {"X-API-Key": KEY}).status_code == 202
    before = [r.value for r in consume_committed(broker.bootstrap, OBS)]
    mixed = observations(2)
    mixed["payload"][1]["notes"] = "x" * 1_500_000  # over the stream's 64 KiB and Kafka's 1 MiB per message
    for _ in range(3):
        response = client.post("/", content=json.dumps(mixed), headers=headers)
        error = error_of(response)
        assert response.status_code == 422 and error["code"] == "invalid_payload"
        assert error["message"].startswith("invalid payload: payload[1]: the observation is ")
    assert [r.value for r in consume_committed(broker.bootstrap, OBS)] == before


def test_camera_versions_have_validity_intervals_and_stay_with_their_supplier(broker, services):
    built = services()
    client = TestClient(create_ingest_app(built))
    for name in ("camera_registration", "camera_update"):
        assert client.post("/", content=EXAMPLES[name], headers={**JSON, "X-API-Key": KEY}).status_code == 202
    rows = sorted(built.lake.read_arrow(CAMERAS_TABLE).to_pylist(), key=lambda r: r["valid_from"])
    assert [r["camera_status"] for r in rows] == ["active", "inactive"]
    assert rows[0]["valid_to"] == rows[1]["valid_from"] and rows[1]["valid_to"] is None
    assert rows[0]["valid_from"].isoformat() == "2025-05-01T00:00:00+00:00"
    # What the stream would add to the configured cameras (anpr.zones.camera_rows' columns and the event
    # times it places): the status update places alike, so one placement for all time.
    [known] = registered_camera_rows(built.lake, [UTRECHT])
    assert known == {"camera_id": "5b7e2c44-1d3f-4a8b-9c6d-2e1f0a9b8c7d",
                     "camera_name": "Tolsteegsingel 1, 3582 AA Utrecht", "municipality": "GM0344",
                     "zone_id": "GM0344-ZE1", "zone_name": "ZE-zone binnenstad Utrecht", "latitude": 52.0828,
                     "longitude": 5.116, "azimuth_deg": 180.0, "obverse_direction": "Inbound",
                     "reverse_direction": "Outbound", "valid_from": None, "valid_to": None}
    assert registered_camera_rows(built.lake, [UTRECHT], at=rows[0]["valid_from"])[0]["camera_id"] == known["camera_id"]
    mine = client.get("/v1/cameras", headers={"X-API-Key": KEY}).json()
    registered = [(c["camera_id"], c["camera_status"], c["zone_id"]) for c in mine if c["source"] == "registered"]
    assert registered == [("5b7e2c44-1d3f-4a8b-9c6d-2e1f0a9b8c7d", "inactive", "GM0344-ZE1")]
    # the supplier's configured cameras are listed beside it, as conf/municipalities places them
    assert sorted(c["camera_id"] for c in mine if c["source"] == "configured") == sorted(CAMERAS[:6])

    taken = client.post("/", content=EXAMPLES["camera_update"], headers={**JSON, "X-API-Key": OTHER_KEY})
    assert taken.status_code == 403 and error_of(taken)["code"] == "camera_not_owned"
    batch = json.loads(OBSERVATION_BATCH)
    batch["payload"][0]["camera_id"] = "5b7e2c44-1d3f-4a8b-9c6d-2e1f0a9b8c7d"
    before = high_watermarks(broker.bootstrap, OBS)
    refused = client.post("/", content=json.dumps(batch), headers={**JSON, "X-API-Key": OTHER_KEY})
    assert refused.status_code == 403 and high_watermarks(broker.bootstrap, OBS) == before


def test_a_replayed_key_returns_the_first_receipt_even_after_a_restart(broker, services):
    headers = {**JSON, "X-API-Key": KEY, "X-Idempotency-Key": "delivery-2026-03-10-001"}
    first = TestClient(create_ingest_app(services())).post(
        "/", content=OBSERVATION_BATCH, headers=headers)
    assert first.status_code == 202
    ends = high_watermarks(broker.bootstrap, OBS)
    restarted = TestClient(create_ingest_app(services()))
    replay = restarted.post("/", content=OBSERVATION_BATCH, headers=headers)
    assert replay.status_code == 202 and replay.json() == first.json()
    assert replay.headers["Idempotent-Replay"] == "true"
    assert high_watermarks(broker.bootstrap, OBS) == ends


def test_over_the_message_limit_gets_429_with_retry_after(broker, services):
    client = TestClient(create_ingest_app(services(messages_per_minute=3)))
    answers = [client.post("/", content=OBSERVATION_BATCH, headers={**JSON, "X-API-Key": KEY}) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert error_of(answers[3])["code"] == "rate_limited"
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
    assert sum(committed_counts(broker.bootstrap).values()) == 3 * 2


def test_broker_killed_mid_request_gives_503_and_the_retry_publishes_each_observation_once(broker, services):
    killed: list[int] = []

    def kill_after_first_chunk(acked: int) -> None:
        if acked == 500 and not killed:
            killed.append(acked)
            broker.stop()

    client = interrupted_client(broker, services, 500, kill_after_first_chunk)
    batch = observations(2_000)
    headers = {**JSON, "X-API-Key": KEY, "X-Idempotency-Key": "kill-test"}

    failed = client.post("/", content=json.dumps(batch), headers=headers)
    assert failed.status_code == 503, failed.text
    assert error_of(failed)["code"] == "unavailable" and failed.headers["Retry-After"] == "5"

    broker.start()  # same port and log: the 500 acknowledged before the kill are in it, uncommitted
    assert sum(high_watermarks(broker.bootstrap, OBS).values()) >= 500
    assert committed_counts(broker.bootstrap) == Counter()
    retried = client.post("/", content=json.dumps(batch), headers=headers)
    assert retried.status_code == 202, retried.text
    again = client.post("/", content=json.dumps(batch), headers=headers)
    assert again.json() == retried.json()

    # The retry's producer took over the transactional id, so the broker aborted the killed request's
    # transaction: a read_committed reader sees every observation exactly once.
    counts = committed_counts(broker.bootstrap)
    assert set(counts) == {o["observation_id"] for o in batch["payload"]} and set(counts.values()) == {1}


def test_a_publish_failing_after_the_first_record_shows_nothing_and_the_retry_publishes_once(broker, services):
    """A failure after one record was acknowledged: 503, the transaction aborted on a live broker."""
    from kafka.errors import KafkaTimeoutError

    failures: list[int] = []

    def fail_once_after_the_first_record(acked: int) -> None:
        if not failures:
            failures.append(acked)
            raise KafkaTimeoutError("injected after the first acknowledged record")

    client = interrupted_client(broker, services, 1, fail_once_after_the_first_record)
    batch = observations(5)
    headers = {**JSON, "X-API-Key": KEY, "X-Idempotency-Key": "fail-after-first"}

    failed = client.post("/", content=json.dumps(batch), headers=headers)
    assert failed.status_code == 503 and error_of(failed)["code"] == "unavailable", failed.text
    assert "(1 acknowledged)" in error_of(failed)["message"] and failures == [1]
    assert sum(high_watermarks(broker.bootstrap, OBS).values()) >= 1  # the record is in the log, aborted
    assert committed_counts(broker.bootstrap) == Counter()

    retried = client.post("/", content=json.dumps(batch), headers=headers)
    assert retried.status_code == 202, retried.text
    counts = committed_counts(broker.bootstrap)
    assert counts == Counter({o["observation_id"]: 1 for o in batch["payload"]})


def test_an_accepted_request_is_visible_to_a_read_committed_reader_with_its_exact_count(broker, services):
    client = TestClient(create_ingest_app(services()))
    for n in (3, 40):
        assert client.post("/", content=json.dumps(observations(n)), headers={**JSON, "X-API-Key": KEY}).status_code \
            == 202
    assert sum(committed_counts(broker.bootstrap).values()) == 43
    # Each request is one transaction: its commit marker takes an offset in every partition it wrote.
    assert sum(high_watermarks(broker.bootstrap, OBS).values()) > 43


def test_a_broker_that_is_down_gives_503_and_nothing_is_remembered(broker, services):
    client = TestClient(create_ingest_app(services()))
    broker.stop()
    headers = {**JSON, "X-API-Key": KEY, "X-Idempotency-Key": "down-test"}
    down = client.post("/", content=OBSERVATION_BATCH, headers=headers)
    assert down.status_code == 503 and "nothing was accepted" in error_of(down)["message"]
    broker.start()
    assert client.post("/", content=OBSERVATION_BATCH, headers=headers).status_code == 202
    assert sum(committed_counts(broker.bootstrap).values()) == 2



def test_an_internal_failure_gives_500_and_the_retry_is_not_taken_for_a_replay(broker, services, tmp_path):
    from anpr.delta_reader import DeltaReader

    built = services()
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    built.cameras.lake = DeltaReader(str(blocker / "lake"))  # the cameras table cannot be written
    client = TestClient(create_ingest_app(built), raise_server_exceptions=False)
    headers = {**JSON, "X-API-Key": KEY, "X-Idempotency-Key": "register-1", "X-Request-Id": request_id("500")}
    failed = client.post("/", content=EXAMPLES["camera_registration"], headers=headers)
    assert failed.status_code == 500
    assert error_of(failed) == {"code": "internal_error", "message": "internal error", "hint": "retry later",
                                "trace_id": request_id("500")}
    built.cameras.lake = built.lake
    retried = client.post("/", content=EXAMPLES["camera_registration"], headers=headers)
    assert retried.status_code == 202 and "Idempotent-Replay" not in retried.headers
