"""The camera fields that hold an area in GeoJSON (view_polygon_geojson, privacy_masks_geojson), checked.

The contract names the fields without a schema; RFC 7946 gives one. Accepted: a Polygon or MultiPolygon,
or a Feature or FeatureCollection of them (several privacy masks). Each position is two or three numbers,
longitude and latitude in WGS84 range; each ring is closed (its first and last positions equal) and has
at least four positions (RFC 7946 section 3.1.6); the area is a valid one (shapely: no ring crossing
itself). Anything else was a free-form object kept with the camera for good, where a supplier's stray
text (a plate read, a file name) would stay beyond the contract's 24 hours. Problems name the rule, never
a value or key sent.
"""

from __future__ import annotations

import math
from typing import Any

from shapely.geometry import shape

AREA_TYPES = ("Polygon", "MultiPolygon")
AREA_RULE = ("a GeoJSON Polygon or MultiPolygon (RFC 7946), or a Feature or FeatureCollection of them, "
             "in WGS84 longitude and latitude")


class GeoJsonProblem(ValueError):
    """What is wrong with a GeoJSON area, in words that quote nothing of it."""


def _number(value: Any) -> bool:
    # an int of any size compares with the ranges as it is; only a float can be NaN or infinite
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _position(value: Any) -> None:
    if not isinstance(value, list) or len(value) not in (2, 3) or not all(_number(v) for v in value):
        raise GeoJsonProblem("a position is not two or three numbers")
    if not (-180 <= value[0] <= 180 and -90 <= value[1] <= 90):
        raise GeoJsonProblem("a position is outside WGS84 longitude -180..180 and latitude -90..90")


def _polygon(rings: Any) -> None:
    if not isinstance(rings, list) or not rings:
        raise GeoJsonProblem("a polygon is not a list of rings")
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4:
            raise GeoJsonProblem("a ring has fewer than four positions")
        for position in ring:
            _position(position)
        if ring[0] != ring[-1]:
            raise GeoJsonProblem("a ring is not closed (its first and last positions differ)")


def _geometry(value: Any) -> None:
    if not isinstance(value, dict) or value.get("type") not in AREA_TYPES:
        raise GeoJsonProblem("a geometry is not a Polygon or MultiPolygon")
    coordinates = value.get("coordinates")
    if value["type"] == "Polygon":
        _polygon(coordinates)
    elif not isinstance(coordinates, list) or not coordinates:
        raise GeoJsonProblem("a MultiPolygon is not a list of polygons")
    else:
        for polygon in coordinates:
            _polygon(polygon)
    if not shape(value).is_valid:
        raise GeoJsonProblem("an area is not valid: a ring crosses itself or another")


def _feature(value: Any) -> None:
    if not isinstance(value, dict) or value.get("type") != "Feature":
        raise GeoJsonProblem("a FeatureCollection holds something that is not a Feature")
    _geometry(value.get("geometry"))


def check_area(value: dict[str, Any]) -> dict[str, Any]:
    """value itself when it is an area by AREA_RULE; else GeoJsonProblem naming the first rule it breaks."""
    kind = value.get("type")
    if kind == "FeatureCollection":
        features = value.get("features")
        if not isinstance(features, list) or not features:
            raise GeoJsonProblem("a FeatureCollection has no list of features")
        for feature in features:
            _feature(feature)
    elif kind == "Feature":
        _feature(value)
    else:
        _geometry(value)
    return value
