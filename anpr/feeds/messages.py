"""Kafka records of the ingest contract, built the same way by the ingest service and the feed adapters.

An observation goes to `anpr.observations` keyed by camera_id, its value the observation object as
JSON, with headers `supplier`, `municipality` and `request_id` (the stream reads these keys).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from anpr.broker import Header

Record = tuple[bytes, bytes, list[Header]]
SCHEMA_VERSION = "anpr-2.0.0"
# Observation ids of CSV rows and other sources without their own uuid: uuid5 under this namespace
# of (supplier, source id), so a resent file yields the same ids and the stream drops the repeats.
OBSERVATION_NAMESPACE = uuid.UUID("8f1d6c1e-4b7a-5e7e-9a53-6a6e6f62a001")


def headers(supplier: str, municipality: str | None, request_id: str) -> list[Header]:
    return [("supplier", supplier.encode()), ("municipality", (municipality or "").encode()),
            ("request_id", request_id.encode())]


class NotJsonError(ValueError):
    """An item holds NaN or an infinite number, which JSON has no spelling for."""


def encode(item: dict[str, Any]) -> bytes:
    """One item as compact UTF-8 JSON. Raises NotJsonError (one line, no values) on NaN or infinity:
    Python would write the non-standard `NaN`, which the stream's JSON parser rejects far from here."""
    try:
        return json.dumps(item, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except ValueError as exc:
        # The message names no field value, so no plate can reach a log through it.
        raise NotJsonError("item not encodable as JSON: it holds NaN or an infinite number; "
                           "not written to Kafka") from exc


def observation_record(item: dict[str, Any], header_list: list[Header]) -> Record:
    """The Kafka record of one observation, keyed by its camera_id in lower case: uuids name one camera in
    either case (the stream compares them so), and one camera's reads keep one partition and their order."""
    camera = item.get("camera_id")
    return (camera.lower() if isinstance(camera, str) else "").encode(), encode(item), header_list


def iso_ms(moment: datetime) -> str:
    """UTC, RFC 3339 with milliseconds, as the contract wants event_time."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def derived_observation_id(supplier: str, source_id: str) -> str:
    return str(uuid.uuid5(OBSERVATION_NAMESPACE, f"{supplier}|{source_id}"))


def envelope(message_type: str, payload: list[dict[str, Any]]) -> dict[str, Any]:
    return {"message_type": message_type, "schema_version": SCHEMA_VERSION, "payload": payload}


def batches(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
