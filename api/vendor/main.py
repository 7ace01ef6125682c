"""Vendor API: read-only, over published releases only (never passages). Endpoints: docs/api.md."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.middleware.gzip import GZipMiddleware

from anpr.catalogue import TABLES
from anpr.settings import Settings
from anpr.zones import Municipality, load_municipalities
from api import vendor_models as models
from api.access_log import AccessLog, AccessLogMiddleware, parse_day, read_access_log
from api.auth import SECURITY, TOKEN_URL, Admin, Authenticator, Vendor, authenticate, token_endpoint
from api.errors import ApiError, install_error_handlers
from api.ratelimit import RateLimiter
from api.releases import ReleaseStore
from api.vendor_contracts import Contract, load_contracts
from api.vendor_geo import ZoneRegistry, camera_collection
from api.vendor_http import json_body, respond
from api.vendor_rows import MAX_PAGE, MONTH, PAGE_PARAMETERS, RowsService, find_release, find_spec, page_params
from api.vendor_tables import all_filter_names, table_info

log = logging.getLogger(__name__)
DASHBOARD = Path(__file__).parent / "dashboard"
Month = Annotated[str | None, Query(pattern=MONTH, description="YYYY-MM: the latest release of that month")]
ReleaseId = Annotated[str | None, Query(description="a release id from /v1/releases (default: the latest)")]


def _release(r: dict[str, Any]) -> dict[str, Any]:
    return {"releaseId": r["release_id"], "month": r["month"], "createdAt": r["created_at"],
            "tables": r["tables"], "configHash": r["config_hash"], "sourceVersions": r["source_versions"]}


def _filter_parameters() -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "required": False, "style": "form", "explode": True,
             "description": (definition or name) + " Repeat the parameter for several values.",
             "schema": {"type": "array", "items": {"type": "string"}}}
            for name, definition in sorted(all_filter_names().items())]


def create_app(settings: Settings, store: ReleaseStore, *, contracts: dict[str, Contract] | None = None,
               municipalities: list[Municipality] | None = None, access_log: AccessLog | None = None) -> FastAPI:
    """The defaults read conf/vendors.toml and conf/municipalities and audit into the store's lake."""
    audit = access_log or AccessLog(store.lake)
    zones = ZoneRegistry(load_municipalities() if municipalities is None else municipalities)
    service = RowsService(store, zones.zone_municipality)
    tables_body = json_body({"tables": [table_info(s) for s in TABLES.values()]}, ("tables",))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        audit.start()
        yield
        await run_in_threadpool(audit.close)

    app = FastAPI(title="ANPR zero-emission zone statistics: vendor API", version="1.0.0", lifespan=lifespan,
                  description="Disclosure-controlled monthly tables of the national statistics office, per "
                              "zero-emission zone. Suppressed values are null (empty in CSV). Every request is "
                              "audited. Authenticate with X-API-Key or an OAuth2 client-credentials token.")
    install_error_handlers(app)
    keys = {vendor: key.get_secret_value() for vendor, key in settings.vendor_keys.items()}
    contracts = load_contracts() if contracts is None else contracts
    for vendor in sorted(set(keys) - set(contracts)):
        log.warning("vendor %s has an API key but no contract in conf/vendors.toml: it gets 403", vendor)
    app.state.auth = Authenticator(keys, contracts, RateLimiter())
    admin_key = getattr(settings, "admin_key", None)  # settings field requested; absent: admin endpoint off
    app.state.admin_key = admin_key.get_secret_value() if admin_key is not None else None
    app.state.access_log, app.state.rows = audit, service
    app.add_middleware(AccessLogMiddleware, access_log=audit)

    @app.get("/health", tags=["operations"], summary="liveness: the process serves requests")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"], summary="readiness: a release is published and auditing works",
             responses={503: {"model": models.ErrorBody}})
    def ready() -> dict[str, str]:
        if not store.ready():
            raise ApiError(503, "no release published yet", "run `anpr stats` first")
        if not audit.healthy:
            raise ApiError(503, "the access audit log cannot be written", "check the lake's storage")
        return {"status": "ready"}

    app.add_api_route(TOKEN_URL, token_endpoint, methods=["POST"], tags=["authentication"],
                      summary="OAuth2 client credentials: a bearer token for client_id/client_secret",
                      responses={200: {"model": models.Token}, 400: {"model": models.ErrorBody},
                                 401: {"model": models.ErrorBody}},
                      openapi_extra={"requestBody": {"required": True, "content": {
                          "application/x-www-form-urlencoded": {"schema": {
                              "type": "object", "required": ["grant_type"], "properties": {
                                  "grant_type": {"type": "string", "enum": ["client_credentials"]},
                                  "client_id": {"type": "string"}, "client_secret": {"type": "string"}}}}}}})

    @app.get("/v1/releases", tags=["releases"], summary="releases: the latest per month (history=true: all)",
             responses=models.content(models.ReleaseList))
    async def releases(request: Request, who: Vendor, history: bool = False) -> Response:
        found = store.releases() if history else store.latest_per_month()
        payload = {"releases": [_release(r) for r in found]}
        return respond(request, json_body(payload, ("releases", payload), {"municipalities": ",".join(
            sorted(who.municipalities))}))

    @app.get("/v1/releases/{release_id}", tags=["releases"], summary="one release",
             responses=models.content(models.Release))
    async def release(release_id: str, request: Request, who: Vendor) -> Response:
        found = find_release(store, release_id, None)
        return respond(request, json_body(_release(found), ("release", release_id), {"release": release_id}))

    @app.get("/v1/tables", tags=["tables"], summary="tables with fields, definitions and protection notes",
             responses=models.content(models.TableList))
    async def tables(request: Request, who: Vendor) -> Response:
        return respond(request, tables_body)

    @app.get("/v1/tables/{table}", tags=["tables"], summary="one table's definition",
             responses=models.content(models.TableInfo))
    async def table(table: str, request: Request, who: Vendor) -> Response:
        spec = find_spec(table)
        return respond(request, json_body(table_info(spec), ("table", spec.name), {"table": spec.name}))

    @app.get("/v1/tables/{table}/rows", tags=["tables"], responses=models.content(models.RowsPage, csv=True),
             summary="rows of a table in a release, filtered on any dimension, sorted, paged",
             openapi_extra={"parameters": [*PAGE_PARAMETERS, *_filter_parameters()], "security": SECURITY})
    async def rows(table: str, request: Request) -> Response:
        who = authenticate(request)
        q = service.query(request, who, table, *page_params(request))
        return await service.respond(request, q)

    @app.get("/v1/municipalities", tags=["maps"], summary="the vendor's municipalities and their zones",
             responses=models.content(models.Municipalities))
    async def municipalities_(request: Request, who: Vendor) -> Response:
        payload = zones.listing(who.municipalities)
        scope = ",".join(sorted(who.municipalities))
        return respond(request, json_body(payload, ("municipalities", payload), {"municipalities": scope}))

    @app.get("/v1/zones", tags=["maps"], summary="zones as a GeoJSON FeatureCollection (lon, lat; WGS84)",
             responses=models.content(models.FeatureCollection))
    async def zones_(request: Request, who: Vendor, gemeenteCode: Annotated[list[str], Query()] = []) -> Response:  # noqa: B006, N803
        payload = zones.collection(who.municipalities, gemeenteCode)
        covered = ",".join(sorted(gemeenteCode or who.municipalities))
        return respond(request, json_body(payload, ("zones", payload), {"municipalities": covered}))

    @app.get("/v1/zones/{zone_id}", tags=["maps"], summary="one zone as a GeoJSON Feature",
             responses=models.content(models.FeatureCollection))
    async def zone(zone_id: str, request: Request, who: Vendor) -> Response:
        payload = zones.zone(zone_id, who.municipalities)
        covered = payload["properties"]["gemeenteCode"]
        return respond(request, json_body(payload, ("zone", payload), {"municipalities": covered}))

    @app.get("/v1/cameras", tags=["maps"], summary="cameras of table 4.12 as GeoJSON points, with availability",
             responses=models.content(models.FeatureCollection))
    async def cameras(request: Request, who: Vendor, release: ReleaseId = None, month: Month = None,
                      zoneId: Annotated[list[str], Query()] = [], gemeenteCode: Annotated[list[str], Query()] = []  # noqa: B006, N803
                      ) -> Response:
        spec = next((s for s in TABLES.values() if s.kind == "cameras"), None)
        if spec is None:
            raise ApiError(404, "the catalogue has no camera table", "see /v1/tables")
        q = service.query(request, who, spec.name, release, month, MAX_PAGE, None, None, "json")
        selected, covered = await run_in_threadpool(service.select, q)
        payload = camera_collection(selected.to_pylist(), q.release_id)
        audit_info = {"table": spec.name, "release": q.release_id, "municipalities": covered,
                      "rows": len(payload["features"]), "filters": json.dumps(dict(q.filters))}
        return respond(request, json_body(payload, ("cameras", *q.selection_key), audit_info))

    @app.get("/v1/admin/access-log", tags=["operations"], summary="the access audit log, newest first (admin key)",
             responses={200: {"model": models.AccessLogPage}, 401: {"model": models.ErrorBody},
                        403: {"model": models.ErrorBody}})
    def access_log_(_: Admin, since: str | None = None, until: str | None = None, vendor: str | None = None,
                    municipality: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> dict[str, Any]:
        try:
            start, end = parse_day(since), parse_day(until)
        except ValueError:
            raise ApiError(400, "since/until are ISO dates or datetimes", "e.g. since=2026-11-01") from None
        audit.flush()  # include the requests of the last seconds
        entries = read_access_log(store.lake, start, end, vendor, municipality, limit)
        return {"entries": [{**e, "ts": e["ts"].isoformat()} for e in entries]}

    @app.get("/", include_in_schema=False)
    @app.get("/dashboard", include_in_schema=False)
    async def to_dashboard() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    # API answers carry their own gzip bytes (api/vendor_http.py); only the static files need compressing.
    app.mount("/dashboard", GZipMiddleware(StaticFiles(directory=DASHBOARD, html=True), minimum_size=1024,
                                           compresslevel=6), name="dashboard")
    return app

