"""The tables: their definitions, and their rows in a release (filtered, sorted, paged, JSON or CSV)."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from anpr.catalogue import TABLES, layer_tables
from api.vendor import models
from api.vendor.deps import SECURITY, Vendor, authenticate, rows_of, store_of, takes
from api.vendor.http import Body, json_body, respond
from api.vendor.queries import (
    MONTH,
    NAMES_PARAMETER,
    PAGE_PARAMETERS,
    check_month,
    find_release,
    find_spec,
    page_params,
)
from api.vendor.series import MAX_MONTHS, MISSING_MONTHS, RELEASE_IDS, serve_series
from api.vendor.table_docs import filter_parameters
from api.vendor.tables import as_published, table_info

router = APIRouter(tags=["tables"])


SERIES_QUERY: list[dict[str, Any]] = [
    {"name": "measure", "in": "query", "required": True, "schema": {"type": "string"},
     "description": "one measure of the table (see /v1/tables/{table} measures)"},
    {"name": "from", "in": "query", "required": True, "schema": {"type": "string", "pattern": MONTH},
     "description": "first month, YYYY-MM"},
    {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "pattern": MONTH},
     "description": f"last month, YYYY-MM; at most {MAX_MONTHS} months from `from`"},
    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]},
     "description": "default json, or csv when Accept asks for text/csv"},
    NAMES_PARAMETER,
]


def _series_responses() -> dict[int | str, dict[str, Any]]:
    answers = models.content(models.Series, csv=True, bad_request=True, expires=True, rounded=True)
    answers[200]["headers"] = {
        **answers[200]["headers"],
        RELEASE_IDS: {"required": True, "schema": {"type": "string"},
                      "description": "the release used per month: month=releaseId, comma-separated"},
        MISSING_MONTHS: {"schema": {"type": "string"},
                         "description": "months of the range without rows (see months[].missing), comma-separated"}}
    answers[200]["description"] = "the answer; X-Data-Expires is the earliest expiry of the releases used"
    return answers


@cache
def _tables_body(layer: str, round_to: int) -> Body:
    return json_body({"tables": [table_info(TABLES[t], round_to) for t in layer_tables(layer)]})


@router.get("/v1/tables", summary="the caller's tables (those its layer reads) with fields, definitions and "
                                   "protection notes", responses=models.content(models.TableList, bad_request=True),
            dependencies=[Depends(takes())])
async def tables(request: Request, who: Vendor) -> Response:
    return respond(request, _tables_body(who.contract.layer, who.contract.round_to))


# Without either, the catalogue's definition (the same for every release).
RELEASE_QUERY: list[dict[str, Any]] = [
    {"name": "release", "in": "query", "schema": {"type": "string", "minLength": 1},
     "description": "a release id from /v1/releases: the table as that release publishes it"},
    {"name": "month", "in": "query", "schema": {"type": "string", "pattern": MONTH},
     "description": "YYYY-MM: the table as the latest release of that month publishes it"}]


@router.get("/v1/tables/{table}", summary="one table's definition; with release or month, as that release publishes "
                                          "it (the level global recoding chose, with its definitions)",
            responses=models.content(models.TableInfo, bad_request=True),
            openapi_extra={"parameters": RELEASE_QUERY}, dependencies=[Depends(takes("release", "month"))])
async def table(table: str, request: Request, who: Vendor) -> Response:
    spec = who.readable(find_spec(table))
    release, month = request.query_params.get("release"), request.query_params.get("month")
    check_month(month)
    if release is None and month is None:
        return respond(request, json_body(table_info(spec, who.contract.round_to), {"table": spec.name}))
    found = find_release(store_of(request), release, month, spec)
    published = as_published(spec, found.get("protection", {}).get("recoded", {}).get(spec.name, {}))
    info = {**table_info(published, who.contract.round_to), "releaseId": found["release_id"],
            "recoded": dict(published.recoded)}
    return respond(request, json_body(info, {"table": spec.name, "release": found["release_id"]}))


def rows_router() -> APIRouter:
    """GET /v1/tables/{table}/rows, built with the app: its OpenAPI operation lists the filter
    parameters of the catalogue. The query parameters are read by hand (page_params) and only
    declared there, because FastAPI's parameter machinery costs more than serving a cached page."""
    router = APIRouter(tags=["tables"])
    filters = filter_parameters(TABLES.values())

    @router.get("/v1/tables/{table}/rows", responses=models.content(models.RowsPage, csv=True, bad_request=True,
                                                                          expires=True, rounded=True),
                summary="rows of a table in a release, filtered on any dimension, sorted, paged",
                openapi_extra={"parameters": [*PAGE_PARAMETERS, *filters], "security": SECURITY})
    async def rows(table: str, request: Request) -> Response:  # also served before the router (HOT_PATHS)
        who = authenticate(request)
        service = rows_of(request)
        # Parsed once per query string, Accept header and caller while the releases stay (as a series is):
        # a cached page spent as long parsing its parameters and finding its release as sending its bytes.
        q = service.parsed_request("rows", table, request, who,
                                   lambda: service.query(request, who, table, *page_params(request)))
        return await service.respond(request, q)

    @router.get("/v1/tables/{table}/series", responses=_series_responses(),
                summary=f"one measure of a table over a range of months (at most {MAX_MONTHS}), each month from its "
                        "latest release",
                openapi_extra={"parameters": [*SERIES_QUERY, *filters], "security": SECURITY})
    async def series(table: str, request: Request) -> Response:  # also served before the router (HOT_PATHS)
        return await serve_series(rows_of(request), request, authenticate(request), table)

    return router


# The routes api/vendor/hot.py serves before FastAPI's router (their endpoints read their own parameters).
HOT_PATHS = ("/v1/tables/{table}/rows", "/v1/tables/{table}/series")
