"""The ingest service's OpenAPI document: the request body, receipts and error shapes of the contract."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from api.common.errors import ErrorBody
from api.ingest.examples import openapi_examples
from api.ingest.models import Envelope, Observation, Receipt

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
_RETRY = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}


def _error(description: str, retry: bool = False) -> dict[str, Any]:
    return {"description": description, "content": _ERROR, **({"headers": _RETRY} if retry else {})}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Accepted: every message is stored in Kafka.",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Receipt"}}},
          "headers": {"Idempotent-Replay": {"description": "true when this is the receipt of an earlier request "
                                                           "with the same X-Idempotency-Key",
                                            "schema": {"type": "string"}}}},
    400: _error("Envelope problem: not JSON (including lone surrogates and nesting over 200 levels), unknown "
                "message_type or schema_version, empty payload, an integer beyond 64 bits, a key repeated within "
                "one object (repeated_key); an X-Request-Id or X-Idempotency-Key that is not 1-128 letters, "
                "digits or . _ : -."),
    401: _error("Missing or unknown X-API-Key."),
    403: _error("The key may not deliver (disabled), or a camera of the message belongs to another supplier "
                "or municipality; nothing of the message was published."),
    409: _error("Another request with this X-Idempotency-Key is still being processed.", retry=True),
    413: _error("Body over 50 MB."),
    415: _error("Content type other than application/json or application/octet-stream."),
    422: _error("Invalid item, named as payload[<item>].<field>: a camera field, an observation field of the wrong "
                "JSON type, NaN or Infinity, an event_time not in UTC RFC 3339 with milliseconds, an item over its "
                "size limit (64 KiB per observation); or an X-Idempotency-Key reused with another body "
                "(idempotency_key_reused). Nothing of the message was published."),
    429: _error("More than the supplier's messages per minute (600 by default).", retry=True),
    500: _error("Internal error; retry later."),
    503: _error("Kafka could not store every message; nothing was accepted. Retry with the same "
                "X-Idempotency-Key.", retry=True),
}

_BODY_SCHEMA = {"$ref": "#/components/schemas/Envelope"}
REQUEST_BODY: dict[str, Any] = {"requestBody": {
    "required": True,
    "description": "One envelope. application/octet-stream bodies hold the same JSON.",
    "content": {
        "application/json": {"schema": _BODY_SCHEMA, "examples": openapi_examples()},
        "application/octet-stream": {"schema": _BODY_SCHEMA},
    },
}}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            models: tuple[tuple[str, Any], ...] = (
                ("Envelope", Envelope), ("ErrorBody", ErrorBody), ("Receipt", Receipt), ("Observation", Observation))
            for name, model in models:
                generated = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(generated.pop("$defs", {}))
                schemas[name] = generated
            # The stream, not this service, enforces observation content; say so where suppliers look.
            schemas["Observation"]["description"] = (
                "One plate detection. Field types and the event_time format are checked at once (422). Content "
                "problems (bad uuid, event over 5 minutes in the future or over 7 days old, unknown camera, "
                "malformed plate, low confidence) do not fail the request: they are rejected downstream with a "
                "reason code, counted per day at GET /v1/rejections.")
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
