"""Where feed adapters deliver observations: straight to Kafka, or through the ingest endpoint.

Both deliver a batch completely or raise: the Kafka sink waits for every acknowledgement, the
ingest sink for a 202 (retrying 429 and 503 with the same idempotency key, so a retry never
publishes twice).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol

from anpr.feeds.messages import envelope, headers, observation_record
from anpr.feeds.publisher import Publisher


class DeliveryFailed(RuntimeError):
    pass


class Sink(Protocol):
    def send(self, items: list[dict[str, Any]], request_id: str, filename: str | None = None) -> int: ...


class KafkaSink:
    def __init__(self, publisher: Publisher, topic: str, supplier: str, municipality_of: Mapping[str, str],
                 default_municipality: str | None) -> None:
        self.publisher, self.topic, self.supplier = publisher, topic, supplier
        self.municipality_of, self.default = municipality_of, default_municipality

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
        return self.publisher.publish(self.topic, records)


class IngestSink:
    def __init__(self, url: str, api_key: str, attempts: int = 8, timeout_s: float = 120.0) -> None:
        self.url, self.api_key, self.attempts, self.timeout_s = url.rstrip("/") + "/", api_key, attempts, timeout_s
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
        wait = 1.0
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(self.url, data=body, headers=head, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    self.replays += response.headers.get("Idempotent-Replay") == "true"
                    return dict(json.loads(response.read()))
            except urllib.error.HTTPError as exc:
                detail = _error_message(exc)
                if exc.code not in (429, 503) or attempt == self.attempts:
                    raise DeliveryFailed(f"ingest answered {exc.code}: {detail}") from None
                wait = float(exc.headers.get("Retry-After") or wait)
            except (urllib.error.URLError, OSError) as exc:
                if attempt == self.attempts:
                    raise DeliveryFailed(f"ingest endpoint {self.url} unreachable: {exc}") from None
            time.sleep(min(wait, 60.0))
            wait = min(wait * 2, 60.0)
        raise DeliveryFailed("unreachable")


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return exc.reason if isinstance(exc.reason, str) else "no error body"
