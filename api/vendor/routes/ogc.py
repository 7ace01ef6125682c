"""OGC API - Features routes (api/vendor/ogc.py): landing page, conformance, collections and items of
the zones and the cameras of table 4.12, behind the keys and layers of the other routes.

Zones are those of the caller's municipalities (the open layer's too); cameras are a table 4.12 read,
so the open layer gets 401 for them and a key whose layer does not read it 403, as for its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from anpr.catalogue import TABLES, TableSpec
from api.common.errors import ApiError
from api.vendor import models, ogc
from api.vendor.deps import SECURITY, authenticate, rows_of, zones_of
from api.vendor.geo import camera_features
from api.vendor.http import DATA_EXPIRES, GEOJSON, Body, GeoJSONResponse, forbid, json_body, respond
from api.vendor.queries import MAX_PAGE, RowsQuery, find_release
from api.vendor.rows import INLINE_ROWS, RowsService, json_rows
from api.vendor.security import Principal

router = APIRouter(prefix=ogc.PREFIX, tags=["ogc"])
CollectionId = Annotated[str, Path(description="zones or cameras", json_schema_extra={"enum": [ogc.ZONES,
                                                                                                 ogc.CAMERAS]})]
ITEMS_QUERY: list[dict[str, Any]] = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": ogc.DEFAULT_LIMIT},
     "description": f"features per page; more than {ogc.MAX_LIMIT} is served as {ogc.MAX_LIMIT}"},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0},
     "description": "features to skip (the next link carries it)"},
    {"name": "bbox", "in": "query", "style": "form", "explode": False,
     "schema": {"type": "array", "items": {"type": "number"}, "oneOf": [{"minItems": 4, "maxItems": 4},
                                                                        {"minItems": 6, "maxItems": 6}]},
     "description": "min lon, min lat, max lon, max lat (CRS84; 6 numbers: with heights, ignored): the features "
                    "whose geometry intersects it. A min lat above the max lat holds nothing."},
    {"name": "release", "in": "query", "schema": {"type": "string", "minLength": 1},
     "description": "cameras: a release id from /v1/releases (default: the current release); the next links pin "
                    "it. Zones have no release: not used"},
    {"name": "datetime", "in": "query", "schema": {"type": "string", "pattern": ogc.DATETIME_PATTERN},
     "description": "an RFC 3339 date, date-time or interval (`start/end`, `..` or empty for an open end): the "
                    "features whose time intersects it. Cameras hold for the month of their release; zones "
                    "have no time and are not filtered. An interval that ends before it starts holds nothing."},
]
OGC_ERRORS = {400: "a parameter items do not take, given twice, or malformed (limit, offset, bbox, datetime); or "
                   "both an X-API-Key and an Authorization header",
              404: "unknown collection or feature, or no release with table 4.12 yet (cameras)"}


def _answers(model: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """A GeoJSON 200 of `model`; the errors keep the platform's error body, application/json."""
    errors = models.json_errors(*statuses)
    for status, answer in errors.items():
        answer["description"] = OGC_ERRORS.get(int(status), answer["description"])
    return {200: {"model": model, "description": "the answer"}, 304: {"description": "not modified (If-None-Match)"},
            **errors}


def _unknown(cid: str) -> ApiError:
    return ApiError(404, f"unknown collection {cid!r}", f"the collections are {ogc.ZONES} and {ogc.CAMERAS}")


def _base(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{ogc.PREFIX}"


def _camera_spec() -> TableSpec:
    spec = next((s for s in TABLES.values() if s.kind == "cameras"), None)
    if spec is None:
        raise ApiError(404, "the catalogue has no camera table", "see /v1/tables")
    return spec


def _camera_query(request: Request, who: Principal, release: str | None = None) -> RowsQuery:
    """All table 4.12 rows of `release` (default: the current one) in the caller's municipalities; 401/403
    as for its rows, 404 without such a release."""
    spec = who.readable(_camera_spec())
    found = find_release(rows_of(request).store, release, None, spec)
    return RowsQuery(spec, found, tuple(sorted(who.municipalities)), (), (), 0, MAX_PAGE, "json",
                     who.contract.expires_at(found["created_at"]), who.contract.round_to)


def _cameras(service: RowsService, q: RowsQuery) -> list[dict[str, Any]]:
    return _located(service, q).features


def _located(service: RowsService, q: RowsQuery) -> ogc.Located:
    """The query's camera features with their shapes, made once per selection (a release never changes)."""
    def make() -> ogc.Located:
        selected, _ = service.select(q)
        return ogc.Located.of(camera_features(json_rows(selected, q.spec)))

    return service.derived(_located_key(q), make)  # type: ignore[no-any-return]


def _located_key(q: RowsQuery) -> tuple[object, ...]:
    return ("ogc-cameras", *q.selection_key)


def _collection(request: Request, who: Principal, cid: str) -> dict[str, Any]:
    if cid == ogc.ZONES:
        zones = zones_of(request).collection(who.municipalities, [])["features"]
        return ogc.collection(_base(request), cid, ogc.bounds_of(zones))
    if cid == ogc.CAMERAS:
        who.readable(_camera_spec())
        try:
            q = _camera_query(request, who)
        except ApiError:  # no release with the table yet: the collection exists, its extent is not known
            return ogc.collection(_base(request), cid, None)
        return ogc.collection(_base(request), cid, ogc.bounds_of(_cameras(rows_of(request), q)), q.release["month"])
    raise _unknown(cid)


@router.get("", summary="OGC API - Features landing page", responses=models.content(ogc.LandingPage, bad_request=True),
            openapi_extra={"security": SECURITY})
async def landing(request: Request) -> Response:
    authenticate(request)
    return respond(request, json_body(ogc.landing(_base(request))))


@router.get("/", include_in_schema=False)  # clients join paths onto the landing page's URL with a slash
async def landing_slash(request: Request) -> Response:
    return await landing(request)


@router.get("/conformance", summary="the OGC API - Features conformance classes served",
            responses=models.content(ogc.Conformance, bad_request=True), openapi_extra={"security": SECURITY})
async def conformance(request: Request) -> Response:
    authenticate(request)
    return respond(request, json_body({"conformsTo": ogc.CONFORMANCE}))


@router.get("/collections", summary="the caller's feature collections: zones, and cameras where its layer reads "
                                    "table 4.12", responses=models.content(ogc.Collections, bad_request=True),
            openapi_extra={"security": SECURITY})
async def collections(request: Request) -> Response:
    who = authenticate(request)
    readable = [ogc.ZONES, *([ogc.CAMERAS] if who.contract.serves(_camera_spec()) else [])]
    listed = [await run_in_threadpool(_collection, request, who, cid) for cid in readable]
    payload = {"links": [{"href": f"{_base(request)}/collections", "rel": "self", "type": "application/json"}],
               "collections": listed}
    return respond(request, json_body(payload))


@router.get("/collections/{collectionId}", summary="one feature collection",
            responses=models.content(ogc.Collection, bad_request=True), openapi_extra={"security": SECURITY})
async def one_collection(collectionId: CollectionId, request: Request) -> Response:  # noqa: N803
    who = authenticate(request)
    payload = await run_in_threadpool(_collection, request, who, collectionId)
    return respond(request, json_body(payload))


@router.get("/collections/{collectionId}/items", summary="features of a collection: bbox, limit, offset",
            response_class=GeoJSONResponse,
            responses=_answers(ogc.FeaturePage, 400, 401, 403, 404, 429, 503),
            openapi_extra={"parameters": ITEMS_QUERY, "security": SECURITY})
async def items(collectionId: CollectionId, request: Request) -> Response:  # noqa: N803
    who = authenticate(request)
    service = rows_of(request)
    # The collection before its parameters: items of no collection are 404 whatever they are asked with.
    if collectionId not in (ogc.ZONES, ogc.CAMERAS):
        raise _unknown(collectionId)
    if collectionId == ogc.CAMERAS:
        return await _camera_items(request, who, service)
    limit, offset, carried = ogc.page_params(list(request.query_params.multi_items()))
    bbox, when = carried.get("bbox"), carried.get("datetime")
    area = ogc.parse_bbox(bbox) if bbox is not None else None
    if when is not None:
        ogc.parse_datetime(when)  # 400 when malformed, though zones have no time
    base = _base(request)
    registry, scope = zones_of(request), tuple(sorted(who.municipalities))

    def zone_page() -> Body:
        zones = registry.collection(who.municipalities, [])["features"]
        # Zones have no time (conf/municipalities holds today's): datetime does not filter them.
        payload = ogc.page(base, collectionId, ogc.within(zones, area), limit, offset, carried)
        audit = {"municipalities": ",".join(scope), "rows": payload["numberReturned"]}
        return _geojson(payload, audit, {})

    # Zones are read once per process, so a page is a function of this key, as a release's pages are.
    return await service.respond_cached(request, ("ogc-zones", base, scope, limit, offset, bbox, when,
                                                  carried.get("release")), zone_page)


@dataclass(frozen=True)
class _CameraPage:
    """What a camera items request asks (its page of the current or a pinned release), and its cache key."""

    q: RowsQuery
    key: tuple[object, ...]
    base: str
    limit: int
    offset: int
    area: Any  # the bbox's shape, None without one
    wanted: ogc.Interval | None
    when: str | None
    pinned: dict[str, str]


def _camera_page(request: Request, who: Principal) -> _CameraPage:
    who.readable(_camera_spec())  # a caller whose layer has no cameras learns that first (401/403), not a 400
    limit, offset, carried = ogc.page_params(list(request.query_params.multi_items()))
    bbox, when = carried.get("bbox"), carried.get("datetime")
    area = ogc.parse_bbox(bbox) if bbox is not None else None
    wanted = ogc.parse_datetime(when) if when is not None else None
    base = _base(request)
    q = _camera_query(request, who, carried.get("release"))
    key = ("ogc-cameras", *q.selection_key, base, limit, offset, bbox, when, q.expires_at)
    # the next pages read the same release
    return _CameraPage(q, key, base, limit, offset, area, wanted, when, {**carried, "release": q.release_id})


async def _camera_items(request: Request, who: Principal, service: RowsService) -> Response:
    # Parsed once per query string, caller and base URL while the releases stay: parsing (the base URL,
    # the current release, its expiry date) cost a cached page more than the rest of it.
    scope = request.scope
    server = scope.get("server")  # [host, port] or (host, port): ASGI says an iterable
    inputs = ("ogc-cameras", scope["query_string"], who, scope.get("scheme"), tuple(server) if server else None,
              scope.get("root_path"), scope.get("app_root_path"), request.headers.get("host"))
    p = service.parsed(inputs, lambda: _camera_page(request, who))
    q = p.q

    def build() -> Body:
        # A camera's row holds for its release's month.
        current = p.when is None or ogc.overlaps(ogc.month_interval(q.release["month"]), p.wanted)
        cameras = _located(service, q).within(p.area) if current else []
        found = ogc.page(p.base, ogc.CAMERAS, cameras, p.limit, p.offset, p.pinned)
        payload = {**found, "releaseId": q.release_id, "expiresAt": q.expires_at}
        audit = {"table": q.spec.name, "release": q.release_id, "municipalities": ",".join(q.scope),
                 "rows": found["numberReturned"]}
        return _geojson(payload, audit, {"X-Release-Id": q.release_id, DATA_EXPIRES: q.expires_at})

    # Once the cameras are located, a page is a bbox test and at most `limit` features to serialize.
    return await service.respond_cached(request, p.key, build,
                                        lambda: p.limit <= INLINE_ROWS and service.has_derived(_located_key(q)))


# The route api/vendor/hot.py serves before FastAPI's router (the items of a collection).
HOT_PATHS = (ogc.PREFIX + "/collections/{collectionId}/items",)


@router.get("/collections/{collectionId}/items/{featureId}", summary="one feature", response_class=GeoJSONResponse,
            responses=_answers(ogc.OgcFeature, 400, 401, 403, 404, 429, 503), openapi_extra={"security": SECURITY})
async def feature(collectionId: CollectionId, featureId: str, request: Request) -> Response:  # noqa: N803
    who = authenticate(request)
    if collectionId == ogc.ZONES:
        payload = zones_of(request).zone(featureId, who.municipalities)
        audit = {"municipalities": payload["properties"]["gemeenteCode"], "rows": 1}
        return respond(request, _geojson(payload, audit, {}))
    if collectionId != ogc.CAMERAS:
        raise _unknown(collectionId)
    q = _camera_query(request, who)
    found = await run_in_threadpool(_camera, rows_of(request), q, featureId)
    audit = {"table": q.spec.name, "release": q.release_id, "municipalities": found["properties"]["gemeenteCode"],
             "rows": 1}
    return respond(request, _geojson(found, audit, {"X-Release-Id": q.release_id, DATA_EXPIRES: q.expires_at}))


def _camera(service: RowsService, q: RowsQuery, feature_id: str) -> dict[str, Any]:
    """The camera feature `feature_id` of the query's rows; 403 when it is another municipality's, else 404."""
    found = next((f for f in _cameras(service, q) if f["id"] == feature_id), None)
    if found is not None:
        return found
    everyone = camera_features(json_rows(service.store.rows(q.release_id, q.spec), q.spec))
    owner = next((f["properties"]["gemeenteCode"] for f in everyone if f["id"] == feature_id), None)
    if owner is not None:
        forbid({owner}, frozenset(q.scope))
    raise ApiError(404, f"no camera {feature_id!r} in release {q.release_id}",
                   f"list the cameras at {ogc.PREFIX}/collections/{ogc.CAMERAS}/items")


def _geojson(payload: dict[str, Any], audit: dict[str, Any], headers: dict[str, str]) -> Body:
    return json_body(payload, audit, headers, GEOJSON)
