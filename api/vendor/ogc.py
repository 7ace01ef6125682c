"""OGC API - Features (Part 1 Core, GeoJSON) over the zones and the cameras of table 4.12, so GIS
platforms (QGIS, ArcGIS, the digital twins built on them) load them as any feature service.

The documents are built here; api/vendor/routes/ogc.py serves them behind the vendor API's keys and
layers. Coordinates are lon, lat in WGS84 (CRS84), as in the rest of the API. Paging is by `offset`
and `limit` with next/prev links; `bbox` keeps the features whose geometry intersects it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import numpy as np
import shapely
from pydantic import BaseModel, Field
from shapely import box
from shapely.geometry import Polygon, shape
from shapely.geometry.base import BaseGeometry

from api.common.errors import ApiError
from api.vendor.http import GEOJSON, refuse_empty, whole_number

PREFIX = "/ogc"
CONFORMANCE = ["http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
               "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
DEFAULT_LIMIT, MAX_LIMIT = 10, 10_000
ZONES, CAMERAS = "zones", "cameras"
ITEM_PARAMETERS = frozenset({"limit", "offset", "bbox", "datetime", "release"})
TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
# RFC 3339 dates and date-times (years 1000-9999, leap days included; t and z in either case, section 5.6)
# and intervals of them with open ends (`..` or empty): exactly the values `parse_datetime` reads, so the
# OpenAPI document promises no more.
_MONTH_DAY = ("(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
              "|02-(?:0[1-9]|1[0-9]|2[0-8]))")
_LEAP_DAY = "(?:[1-9][0-9](?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)-02-29"
_TIME = "[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_INSTANT = f"(?:[1-9][0-9]{{3}}-{_MONTH_DAY}|{_LEAP_DAY})(?:{_TIME})?"
_END = f"(?:{_INSTANT}|\\.\\.)?"
DATETIME_PATTERN = f"^(?:{_INSTANT}|{_END}/{_END})$"
# The OGC link relations next to their IANA short forms: clients look for either.
OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0/"


class Link(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LandingPage(BaseModel):
    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    conformsTo: list[str]


class SpatialExtent(BaseModel):
    bbox: list[list[float]] = Field(description="minimum lon, lat, maximum lon, lat of the caller's features")
    crs: str = CRS84


class TemporalExtent(BaseModel):
    interval: list[list[str | None]] = Field(description="the month of the current release (cameras)")
    trs: str = TRS


class Extent(BaseModel):
    spatial: SpatialExtent
    temporal: TemporalExtent | None = None


class Collection(BaseModel):
    id: Literal["zones", "cameras"]
    title: str
    description: str
    itemType: Literal["feature"] = "feature"
    crs: list[str] = [CRS84]
    extent: Extent | None = Field(default=None, description="absent when the caller has no feature in it")
    links: list[Link]


class Collections(BaseModel):
    links: list[Link]
    collections: list[Collection]


class OgcFeature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any] | None = Field(description="Polygon or MultiPolygon (zones), Point (cameras); lon, lat; "
                                                         "null for a camera without a position")
    properties: dict[str, Any] = Field(description="zones: zoneId (NDW code), zoneAanduiding, zoneNaam, "
                                                   "gemeenteCode, gemeente, cameras; cameras: every field of its "
                                                   "table 4.12 row, suppressed null")


class FeaturePage(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[OgcFeature]
    numberMatched: int = Field(description="features in the caller's municipalities that match bbox")
    numberReturned: int
    links: list[Link] = Field(description="self, next (while more match), prev, collection")
    releaseId: str | None = Field(default=None, description="cameras: the release the rows come from")
    expiresAt: str | None = Field(default=None, description="cameras: when you must have destroyed them")


def landing(base: str) -> dict[str, Any]:
    """The landing page; `base` is the absolute URL of PREFIX."""
    root = base.removesuffix(PREFIX)
    return {"title": "ANPR zero-emission zone statistics: OGC API - Features",
            "description": "The caller's zones and the cameras of table 4.12 of the current release, as feature "
                           "collections (lon, lat; CRS84). Same keys and layers as /v1.",
            "links": [{"href": base, "rel": "self", "type": "application/json"},
                      {"href": f"{root}/openapi.json", "rel": "service-desc",
                       "type": "application/vnd.oai.openapi+json;version=3.1"},
                      {"href": f"{root}/docs", "rel": "service-doc", "type": "text/html"},
                      *({"href": f"{base}/conformance", "rel": rel, "type": "application/json"}
                        for rel in ("conformance", f"{OGC_REL}conformance")),
                      *({"href": f"{base}/collections", "rel": rel, "type": "application/json"}
                        for rel in ("data", f"{OGC_REL}data"))]}


def collection(base: str, cid: str, bounds: Sequence[float] | None, month: str | None = None) -> dict[str, Any]:
    """One collection's description; `bounds` (min lon, min lat, max lon, max lat) of the caller's features,
    `month` (YYYY-MM) the time they hold for (cameras: the release's)."""
    title, description = {
        ZONES: ("Zero-emission zones", "The zones of the caller's municipalities (conf/municipalities)."),
        CAMERAS: ("Cameras (table 4.12)", "One point per camera and detection direction, with its table 4.12 row of "
                                          "the current release: position, viewing and driving direction, and "
                                          "beschikbaarheidsPercentage (null when suppressed or not judgeable)."),
    }[cid]
    href = f"{base}/collections/{cid}"
    return {"id": cid, "title": title, "description": description, "itemType": "feature", "crs": [CRS84],
            **({"extent": {"spatial": {"bbox": [list(bounds)], "crs": CRS84}, **_temporal(month)}} if bounds else {}),
            "links": [{"href": href, "rel": "self", "type": "application/json"},
                      {"href": f"{href}/items", "rel": "items", "type": GEOJSON, "title": title}]}


def _temporal(month: str | None) -> dict[str, Any]:
    if month is None:
        return {}
    start, end = month_interval(month)
    last = end - timedelta(microseconds=1)  # OGC extents are closed intervals: the month's last instant
    return {"temporal": {"interval": [[start.isoformat().replace("+00:00", "Z"),
                                       last.isoformat().replace("+00:00", "Z")]], "trs": TRS}}


def parse_bbox(text: str) -> BaseGeometry:
    """The area of a `bbox` parameter: 4 numbers (min lon, min lat, max lon, max lat) or 6 (with heights,
    ignored); min lon above max lon crosses the antimeridian. 400 when it is not such a list."""
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) not in (4, 6) or not all(math.isfinite(n) for n in numbers):
        raise ApiError(400, f"bbox {text!r} is not 4 or 6 comma-separated numbers",
                       "bbox=min lon,min lat,max lon,max lat (CRS84), e.g. bbox=5.0,52.0,5.2,52.2")
    half = len(numbers) // 2
    west, south, east, north = numbers[0], numbers[1], numbers[half], numbers[half + 1]
    if south > north:
        return Polygon()  # a box south of itself holds nothing
    if west <= east:
        return box(west, south, east, north)
    return box(west, south, 180.0, north).union(box(-180.0, south, east, north))


Interval = tuple[datetime | None, datetime | None]  # [start, end), None: open


def _instant(text: str) -> tuple[datetime, datetime]:
    """[start, end) of a date (the whole day, UTC) or a date-time (that microsecond)."""
    text = text.upper()
    if "T" not in text:
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return day, day + timedelta(days=1)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment, moment + timedelta(microseconds=1)


def parse_datetime(text: str) -> Interval | None:
    """The time of a `datetime` parameter as [start, end), None for an open end; None when it holds
    nothing (an interval that ends before it starts). 400 when it does not match DATETIME_PATTERN."""
    if not re.fullmatch(DATETIME_PATTERN, text):  # re.match's `$` also matches before a final newline
        raise ApiError(400, f"datetime {text!r} is not an RFC 3339 date, date-time or interval",
                       "e.g. datetime=2026-10-01, 2026-10-01T00:00:00Z/.., or 2026-09-01/2026-10-31")
    if "/" not in text:
        return _instant(text)
    first, last = text.split("/")
    start = _instant(first)[0] if first not in ("", "..") else None
    end = _instant(last)[1] if last not in ("", "..") else None
    return None if start is not None and end is not None and start >= end else (start, end)


def month_interval(month: str) -> tuple[datetime, datetime]:
    """[first day, first day of the next month) of a YYYY-MM, UTC."""
    start = datetime.fromisoformat(f"{month}-01").replace(tzinfo=UTC)
    return start, (start + timedelta(days=32)).replace(day=1)


def overlaps(span: tuple[datetime, datetime], wanted: Interval | None) -> bool:
    if wanted is None:
        return False
    start, end = wanted
    return (end is None or span[0] < end) and (start is None or start < span[1])


def within(features: list[dict[str, Any]], area: BaseGeometry | None) -> list[dict[str, Any]]:
    """The features whose geometry intersects `area` (all of them without one; none without a geometry)."""
    if area is None:
        return features
    return [f for f in features if f["geometry"] is not None and shape(f["geometry"]).intersects(area)]


@dataclass(frozen=True)
class Located:
    """Features with their shapes (None without a geometry), so a bbox filters them without parsing GeoJSON."""

    features: list[dict[str, Any]]
    shapes: np.ndarray  # shapely geometries or None, one per feature

    @classmethod
    def of(cls, features: list[dict[str, Any]]) -> Located:
        shapes = np.array([None if f["geometry"] is None else shape(f["geometry"]) for f in features], dtype=object)
        return cls(features, shapes)

    def within(self, area: BaseGeometry | None) -> list[dict[str, Any]]:
        """As `within`: the features whose geometry intersects `area` (all without one)."""
        if area is None:
            return self.features
        hits = shapely.intersects(self.shapes, area)  # None (no geometry) gives False
        return [f for f, hit in zip(self.features, hits, strict=True) if hit]


def bounds_of(features: list[dict[str, Any]]) -> list[float] | None:
    shapes = [shape(f["geometry"]) for f in features if f["geometry"] is not None]
    if not shapes:
        return None
    boxes = [s.bounds for s in shapes]
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def page_params(params: Sequence[tuple[str, str]]) -> tuple[int, int, dict[str, str]]:
    """limit (clamped to MAX_LIMIT, as Core asks of a larger value), offset, and the other parameters of an
    items request by name (bbox, datetime, release); 400 for a parameter not in ITEM_PARAMETERS (Core's
    rule), one given twice, an empty release, or a limit or offset that is not a whole number in range."""
    given: dict[str, str] = {}
    for name, value in params:
        if name not in ITEM_PARAMETERS:
            raise ApiError(400, f"unknown parameter {name!r}", f"items take {', '.join(sorted(ITEM_PARAMETERS))}")
        if name in given:
            raise ApiError(400, f"{name} given twice", "give it once")
        given[name] = value
    refuse_empty("release", given.get("release"), 400)
    try:
        limit, offset = whole_number(given.pop("limit", str(DEFAULT_LIMIT))), whole_number(given.pop("offset", "0"))
    except ValueError:
        raise ApiError(400, "limit and offset are whole numbers", f"e.g. limit={DEFAULT_LIMIT}&offset=0") from None
    if limit < 1 or offset < 0:
        raise ApiError(400, "limit is at least 1 and offset at least 0", f"e.g. limit={DEFAULT_LIMIT}&offset=0")
    return min(limit, MAX_LIMIT), offset, given


def page(base: str, cid: str, features: list[dict[str, Any]], limit: int, offset: int,
         carried: dict[str, str]) -> dict[str, Any]:
    """The items page of `features` (all that match) from `offset`, with self, next and prev links that
    repeat the parameters `carried`."""
    chosen = features[offset:offset + limit]
    items = f"{base}/collections/{cid}/items"

    def link(rel: str, at: int) -> dict[str, str]:
        query = urlencode([("limit", str(limit)), ("offset", str(at)), *sorted(carried.items())])
        return {"href": f"{items}?{query}", "rel": rel, "type": GEOJSON}

    links = [link("self", offset)]
    if offset + len(chosen) < len(features):
        links.append(link("next", offset + len(chosen)))
    if offset > 0:
        links.append(link("prev", max(offset - limit, 0)))
    links.append({"href": f"{base}/collections/{cid}", "rel": "collection", "type": "application/json"})
    return {"type": "FeatureCollection", "features": chosen, "numberMatched": len(features),
            "numberReturned": len(chosen), "links": links}
