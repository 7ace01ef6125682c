"""Feed sinks while the broker or ingest endpoint is away: retries with backoff, a line per attempt, one error;
the ingest endpoint's refusals of a batch told from other failures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from anpr.broker import free_port
from anpr.feeds.publisher import BrokerUnavailable
from jobs.feeds.sinks import Backoff, DeliveryFailed, IngestSink, KafkaSink, Refused

ITEM = {"observation_id": "0b6f4bd4-3c2e-4f62-a7a5-3d0c7c3f1c11", "camera_id": "cam-1",
        "event_time": "2026-03-10T07:00:00.000Z", "plate_country": "NL", "plate_text": "GT-411-X"}


def quick(attempts: int, slept: list[float]) -> Backoff:
    return Backoff(attempts=attempts, first_s=1.0, max_s=3.0, sleep=slept.append)


def test_an_absent_ingest_endpoint_is_retried_with_backoff_and_given_up_in_one_line():
    lines: list[str] = []
    slept: list[float] = []
    sink = IngestSink(f"http://127.0.0.1:{free_port()}", "dev-key", backoff=quick(4, slept), say=lines.append)
    with pytest.raises(DeliveryFailed) as failed:
        sink.send([ITEM], "csv-0123")
    assert slept == [1.0, 2.0, 3.0]  # doubling, capped at max_s
    assert len(lines) == 3 and all("attempt" in line and "refused" in line.lower() for line in lines)
    assert lines[0].strip().startswith("ingest endpoint http://127.0.0.1:") and "attempt 1/4 failed" in lines[0]
    message = str(failed.value)
    assert "\n" not in message and "gave up after 4 attempts" in message and "refused" in message.lower()
    assert "GT-411-X" not in message + "".join(lines)


class FlakyPublisher:
    bootstrap = "127.0.0.1:9092"

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def publish(self, topic, records):  # noqa: ANN001, ANN201
        self.calls += 1
        if self.calls <= self.failures:
            raise BrokerUnavailable("cannot reach Kafka at 127.0.0.1:9092: NoBrokersAvailable")
        return len(list(records))


def test_a_broker_briefly_away_is_retried_and_the_batch_delivered():
    lines: list[str] = []
    slept: list[float] = []
    publisher = FlakyPublisher(failures=2)
    sink = KafkaSink(publisher, "anpr.observations", "demo-supplier", {}, "GM0344",  # type: ignore[arg-type]
                     backoff=quick(5, slept), say=lines.append)
    assert sink.send([ITEM], "csv-0123") == 1
    assert publisher.calls == 3 and slept == [1.0, 2.0]
    assert ["attempt 1/5 failed" in lines[0], "attempt 2/5 failed" in lines[1]] == [True, True]
    assert all("NoBrokersAvailable" in line for line in lines)


def test_a_broker_that_stays_away_fails_the_batch_with_its_cause():
    publisher = FlakyPublisher(failures=10)
    sink = KafkaSink(publisher, "anpr.observations", "demo-supplier", {}, None,  # type: ignore[arg-type]
                     backoff=quick(2, []), say=lambda _: None)
    with pytest.raises(DeliveryFailed, match=r"Kafka at 127.0.0.1:9092: gave up after 2 attempts in \d+ s: cannot "
                                             r"reach Kafka at 127.0.0.1:9092: NoBrokersAvailable"):
        sink.send([ITEM], "csv-0123")


class Answer(BaseHTTPRequestHandler):
    """Answers every POST with the server's `status` and the platform's error body for `code`."""

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        self.rfile.read(int(self.headers["Content-Length"]))
        status, code = self.server.answer  # type: ignore[attr-defined]
        body = json.dumps({"error": {"code": code, "message": f"refused as {code}\nsee the hint", "hint": "h",
                                     "trace_id": "t"}}).encode() if code else b"not json"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        pass


@pytest.fixture(scope="module")
def endpoint() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "code", "refused"), [
    (403, "camera_not_owned", True), (400, "bad_request", True), (413, "payload_too_large", True),
    (422, "invalid_payload", True), (422, None, True),
    (403, "forbidden", False), (401, "unauthorized", False), (415, "unsupported_media_type", False),
    (409, "in_progress", False), (500, "internal_error", False)])
def test_the_ingest_sink_tells_a_refusal_of_the_batch_from_other_failures(endpoint, status, code, refused):
    endpoint.answer = (status, code)  # type: ignore[attr-defined]
    slept: list[float] = []
    sink = IngestSink(f"http://127.0.0.1:{endpoint.server_address[1]}", "dev-key", backoff=quick(3, slept),
                      say=lambda _: None)
    with pytest.raises(DeliveryFailed) as failed:
        sink.send([ITEM], "csv-0123")
    assert isinstance(failed.value, Refused) is refused and slept == []  # neither is retried
    if refused:
        assert (failed.value.status, failed.value.code) == (status, code)  # type: ignore[attr-defined]
    message = str(failed.value)
    assert "\n" not in message and f"answered {status}" in message and "GT-411-X" not in message
    assert (f"refused as {code} see the hint" if code else "answered 422: Unprocessable") in message
