"""Zones and direction rules: which zone a camera serves and whether its front-plate reads enter or leave."""

from __future__ import annotations

import pytest
from pyproj import Geod

from anpr import geo
from anpr.zones import Municipality, camera_rows, load_municipalities

# A 1.8 km x 1.5 km zone around (5.121, 52.090), like Utrecht's centre ring; a hole in the middle.
RING = [(5.110, 52.0985), (5.132, 52.0985), (5.132, 52.082), (5.110, 52.082), (5.110, 52.0985)]
HOLE = [(5.119, 52.091), (5.123, 52.091), (5.123, 52.089), (5.119, 52.089), (5.119, 52.091)]
ZONE = geo.polygons_of({"type": "Polygon", "coordinates": [RING, HOLE]})


def test_inside_outside_and_holes():
    assert geo.contains(ZONE, 5.115, 52.095)
    assert not geo.contains(ZONE, 5.121, 52.090)  # in the hole
    assert not geo.contains(ZONE, 5.140, 52.090)
    two = geo.polygons_of({"type": "MultiPolygon", "coordinates": [[RING], [[(6.0, 52.0), (6.1, 52.0), (6.1, 52.1)]]]})
    assert geo.contains(two, 6.09, 52.05)


def test_distances_are_ground_metres():
    """Measured in RD New: 111.20 m from a camera to the zone's north edge 0.001 degree of latitude away, where the
    geodesic to that parallel is 111.27 m (the edge is the straight chord between its corners, 6 cm south of the
    parallel midway along 1.5 km). The former flat-earth plane said 110.54 m: it used the equator's 110,540 m per
    degree of latitude, 0.6% short at 52 degrees north."""
    ground = Geod(ellps="WGS84").inv(5.1200, 52.0995, 5.1200, 52.0985)[2]
    assert ground == pytest.approx(111.27, abs=0.01)
    assert geo.boundary_distance_m(ZONE, 5.1200, 52.0995) == pytest.approx(111.20, abs=0.01)
    # Looking south: the north edge, the hole's two edges, the south edge.
    assert geo.crossings_m(ZONE, 5.1200, 52.0995, 180.0) == pytest.approx([111.2, 945.7, 1168.2, 1947.0], abs=0.1)
    assert geo.crossings_m(ZONE, 5.1200, 52.0995, 90.0) == []  # parallel to the north edge, outside


@pytest.mark.parametrize("geometry, expected", [
    ({"type": "Point", "coordinates": [5.1, 52.0]}, "expected a GeoJSON Polygon or MultiPolygon, got 'Point'"),
    ({"type": "Polygon", "coordinates": [[(5.1, 52.0), (5.2, 52.0)]]}, "a polygon ring needs at least three"),
    ({"type": "Polygon", "coordinates": [[(5.1, 52.0), (5.2, 52.1), (5.2, 52.0), (5.1, 52.1)]]},
     "zone polygon is not valid: Self-intersection[138729"),  # a bow tie, RD metres
    ({"type": "Polygon", "coordinates": [[(2.35, 48.85), (2.36, 48.85), (2.36, 48.86)]]},
     "position (2.35, 48.85) is outside the Netherlands, where zones are measured (RD New, EPSG:28992)"),
    ({"type": "Polygon", "coordinates": [[(5.1, 95.0), (5.2, 52.0), (5.2, 52.1)]]},
     "position (5.1, 95.0) is not WGS84 lon/lat"),
])
def test_unusable_zone_geometry_is_refused_with_the_reason(geometry, expected):
    with pytest.raises(geo.GeometryError) as refused:
        geo.polygons_of(geometry)
    assert str(refused.value).startswith(expected)


@pytest.mark.parametrize("lat, lon, azimuth, expected", [
    (52.0975, 5.1135, 340, "Inbound"),   # inside, 110 m from the north edge, looking out across it
    (52.0975, 5.1135, 160, "Outbound"),  # same spot looking into the zone: front plates are leaving
    (52.0995, 5.1200, 180, "Outbound"),  # outside the north edge looking at the zone: cars coming out
    (52.0995, 5.1200, 0, "Inbound"),     # outside looking away: front plates drive towards the zone
    (52.0830, 5.1240, 180, "Inbound"),   # inside near the south edge, looking out
])
def test_front_plate_reads_enter_or_leave_by_geometry(lat, lon, azimuth, expected):
    rule = geo.direction_rule(ZONE, lon, lat, azimuth)
    assert (rule.obverse, rule.problem) == (expected, None)
    assert rule.reverse == ("Outbound" if expected == "Inbound" else "Inbound")


def test_cameras_that_cannot_be_resolved_say_why():
    interior = geo.direction_rule(ZONE, 5.1150, 52.0930, 90)  # 350 m from the west edge, looking east
    assert interior.obverse is None and "not within 250 m" in str(interior.problem)
    blind = geo.direction_rule(ZONE, 5.1135, 52.0975, None)
    assert blind.obverse is None and "azimuth" in str(blind.problem)
    corner = geo.direction_rule(ZONE, 5.1100, 52.0985, 225)  # on the corner, its road grazing the zone
    assert corner.obverse is None and "on the zone boundary" in str(corner.problem)
    across = geo.direction_rule(ZONE, 5.1100, 52.0985, 315)  # on the corner, its road cutting into the zone
    assert across.obverse == "Inbound"


def test_cameras_are_assigned_to_the_zone_they_stand_in_or_next_to():
    zones = [("A", ZONE), ("B", geo.polygons_of({"type": "Polygon", "coordinates": [
        [(5.140, 52.0985), (5.150, 52.0985), (5.150, 52.082), (5.140, 52.082)]]}))]
    assert geo.assign_zone(zones, 5.115, 52.095).zone_id == "A"
    assert geo.assign_zone(zones, 5.1335, 52.090).zone_id == "A"  # 100 m east of A, 450 m from B
    far = geo.assign_zone(zones, 5.200, 52.090)
    assert far.zone_id is None and "not inside any zone" in str(far.problem)


def test_utrecht_cameras_resolve_and_keep_the_enrichment_columns():
    utrecht = load_municipalities()[0]
    assert utrecht.problems == []
    sources = {c.name: c.direction_source for c in utrecht.cameras}
    assert sources.pop("Mariaplaats") == "declared" and set(sources.values()) == {"geometry"}
    rows = camera_rows([utrecht])
    assert {r["obverse_direction"] for r in rows} == {"Inbound"} and {r["zone_id"] for r in rows} == {"GM0344-ZE1"}
    assert set(rows[0]) == {"camera_id", "camera_name", "municipality", "zone_id", "zone_name", "latitude",
                            "longitude", "azimuth_deg", "obverse_direction", "reverse_direction"}


def test_unresolved_cameras_are_reported_not_guessed():
    m = Municipality.model_validate({
        "municipality": "Proefstad", "code": "GM9999",
        "zones": [{"zone_id": "Z", "ndw_code": 1, "name": "Zone", "polygon": RING[:-1]}],
        "cameras": [
            {"camera_id": "c-edge", "name": "Edge", "lat": 52.0975, "lon": 5.1135, "azimuth_deg": 340},
            {"camera_id": "c-far", "name": "Far away", "lat": 52.2, "lon": 5.3, "azimuth_deg": 0},
            {"camera_id": "c-mid", "name": "Middle", "lat": 52.090, "lon": 5.121, "azimuth_deg": 0},
            {"camera_id": "c-odd", "name": "Odd", "lat": 52.0975, "lon": 5.1135, "azimuth_deg": 160,
             "obverse_direction": "Inbound"},
        ]})
    assert [(c.camera_id, c.obverse_direction) for c in m.cameras] == [
        ("c-edge", "Inbound"), ("c-mid", None), ("c-odd", "Inbound")]
    problems = {p.camera_id: (p.excluded, p.problem) for p in m.problems}
    assert problems["c-far"][0] is True and "no zone" in problems["c-far"][1]
    assert problems["c-mid"][0] is False and "no direction rule" in problems["c-mid"][1]
    assert "but location and azimuth say Outbound" in problems["c-odd"][1]
    assert camera_rows([m])[1]["reverse_direction"] is None
