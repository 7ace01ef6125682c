"""The suppliers' ingest service (`anpr serve-ingest`): the working group's ingest contract, `POST /`.

A request is answered 202 only after Kafka acknowledged every message it produced; when Kafka cannot
take them the answer is 503 and the supplier retries (with the same X-Idempotency-Key, which then
publishes once). Envelopes are checked here; observation content is checked by the stream, which
reports rejections per supplier (GET /v1/rejections). No plate is logged or echoed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from anpr.delta_reader import DeltaReader
from anpr.feeds.messages import Record, encode, headers, iso_ms, observation_record
from anpr.feeds.publisher import BrokerUnavailable, Publisher
from anpr.idempotency import IdempotencyStore
from anpr.suppliers import Supplier, SupplierRegistry
from api.errors import ApiError, install_error_handlers
from api.ingest_cameras import CameraError, CameraRegistry
from api.ingest_http import MAX_BODY_BYTES, MessageLimiter, read_body
from api.ingest_models import (
    SCHEMA_VERSION_PATTERN,
    CameraRegistration,
    CameraState,
    CameraUpdate,
    RejectionReport,
)
from api.ingest_openapi import ERROR_RESPONSES, REQUEST_BODY, install_openapi

log = logging.getLogger("api.ingest")
MESSAGE_TYPES = ("anpr_observation_batch", "camera_registration", "camera_update")
CONTENT_TYPES = ("application/json", "application/octet-stream")
_TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SCHEMA_VERSION = re.compile(SCHEMA_VERSION_PATTERN)
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey",
                       description="The supplier's API key, issued by the platform team.")
FROM_DAY, TO_DAY = "first day (UTC), default 30 days before `to`", "last day (UTC), default today"
REGISTRATIONS = TypeAdapter(list[CameraRegistration])
UPDATES = TypeAdapter(list[CameraUpdate])


@dataclass
class IngestServices:
    suppliers: SupplierRegistry
    cameras: CameraRegistry
    publisher: Publisher
    idempotency: IdempotencyStore
    lake: DeltaReader | None
    observations_topic: str = "anpr.observations"
    cameras_topic: str = "anpr.cameras"
    max_body_bytes: int = MAX_BODY_BYTES


class TraceIds:
    """Every request gets a trace id before any handler runs: the supplier's X-Request-Id when it is a
    sane token, else a fresh one. Error bodies carry it and so do the Kafka headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
            scope.setdefault("state", {})["trace_id"] = given if _TOKEN.match(given) else str(uuid.uuid4())
        await self.app(scope, receive, send)


def supplier_of(request: Request, api_key: Annotated[str | None, Depends(API_KEY)]) -> Supplier:
    services: IngestServices = request.app.state.services
    if not api_key:
        raise ApiError(401, "missing API key", "send your key in the X-API-Key header")
    supplier = services.suppliers.authenticate(api_key)
    if supplier is None:
        raise ApiError(401, "unknown API key", "check the X-API-Key header or ask the platform team for a key")
    if not supplier.enabled:
        raise ApiError(403, f"supplier {supplier.name} is not allowed to deliver",
                       "the platform team disabled this key; contact them")
    request.state.supplier = supplier.name
    return supplier


Authenticated = Annotated[Supplier, Depends(supplier_of)]


def _envelope(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        position = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ApiError(400, f"body is not JSON{position}", "send one JSON envelope per request") from None
    if not isinstance(doc, dict):
        raise ApiError(400, "body is not a JSON object", "send {message_type, schema_version, payload}")
    kind = doc.get("message_type")
    if kind not in MESSAGE_TYPES:
        raise ApiError(400, f"message_type must be one of {', '.join(MESSAGE_TYPES)}", "see the OpenAPI document")
    version = doc.get("schema_version")
    if not isinstance(version, str) or not _SCHEMA_VERSION.match(version):
        raise ApiError(400, "schema_version must be anpr-2.<minor>.<patch>, e.g. anpr-2.0.0",
                       "this service speaks version 2 of the contract")
    payload = doc.get("payload")
    if not isinstance(payload, list) or not payload:
        raise ApiError(400, "payload must be an array of at least one item", "send one item or more per message")
    for i, item in enumerate(payload):
        if not isinstance(item, dict):
            raise ApiError(400, f"payload[{i}] is not a JSON object", "every payload item is an object")
    return kind, payload


def _validation_error(exc: ValidationError) -> ApiError:
    fields = "; ".join(f"payload[{'.'.join(str(p) for p in e['loc'])}]: {e['msg']}" for e in exc.errors()[:10])
    return ApiError(422, f"invalid camera payload: {fields}", "see the camera schema in the OpenAPI document",
                    code="invalid_payload")


def _observation_records(services: IngestServices, supplier: Supplier, payload: list[dict[str, Any]],
                         request_id: str) -> list[Record]:
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
        shown = ", ".join(sorted(foreign)[:5]) + (" ..." if len(foreign) > 5 else "")
        raise ApiError(403, f"{len(foreign)} camera(s) of this message belong to another supplier or municipality: "
                            f"{shown}; nothing of the message was published",
                       "deliver only for your own cameras; ask the platform team if a camera changed supplier",
                       code="camera_not_owned")
    return records


def _camera_messages(services: IngestServices, supplier: Supplier, kind: str, payload: list[dict[str, Any]],
                     request_id: str, now: datetime) -> tuple[list[Any], list[Record]]:
    adapter = UPDATES if kind == "camera_update" else REGISTRATIONS
    try:
        items = [m.model_dump(exclude_unset=True) for m in adapter.validate_python(payload)]
    except ValidationError as exc:
        raise _validation_error(exc) from None
    try:
        versions = services.cameras.prepare(supplier, items, update=kind == "camera_update", now=now)
    except CameraError as exc:
        raise ApiError(exc.status, str(exc), exc.hint, code="camera_not_owned" if exc.status == 403 else None) from None
    records = [(v.camera_id.encode(), encode(v.message()), headers(supplier.name, v.municipality, request_id))
               for v in versions]
    return versions, records


def create_ingest_app(services: IngestServices) -> FastAPI:
    app = FastAPI(title="ANPR ingest API (CBS ingestion API v2)", version="2.0.0",
                  description="One POST / per delivery: observation batches and camera metadata of the "
                              "municipalities' ANPR suppliers. Answers 202 once every message is stored in Kafka.")
    install_error_handlers(app)
    app.add_middleware(TraceIds)
    app.state.services = services
    app.state.limiter = MessageLimiter()

    @app.post("/", status_code=202, summary="Deliver one message (observation batch or camera metadata)",
              responses=ERROR_RESPONSES, openapi_extra=REQUEST_BODY, response_model=None)
    async def ingest(
        request: Request, supplier: Authenticated,
        x_request_id: Annotated[str | None, Header(description="Your id of this request (echoed as requestId).",
                                                   max_length=128)] = None,
        x_idempotency_key: Annotated[str | None, Header(description="Replays within 7 days return the first "
                                                        "receipt and publish nothing.", max_length=128)] = None,
        x_filename: Annotated[str | None, Header(description="Name of the delivered file, for your records.",
                                                 max_length=255)] = None,
    ) -> Response:
        wait = request.app.state.limiter.take(supplier.name, supplier.messages_per_minute)
        if wait:
            raise ApiError(429, f"more than {supplier.messages_per_minute} messages in a minute",
                           f"retry after {wait} s", headers={"Retry-After": str(wait)})
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in CONTENT_TYPES:
            raise ApiError(415, f"content type {content_type or 'missing'} is not accepted",
                           "send application/json or application/octet-stream holding JSON",
                           code="unsupported_media_type")
        for name, value in (("X-Request-Id", x_request_id), ("X-Idempotency-Key", x_idempotency_key)):
            if value is not None and not _TOKEN.match(value):
                raise ApiError(400, f"{name} must be 1-128 letters, digits or . _ : -", "send a uuid, for example")
        body = await read_body(request, services.max_body_bytes)
        request_id = request.state.trace_id
        if x_idempotency_key is not None:
            claim = services.idempotency.claim(supplier.name, x_idempotency_key, hashlib.sha256(body).hexdigest())
            if claim.receipt is not None:
                if claim.body_differs:
                    log.warning("idempotency key of %s replayed with another body; first receipt returned",
                                supplier.name)
                return Response(encode(claim.receipt), status_code=202, media_type="application/json",
                                headers={"Idempotent-Replay": "true"})
            if claim.busy_for is not None:
                raise ApiError(409, "a request with this X-Idempotency-Key is still being processed",
                               "retry shortly", code="in_progress",
                               headers={"Retry-After": str(max(1, int(claim.busy_for)))})
        try:
            receipt = await _deliver(services, supplier, body, request_id, x_idempotency_key, x_filename)
        except BaseException:
            if x_idempotency_key is not None:
                services.idempotency.release(supplier.name, x_idempotency_key)
            raise
        if x_idempotency_key is not None:
            services.idempotency.complete(supplier.name, x_idempotency_key, receipt)
        return Response(encode(receipt), status_code=202, media_type="application/json")

    @app.get("/v1/rejections", response_model=RejectionReport, summary="Your rejected observations per day and reason",
             responses={k: v for k, v in ERROR_RESPONSES.items() if k in (401, 403)})
    def rejections(supplier: Authenticated,
                   from_day: Annotated[date | None, Query(alias="from", description=FROM_DAY)] = None,
                   to_day: Annotated[date | None, Query(alias="to", description=TO_DAY)] = None,
                   ) -> RejectionReport:
        from api.ingest_services import rejection_counts

        to_day = to_day or datetime.now(UTC).date()
        from_day = from_day or to_day - timedelta(days=30)
        counts = rejection_counts(services.lake, supplier.name, from_day, to_day)
        return RejectionReport(supplier=supplier.name, from_day=from_day.isoformat(), to_day=to_day.isoformat(),
                               total=sum(c.count for c in counts), rejections=counts)

    @app.get("/v1/cameras", response_model=list[CameraState],
             summary="Your registered cameras as the platform placed them",
             responses={k: v for k, v in ERROR_RESPONSES.items() if k in (401, 403)})
    def cameras(supplier: Authenticated) -> list[CameraState]:
        return [CameraState(camera_id=v.camera_id, municipality=v.municipality, zone_id=v.zone_id,
                            obverse_direction=v.rule.obverse, reverse_direction=v.rule.reverse,
                            direction_source="geometry" if v.rule.obverse else "unresolved",
                            problem="; ".join(v.problems) or None, valid_from=v.valid_from,
                            camera_status=v.record.get("camera_status"))
                for v in services.cameras.states(supplier.name)]

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    install_openapi(app)
    return app


async def _deliver(services: IngestServices, supplier: Supplier, body: bytes, request_id: str,
                   idempotency_key: str | None, filename: str | None) -> dict[str, Any]:
    kind, payload = _envelope(body)
    now = datetime.now(UTC)
    try:
        if kind == "anpr_observation_batch":
            records = _observation_records(services, supplier, payload, request_id)
            await run_in_threadpool(services.publisher.publish, services.observations_topic, records)
        else:
            versions, records = _camera_messages(services, supplier, kind, payload, request_id, now)
            await run_in_threadpool(services.publisher.publish, services.cameras_topic, records)
            await run_in_threadpool(services.cameras.commit, versions, request_id, now)
    except BrokerUnavailable as exc:
        raise ApiError(503, f"the platform could not store the message: {exc}; nothing was accepted",
                       "retry later with the same X-Idempotency-Key", code="unavailable",
                       headers={"Retry-After": "5"}) from None
    log.info("accepted %s of %d item(s) from %s request_id=%s", kind, len(payload), supplier.name, request_id)
    return {"status": "accepted", "company": supplier.company, "requestId": request_id,
            "idempotencyKey": idempotency_key, "timestamp": iso_ms(datetime.now(UTC)), "sizeBytes": len(body),
            "filename": filename}
