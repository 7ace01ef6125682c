"""Where feed adapters deliver observations: straight to Kafka, or through the ingest endpoint.

Both deliver a batch completely or raise DeliveryFailed: the Kafka sink waits for every
acknowledgement, the ingest sink for a 202. While the broker or the endpoint is briefly away (no
connection, a broker that does not acknowledge, 429 or 503) a batch is retried with exponential
backoff, a progress line per failed attempt; giving up raises one line with the attempts, the time
spent and the last cause. The ingest sink retries with the same idempotency key, so a retry never
publishes twice; a Kafka retry may repeat messages, which the stream drops by observation id.

The ingest sink raises Refused, a DeliveryFailed, when the endpoint refuses a batch for what it holds
(400, 413, 422, or 403 `camera_not_owned`): the same batch is refused again on every try. Any
other answer (401 an unknown key, 403 a disabled one, 409, 415, 500) is about the configuration or
the endpoint, not the batch, and stays a plain DeliveryFailed.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from anpr.feeds.messages import envelope, headers, observation_record
from anpr.feeds.publisher import BrokerUnavailable, Publisher
from anpr.progress import say as say_on_stderr

T = TypeVar("T")


class DeliveryFailed(RuntimeError):
    pass


class Refused(DeliveryFailed):
    """The endpoint refused a batch for its content: `status` (400, 413, 422 or 403) and `code`, the error
    body's code (None when the body had none); the message is one line."""

    def __init__(self, message: str, status: int, code: str | None) -> None:
        super().__init__(message)
        self.status, self.code = status, code


# Statuses whose refusal is about the batch itself, whatever its error code.
REFUSED_STATUSES = frozenset({400, 413, 422})


class TryAgain(Exception):
    """A failure worth retrying: `cause` is one line without message contents; `wait_s` a server's Retry-After."""

    def __init__(self, cause: str, wait_s: float | None = None) -> None:
        super().__init__(cause)
        self.cause, self.wait_s = cause, wait_s


@dataclass(frozen=True)
class Backoff:
    """Attempts and waits between them: first_s, doubling, at most max_s (default waits 1+2+4+8+16+30+30 s)."""

    attempts: int = 8
    first_s: float = 1.0
    max_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep


def retrying(action: Callable[[], T], what: str, backoff: Backoff, say: Callable[[str], None]) -> T:
    """action() until it does not raise TryAgain; DeliveryFailed once backoff.attempts have failed."""
    started, wait = time.monotonic(), backoff.first_s
    for attempt in range(1, backoff.attempts + 1):
        try:
            return action()
        except TryAgain as exc:
            if attempt == backoff.attempts:
                raise DeliveryFailed(f"{what}: gave up after {attempt} attempts in {time.monotonic() - started:.0f} s: "
                                     f"{exc.cause}") from None
            pause = min(wait if exc.wait_s is None else exc.wait_s, backoff.max_s)
            say(f"    {what}: attempt {attempt}/{backoff.attempts} failed ({exc.cause}); retrying in {pause:g} s")
            backoff.sleep(pause)
            wait = min(wait * 2, backoff.max_s)
    raise AssertionError("unreachable: the last attempt returns or raises")


class Sink(Protocol):
    def send(self, items: list[dict[str, Any]], request_id: str, filename: str | None = None) -> int: ...


class KafkaSink:
    def __init__(self, publisher: Publisher, topic: str, supplier: str, municipality_of: Mapping[str, str],
                 default_municipality: str | None, backoff: Backoff = Backoff(),
                 say: Callable[[str], None] = say_on_stderr) -> None:
        self.publisher, self.topic, self.supplier = publisher, topic, supplier
        self.municipality_of, self.default = municipality_of, default_municipality
        self.backoff, self.say = backoff, say

    def send(self, items: list[dict[str, Any]], request_id: str, filename: str | None = None) -> int:
        header_sets: dict[str | None, list[tuple[str, bytes]]] = {}
        records = []
        for item in items:
            camera = item.get("camera_id")
            municipality = self.municipality_of.get(camera, self.default) if isinstance(camera, str) else self.default
            found = header_sets.get(municipality)
            if found is None:
                found = header_sets[municipality] = headers(self.supplier, municipality, request_id)
            records.append(observation_record(item, found))

        def publish() -> int:
            try:
                return self.publisher.publish(self.topic, records)
            except BrokerUnavailable as exc:
                raise TryAgain(str(exc)) from None

        return retrying(publish, f"Kafka at {self.publisher.bootstrap}", self.backoff, self.say)


class IngestSink:
    def __init__(self, url: str, api_key: str, backoff: Backoff = Backoff(), timeout_s: float = 120.0,
                 say: Callable[[str], None] = say_on_stderr, ca_file: Path | None = None) -> None:
        """ca_file: the CA an https endpoint is verified with (None: the system's trusted CAs)."""
        self.url, self.api_key, self.backoff, self.timeout_s = url.rstrip("/") + "/", api_key, backoff, timeout_s
        self.say = say
        self.tls = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self.replays = 0

    def send(self, items: list[dict[str, Any]], request_id: str, filename: str | None = None) -> int:
        body = json.dumps(envelope("anpr_observation_batch", items), separators=(",", ":")).encode()
        self.post(body, request_id, request_id, filename)
        return len(items)

    def post(self, body: bytes, request_id: str, idempotency_key: str, filename: str | None) -> dict[str, Any]:
        head = {"Content-Type": "application/json", "X-API-Key": self.api_key, "X-Request-Id": request_id,
                "X-Idempotency-Key": idempotency_key}
        if filename:
            head["X-Filename"] = filename

        def attempt() -> dict[str, Any]:
            request = urllib.request.Request(self.url, data=body, headers=head, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s, context=self.tls) as response:
                    self.replays += response.headers.get("Idempotent-Replay") == "true"
                    return dict(json.loads(response.read()))
            except urllib.error.HTTPError as exc:
                code, detail = _error(exc)
                if exc.code in (429, 503):
                    raise TryAgain(f"answered {exc.code}: {detail}", _seconds(exc.headers.get("Retry-After"))) from None
                answered = f"ingest endpoint {self.url} answered {exc.code}{f' {code}' if code else ''}: {detail}"
                if exc.code in REFUSED_STATUSES or (exc.code == 403 and code == "camera_not_owned"):
                    raise Refused(answered, exc.code, code) from None
                raise DeliveryFailed(answered) from None
            except (urllib.error.URLError, OSError) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                if isinstance(reason, ssl.SSLCertVerificationError):  # waiting does not make it trusted
                    raise DeliveryFailed(f"ingest endpoint {self.url}: its certificate is not trusted "
                                         f"({reason.verify_message}): give the CA that signed it "
                                         "(ANPR_API__INGEST_TLS__CA_FILE)") from None
                raise TryAgain(f"unreachable: {reason}") from None

        return retrying(attempt, f"ingest endpoint {self.url}", self.backoff, self.say)


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds; None when absent or an HTTP date (the backoff's own wait then)."""
    try:
        return float(retry_after) if retry_after else None
    except ValueError:
        return None


def _error(exc: urllib.error.HTTPError) -> tuple[str | None, str]:
    """(code, message) of the platform's error body {"error": {"code", "message", ...}}; the message on one
    line, the reason phrase when the body is not that shape."""
    try:
        error = json.loads(exc.read())["error"]
        code = error.get("code")
        return (code if isinstance(code, str) else None), " ".join(str(error["message"]).split())
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, exc.reason if isinstance(exc.reason, str) else "no error body"
