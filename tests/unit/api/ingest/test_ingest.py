"""The ingest contract's synchronous answers: authentication, envelope, size, ownership, rejections.

No broker here: every request below is answered before anything is published.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from anpr.delta_reader import DeltaReader
from anpr.feeds.publisher import Publisher
from anpr.idempotency import IdempotencyStore
from anpr.lake import Lake, spark_to_arrow_schema
from anpr.stream_tables import QUARANTINE, QUARANTINE_SCHEMA
from anpr.suppliers import Supplier, SupplierRegistry, hash_key
from anpr.zones import load_municipalities
from api.ingest.cameras import CameraRegistry
from api.ingest.digests import Digests
from api.ingest.examples import EXAMPLES, OBSERVATION_BATCH
from api.ingest.main import create_ingest_app
from api.ingest.services import IngestServices

KEY, OTHER_KEY, DISABLED_KEY = "dev-ingest-test-key", "dev-ingest-other-key", "dev-ingest-disabled-key"
UTRECHT = load_municipalities()[0]
CAMERAS = [c.camera_id for c in UTRECHT.cameras]
JSON = {"Content-Type": "application/json"}
TRACE = "1c7d2e9f-6a3b-4c5d-8e7f-0a1b2c3d4e5f"  # a supplier's X-Request-Id: carried on, as a uuid


def registry(messages_per_minute: int = 600) -> SupplierRegistry:
    return SupplierRegistry([
        Supplier(name="test-supplier", company="Test ANPR B.V.", api_key_sha256=hash_key(KEY), development=True,
                 municipalities=["GM0344"], cameras=CAMERAS[:6], messages_per_minute=messages_per_minute),
        Supplier(name="other-supplier", company="Andere Camera's B.V.", api_key_sha256=hash_key(OTHER_KEY),
                 development=True, municipalities=["GM0344"], cameras=CAMERAS[6:]),
        Supplier(name="disabled-supplier", company="Oud B.V.", api_key_sha256=hash_key(DISABLED_KEY),
                 development=True, enabled=False, municipalities=["GM0344"]),
    ])


def make_services(tmp: Path, bootstrap: str = "127.0.0.1:9", messages_per_minute: int = 600,
                  publisher: Publisher | None = None) -> IngestServices:
    suppliers = registry(messages_per_minute)
    lake = DeltaReader(str(tmp / "lake"))
    return IngestServices(
        suppliers=suppliers, cameras=CameraRegistry([UTRECHT], suppliers, lake),
        publisher=publisher or Publisher(bootstrap, {"anpr.observations": 4, "anpr.cameras": 1},
                                         compacted=["anpr.cameras"], timeout_s=3.0,
                                         transactional_id=f"anpr-ingest-test-{tmp.name}"),
        idempotency=IdempotencyStore(tmp / "ingest" / "idempotency.sqlite"), lake=lake,
        digests=Digests.of_data_dir(tmp))


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_ingest_app(make_services(tmp_path)), raise_server_exceptions=False)


def error_of(response) -> dict:  # noqa: ANN001
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "hint", "trace_id"}
    return body["error"]


def test_missing_and_unknown_keys_get_401(client):
    missing = client.post("/", content=OBSERVATION_BATCH, headers=JSON)
    assert missing.status_code == 401 and error_of(missing)["code"] == "unauthorized"
    wrong = client.post("/", content=OBSERVATION_BATCH, headers={**JSON, "X-API-Key": "dev-guessed"})
    assert wrong.status_code == 401 and "unknown API key" in error_of(wrong)["message"]


def test_a_disabled_key_gets_403(client):
    response = client.post("/", content=OBSERVATION_BATCH, headers={**JSON, "X-API-Key": DISABLED_KEY})
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"


def test_observations_for_another_suppliers_camera_get_403_without_plates(client, caplog):
    batch = json.loads(OBSERVATION_BATCH)
    batch["payload"][1]["camera_id"] = CAMERAS[7]  # the other supplier's camera
    with caplog.at_level(logging.DEBUG):
        response = client.post("/", content=json.dumps(batch), headers={**JSON, "X-API-Key": KEY,
                                                                         "X-Request-Id": TRACE})
    error = error_of(response)
    assert response.status_code == 403 and error["code"] == "camera_not_owned"
    assert CAMERAS[7] in error["message"] and "nothing of the message was published" in error["message"]
    assert error["trace_id"] == TRACE
    for plate in ("VX-123-B", "VX123B", "B XY 1234"):
        assert plate not in response.text and plate not in caplog.text


@pytest.mark.parametrize("body, fragment", [
    (b"{\"message_type\": ", "not JSON"),
    (b"[]", "not a JSON object"),
    (json.dumps({"message_type": "anpr_batch", "schema_version": "anpr-2.0.0", "payload": [{}]}), "message_type"),
    (json.dumps({"message_type": "anpr_observation_batch", "schema_version": "anpr-1.4.0", "payload": [{}]}),
     "schema_version"),
    (json.dumps({"message_type": "anpr_observation_batch", "schema_version": "anpr-2.0.0", "payload": []}),
     "at least one item"),
    (json.dumps({"message_type": "anpr_observation_batch", "schema_version": "anpr-2.0.0", "payload": ["x"]}),
     "payload[0] is not a JSON object"),
])
def test_envelope_problems_are_rejected_with_400(client, body, fragment):
    response = client.post("/", content=body, headers={**JSON, "X-API-Key": KEY})
    assert response.status_code == 400 and fragment in error_of(response)["message"]


@pytest.mark.parametrize("body, message", [
    ('{"message_type": "anpr_observation_batch", "schema_version": "anpr-2.0.0", '
     '"payload": [{"plate_text": "ZZ-999-Q"}], "payload": [{}]}', "the envelope gives payload twice"),
    ('{"message_type": "anpr_observation_batch", "schema_version": "anpr-2.0.0", "payload": [{}, '
     '{"plate_text": "ZZ-999-Q", "lane": 1, "plate_text": "ZZ-998-Q"}]}', "payload[1].plate_text is given twice"),
    ('{"message_type": "anpr_observation_batch", "schema_version": "anpr-2.0.0", '
     '"payload": [{"ZZ-999-Q": 1, "ZZ-999-Q": 2}]}', "payload[0] repeats a key"),
    ('{"message_type": "anpr_observation_batch", "schema_version": "anpr-2.0.0", '
     '"payload": [{"extensions": {"ZZ-999-Q": 1, "ZZ-999-Q": 2}}]}', "payload[0] repeats a key in a nested object"),
    ('{"message_type": "camera_registration", "schema_version": "anpr-2.0.0", "message_type": "camera_update", '
     '"payload": [{}]}', "the envelope gives message_type twice"),
])
def test_a_repeated_key_refuses_the_message_without_quoting_it(client, body, message):
    """A parser keeps the last of a repeated key: the first value would be lost behind a 202."""
    response = client.post("/", content=body, headers={**JSON, "X-API-Key": KEY})
    error = error_of(response)
    assert (response.status_code, error["code"]) == (400, "repeated_key")
    assert error["message"] == f"{message}; nothing of the message was published"
    assert "ZZ-99" not in response.text


def test_a_body_is_parsed_off_the_event_loop(client, monkeypatch):
    """A 50 MB body takes seconds of CPU to parse: on the event loop it held every other request (a reviewer's
    /health waited 2.4-2.9 s behind a 49 MB delivery)."""
    import asyncio

    from api.ingest import delivery

    parse, loops = delivery.parse_envelope, []

    def parse_noting_the_loop(body: bytes):  # noqa: ANN202
        try:
            loops.append(asyncio.get_running_loop())
        except RuntimeError:
            loops.append(None)
        return parse(body)

    monkeypatch.setattr(delivery, "parse_envelope", parse_noting_the_loop)
    response = client.post("/", content=OBSERVATION_BATCH, headers={**JSON, "X-API-Key": KEY})
    assert response.status_code == 503 and loops == [None]  # parsed in a worker thread, then the absent broker


@pytest.mark.parametrize("name", ["X-Request-Id", "X-Idempotency-Key"])
def test_a_request_id_or_key_breaking_its_rule_gets_the_same_400_whatever_the_break(client, name):
    for value in ("a b", "x" * 129, "plaat:ZZ-999-Q!"):
        response = client.post("/", content=OBSERVATION_BATCH, headers={**JSON, "X-API-Key": KEY, name: value})
        assert response.status_code == 400, (value, response.text)
        assert error_of(response)["message"] == f"{name} must be 1-128 letters, digits or . _ : -"


def test_an_empty_optional_header_counts_as_absent(client):
    response = client.post("/", content=OBSERVATION_BATCH,
                           headers={**JSON, "X-API-Key": KEY, "X-Request-Id": "", "X-Idempotency-Key": ""})
    assert response.status_code == 503  # past the header checks, to the (absent) broker


def test_an_unknown_route_or_method_says_what_to_do(client):
    missing, wrong = client.get("/v2/nothing"), client.put("/", headers={"X-API-Key": KEY})
    assert (missing.status_code, error_of(missing)["hint"]) == (404, "see the routes in the OpenAPI document at "
                                                                     "/openapi.json")
    assert (wrong.status_code, error_of(wrong)["hint"]) == (405, "use a method the Allow header names")
    assert "POST" in wrong.headers["Allow"]


def test_other_content_types_get_415(client):
    response = client.post("/", content=OBSERVATION_BATCH, headers={"Content-Type": "text/csv", "X-API-Key": KEY})
    assert response.status_code == 415 and error_of(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize(("headers", "message"), [
    ({"Content-Type": "application/json; charset=utf-16"},
     "charset is not accepted: JSON is UTF-8 (charset=utf-8, or none)"),
    ({**JSON, "Content-Encoding": "gzip"},
     "Content-Encoding is not accepted: the body must be uncompressed (identity)"),
])
def test_an_encoding_json_does_not_have_is_named(client, headers, message):
    response = client.post("/", content=OBSERVATION_BATCH, headers={**headers, "X-API-Key": KEY})
    assert response.status_code == 415 and error_of(response)["message"] == message


def test_a_leading_byte_order_mark_is_ignored(client):
    """RFC 8259 lets a parser ignore it, and Windows tools write one: past the envelope, to the (absent) broker."""
    body = OBSERVATION_BATCH if isinstance(OBSERVATION_BATCH, bytes) else OBSERVATION_BATCH.encode()
    response = client.post("/", content=b"\xef\xbb\xbf" + body, headers={**JSON, "X-API-Key": KEY})
    assert response.status_code == 503, response.text
    charset = client.post("/", content=body, headers={"Content-Type": "application/json; charset=UTF-8",
                                                      "X-API-Key": KEY})
    assert charset.status_code == 503, charset.text


def test_bodies_over_50_mb_get_413_declared_or_streamed(client):
    big = b" " * (50_000_000 + 1)  # the contract's 50 MB, not 50 MiB (52,428,800 bytes were let through)
    declared = client.post("/", content=big, headers={**JSON, "X-API-Key": KEY})
    assert declared.status_code == 413 and error_of(declared)["code"] == "payload_too_large"

    def chunks():
        for _ in range(51):
            yield b" " * (1024 * 1024)

    streamed = client.post("/", content=chunks(), headers={**JSON, "X-API-Key": KEY})
    assert streamed.status_code == 413 and "over 50 MB" in error_of(streamed)["message"]


def test_invalid_camera_payloads_name_the_field(client):
    registration = json.loads(EXAMPLES["camera_registration"])
    registration["payload"][0]["camera_type"] = "speed"
    del registration["payload"][0]["location_lat"]
    response = client.post("/", content=json.dumps(registration), headers={**JSON, "X-API-Key": KEY})
    message = error_of(response)["message"]
    assert response.status_code == 422 and "payload[0].location_lat" in message and "camera_type" in message


POLYGON = {"type": "Polygon", "coordinates": [[[5.1, 52.0], [5.2, 52.0], [5.2, 52.1], [5.1, 52.0]]]}


@pytest.mark.parametrize("fields, message", [
    ({"plate_seen": "ZZ-999-Q"},
     "payload[0][a key]: is not a field of the contract (a supplier's own fields go in attributes)"),
    ({"view_polygon_geojson": {"type": "Polygon", "coordinates": "ZZ-999-Q"}},
     "payload[0].view_polygon_geojson: a polygon is not a list of rings"),
    ({"view_polygon_geojson": {"type": "Nonsense"}},
     "payload[0].view_polygon_geojson: a geometry is not a Polygon or MultiPolygon"),
    ({"view_polygon_geojson": {**POLYGON, "coordinates": [POLYGON["coordinates"][0][:3]]}},
     "payload[0].view_polygon_geojson: a ring has fewer than four positions"),
    ({"view_polygon_geojson": {**POLYGON, "coordinates": [[[5.1, 52.0], [5.2, 52.0], [5.2, 52.1], [5.1, 52.1]]]}},
     "payload[0].view_polygon_geojson: a ring is not closed (its first and last positions differ)"),
    ({"view_polygon_geojson": {**POLYGON, "coordinates": [[[5.1, 52.0], [5.2, 52.1], [5.2, 52.0], [5.1, 52.1],
                                                           [5.1, 52.0]]]}},
     "payload[0].view_polygon_geojson: an area is not valid: a ring crosses itself or another"),
    ({"privacy_masks_geojson": {"type": "FeatureCollection"}},
     "payload[0].privacy_masks_geojson: a FeatureCollection has no list of features"),
    ({"privacy_masks_geojson": {"type": "Feature", "geometry": {**POLYGON, "coordinates": [[[5.1, 152.0]] * 4]}}},
     "payload[0].privacy_masks_geojson: a position is outside WGS84 longitude -180..180 and latitude -90..90"),
    ({"view_polygon_geojson": {**POLYGON, "coordinates": [[[10**30, 52.0]] * 4]}},  # no float of it is made
     "payload[0].view_polygon_geojson: a position is outside WGS84 longitude -180..180 and latitude -90..90"),
    ({"active_from": "2026-12-01T00:00:00.000Z", "active_to": "2026-01-01T00:00:00.000Z"},
     "payload[0]: active_from must be before active_to"),
    ({"address_formatted": "   "}, "payload[0].address_formatted: holds only spaces; it must hold text"),
    # a value that is part of an allowed one: the allowed ones are still named (they are the schema's, not input)
    ({"camera_type": "monitor"}, "payload[0].camera_type: Input should be 'monitoring', 'enforcement' or 'hybrid'"),
    ({"location_crs_additional": "EPSG"}, "payload[0].location_crs_additional: Input should be 'EPSG:28992'"),
])
def test_a_camera_takes_no_free_text_beyond_the_contract(client, fields, message):
    """A camera is kept for good: free text there (a plate a supplier's system put in) would outlive the
    contract's 24 hours for raw plate data."""
    registration = json.loads(EXAMPLES["camera_registration"])
    registration["payload"][0].update(fields)
    response = client.post("/", content=json.dumps(registration), headers={**JSON, "X-API-Key": KEY})
    assert response.status_code == 422 and error_of(response)["message"].startswith(f"invalid payload: {message}")
    assert "ZZ-999-Q" not in response.text


def test_geojson_areas_in_every_accepted_shape_pass(client):
    areas = [POLYGON, {"type": "MultiPolygon", "coordinates": [POLYGON["coordinates"]]},
             {"type": "Feature", "properties": {}, "geometry": POLYGON},
             {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": POLYGON}] * 2}]
    for area in areas:
        registration = json.loads(EXAMPLES["camera_registration"])
        registration["payload"][0].update(view_polygon_geojson=POLYGON, privacy_masks_geojson=area)
        response = client.post("/", content=json.dumps(registration), headers={**JSON, "X-API-Key": KEY})
        assert response.status_code == 503, response.text  # past every check, to the (absent) broker


def test_an_update_of_an_unregistered_camera_is_refused(client):
    response = client.post("/", content=EXAMPLES["camera_update"], headers={**JSON, "X-API-Key": KEY})
    assert response.status_code == 422 and "not registered" in error_of(response)["message"]


def test_the_openapi_document_describes_the_contract(client):
    doc = client.get("/openapi.json").json()
    post = doc["paths"]["/"]["post"]
    assert {p["name"] for p in post["parameters"]} == {"x-request-id", "x-idempotency-key", "x-filename"}
    assert doc["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "name": "X-API-Key", "in": "header",
        "description": "The supplier's API key, issued by the platform team."}
    assert set(post["requestBody"]["content"]) == {"application/json", "application/octet-stream"}
    assert {"202", "401", "403", "413", "429", "503"} <= set(post["responses"])
    assert "Retry-After" in post["responses"]["429"]["headers"]
    receipt = doc["components"]["schemas"]["Receipt"]["properties"]
    assert set(receipt) == {"status", "company", "requestId", "idempotencyKey", "timestamp", "sizeBytes", "filename"}
    envelope = doc["components"]["schemas"]["Envelope"]
    assert set(envelope["discriminator"]["mapping"]) == {"anpr_observation_batch", "camera_registration",
                                                         "camera_update"}
    observation = doc["components"]["schemas"]["Observation"]
    assert set(observation["required"]) == {"observation_id", "camera_id", "event_time", "plate_country", "plate_text"}
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert {k: v["value"] for k, v in examples.items()} == {k: json.loads(t) for k, t in EXAMPLES.items()}


def quarantine_rows(rows: list[tuple[str, str, date]]) -> pa.Table:
    at = datetime(2026, 3, 10, 12, tzinfo=UTC)
    return pa.Table.from_pylist([
        {"reason": reason, "observation_id": _id(i), "camera_id": CAMERAS[0], "municipality": "GM0344",
         "supplier": supplier, "ingested_at": at, "topic": "anpr.observations", "kafka_partition": 0,
         "kafka_offset": i, "event_time": "2026-03-10T11:00:00.000Z", "ingest_date": day}
        for i, (supplier, reason, day) in enumerate(rows)], schema=spark_to_arrow_schema(QUARANTINE_SCHEMA))


def _id(i: int) -> str:
    # row 5: an id built from a plate, as quarantine rows from before the stream kept only uuids may hold
    return "VX123B_20260310T110000" if i == 5 else f"00000000-0000-4000-8000-{i:012d}"


def test_suppliers_see_their_own_rejection_counts_by_day_and_reason(tmp_path, spark):
    services = make_services(tmp_path)
    assert services.lake is not None
    lake = Lake(services.lake.root, spark)  # the stream writes quarantine through delta-spark
    client = TestClient(create_ingest_app(services))
    empty = client.get("/v1/rejections", headers={"X-API-Key": KEY})
    assert empty.status_code == 200 and empty.json()["rejections"] == []

    lake.create(QUARANTINE, QUARANTINE_SCHEMA, partition_by=["ingest_date"])
    d1, d2 = date(2026, 3, 10), date(2026, 3, 11)
    lake.append(QUARANTINE, quarantine_rows(
        [("test-supplier", "BAD_UUID", d1)] * 2 + [("test-supplier", "LOW_CONFIDENCE", d1),
                                                   ("test-supplier", "EVENT_IN_FUTURE", d2),
                                                   ("other-supplier", "BAD_UUID", d1),
                                                   ("test-supplier", "BAD_UUID", d1)]))
    report = client.get("/v1/rejections?from=2026-03-01&to=2026-03-31", headers={"X-API-Key": KEY}).json()
    assert report["supplier"] == "test-supplier" and report["total"] == 5
    assert report["rejections"] == [  # which detections: their ids (uuids only), never a plate
        {"day": "2026-03-10", "reason": "BAD_UUID", "count": 3, "observation_ids": [_id(0), _id(1)]},
        {"day": "2026-03-10", "reason": "LOW_CONFIDENCE", "count": 1, "observation_ids": [_id(2)]},
        {"day": "2026-03-11", "reason": "EVENT_IN_FUTURE", "count": 1, "observation_ids": [_id(3)]}]
    only_first_day = client.get("/v1/rejections?from=2026-03-10&to=2026-03-10", headers={"X-API-Key": KEY}).json()
    assert only_first_day["total"] == 4
    assert client.get("/v1/rejections").status_code == 401


def test_a_key_still_being_processed_gets_409_with_retry_after(tmp_path):
    services = make_services(tmp_path)
    services.idempotency.claim("test-supplier", services.digests.idempotency_key("busy-key"), "digest")  # held
    client = TestClient(create_ingest_app(services))
    response = client.post("/", content=OBSERVATION_BATCH,
                           headers={**JSON, "X-API-Key": KEY, "X-Idempotency-Key": "busy-key"})
    assert response.status_code == 409 and error_of(response)["code"] == "in_progress"
    # the lease has 300 s left, but a live request ends within seconds: a short wait is asked
    assert response.headers["Retry-After"] == "5" and "retry after 5 s" in error_of(response)["hint"]
