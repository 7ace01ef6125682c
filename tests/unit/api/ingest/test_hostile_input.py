"""Issue 15 at the door: hostile JSON, typed fields, the event_time rule, per-item limits, idempotency keys.

No broker: the services publish to a closed port, so a request that reached Kafka would be a 503;
every refusal below (400/422) shows that nothing was published.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from anpr.contract import EVENT_TIME_RULE, MAX_MESSAGE_BYTES, event_time_problem, number_problems, type_problem
from anpr.feeds.messages import encode
from api.ingest.examples import EXAMPLES, OBSERVATION_BATCH
from api.ingest.main import create_ingest_app
from api.ingest.models import CameraRegistration
from api.ingest.routes.delivery import idempotency_identity
from cli.serve import in_thread, server_config
from tests.unit.api.ingest.test_ingest import JSON, KEY, error_of, make_services

HEADERS = {**JSON, "X-API-Key": KEY}
REGISTRATION = EXAMPLES["camera_registration"]


def observation_with(text: str) -> str:
    """The example batch with `text` (raw JSON members, none it holds already: a repeated key is refused
    before anything else) added to its second observation."""
    return OBSERVATION_BATCH.replace('"lane": 2,', f'"lane": 2, {text},', 1)


def camera_with(text: str) -> str:
    return REGISTRATION.replace('"fov_deg": 30,', f'"fov_deg": 30, {text},', 1)


HOSTILE = {
    "lone surrogate in an observation": observation_with('"remark": "dirty \\ud800 plate"'),
    "lone surrogate in a camera field": camera_with('"address_city": "\\ud800"'),
    "integer of 1000 digits": observation_with('"count": ' + "9" * 1000),
    "integer of 5000 digits": camera_with('"zz": ' + "9" * 5000),
    "arrays nested 1000 deep": observation_with('"deep": {"a": ' + "[" * 1000 + "]" * 1000 + "}"),
}


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_ingest_app(make_services(tmp_path)), raise_server_exceptions=False)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_json_gets_400_in_the_error_shape(client, name):
    response = client.post("/", content=HOSTILE[name], headers=HEADERS)
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "bad_request"


def test_an_integer_beyond_64_bits_is_named(client):
    response = client.post("/", content=OBSERVATION_BATCH.replace('"lane": 2,', '"lane": ' + "9" * 1000 + ",", 1),
                           headers=HEADERS)
    assert "payload[1].lane: an integer beyond 64 bits" in error_of(response)["message"]
    # a key outside the contract is named by its position in the item (after the eight fields before it)
    response = client.post("/", content=observation_with('"count": ' + "9" * 1000), headers=HEADERS)
    assert "payload[1][key 8]: an integer beyond 64 bits" in error_of(response)["message"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    """The app under uvicorn on a free port (a real HTTP/1.1 connection, unlike the test client)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = server_config(create_ingest_app(make_services(tmp_path)), None, host="127.0.0.1", port=port,
                           lifespan="off")
    with in_thread(config):
        yield port


def test_hostile_requests_keep_the_connection_usable(server):
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    statuses = []
    for body in HOSTILE.values():
        conn.request("POST", "/", body=body.encode(), headers=HEADERS)
        response = conn.getresponse()
        response.read()
        statuses.append((response.status, response.getheader("connection")))
        if len(statuses) == 1:
            first_socket = conn.sock
    conn.request("GET", "/health")
    health = conn.getresponse()
    assert statuses == [(400, None)] * len(HOSTILE)
    assert health.status == 200 and json.loads(health.read()) == {"status": "ok"}
    assert conn.sock is first_socket  # http.client would have reconnected after a reset or close
    conn.close()


NAN, INF = float("nan"), float("inf")


def with_member(text: str, item: int, name: str, value: object) -> str:
    """The example message `text` with payload[item][name] set to `value` (NaN/Infinity as literals)."""
    message = json.loads(text)
    message["payload"][item][name] = value
    return json.dumps(message)


def test_an_internal_error_is_a_500_that_keeps_the_connection_usable(server, monkeypatch):
    def fail(body: bytes) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("api.ingest.delivery.parse_envelope", fail)
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    trace = "0b8f6a52-3c1d-4e7f-9a2b-5c6d7e8f9a0b"
    conn.request("POST", "/", body=OBSERVATION_BATCH.encode(), headers={**HEADERS, "X-Request-Id": trace})
    failed = conn.getresponse()
    assert failed.status == 500 and json.loads(failed.read()) == {"error": {
        "code": "internal_error", "message": "internal error", "hint": "retry later", "trace_id": trace}}
    first_socket = conn.sock
    conn.request("GET", "/health")
    assert conn.getresponse().status == 200 and conn.sock is first_socket
    conn.close()


@pytest.mark.parametrize("name, value, field", [
    ("lane", "1", "lane"),
    ("lane", 1.0, "lane"),
    ("lane", True, "lane"),
    ("read_confidence", "0.9", "read_confidence"),
    ("read_confidence", NAN, "read_confidence"),
    ("read_confidence", INF, "read_confidence"),
    ("extensions", "supplier_class=P", "extensions"),
    ("extensions", [1, 2], "extensions"),
    ("notes", 12, "notes"),
    ("plate_text", 123456, "plate_text"),
    ("extensions", {"speed": -INF}, "extensions[key 0]"),
])
def test_mistyped_observation_fields_get_422_naming_item_and_field(client, name, value, field):
    response = client.post("/", content=with_member(OBSERVATION_BATCH, 1, name, value), headers=HEADERS)
    error = error_of(response)
    assert response.status_code == 422 and error["code"] == "invalid_payload", response.text
    assert f"payload[1].{field}: " in error["message"] and "nothing of the message was published" in error["message"]
    assert "payload[0]" not in error["message"]


@pytest.mark.parametrize("name, value, field", [
    ("location_lat", True, "location_lat"),
    ("location_lat", "52.0828", "location_lat"),
    ("location_lon", NAN, "location_lon"),
    ("azimuth_deg", INF, "azimuth_deg"),
    ("fov_deg", 181, "fov_deg"),
    ("location_crs_additional", "EPSG:4326", "location_crs_additional"),
    ("address_country", "Netherlands", "address_country"),
    ("address_country", "XX", "address_country"),  # the right shape, never assigned
    ("attributes", {"mast": 1, "height": NAN}, "attributes[key 1]"),
])
def test_mistyped_camera_fields_get_422_naming_item_and_field(client, name, value, field):
    response = client.post("/", content=with_member(REGISTRATION, 0, name, value), headers=HEADERS)
    error = error_of(response)
    assert response.status_code == 422 and error["code"] == "invalid_payload", response.text
    assert f"payload[0].{field}: " in error["message"]


def test_cameras_take_the_working_groups_spelling_and_the_old_names_as_aliases():
    item = {**json.loads(REGISTRATION)["payload"][0], "address_house_number": "1a", "address_postal_code": "3582 AA",
            "address_country": "NL", "fov_deg": 180}
    camera = CameraRegistration.model_validate_json(json.dumps(item))
    dumped = camera.model_dump(exclude_unset=True)
    assert (dumped["address_house_number"], dumped["address_postal_code"], dumped["address_country"]) == (
        "1a", "3582 AA", "NL")
    assert dumped["location_crs_additional"] == "EPSG:28992" and dumped["fov_deg"] == 180
    old = CameraRegistration.model_validate_json(json.dumps(
        {**json.loads(REGISTRATION)["payload"][0], "address_number": "1a", "address_postcode": "3582 AA"}))
    old_dump = old.model_dump(exclude_unset=True)
    assert old_dump["address_house_number"] == "1a" and old_dump["address_postal_code"] == "3582 AA"
    assert "address_number" not in old_dump and "address_postcode" not in old_dump


@pytest.mark.parametrize("event_time, problem", [
    ("2025-06-02T07:15:42.123Z", None),
    ("2025-06-02T07:15:42.123+00:00", None),
    ("2025-06-02T07:15:42Z", f"must be {EVENT_TIME_RULE}"),
    ("2025-06-02T09:15:42.123+02:00", f"must be {EVENT_TIME_RULE}"),
    ("2025-06-02T07:15:42.123456Z", f"must be {EVENT_TIME_RULE}"),
    ("2025-02-30T07:15:42.123Z", f"is not a calendar moment; must be {EVENT_TIME_RULE}"),
    ("2025-06-02t07:15:42.123z", None),  # RFC 3339 section 5.6: t and z may be lower case
    ("2025-06-30T23:59:60.000Z",
     "is a leap second, which timestamps here cannot hold; send 23:59:59.999 instead"),
    # the whole value: re.match let `$` match before a final line break (a fresh reader's case)
    ("2025-06-02T07:15:42.123Z\n", f"must be {EVENT_TIME_RULE}"),
    ("2025-06-02T07:15:42.123+00:00\n", f"must be {EVENT_TIME_RULE}"),
])
def test_the_event_time_rule(event_time, problem):
    assert event_time_problem(event_time) == problem


@pytest.mark.parametrize("event_time", ["2025-06-02T07:16:05Z", "2025-06-02T09:16:05.480+02:00"])
def test_other_rfc3339_event_times_get_422_saying_the_rule(client, event_time):
    body = OBSERVATION_BATCH.replace("2025-06-02T07:16:05.480Z", event_time, 1)
    response = client.post("/", content=body, headers=HEADERS)
    assert response.status_code == 422
    assert f"payload[1].event_time: must be {EVENT_TIME_RULE}" in error_of(response)["message"]


def test_the_contracts_type_rule():
    assert [type_problem(v, "integer") for v in (1, None, True, "1", 1.0)] == [
        None, None, "must be a JSON integer", "must be a JSON integer, not a string", "must be a JSON integer"]
    assert type_problem(float("nan"), "number") == "must be a finite number (NaN and Infinity are not JSON)"
    assert type_problem([], "object") == "must be a JSON object"
    assert list(number_problems({"a": [1, float("inf")], "b": 2**63}, fields={"a"})) == [
        (".a[1]", "NaN and Infinity are not JSON numbers"), ("[key 1]", "an integer beyond 64 bits")]
    assert list(number_problems({"a": {"b": 2**63}}, fields={"a", "b"})) == [(".a[key 0]", "an integer beyond 64 bits")]
    assert list(number_problems({"x": 1, "b": 2**63}, positions=False)) == [("[a key]", "an integer beyond 64 bits")]


def test_an_item_over_the_limit_refuses_the_whole_batch_with_422(client):
    batch = json.loads(OBSERVATION_BATCH)
    batch["payload"][1]["notes"] = "x" * MAX_MESSAGE_BYTES
    response = client.post("/", content=json.dumps(batch), headers=HEADERS)
    error = error_of(response)
    assert response.status_code == 422 and error["code"] == "invalid_payload"
    size = len(encode(batch["payload"][1]))
    expected = f"payload[1]: the observation is {size} bytes as JSON, over the limit of {MAX_MESSAGE_BYTES}"
    assert expected in error["message"]
    assert "payload[0]" not in error["message"]


def remember(services, key: str, body: bytes, receipt: dict) -> None:  # noqa: ANN001
    """A completed earlier request with this key and body, as the route stores it."""
    digests = services.digests
    services.idempotency.claim("test-supplier", digests.idempotency_key(key), digests.body(body))
    services.idempotency.complete("test-supplier", digests.idempotency_key(key), receipt)


def test_a_key_reused_with_another_body_gets_422_and_uuid_keys_ignore_case(tmp_path):
    services = make_services(tmp_path)
    client = TestClient(create_ingest_app(services))
    key = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    receipt = {"status": "accepted", "requestId": "5f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", "idempotencyKey": None,
               "filename": None}
    remember(services, key, OBSERVATION_BATCH.encode(), receipt)

    other = client.post("/", content=OBSERVATION_BATCH.replace("0.97", "0.96"),
                        headers={**HEADERS, "X-Idempotency-Key": key})
    assert other.status_code == 422 and error_of(other)["code"] == "idempotency_key_reused"

    upper = client.post("/", content=OBSERVATION_BATCH, headers={**HEADERS, "X-Idempotency-Key": key.upper()})
    assert upper.status_code == 202 and upper.headers["Idempotent-Replay"] == "true"
    assert upper.json() == {**receipt, "idempotencyKey": key.upper()}  # the key echoed as this request sent it
    assert idempotency_identity("Batch-ABC") == "Batch-ABC"  # other keys stay case-sensitive
