"""Operations: liveness and readiness probes, the access audit log for the platform team, and the
redirect to the reference dashboard."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from api.access_log import parse_day, read_access_log
from api.common.errors import ApiError, ErrorBody
from api.vendor import models
from api.vendor.deps import Admin, access_log_of, store_of, takes
from api.vendor.http import whole_number

router = APIRouter(tags=["operations"])


@router.get("/health", summary="liveness: the process serves requests")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="readiness: a release is published and auditing works",
            responses={503: {"model": ErrorBody}})
def ready(request: Request) -> dict[str, str]:
    if not store_of(request).ready():
        raise ApiError(503, "no release published yet", "run `anpr stats` first")
    if not access_log_of(request).healthy:
        raise ApiError(503, "the access audit log cannot be written", "check the lake's storage")
    return {"status": "ready"}


@router.get("/v1/admin/access-log", summary="the access audit log, newest first (admin key)",
            responses={200: {"model": models.AccessLogPage}, **models.errors(400, 401, 403, 429, 503)},
            dependencies=[Depends(takes("since", "until", "vendor", "municipality", "limit", admin=True))])
def access_log(request: Request, _: Admin, since: str | None = None, until: str | None = None,
               vendor: str | None = None, municipality: str | None = None,
               limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> dict[str, Any]:
    given = request.query_params.get("limit")
    if given is not None:  # pydantic's lax int also took "1_0" and " 5.0"
        try:
            whole_number(given)
        except ValueError:
            raise ApiError(422, "invalid request: limit must be 1..100000 in ASCII digits", "e.g. limit=1000") from None
    try:
        start, end = parse_day(since), parse_day(until)
    except ValueError:
        raise ApiError(400, "since/until are ISO dates or datetimes", "e.g. since=2026-11-01") from None
    access_log_of(request).flush()  # include the requests of the last seconds
    entries = read_access_log(store_of(request).lake, start, end, vendor, municipality, limit)
    return {"entries": [{**e, "ts": e["ts"].isoformat()} for e in entries]}


@router.get("/", include_in_schema=False)
@router.get("/dashboard", include_in_schema=False)
async def to_dashboard() -> RedirectResponse:
    return RedirectResponse("/dashboard/")
