"""POST /: one message of the contract, answered 202 only after Kafka acknowledged all of it.

When Kafka cannot take the message the answer is 503 and the supplier retries with the same
X-Idempotency-Key, which then publishes once; a replay within 7 days gets the first receipt. Keys follow
the IETF Idempotency-Key draft (draft-ietf-httpapi-idempotency-key-header): a key reused with another
body is 422 `idempotency_key_reused`, and uuid keys compare case-insensitively.

Headers are supplier text and may be built from plates, so no answer quotes a header value (it names
what is accepted), and the idempotency store keeps keys, file names and bodies only as keyed digests
(api/ingest/digests.py): a stored receipt holds no request id that is not a uuid, no key and no file name.
A replay's receipt takes those from the replay's own headers.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from anpr.feeds.messages import encode
from api.common.errors import ApiError
from api.ingest.body import read_body
from api.ingest.delivery import deliver
from api.ingest.deps import Authenticated, Services
from api.ingest.digests import Digests, idempotency_identity
from api.ingest.openapi import ERROR_RESPONSES, REQUEST_BODY
from api.ingest.tracing import TOKEN

__all__ = ["idempotency_identity", "router"]

log = logging.getLogger("api.ingest")
CONTENT_TYPES = ("application/json", "application/octet-stream")
# RFC 8259 section 8.1: JSON is UTF-8, and a parser may ignore a leading byte order mark (Windows tools write one).
BOM = b"\xef\xbb\xbf"
IN_PROGRESS_RETRY_SECONDS = 5
router = APIRouter()


def stored_receipt(receipt: dict[str, Any], trace_id: str, digests: Digests) -> dict[str, Any]:
    """The receipt as the idempotency store keeps it: the request id only when it is the trace id (a
    uuid), else null; no key; the file name as its digest."""
    filename = receipt.get("filename")
    return {**receipt, "requestId": receipt.get("requestId") if receipt.get("requestId") == trace_id else None,
            "idempotencyKey": None, "filename": None if filename is None else digests.filename(filename)}


def replayed_receipt(stored: dict[str, Any], echo: str, idempotency_key: str, filename: str | None,
                     digests: Digests) -> dict[str, Any]:
    """The first request's receipt for a replay: its own request id when it was a uuid, else this one's
    (`echo`); this request's key (the same key, a uuid perhaps in another case); the file name when it is
    the one the first request gave, else null."""
    same_file = filename is not None and stored.get("filename") == digests.filename(filename)
    return {**stored, "requestId": stored.get("requestId") or echo, "idempotencyKey": idempotency_key,
            "filename": filename if same_file else None}


@router.post("/", status_code=202, summary="Deliver one message (observation batch or camera metadata)",
             responses=ERROR_RESPONSES, openapi_extra=REQUEST_BODY, response_model=None)
async def ingest(
    request: Request, supplier: Authenticated, services: Services,
    # Their length is the TOKEN rule's (400, as every other problem of theirs), only shown in the schema here.
    x_request_id: Annotated[str | None, Header(description="Your id of this request (echoed as requestId). Sent "
                                               "on with the message only when it is a uuid. Empty counts as absent.",
                                               json_schema_extra={"maxLength": 128})] = None,
    x_idempotency_key: Annotated[str | None, Header(description="Replays within 7 days return the first "
                                                    "receipt and publish nothing; the key with another body is 422. "
                                                    "Uuid keys compare case-insensitively. Empty counts as absent.",
                                                    json_schema_extra={"maxLength": 128})] = None,
    x_filename: Annotated[str | None, Header(description="Name of the delivered file, for your records.",
                                             max_length=255)] = None,
) -> Response:
    limit = supplier.messages_per_minute
    decision = request.app.state.limiter.take(supplier.name, limit)
    if not decision.allowed:
        raise ApiError(429, f"more than {limit} messages in a minute", f"retry after {decision.retry_after} s",
                       headers={"Retry-After": str(decision.retry_after)})
    media, _, parameters = request.headers.get("content-type", "").partition(";")
    content_type = media.strip().lower()
    if content_type not in CONTENT_TYPES:
        raise ApiError(415, "Content-Type " + ("is missing" if not content_type else "is not accepted") +
                       ": it must be application/json or application/octet-stream",
                       "send application/json or application/octet-stream holding JSON",
                       code="unsupported_media_type")
    charset = next((v.strip().strip('"').lower() for k, _, v in (p.partition("=") for p in parameters.split(";"))
                    if k.strip().lower() == "charset"), "utf-8")
    if charset not in ("utf-8", "utf8"):
        raise ApiError(415, "charset is not accepted: JSON is UTF-8 (charset=utf-8, or none)",
                       "send the body as UTF-8", code="unsupported_media_type")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ApiError(415, "Content-Encoding is not accepted: the body must be uncompressed (identity)",
                       "send the JSON uncompressed", code="unsupported_media_type")
    # Some HTTP clients send an optional header they were given no value for as empty.
    x_request_id, x_idempotency_key = x_request_id or None, x_idempotency_key or None
    for name, value in (("X-Request-Id", x_request_id), ("X-Idempotency-Key", x_idempotency_key)):
        if value is not None and not TOKEN.match(value):
            raise ApiError(400, f"{name} must be 1-128 letters, digits or . _ : -", "send a uuid, for example")
    body = await read_body(request, services.max_body_bytes)
    received = len(body)  # the receipt's sizeBytes: what was sent, a byte order mark included
    body = body.removeprefix(BOM)
    trace_id: str = request.state.trace_id
    echo = trace_id if x_request_id is None else x_request_id
    digests = services.digests
    key = None
    if x_idempotency_key is not None:
        key = digests.idempotency_key(x_idempotency_key)
        claim = services.idempotency.claim(supplier.name, key, digests.body(body))
        if claim.body_differs:
            log.warning("idempotency key of %s reused with another body; refused", supplier.name)
            raise ApiError(422, "X-Idempotency-Key was already used with a different request body; this body "
                                "was not published", "send a new key for a new message, or resend the first body "
                                "unchanged", code="idempotency_key_reused")
        if claim.receipt is not None:
            replay = replayed_receipt(claim.receipt, echo, x_idempotency_key, x_filename, digests)
            return Response(encode(replay), status_code=202, media_type="application/json",
                            headers={"Idempotent-Replay": "true"})
        if claim.busy_for is not None:
            # The lease (300 s) only frees a key whose request died; a live one ends within seconds (a 49 MB
            # delivery took 20 s), so the answer asks for a short wait, not for the lease's rest.
            wait = min(IN_PROGRESS_RETRY_SECONDS, max(1, math.ceil(claim.busy_for)))
            raise ApiError(409, "a request with this X-Idempotency-Key is still being processed",
                           f"retry after {wait} s with the same key and body", code="in_progress",
                           headers={"Retry-After": str(wait)})
    try:
        receipt = await deliver(services, supplier, body, trace_id, echo, x_idempotency_key, x_filename, received)
    except BaseException:
        if key is not None:  # a retry may then claim the key again
            services.idempotency.release(supplier.name, key)
        raise
    if key is not None:
        services.idempotency.complete(supplier.name, key, stored_receipt(receipt, trace_id, digests))
    return Response(encode(receipt), status_code=202, media_type="application/json")
