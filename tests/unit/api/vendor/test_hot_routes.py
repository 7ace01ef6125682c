"""api/vendor/hot.py serves a path before FastAPI's router exactly when the router would send it to the
same endpoint: concrete paths made from every route's template, each dispatched both ways."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path

from anpr.delta_reader import DeltaReader
from anpr.settings import Settings
from api.access_log import AccessLog
from api.releases import ReleaseStore
from api.vendor.hot import HotRoutes
from api.vendor.main import create_app
from api.vendor.sample import synthetic_municipality
from tests.unit.api.vendor.test_series import CONTRACTS, KEYS

# Path parameter values: table and collection names, other words of the paths, and odd but valid segments.
VALUES = ("t4_1_uur_camera", "cameras", "zones", "rows", "series", "items", "x", "a.b", "%2F", "1")


def _app(tmp_path) -> FastAPI:  # noqa: ANN001 - pytest's tmp_path
    store = ReleaseStore(DeltaReader(str(tmp_path / "lake")))
    return create_app(Settings(data_dir=tmp_path / "data", vendor_keys=KEYS), store, contracts=CONTRACTS,
                      municipalities=[synthetic_municipality()], access_log=AccessLog(store.lake, flush_seconds=3600))


def _router_order(app: FastAPI) -> list[tuple[str, re.Pattern[str], Callable[..., object] | None]]:
    """Every GET route of the app in the router's order: (template, its regex, its endpoint); a mount's
    regex takes any path below it."""
    found = []
    for route in iter_route_contexts(app.routes):
        methods = route.methods
        if route.path is None or (methods is not None and "GET" not in methods):
            continue
        regex = compile_path(route.path)[0] if methods is not None else re.compile(re.escape(route.path) + "(/.*)?$")
        found.append((route.path, regex, route.endpoint))
    return found


def _concrete(template: str) -> Iterator[str]:
    """Paths the template matches (every combination of VALUES for its parameters), and near misses."""
    names = re.findall(r"{[^}]+}", template)
    for values in itertools.product(VALUES, repeat=len(names)):
        path = template
        for name, value in zip(names, values, strict=True):
            path = path.replace(name, value, 1)
        yield from (path, path + "/", path + "/x", path.rsplit("/", 1)[0])


def _hot(app: FastAPI) -> HotRoutes:
    middleware = next(m for m in app.user_middleware if m.cls is HotRoutes)
    return HotRoutes(app.router, *middleware.args, **middleware.kwargs)


def test_the_hot_routes_are_documented_get_operations(tmp_path):
    app = _app(tmp_path)
    documented = {path for path, operations in app.openapi()["paths"].items() if "get" in operations}
    hot = [route.path for route in next(m for m in app.user_middleware if m.cls is HotRoutes).kwargs["routes"]]
    assert hot == ["/v1/tables/{table}/rows", "/v1/tables/{table}/series", "/ogc/collections/{collectionId}/items"]
    assert set(hot) <= documented


def test_hot_routes_capture_exactly_the_paths_the_router_sends_to_the_same_endpoints(tmp_path):
    app = _app(tmp_path)
    hot, routes = _hot(app), _router_order(app)
    hot_endpoints = {endpoint for _, endpoint in hot.routes}
    checked = 0
    for template, _, _ in routes:
        for path in _concrete(template):
            router = next(((t, e) for t, regex, e in routes if regex.match(path)), None)
            served = next((e for pattern, e in hot.routes if pattern.match(path)), None)
            if served is not None:  # the router would call the same function with the same path
                assert router is not None and router[1] is served, (path, router)
            else:  # nor does the router send it to one of the hot endpoints
                assert router is None or router[1] not in hot_endpoints, (path, router)
            checked += served is not None
    assert checked > 100  # every table name, collection and odd segment of the three hot routes
