"""Zone geometry: GeoJSON polygons, zone assignment by location and each camera's direction rule.

Positions are WGS84 (lon, lat) degrees; distances and crossings are measured with shapely in the Dutch
national grid, RD New (EPSG:28992, projected by pyproj), in metres. Its scale stays within 0.01% of ground
distance over the Netherlands (a few centimetres over the 250 m a cordon camera watches), so zones must
lie in its area of use. A polygon edge is the straight line between its ends in RD, not in lon/lat as
RFC 7946 has it: midway they part by about L**2 / 40,000 km, 6 cm along a 1.5 km east-west edge.
Headings are degrees from true north; RD's grid north differs from it by the meridian convergence (up
to 1.6 degrees at the country's edges), which is corrected for.

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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import shapely
from pyproj import CRS, Proj, Transformer

Direction = Literal["Inbound", "Outbound"]
Ring = list[tuple[float, float]]  # (lon, lat), closed or not
Polygon = list[Ring]  # outer ring first, then holes
MultiPolygon = list[Polygon]

RD_NEW = "EPSG:28992"
# A cordon camera watches the road where it crosses the zone boundary; farther away, which side of
# the boundary a vehicle is heading for is not the camera's to tell.
MAX_BOUNDARY_DISTANCE_M = 250.0
# Crossings this close in distance on both sides of the camera make the direction a coin toss.
AMBIGUITY_RATIO = 0.8
ON_BOUNDARY_M = 5.0


class GeometryError(ValueError):
    pass


@cache
def _to_rd() -> Transformer:
    # Built on first use: it reads PROJ's database, which importing this module should not.
    return Transformer.from_crs("EPSG:4326", RD_NEW, always_xy=True)


@cache
def _rd_proj() -> Proj:
    return Proj(RD_NEW)


@cache
def _rd_area() -> tuple[float, float, float, float]:
    area = CRS(RD_NEW).area_of_use
    assert area is not None
    return area.bounds  # west, south, east, north in degrees


def _ring(coords: Any) -> Ring:
    ring = [(float(p[0]), float(p[1])) for p in coords]
    if len(ring) < 3:
        raise GeometryError("a polygon ring needs at least three positions")
    west, south, east, north = _rd_area()
    for lon, lat in ring:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise GeometryError(f"position ({lon}, {lat}) is not WGS84 lon/lat")
        if not (west <= lon <= east and south <= lat <= north):
            raise GeometryError(f"position ({lon}, {lat}) is outside the Netherlands, where zones are measured "
                                f"(RD New, {RD_NEW})")
    return ring


def polygons_of(geojson: dict[str, Any]) -> MultiPolygon:
    """The polygons of a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection: [polygon][ring][(lon, lat)].

    Raises GeometryError for another type, a ring of fewer than three positions, a position outside the
    Netherlands, or a polygon that is not valid as OGC simple features define it (shapely's reason, in RD
    metres, e.g. "Self-intersection[136756 455782]").
    """
    polygons = _parts(geojson)
    for polygon in polygons:
        try:
            shape = _rd_polygon(polygon)
        except (ValueError, shapely.errors.GEOSException) as exc:  # e.g. a ring of two distinct positions
            raise GeometryError(f"zone polygon cannot be built: {exc}") from None
        if not shape.is_valid:
            raise GeometryError(f"zone polygon is not valid: {shapely.is_valid_reason(shape)}")
    return polygons


def _parts(geojson: dict[str, Any]) -> MultiPolygon:
    kind = geojson.get("type")
    if kind == "Polygon":
        return [[_ring(r) for r in geojson["coordinates"]]]
    if kind == "MultiPolygon":
        return [[_ring(r) for r in poly] for poly in geojson["coordinates"]]
    if kind == "Feature":
        return _parts(geojson["geometry"])
    if kind == "FeatureCollection":
        return [p for f in geojson["features"] for p in _parts(f)]
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


def _rd(lon: float, lat: float) -> tuple[float, float]:
    x, y = _to_rd().transform(lon, lat)
    return float(x), float(y)


def _rd_ring(ring: Ring) -> np.ndarray:
    lon, lat = np.asarray(ring, dtype=float).T
    return np.column_stack(_to_rd().transform(lon, lat, errcheck=True))


def _rd_polygon(polygon: Polygon) -> shapely.Polygon:
    shell, *holes = (_rd_ring(ring) for ring in polygon)
    return shapely.Polygon(shell, holes)


def _rd_shape(polygons: MultiPolygon) -> shapely.MultiPolygon:
    return shapely.MultiPolygon([_rd_polygon(p) for p in polygons])


def _grid_unit(lon: float, lat: float, heading_deg: float) -> tuple[float, float]:
    """The RD grid direction (east, north) of a true heading at this position."""
    convergence = _rd_proj().get_factors(lon, lat).meridian_convergence  # grid north, degrees from true
    h = math.radians(heading_deg - convergence)
    return math.sin(h), math.cos(h)


def contains(polygons: MultiPolygon, lon: float, lat: float) -> bool:
    """Whether the position is inside the polygons (their boundary included, their holes not)."""
    return bool(_rd_shape(polygons).covers(shapely.Point(_rd(lon, lat))))


def boundary_distance_m(polygons: MultiPolygon, lon: float, lat: float) -> float:
    """Metres from the position to the nearest boundary of the polygons, holes' boundaries included."""
    return float(_rd_shape(polygons).boundary.distance(shapely.Point(_rd(lon, lat))))


def crossings_m(polygons: MultiPolygon, lon: float, lat: float, heading_deg: float) -> list[float]:
    """Signed distances in metres along the heading (positive ahead) at which the line through the position
    crosses or touches the boundary; where the line runs along an edge, that edge's two ends."""
    shape = _rd_shape(polygons)
    x, y = _rd(lon, lat)
    ux, uy = _grid_unit(lon, lat, heading_deg)
    minx, miny, maxx, maxy = shape.bounds
    reach = math.hypot(max(abs(minx - x), abs(maxx - x)), max(abs(miny - y), abs(maxy - y))) + 1.0
    # The position is a vertex of the line, so a boundary vertex at the camera itself meets it exactly.
    line = shapely.LineString([(x - reach * ux, y - reach * uy), (x, y), (x + reach * ux, y + reach * uy)])
    met = shapely.get_coordinates(line.intersection(shape.boundary))
    return sorted({float((px - x) * ux + (py - y) * uy) for px, py in met})


def _offset_inside(polygons: MultiPolygon, lon: float, lat: float, heading_deg: float, metres: float) -> bool:
    x, y = _rd(lon, lat)
    ux, uy = _grid_unit(lon, lat, heading_deg)
    return bool(_rd_shape(polygons).covers(shapely.Point(x + metres * ux, y + metres * uy)))


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
        before, after = (_offset_inside(polygons, lon, lat, heading, d) for d in (-10.0, 10.0))
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
