"""Maps: the vendor's municipalities and zones (conf/municipalities) and the cameras of a release, as GeoJSON."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from anpr.catalogue import TABLES
from api.common.errors import ApiError
from api.vendor import models
from api.vendor.deps import Vendor, rows_of, takes, zones_of
from api.vendor.geo import camera_collection
from api.vendor.http import DATA_EXPIRES, GEOJSON, GeoJSONResponse, json_body, respond
from api.vendor.queries import MAX_PAGE, MONTH, RESERVED, check_month, given_once, refuse
from api.vendor.table_docs import SCHEMAS

router = APIRouter(tags=["maps"])
# Checked by check_month, so that a bad one gets the rows' words, not a regular expression.
Month = Annotated[str | None, Query(description="YYYY-MM: the latest release of that month",
                                    json_schema_extra={"pattern": MONTH})]
# An empty one is refused by find_release (422, as a malformed month), not by FastAPI's own words.
ReleaseId = Annotated[str | None, Query(description="a release id from /v1/releases (default: the latest)",
                                        json_schema_extra={"minLength": 1})]
Codes = Annotated[list[str], Query()]
# The NDW zone code: a number on every published row (anpr.catalogue SCOPE_TYPES), so documented as one,
# but read as text so that a value that is not one gets the rows' 400 and words (queries._canonical).
ZoneIds = Annotated[list[str], Query(json_schema_extra={"items": SCHEMAS["int"]})]


@router.get("/v1/municipalities", summary="the vendor's municipalities and their zones",
            responses=models.content(models.Municipalities, bad_request=True), dependencies=[Depends(takes())])
async def municipalities(request: Request, who: Vendor) -> Response:
    payload = zones_of(request).listing(who.municipalities)
    scope = ",".join(sorted(who.municipalities))
    return respond(request, json_body(payload, {"municipalities": scope}))


@router.get("/v1/zones", summary="zones as a GeoJSON FeatureCollection (lon, lat; WGS84)",
            response_class=GeoJSONResponse,
            responses=models.content(models.FeatureCollection, bad_request=True, geojson=True),
            dependencies=[Depends(takes("gemeenteCode", repeatable=["gemeenteCode"]))])
async def zones(request: Request, who: Vendor, gemeenteCode: Codes = []) -> Response:  # noqa: B006, N803
    payload = zones_of(request).collection(who.municipalities, gemeenteCode)
    covered = ",".join(sorted(gemeenteCode or who.municipalities))
    return respond(request, json_body(payload, {"municipalities": covered}, media_type=GEOJSON))


@router.get("/v1/zones/{zone_id}", summary="one zone as a GeoJSON Feature", response_class=GeoJSONResponse,
            responses=models.content(models.Feature, bad_request=True, geojson=True), dependencies=[Depends(takes())])
async def zone(zone_id: str, request: Request, who: Vendor) -> Response:
    payload = zones_of(request).zone(zone_id, who.municipalities)
    covered = payload["properties"]["gemeenteCode"]
    return respond(request, json_body(payload, {"municipalities": covered}, media_type=GEOJSON))


# What /v1/cameras does not read of the rows parameters (queries.RESERVED): one GeoJSON answer of every camera.
CAMERAS_REFUSE = RESERVED - {"release", "month"}


@router.get("/v1/cameras", summary="cameras of table 4.12 as GeoJSON points, with availability",
            response_class=GeoJSONResponse,
            responses=models.content(models.CameraCollection, bad_request=True, expires=True, geojson=True))
async def cameras(request: Request, who: Vendor, release: ReleaseId = None, month: Month = None,
                  zoneId: ZoneIds = [], gemeenteCode: Codes = []) -> Response:  # noqa: B006, N803
    spec = next((s for s in TABLES.values() if s.kind == "cameras"), None)
    if spec is None:
        raise ApiError(404, "the catalogue has no camera table", "see /v1/tables")
    refuse(request.query_params, CAMERAS_REFUSE, "/v1/cameras",
           f"it answers every camera of the release in one GeoJSON FeatureCollection; "
           f"/v1/tables/{spec.name}/rows pages, sorts, gives CSV and English names")
    given_once(request.query_params, ("release", "month"), 422)
    check_month(month)
    service = rows_of(request)
    q = service.query(request, who, spec.name, release, month, MAX_PAGE, None, None, "json")
    selected, covered = await run_in_threadpool(service.select, q)
    payload = {**camera_collection(selected.to_pylist(), q.release_id), "expiresAt": q.expires_at}
    audit_info = {"table": spec.name, "release": q.release_id, "municipalities": covered,
                  "rows": len(payload["features"]), "filters": json.dumps(dict(q.filters))}
    return respond(request, json_body(payload, audit_info, {DATA_EXPIRES: q.expires_at}, GEOJSON))
