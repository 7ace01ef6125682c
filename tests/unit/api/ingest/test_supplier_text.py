"""Supplier text that may hold a plate never comes back in an error, nor reaches a log line or the disk.

Keys of free-form objects, header values, a zone_id, request ids, idempotency keys and file names are
supplier text: some ANPR systems build them from plates. The plates below are synthetic (no Dutch
side-code uses QQ or ZZ). No broker: a publisher that keeps what it is given stands in for Kafka.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import stat
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from anpr.feeds.camera_table import CAMERAS
from anpr.feeds.messages import Record
from anpr.idempotency import IdempotencyStore
from api.ingest.digests import SECRET_FILE, Digests
from api.ingest.examples import CAMERA_REGISTRATION, OBSERVATION_BATCH
from api.ingest.main import create_ingest_app
from tests.unit.api.ingest.test_ingest import JSON, KEY, error_of, make_services

PLATES = ("QQ999Z", "QQ-999-Z", "ZZ-123-Q", "ZZ123Q")
HEADERS = {**JSON, "X-API-Key": KEY}
NAN, INF = float("nan"), float("inf")


def assert_no_plate(text: str | bytes, plates: Iterable[str] = PLATES) -> None:
    """No plate of `plates` in `text`, in any case, with or without its dashes."""
    low = text.lower() if isinstance(text, bytes) else text.lower().encode()
    for plate in plates:
        for form in {plate, plate.replace("-", "")}:
            assert form.lower().encode() not in low, f"{form} found"


def with_member(text: str, item: int, name: str, value: object) -> str:
    message = json.loads(text)
    message["payload"][item][name] = value
    return json.dumps(message)


class KeptRecords:
    """A publisher whose every message is acknowledged: (topic, records) as published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, list[Record]]] = []

    def publish(self, topic: str, records: Iterable[Record], timestamps_ms: Sequence[int] | None = None) -> int:
        kept = list(records)
        self.published.append((topic, kept))
        return len(kept)


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_ingest_app(make_services(tmp_path)), raise_server_exceptions=False)


@pytest.mark.parametrize("body, status, where", [
    (with_member(OBSERVATION_BATCH, 0, "extensions", {"QQ999Z": NAN}), 422, "payload[0].extensions[key 0]"),
    (with_member(OBSERVATION_BATCH, 0, "extensions", {"ZZ-123-Q": 10**30}), 400, "payload[0].extensions[key 0]"),
    (with_member(OBSERVATION_BATCH, 1, "extensions", {"klasse": "P", "QQ-999-Z": [1, INF]}), 422,
     "payload[1].extensions[key 1][1]"),
    (with_member(OBSERVATION_BATCH, 0, "extensions", {"a": {"ZZ-123-Q": NAN}}), 422,
     "payload[0].extensions[key 0][key 0]"),
    (with_member(OBSERVATION_BATCH, 0, "QQ999Z", NAN), 422, "payload[0][key 8]"),  # a key outside the contract
    (with_member(CAMERA_REGISTRATION, 0, "attributes", {"QQ-999-Z": INF}), 422, "payload[0].attributes[key 0]"),
    # a camera takes no key outside the contract: refused as such before its value is read
    (with_member(CAMERA_REGISTRATION, 0, "ZZ-123-Q", 10**30), 422, "payload[0][a key]"),
])
def test_keys_of_free_form_objects_are_named_by_position_not_spelled(client, caplog, body, status, where):
    with caplog.at_level(logging.DEBUG):
        response = client.post("/", content=body, headers=HEADERS)
    assert response.status_code == status, response.text
    assert_no_plate(response.text)
    assert_no_plate(caplog.text)
    assert error_of(response)["message"].startswith((f"{where}: ", f"invalid payload: {where}: "))


@pytest.mark.parametrize("headers, message", [
    ({"Content-Type": "application/QQ999Z"},
     "Content-Type is not accepted: it must be application/json or application/octet-stream"),
    ({"Content-Type": "application/json; charset=QQ-999-Z"},
     "charset is not accepted: JSON is UTF-8 (charset=utf-8, or none)"),
    ({**JSON, "Content-Encoding": "zz-123-q"},
     "Content-Encoding is not accepted: the body must be uncompressed (identity)"),
])
def test_a_refused_header_is_answered_with_what_is_accepted_not_with_its_value(client, caplog, headers, message):
    with caplog.at_level(logging.DEBUG):
        response = client.post("/", content=OBSERVATION_BATCH, headers={**headers, "X-API-Key": KEY})
    assert response.status_code == 415
    assert_no_plate(response.text)
    assert_no_plate(caplog.text)
    assert error_of(response)["message"] == message


def test_other_refused_headers_and_query_values_are_not_quoted(client):
    """A guard beside the 415s: these answers held no value before either."""
    refused = [
        client.post("/", content=OBSERVATION_BATCH, headers={**HEADERS, "X-Request-Id": "QQ 999 Z"}),
        client.post("/", content=OBSERVATION_BATCH, headers={**HEADERS, "X-Idempotency-Key": "ZZ/123/Q"}),
        client.post("/", content=OBSERVATION_BATCH, headers={**HEADERS, "X-Request-Id": "QQ-999-Z" + "x" * 130}),
        client.get("/v1/rejections?from=QQ-999-Z", headers={"X-API-Key": KEY}),
        client.get("/v1/rejections?to=2026-12-05&from=ZZ123Q", headers={"X-API-Key": KEY}),
    ]
    assert [r.status_code for r in refused] == [400, 400, 400, 422, 422]  # too long: the same rule's 400
    for response in refused:
        error_of(response)
        assert_no_plate(response.text)


@pytest.mark.parametrize("name, value", [
    ("zone_id", "QQ-999-Z"),
    ("address_country", "QQ"),  # the shape of a country code, never assigned; a two-letter plate exists abroad
])
def test_a_camera_fields_value_is_not_quoted(client, name, value):
    response = client.post("/", content=with_member(CAMERA_REGISTRATION, 0, name, value), headers=HEADERS)
    error = error_of(response)
    assert response.status_code == 422 and value not in error["message"] and value not in error["hint"]
    assert name in error["message"]


def test_a_request_id_that_is_no_uuid_is_only_echoed(tmp_path, caplog):
    """`X-Request-Id: QQ999Z_20261205T170000` came back in the receipt (right) and went to the log, both
    topics' Kafka headers and the `cameras` table (wrong); the platform's own trace id goes there now."""
    kafka = KeptRecords()
    services = make_services(tmp_path, publisher=kafka)
    client = TestClient(create_ingest_app(services))
    given = "QQ999Z_20261205T170000"
    with caplog.at_level(logging.DEBUG):
        observations = client.post("/", content=OBSERVATION_BATCH, headers={**HEADERS, "X-Request-Id": given})
        cameras = client.post("/", content=CAMERA_REGISTRATION, headers={**HEADERS, "X-Request-Id": given})
        refused = client.post("/", content=b"{", headers={**HEADERS, "X-Request-Id": given})
    assert observations.status_code == cameras.status_code == 202, observations.text + cameras.text
    assert observations.json()["requestId"] == given and cameras.json()["requestId"] == given
    assert [topic for topic, _ in kafka.published] == ["anpr.observations", "anpr.cameras"]
    carried = {dict(headers)["request_id"].decode() for _, records in kafka.published for _, _, headers in records}
    assert len(carried) == 2 and all(uuid.UUID(c) for c in carried)
    assert_no_plate(repr(kafka.published[1]))  # the camera topic; observations carry plate_text by design
    assert_no_plate(repr([headers for _, records in kafka.published for _, _, headers in records]))
    stored = services.lake.read_arrow(CAMERAS).to_pylist()
    assert [row["request_id"] for row in stored] == [dict(kafka.published[1][1][0][2])["request_id"].decode()]
    assert_no_plate(caplog.text)
    assert uuid.UUID(error_of(refused)["trace_id"]) and given not in refused.text
    assert_no_plate(b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()))


def test_a_request_id_that_is_a_uuid_is_carried_as_sent(tmp_path):
    kafka = KeptRecords()
    client = TestClient(create_ingest_app(make_services(tmp_path, publisher=kafka)))
    given = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"
    response = client.post("/", content=OBSERVATION_BATCH, headers={**HEADERS, "X-Request-Id": given})
    assert response.status_code == 202 and response.json()["requestId"] == given
    assert {dict(h)["request_id"] for _, records in kafka.published for _, _, h in records} == {given.encode()}
    refused = client.post("/", content=b"{", headers={**HEADERS, "X-Request-Id": given})
    assert error_of(refused)["trace_id"] == given


def test_idempotency_keys_and_file_names_are_stored_as_keyed_digests_and_still_replay(tmp_path, caplog):
    """`X-Idempotency-Key: ZZ-123-Q:2026-12-05` and `X-Filename` lay in ingest/idempotency.sqlite for 7
    days, the key also inside the stored receipt; now only HMACs do, and replays work as before, also
    after a restart of the service."""
    kafka = KeptRecords()
    services = make_services(tmp_path, publisher=kafka)
    client = TestClient(create_ingest_app(services))
    key, filename, request_id = "ZZ-123-Q:2026-12-05", "QQ-999-Z_2026-12-05.csv", "QQ999Z_20261205T170000"
    sent = {**HEADERS, "X-Idempotency-Key": key, "X-Filename": filename, "X-Request-Id": request_id}
    with caplog.at_level(logging.DEBUG):
        first = client.post("/", content=OBSERVATION_BATCH, headers=sent)
        again = client.post("/", content=OBSERVATION_BATCH, headers=sent)
    assert first.status_code == again.status_code == 202 and len(kafka.published) == 1
    receipt = first.json()
    assert (receipt["requestId"], receipt["idempotencyKey"], receipt["filename"]) == (request_id, key, filename)
    assert again.headers["Idempotent-Replay"] == "true" and again.json() == receipt
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert_no_plate(on_disk)
    assert_no_plate(caplog.text)
    assert "2026-12-05.csv" not in caplog.text  # file names are not logged
    for unkeyed in (hashlib.sha256(key.encode()).hexdigest(), hashlib.sha256(filename.encode()).hexdigest()):
        assert unkeyed.encode() not in on_disk

    # a restart: a new store and new digests over the same data directory still know the key
    services.idempotency.close()
    restarted = make_services(tmp_path, publisher=kafka)
    client = TestClient(create_ingest_app(restarted))
    replay = client.post("/", content=OBSERVATION_BATCH, headers={**sent, "X-Request-Id": "retry-1"})
    assert replay.status_code == 202 and replay.headers["Idempotent-Replay"] == "true"
    assert replay.json() == {**receipt, "requestId": "retry-1"}  # the first id is not kept; this one is echoed
    other = client.post("/", content=OBSERVATION_BATCH.replace("0.97", "0.96"), headers=sent)
    assert other.status_code == 422 and error_of(other)["code"] == "idempotency_key_reused"
    assert len(kafka.published) == 1


def test_uuid_keys_still_compare_case_insensitively_after_a_restart(tmp_path):
    kafka = KeptRecords()
    services = make_services(tmp_path, publisher=kafka)
    key = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    first = TestClient(create_ingest_app(services)).post(
        "/", content=OBSERVATION_BATCH, headers={**HEADERS, "X-Idempotency-Key": key, "X-Filename": "a.csv"})
    services.idempotency.close()
    client = TestClient(create_ingest_app(make_services(tmp_path, publisher=kafka)))
    upper = client.post("/", content=OBSERVATION_BATCH,
                        headers={**HEADERS, "X-Idempotency-Key": key.upper(), "X-Filename": "b.csv"})
    assert first.status_code == upper.status_code == 202 and upper.headers["Idempotent-Replay"] == "true"
    assert len(kafka.published) == 1
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert key.encode() not in on_disk and b"a.csv" not in on_disk  # a uuid key is stored as a digest too
    # the first request's id (a uuid the platform made) is kept; another file name than the first is not echoed
    assert upper.json() == {**first.json(), "idempotencyKey": key.upper(), "filename": None}


def test_the_digest_secret_is_made_once_per_installation_for_its_owner_only(tmp_path):
    digests = Digests.of_data_dir(tmp_path)
    path = tmp_path / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert Digests.of_data_dir(tmp_path).idempotency_key("ZZ-123-Q") == digests.idempotency_key("ZZ-123-Q")
    assert Digests.of_data_dir(tmp_path / "other").idempotency_key("ZZ-123-Q") != digests.idempotency_key("ZZ-123-Q")
    assert re.fullmatch(r"[0-9a-f]{64}", digests.idempotency_key("ZZ-123-Q"))
    assert digests.idempotency_key("ZZ-123-Q") != hashlib.sha256(b"ZZ-123-Q").hexdigest()
    assert digests.filename("ZZ-123-Q") != digests.idempotency_key("ZZ-123-Q")  # one purpose apart from another
    assert "ZZ" not in repr(digests) and path.read_text().strip() not in repr(digests)


def test_keys_stored_before_the_digests_no_longer_match(tmp_path):
    """Documented: a row of a plain key (stored before this change) is simply not found any more."""
    services = make_services(tmp_path, publisher=KeptRecords())
    store: IdempotencyStore = services.idempotency
    store.claim("test-supplier", "plain-key", hashlib.sha256(OBSERVATION_BATCH.encode()).hexdigest())
    store.complete("test-supplier", "plain-key", {"status": "accepted"})
    response = TestClient(create_ingest_app(services)).post(
        "/", content=OBSERVATION_BATCH, headers={**HEADERS, "X-Idempotency-Key": "plain-key"})
    assert response.status_code == 202 and "Idempotent-Replay" not in response.headers
