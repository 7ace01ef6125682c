"""The error body every service of the platform returns: {"error": {code, message, hint, trace_id}}."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from api.common.middleware import HttpMiddleware

log = logging.getLogger(__name__)

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         413: "payload_too_large", 422: "invalid_request", 429: "rate_limited", 503: "unavailable"}
# What to do about the answers Starlette itself gives (no route, another method).
HTTP_HINTS = {404: "see the routes in the OpenAPI document at /openapi.json",
              405: "use a method the Allow header names"}


class ApiError(Exception):
    """Raised anywhere in a request: answered as `status` with the error body (code defaults by status)."""

    def __init__(self, status: int, message: str, hint: str = "", code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint
        self.code = code or CODES.get(status, "error")
        self.headers = headers or {}


class ErrorDetail(BaseModel):
    code: str = Field(examples=["forbidden"])
    message: str
    hint: str
    trace_id: str


class ErrorBody(BaseModel):  # the shape of every error answer, for the OpenAPI documents
    error: ErrorDetail


def error_body(code: str, message: str, hint: str, trace_id: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message, "hint": hint, "trace_id": trace_id}}


def trace_id_of(request: Request) -> str:
    # The vendor API's access-log middleware assigns one id per request (logged and audited with it).
    assigned = request.scope.get("state", {}).get("trace_id")
    return assigned or request.headers.get("X-Request-Id") or uuid.uuid4().hex


def api_error_response(request: Request, exc: ApiError) -> JSONResponse:
    """The error answer of an ApiError (the app's handler, also used by routes served before the router)."""
    body = error_body(exc.code, exc.message, exc.hint, trace_id_of(request))
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return api_error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = CODES.get(exc.status_code, "error")
        # Starlette's 405 carries the Allow header RFC 9110 15.5.6 requires; keep its headers.
        hint = HTTP_HINTS.get(exc.status_code, "see the OpenAPI document at /openapi.json")
        return JSONResponse(error_body(code, str(exc.detail), hint, trace_id_of(request)), status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        body = error_body("invalid_request", f"invalid request: {fields}", "see the OpenAPI document at /openapi.json",
                          trace_id_of(request))
        return JSONResponse(body, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return internal_error(request, exc)


def internal_error(request: Request, exc: Exception) -> JSONResponse:
    trace = trace_id_of(request)
    # The exception text may quote input; only its type goes to the log.
    log.error("unhandled %s on %s trace_id=%s", type(exc).__name__, request.url.path, trace)
    return JSONResponse(error_body("internal_error", "internal error", "retry later", trace), status_code=500)


class InternalErrors(HttpMiddleware):
    """An unhandled exception before the response started is answered with the 500 error body and not
    raised further. Starlette's outermost handler re-raises after answering, and uvicorn then closes the
    connection: a client's next request on it would fail."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started:
                raise
            await internal_error(Request(scope), exc)(scope, receive, send)


def document_errors(doc: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document `doc` (changed in place) with every 422 answer described as the error body the
    handler above sends, instead of the HTTPValidationError FastAPI adds by default and this platform
    never answers; the unused HTTPValidationError and ValidationError schemas go."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            invalid = operation.get("responses", {}).get("422")
            if invalid is not None:
                invalid["content"] = error
                if invalid.get("description") == "Validation Error":  # FastAPI's default text
                    invalid["description"] = "Invalid parameter or body: the error's message names the field."
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if "ErrorBody" not in schemas:
        generated = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(generated.pop("$defs", {}))
        schemas["ErrorBody"] = generated
    return doc


def install_error_document(app: FastAPI) -> None:
    """Make `app.openapi` (FastAPI's or an app's own, installed before this) serve `document_errors` of it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
