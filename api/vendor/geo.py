"""Maps: zones (conf/municipalities) and cameras (table 4.12 of a release) as GeoJSON (RFC 7946)."""

from __future__ import annotations

from typing import Any

from anpr.zones import Municipality, Zone
from api.common.errors import ApiError
from api.vendor.http import forbid


def _oriented(ring: list[tuple[float, float]] | list[list[float]], exterior: bool) -> list[list[float]]:
    points = [[float(lon), float(lat)] for lon, lat in ring]
    if points and points[0] != points[-1]:
        points.append(points[0])  # GeoJSON rings are closed
    # RFC 7946: exterior rings counterclockwise, holes clockwise; the shoelace sum is positive for clockwise.
    clockwise = sum((b[0] - a[0]) * (b[1] + a[1]) for a, b in zip(points, points[1:], strict=False)) > 0
    return points[::-1] if clockwise == exterior else points


def _geometry(zone: Zone) -> dict[str, Any]:
    """The zone's polygons, holes and several parts included."""
    parts = [[_oriented(ring, i == 0) for i, ring in enumerate(polygon)] for polygon in zone.polygons]
    if len(parts) == 1:
        return {"type": "Polygon", "coordinates": parts[0]}
    return {"type": "MultiPolygon", "coordinates": parts}


class ZoneRegistry:
    def __init__(self, municipalities: list[Municipality]) -> None:
        self.municipalities = {m.code: m for m in municipalities}
        self.zones = {z.zone_id: (m, z) for m in municipalities for z in m.zones}
        # The tables' zoneId is the NDW code; a zone is found by it or by its text id (zoneAanduiding).
        self.by_code = {str(z.ndw_code): z.zone_id for m in municipalities for z in m.zones}

    @property
    def zone_municipality(self) -> dict[str, dict[str, str]]:
        """Per field naming a zone, its filter value -> the zone's municipality's GM code: zoneId (the NDW
        code, as text) and zoneAanduiding (the text id)."""
        return {"zoneId": {str(z.ndw_code): m.code for m, z in self.zones.values()},
                "zoneAanduiding": {z.zone_id: m.code for m, z in self.zones.values()}}

    def listing(self, scope: frozenset[str]) -> dict[str, Any]:
        return {"municipalities": [
            {"gemeenteCode": m.code, "gemeente": m.municipality,
             "zones": [{"zoneId": z.ndw_code, "zoneAanduiding": z.zone_id, "zoneNaam": z.name} for z in m.zones]}
            for code, m in sorted(self.municipalities.items()) if code in scope]}

    def feature(self, zone_id: str) -> dict[str, Any]:
        m, zone = self.zones[zone_id]
        return {"type": "Feature", "id": zone.zone_id,
                "geometry": _geometry(zone),
                "properties": {"zoneId": zone.ndw_code, "zoneAanduiding": zone.zone_id, "zoneNaam": zone.name,
                               "gemeenteCode": m.code, "gemeente": m.municipality,
                               "cameras": sum(1 for c in m.cameras if c.zone_id == zone.zone_id)}}

    def zone(self, zone_id: str, scope: frozenset[str]) -> dict[str, Any]:
        """The zone with NDW code or text id `zone_id`; 404 unknown, 403 outside `scope`."""
        zone_id = self.by_code.get(zone_id, zone_id)
        if zone_id not in self.zones:
            raise ApiError(404, f"unknown zone {zone_id!r}", "list your zones at /v1/zones")
        forbid({self.zones[zone_id][0].code}, scope)
        return self.feature(zone_id)

    def collection(self, scope: frozenset[str], municipalities: list[str]) -> dict[str, Any]:
        forbid(set(municipalities), scope)
        wanted = set(municipalities) or scope
        features = [self.feature(zone_id) for zone_id, (m, _) in sorted(self.zones.items()) if m.code in wanted]
        return {"type": "FeatureCollection", "features": features}


def camera_id(row: dict[str, Any]) -> str:
    """The public id of a table 4.12 row's feature, in /v1/cameras and OGC alike: the OGC item path
    /ogc/collections/cameras/items/{id} documents it (docs/api.md), so a vendor can look either one up."""
    return f"{row['cameraId']}.{row['detectieRichting']}"


def camera_features(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One feature per table 4.12 row (a camera and detection direction), id `camera_id`; a camera without a
    position keeps its row with a null geometry (RFC 7946 3.2), so its availability is not lost to a map."""
    return [{"type": "Feature", "id": camera_id(row),
             "geometry": None if row.get("latitude") is None or row.get("longitude") is None
             else {"type": "Point", "coordinates": [row["longitude"], row["latitude"]]},
             "properties": row} for row in rows]


def camera_collection(rows: list[dict[str, Any]], release_id: str) -> dict[str, Any]:
    """One feature per camera and detection direction (`camera_features`), with every field of its row."""
    return {"type": "FeatureCollection", "releaseId": release_id, "features": camera_features(rows)}
