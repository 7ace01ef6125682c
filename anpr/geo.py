"""Zone geometry: GeoJSON polygons, zone assignment by location and each camera's direction rule.

Distances are computed in a local tangent plane around the point of interest (metres): a zone is a
few kilometres across, where the flat-earth error stays far below a road's width.

Direction rule. A camera looks along its azimuth; an obverse read (front plate) is a vehicle driving
towards the camera, so against the azimuth, a reverse read one driving away along it. Following that
heading through the camera's position, the nearest crossing of the zone boundary tells the direction:
a crossing ahead means the vehicle is about to enter (camera outside) or leave (inside), a crossing
behind that it has just done so. With no crossing near the camera, or crossings at about the same
distance on both sides, the camera cannot be resolved and the rule says so instead of guessing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Direction = Literal["Inbound", "Outbound"]
Ring = list[tuple[float, float]]  # (lon, lat), closed or not
Polygon = list[Ring]  # outer ring first, then holes
MultiPolygon = list[Polygon]

EARTH_M_PER_DEG_LAT = 110_540.0
EARTH_M_PER_DEG_LON_EQUATOR = 111_320.0
# A cordon camera watches the road where it crosses the zone boundary; farther away, which side of
# the boundary a vehicle is heading for is not the camera's to tell.
MAX_BOUNDARY_DISTANCE_M = 250.0
# Crossings this close in distance on both sides of the camera make the direction a coin toss.
AMBIGUITY_RATIO = 0.8
ON_BOUNDARY_M = 5.0


class GeometryError(ValueError):
    pass


def _ring(coords: Any) -> Ring:
    ring = [(float(p[0]), float(p[1])) for p in coords]
    if len(ring) < 3:
        raise GeometryError("a polygon ring needs at least three positions")
    for lon, lat in ring:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise GeometryError(f"position ({lon}, {lat}) is not WGS84 lon/lat")
    return ring


def polygons_of(geojson: dict[str, Any]) -> MultiPolygon:
    """The polygons of a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection."""
    kind = geojson.get("type")
    if kind == "Polygon":
        return [[_ring(r) for r in geojson["coordinates"]]]
    if kind == "MultiPolygon":
        return [[_ring(r) for r in poly] for poly in geojson["coordinates"]]
    if kind == "Feature":
        return polygons_of(geojson["geometry"])
    if kind == "FeatureCollection":
        return [p for f in geojson["features"] for p in polygons_of(f)]
    raise GeometryError(f"expected a GeoJSON Polygon or MultiPolygon, got {kind!r}")


def polygon_geojson(ring: Sequence[tuple[float, float]]) -> dict[str, Any]:
    closed = list(ring) if ring[0] == ring[-1] else [*ring, ring[0]]
    return {"type": "Polygon", "coordinates": [[list(p) for p in closed]]}


def load_geojson_features(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    if data.get("type") == "FeatureCollection":
        return list(data["features"])
    if data.get("type") == "Feature":
        return [data]
    return [{"type": "Feature", "properties": {}, "geometry": data}]


def _project(lon: float, lat: float, lon0: float, lat0: float) -> tuple[float, float]:
    return ((lon - lon0) * EARTH_M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat0)),
            (lat - lat0) * EARTH_M_PER_DEG_LAT)


def _offset(lon: float, lat: float, heading_deg: float, metres: float) -> tuple[float, float]:
    h = math.radians(heading_deg)
    return (lon + metres * math.sin(h) / (EARTH_M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))),
            lat + metres * math.cos(h) / EARTH_M_PER_DEG_LAT)


def _edges(polygons: MultiPolygon) -> Iterable[tuple[tuple[float, float], tuple[float, float]]]:
    for polygon in polygons:
        for ring in polygon:
            for i in range(len(ring)):
                a, b = ring[i], ring[(i + 1) % len(ring)]
                if a != b:
                    yield a, b


def _in_ring(ring: Ring, lon: float, lat: float) -> bool:
    inside = False
    for i in range(len(ring)):
        (x1, y1), (x2, y2) = ring[i], ring[(i + 1) % len(ring)]
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def contains(polygons: MultiPolygon, lon: float, lat: float) -> bool:
    return any(_in_ring(p[0], lon, lat) and not any(_in_ring(h, lon, lat) for h in p[1:]) for p in polygons)


def boundary_distance_m(polygons: MultiPolygon, lon: float, lat: float) -> float:
    best = math.inf
    for a, b in _edges(polygons):
        ax, ay = _project(*a, lon, lat)
        bx, by = _project(*b, lon, lat)
        dx, dy = bx - ax, by - ay
        t = max(0.0, min(1.0, -(ax * dx + ay * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(ax + t * dx, ay + t * dy))
    return best


def crossings_m(polygons: MultiPolygon, lon: float, lat: float, heading_deg: float) -> list[float]:
    """Signed distances along the heading (positive ahead) at which the line crosses the boundary."""
    ux, uy = math.sin(math.radians(heading_deg)), math.cos(math.radians(heading_deg))
    found = []
    for a, b in _edges(polygons):
        ax, ay = _project(*a, lon, lat)
        bx, by = _project(*b, lon, lat)
        ex, ey = bx - ax, by - ay
        denominator = ux * ey - uy * ex
        if abs(denominator) < 1e-12:
            continue  # parallel to this edge
        t = (ax * ey - ay * ex) / denominator  # along the heading
        s = (ax * uy - ay * ux) / denominator  # along the edge
        if 0.0 <= s <= 1.0:
            found.append(t)
    return found


@dataclass(frozen=True)
class DirectionRule:
    obverse: Direction | None
    problem: str | None = None

    @property
    def reverse(self) -> Direction | None:
        if self.obverse is None:
            return None
        return "Outbound" if self.obverse == "Inbound" else "Inbound"


def direction_rule(polygons: MultiPolygon, lon: float, lat: float, azimuth_deg: float | None,
                   max_distance_m: float = MAX_BOUNDARY_DISTANCE_M) -> DirectionRule:
    """Inbound or Outbound for an obverse read at this camera, or why that cannot be told."""
    if azimuth_deg is None:
        return DirectionRule(None, "no azimuth_deg: the viewing direction is needed to tell in from out")
    heading = (azimuth_deg + 180.0) % 360.0  # an obverse read drives towards the camera
    near = [t for t in crossings_m(polygons, lon, lat, heading) if abs(t) <= max_distance_m]
    if not near:
        return DirectionRule(None, f"the zone boundary is not within {max_distance_m:.0f} m along the road "
                                   f"the camera watches (azimuth {azimuth_deg:g})")
    ahead = min((t for t in near if t > 0), default=math.inf)
    behind = min((-t for t in near if t <= 0), default=math.inf)
    if min(ahead, behind) < ON_BOUNDARY_M:
        # On the boundary itself: which side the road comes from and goes to decides.
        before, after = (contains(polygons, *_offset(lon, lat, heading, d)) for d in (-10.0, 10.0))
        if before == after:
            return DirectionRule(None, "the camera is on the zone boundary and its road runs along it")
        return DirectionRule("Inbound" if after else "Outbound")
    if min(ahead, behind) / max(ahead, behind) > AMBIGUITY_RATIO:
        return DirectionRule(None, f"boundary crossings {ahead:.0f} m ahead and {behind:.0f} m behind: ambiguous")
    inside = contains(polygons, lon, lat)
    entering = (ahead < behind) != inside  # crossing ahead from outside, or just crossed into the inside
    return DirectionRule("Inbound" if entering else "Outbound")


@dataclass(frozen=True)
class ZoneMatch:
    zone_id: str | None
    problem: str | None = None


def assign_zone(zones: Sequence[tuple[str, MultiPolygon]], lon: float, lat: float,
                max_distance_m: float = MAX_BOUNDARY_DISTANCE_M) -> ZoneMatch:
    """The zone containing the camera or, for a cordon camera just outside, the nearest one."""
    inside = [zone_id for zone_id, polygons in zones if contains(polygons, lon, lat)]
    if len(inside) == 1:
        return ZoneMatch(inside[0])
    if len(inside) > 1:
        return ZoneMatch(None, f"inside several zones ({', '.join(inside)}): set zone_id")
    near = sorted((boundary_distance_m(polygons, lon, lat), zone_id) for zone_id, polygons in zones)
    near = [(d, z) for d, z in near if d <= max_distance_m]
    if not near:
        return ZoneMatch(None, f"not inside any zone nor within {max_distance_m:.0f} m of one")
    if len(near) > 1 and near[1][0] - near[0][0] < 10.0:
        return ZoneMatch(None, f"as near to {near[0][1]} as to {near[1][1]}: set zone_id")
    return ZoneMatch(near[0][1])
