"""Trace ids of the ingest service: one per request, before any handler runs."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Receive, Scope, Send

from anpr.contract import is_uuid

# What a supplier may send as X-Request-Id or X-Idempotency-Key.
TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class TraceIds:
    """ASGI middleware: the supplier's X-Request-Id when it is a uuid (any case), else a fresh uuid, as
    `request.state.trace_id`. Error bodies, the log, the Kafka headers and the `cameras` table carry it.
    Other request ids are supplier text that may be built from a plate (`QQ999Z_20261205T170000`):
    the receipt alone echoes them, to their sender."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
            scope.setdefault("state", {})["trace_id"] = given if is_uuid(given) else str(uuid.uuid4())
        await self.app(scope, receive, send)
