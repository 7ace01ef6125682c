"""Vendor API: read-only, over published releases only (never passages). Endpoints: docs/api.md.

Routes live in api/vendor/routes/ (one module per OpenAPI tag); what they share is kept on app.state
by `create_app` and read through api/vendor/deps.py.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from anpr.settings import Settings
from anpr.zones import Municipality, load_municipalities
from api.access_log import AccessLog, AccessLogMiddleware
from api.common.docs import install_docs
from api.common.errors import InternalErrors, install_error_document, install_error_handlers
from api.common.middleware import HeadAsGet
from api.common.ratelimit import RateLimiter
from api.releases import ReleaseStore
from api.vendor.contracts import ANONYMOUS, Contract, load_contracts
from api.vendor.geo import ZoneRegistry
from api.vendor.hot import HotRoutes, hot_routes
from api.vendor.layers import document_layers
from api.vendor.routes import login, maps, ogc, operations, releases, tables
from api.vendor.rows import RowsService
from api.vendor.security import Authenticator
from api.vendor.site import install_dashboard
from api.vendor.table_docs import document_tables

log = logging.getLogger(__name__)


def create_app(settings: Settings, store: ReleaseStore, *, contracts: dict[str, Contract] | None = None,
               municipalities: list[Municipality] | None = None, access_log: AccessLog | None = None) -> FastAPI:
    """The ASGI app over `store`. The defaults read conf/vendors.toml and conf/municipalities and audit
    into the store's lake; vendors' keys come from `settings.vendor_keys`."""
    audit = access_log or AccessLog(store.lake)
    zones = ZoneRegistry(load_municipalities() if municipalities is None else municipalities)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        audit.start()
        yield
        await run_in_threadpool(audit.close)

    app = FastAPI(title="ANPR zero-emission zone statistics: vendor API", version="1.0.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # /docs from local assets: install_docs
                  description="Disclosure-controlled monthly tables of the national statistics office, per "
                              "zero-emission zone, of in-scope vehicles (vans, trucks, buses, company-owned "
                              "vehicles; private passenger cars are not counted). Suppressed values are null "
                              "(empty in CSV). Every request is "
                              "audited. Authenticate with X-API-Key or an OAuth2 client-credentials token; "
                              "without either, the open layer serves its tables with rounded counts "
                              "(info.x-layers, docs/api.md).")
    install_error_handlers(app)
    keys = {vendor: key.get_secret_value() for vendor, key in settings.vendor_keys.items()}
    contracts = load_contracts() if contracts is None else contracts
    if ANONYMOUS in keys:
        raise ValueError(f"vendor_keys: {ANONYMOUS!r} is the name of requests without a key; give the key another")
    for vendor in sorted(set(keys) - set(contracts)):
        log.warning("vendor %s has an API key but no contract in conf/vendors.toml: it gets 403", vendor)
    app.state.auth = Authenticator(keys, contracts, RateLimiter())
    # Without an admin key (ANPR_ADMIN_KEY) the admin endpoint answers 403.
    app.state.admin_key = settings.admin_key.get_secret_value() if settings.admin_key is not None else None
    app.state.store, app.state.zones, app.state.access_log = store, zones, audit
    app.state.rows = RowsService(store, zones.zone_municipality)
    rows = tables.rows_router()
    for router in (operations.router, login.router, releases.router, tables.router, rows, maps.router, ogc.router):
        app.include_router(router)
    # Innermost: inside the access log and the 500 handler, like the routes it serves first.
    app.add_middleware(HotRoutes, routes=hot_routes([rows, ogc.router], [*tables.HOT_PATHS, *ogc.HOT_PATHS]))
    app.add_middleware(InternalErrors)  # a 500 keeps the connection open; inside the log, which records it
    app.add_middleware(HeadAsGet)  # inside the log, which records a HEAD as one
    app.add_middleware(AccessLogMiddleware, access_log=audit)
    # API answers carry their own gzip bytes (api/vendor/http.py); only the static files need compressing.
    install_dashboard(app)
    install_docs(app)
    document_tables(app)
    document_layers(app, contracts)
    install_error_document(app)
    return app
