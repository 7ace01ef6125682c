"""The hot read routes (table rows, series, OGC items) dispatched before FastAPI's router.

A cached page costs a dictionary lookup, but FastAPI's route matching over every operation and its
dependency solving cost more than that (about 60% of a cached page's CPU time in the app). This
middleware sends GET requests of these routes straight to their endpoint functions, which read their
query parameters and authenticate themselves (same authentication, rate limit, audit and error bodies:
an ApiError is answered by the app's own handler); any other request goes on to FastAPI. The routes
are the app's documented ones, matched by the router's own path regex, so a path is served here exactly
when the router would send it to the same function; the OpenAPI document still comes from the routes.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from api.common.errors import ApiError, api_error_response


def hot_routes(routers: Sequence[APIRouter], paths: Sequence[str]) -> list[APIRoute]:
    """The GET routes of these path templates (e.g. "/v1/tables/{table}/rows") among the routers' (which
    the app includes as they are, without a prefix), in that order; ValueError naming a template no GET
    route has. Their endpoints must take `request` and their path parameters only, as plain strings."""
    found = {r.path: r for router in routers for r in router.routes
             if isinstance(r, APIRoute) and "GET" in (r.methods or ())}
    missing = [p for p in paths if p not in found]
    if missing:
        raise ValueError(f"no GET route for the hot paths {missing}")
    return [found[p] for p in paths]


class HotRoutes:
    """ASGI middleware serving GET requests of `routes` (see hot_routes) before the router."""

    def __init__(self, app: ASGIApp, routes: Sequence[APIRoute]) -> None:
        self.app = app
        self.routes = [(route.path_regex, route.endpoint) for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            for pattern, endpoint in self.routes:
                matched = pattern.match(scope["path"])
                if matched is not None:
                    request = Request(scope, receive)
                    try:
                        response = await endpoint(request=request, **matched.groupdict())
                    except ApiError as exc:
                        response = api_error_response(request, exc)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
