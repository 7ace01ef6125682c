"""One delivery: a validated envelope published to Kafka, camera versions recorded, a receipt returned.

Nothing is published unless the whole message may be: a camera of another supplier, a camera
problem or an item over the per-item size limit refuses it before Kafka sees anything. No plate is
logged or echoed, and no supplier text that may hold one: Kafka, the `cameras` table and the log get the
request's trace id (`api/ingest/tracing.py`), never a supplier's request id that is no uuid, and file names
go nowhere but the receipt.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool

from anpr.contract import MAX_CAMERA_BYTES, MAX_MESSAGE_BYTES, is_uuid
from anpr.feeds.messages import Record, encode, headers, iso_ms, observation_record
from anpr.feeds.publisher import BrokerUnavailable
from anpr.suppliers import Supplier
from api.common.errors import ApiError
from api.ingest.cameras import CameraError, CameraVersion
from api.ingest.envelope import invalid_payload, parse_envelope
from api.ingest.models import CameraRegistrationMessage, CameraUpdateMessage
from api.ingest.services import IngestServices

log = logging.getLogger("api.ingest")


def observation_records(services: IngestServices, supplier: Supplier, payload: list[dict[str, Any]],
                        request_id: str) -> list[Record]:
    """One Kafka record per observation, headed with supplier, municipality and request id; 403
    `camera_not_owned` naming up to five cameras when any camera is another supplier's, else 422
    when any observation is over `MAX_MESSAGE_BYTES` as JSON."""
    cameras = services.cameras
    default = supplier.municipalities[0] if len(supplier.municipalities) == 1 else None
    header_sets: dict[str | None, list[tuple[str, bytes]]] = {}
    foreign: set[str] = set()
    records = []
    for item in payload:
        camera = item.get("camera_id")
        camera_id = camera.lower() if isinstance(camera, str) else ""
        if not cameras.may_deliver(supplier, camera_id):
            foreign.add(camera_id)
            continue
        municipality = cameras.municipality_of.get(camera_id, default)
        found = header_sets.get(municipality)
        if found is None:
            found = header_sets[municipality] = headers(supplier.name, municipality, request_id)
        records.append(observation_record(item, found))
    if foreign:
        # Only a known camera is foreign, and known cameras are uuids; an id that is not stays unnamed.
        named = sorted(c for c in foreign if is_uuid(c))
        shown = ": " + ", ".join(named[:5]) + (" ..." if len(foreign) > 5 else "") if named else ""
        raise ApiError(403, f"{len(foreign)} camera(s) of this message belong to another supplier or municipality"
                            f"{shown}; nothing of the message was published",
                       "deliver only for your own cameras; ask the platform team if a camera changed supplier",
                       code="camera_not_owned")
    refuse_oversized(records, MAX_MESSAGE_BYTES, "observation")
    return records


def refuse_oversized(records: list[Record], limit: int, what: str) -> None:
    """422 naming the items whose record value is over `limit` bytes: a permanent problem, refused
    before anything is published (Kafka would take the items before it and refuse this one)."""
    over = [(f"payload[{i}]", f"the {what} is {len(value)} bytes as JSON, over the limit of {limit} per {what}")
            for i, (_, value, _) in enumerate(records) if len(value) > limit]
    if over:
        raise invalid_payload(over)


def camera_messages(services: IngestServices, supplier: Supplier,
                    message: CameraRegistrationMessage | CameraUpdateMessage, request_id: str,
                    now: datetime) -> tuple[list[CameraVersion], list[Record]]:
    """The new camera versions of a registration or update and their records for the compacted
    camera topic (keyed by camera id); the registry's 403/422 as ApiError. Changes nothing yet."""
    items = [m.model_dump(exclude_unset=True) for m in message.payload]
    try:
        versions = services.cameras.prepare(supplier, items, update=message.message_type == "camera_update", now=now)
    except CameraError as exc:
        raise ApiError(exc.status, str(exc), exc.hint, code="camera_not_owned" if exc.status == 403 else None) from None
    records = [(v.camera_id.encode(), encode(v.message()), headers(supplier.name, v.municipality, request_id))
               for v in versions]
    refuse_oversized(records, MAX_CAMERA_BYTES, "camera")
    return versions, records


async def deliver(services: IngestServices, supplier: Supplier, body: bytes, request_id: str, echo: str,
                  idempotency_key: str | None, filename: str | None, size: int) -> dict[str, Any]:
    """Publish the body's message and return the receipt (the `Receipt` model's fields); 400/422 for
    an invalid envelope or item, 403 for foreign cameras (all before publishing anything), 503
    `unavailable` when Kafka did not take it all. `request_id` is the trace id, carried with the
    message; `echo` (the supplier's X-Request-Id, else the trace id), `idempotency_key` and `filename`
    are only answered, as is `size`, the bytes received (sizeBytes)."""
    # Seconds of CPU for a large body (4 s for 54 MB): off the event loop, so other requests are answered.
    message = await run_in_threadpool(parse_envelope, body)
    now = datetime.now(UTC)
    try:
        if isinstance(message, CameraRegistrationMessage | CameraUpdateMessage):
            versions, records = camera_messages(services, supplier, message, request_id, now)
            await run_in_threadpool(services.publisher.publish, services.cameras_topic, records)
            await run_in_threadpool(services.cameras.commit, versions, request_id, now)
        else:
            records = await run_in_threadpool(observation_records, services, supplier, message.payload, request_id)
            await run_in_threadpool(services.publisher.publish, services.observations_topic, records)
    except BrokerUnavailable as exc:
        raise ApiError(503, f"the platform could not store the message: {exc}; nothing was accepted",
                       "retry later with the same X-Idempotency-Key", code="unavailable",
                       headers={"Retry-After": "5"}) from None
    log.info("accepted %s of %d item(s) from %s request_id=%s", message.message_type, len(message.payload),
             supplier.name, request_id)
    return {"status": "accepted", "company": supplier.company, "requestId": echo,
            "idempotencyKey": idempotency_key, "timestamp": iso_ms(datetime.now(UTC)), "sizeBytes": size,
            "filename": filename}
