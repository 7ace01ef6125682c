"""The hot read routes (table rows, series, OGC items) dispatched before FastAPI's router.

A cached page costs a dictionary lookup, but FastAPI's route matching over every operation and its
dependency solving cost more than that (about 60% of a cached page's CPU time in the app). This
middleware sends GET requests of these paths straight to the same endpoint functions the documented
routes call, with the same authentication, rate limit, audit and error bodies (an ApiError is answered
by the app's own handler); any other request goes on to FastAPI. The OpenAPI document still comes
from the routes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from fastapi import Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.common.errors import ApiError, api_error_response

Endpoint = Callable[..., Awaitable[Response]]  # (request, *path parameters) -> the answer


class HotRoutes:
    """ASGI middleware: `routes` are (path pattern with one group per path parameter, endpoint)."""

    def __init__(self, app: ASGIApp, routes: Sequence[tuple[str, Endpoint]]) -> None:
        self.app = app
        self.routes = [(re.compile(pattern), endpoint) for pattern, endpoint in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            for pattern, endpoint in self.routes:
                matched = pattern.fullmatch(scope["path"])
                if matched is not None:
                    request = Request(scope, receive)
                    try:
                        response = await endpoint(request, *matched.groups())
                    except ApiError as exc:
                        response = api_error_response(request, exc)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
