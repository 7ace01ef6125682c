"""Municipalities, their ZE zones and cameras, as declared in conf/municipalities/*.toml.

A zone is a GeoJSON polygon (inline `polygon` ring, or a `geojson` file beside the toml). A camera
without `zone_id` is assigned by location, and one without `obverse_direction` gets the direction
rule of its location, azimuth and zone boundary (anpr/geo.py). What cannot be resolved is listed in
`Municipality.problems`, never guessed: a camera without a zone is left out of `cameras`, one without
a direction keeps `obverse_direction = None` (its passages get no rijRichtingZone).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from anpr import geo
from anpr.settings import CONF_DIR

Direction = Literal["Inbound", "Outbound"]
NDW_CODE_MAX = 2**31 - 1


class Zone(BaseModel):
    zone_id: str  # the municipality's text id (GM0344-ZE1): published as the label zoneAanduiding
    # The NDW zone code: the working group's field spec publishes zoneId as this normalized number
    # (a 32-bit integer column in the published tables).
    ndw_code: int = Field(gt=0, le=NDW_CODE_MAX)
    name: str
    polygon: list[tuple[float, float]] = Field(default_factory=list)  # outer ring (lon, lat) of the first part
    geometry: dict[str, Any] | None = None  # GeoJSON Polygon or MultiPolygon, holes included

    @model_validator(mode="after")
    def _geometry(self) -> Zone:
        if self.geometry is None:
            if len(self.polygon) < 3:
                raise ValueError(f"zone {self.zone_id}: give a polygon ring or a GeoJSON geometry")
            self.geometry = geo.polygon_geojson(self.polygon)
        parts = geo.polygons_of(self.geometry)
        if not self.polygon:
            self.polygon = parts[0][0]
        return self

    @property
    def polygons(self) -> geo.MultiPolygon:
        assert self.geometry is not None
        return geo.polygons_of(self.geometry)


class Camera(BaseModel):
    camera_id: Annotated[str, StringConstraints(to_lower=True)]  # a uuid: one id in either case
    name: str
    lat: float
    lon: float
    azimuth_deg: float | None = None
    zone_id: str
    camera_type: Literal["monitoring", "enforcement", "hybrid"] = "enforcement"
    obverse_direction: Direction | None = None
    direction_source: Literal["declared", "geometry", "unresolved"] = "declared"

    @property
    def reverse_direction(self) -> Direction | None:
        if self.obverse_direction is None:
            return None
        return "Outbound" if self.obverse_direction == "Inbound" else "Inbound"


class CameraProblem(BaseModel):
    camera_id: str
    name: str
    problem: str
    excluded: bool  # True: no zone, the camera is not used; False: used, without a direction rule or with a warning


class TimeWindow(BaseModel):
    name: str
    start: str = Field(pattern=r"^\d{2}:\d{2}$")
    end: str = Field(pattern=r"^\d{2}:\d{2}$")
    weekdays: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])


def _as_dict(item: Any) -> dict[str, Any]:
    return item.model_dump() if isinstance(item, BaseModel) else dict(item)


def resolve_camera(raw: dict[str, Any], zones: list[Zone]) -> tuple[dict[str, Any] | None, CameraProblem | None]:
    """Zone and direction rule of one declared camera; (None, problem) when it has no zone."""
    cam = dict(raw)
    ident, name = str(cam.get("camera_id", "?")), str(cam.get("name", "?"))
    lon, lat = float(cam["lon"]), float(cam["lat"])
    by_id = {z.zone_id: z for z in zones}
    if not cam.get("zone_id"):
        match = geo.assign_zone([(z.zone_id, z.polygons) for z in zones], lon, lat)
        if match.zone_id is None:
            return None, CameraProblem(camera_id=ident, name=name, problem=f"no zone: {match.problem}", excluded=True)
        cam["zone_id"] = match.zone_id
    elif cam["zone_id"] not in by_id:
        raise ValueError(f"camera {ident} names zone {cam['zone_id']!r}, which is not declared")
    rule = geo.direction_rule(by_id[cam["zone_id"]].polygons, lon, lat, cam.get("azimuth_deg"))
    problem = None
    if cam.get("obverse_direction"):
        cam["direction_source"] = "declared"
        if rule.obverse is not None and rule.obverse != cam["obverse_direction"]:
            problem = (f"declared obverse_direction {cam['obverse_direction']} but location and azimuth say "
                       f"{rule.obverse}: check azimuth_deg")
    elif rule.obverse is not None:
        cam["obverse_direction"], cam["direction_source"] = rule.obverse, "geometry"
    else:
        cam["obverse_direction"], cam["direction_source"] = None, "unresolved"
        problem = f"no direction rule: {rule.problem}; declare obverse_direction or fix location/azimuth"
    found = CameraProblem(camera_id=ident, name=name, problem=problem, excluded=False) if problem else None
    return cam, found


Unclassified = Literal["Buitenlands", "Onbekend"]
OwnerType = Literal["Bedrijf", "Particulier"]


def _company_owners() -> list[OwnerType]:
    return ["Bedrijf"]


def _all_unclassified() -> list[Unclassified]:
    return ["Buitenlands", "Onbekend"]


class Scope(BaseModel):
    """Which detections the stream keeps as passages (data minimization: the statistics office receives
    information on company vehicles only). A detection is in scope when its vehicle type (voertuig_type,
    as the register derives it: conf/register.toml [voertuig_type]) is listed, or its owner type
    (eigenaar_type: Bedrijf or Particulier) is, or the register has no entry for it and its label
    (Buitenlands: a foreign plate, Onbekend: a Dutch plate the register lacks) is in `unclassified`.
    Everything else is dropped right after enrichment and only counted, without any token
    (stream table out_of_scope)."""

    model_config = {"extra": "forbid"}
    voertuig_types: list[str] = Field(default_factory=lambda: ["Bestelauto", "Vrachtauto", "Bus"])
    eigenaar_types: list[OwnerType] = Field(default_factory=_company_owners)
    # Kept by default: the register cannot tell a company vehicle from a private one here, and ZE zones
    # apply to foreign vans and trucks too; dropping them would lose the zone's foreign logistics and,
    # before a register load, every detection, irrecoverably (the stream keeps no detection it drops).
    unclassified: list[Unclassified] = Field(default_factory=_all_unclassified)


class Municipality(BaseModel):
    municipality: str
    code: str
    zones: list[Zone] = Field(min_length=1)
    scope: Scope = Field(default_factory=Scope)
    time_windows: list[TimeWindow] = Field(default_factory=list)
    cameras: list[Camera] = Field(default_factory=list)
    problems: list[CameraProblem] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _resolve_cameras(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "cameras" not in data:
            return data
        zones = [z if isinstance(z, Zone) else Zone.model_validate(z) for z in data.get("zones", [])]
        cameras, problems = [], [CameraProblem.model_validate(_as_dict(p)) for p in data.get("problems", [])]
        for raw in data["cameras"]:
            cam, problem = resolve_camera(_as_dict(raw), zones)
            if cam is not None:
                cameras.append(cam)
            if problem is not None and problem.camera_id not in {p.camera_id for p in problems}:
                problems.append(problem)
        return {**data, "zones": zones, "cameras": cameras, "problems": problems}

    def zone(self, zone_id: str) -> Zone:
        for zone in self.zones:
            if zone.zone_id == zone_id:
                return zone
        raise KeyError(f"{self.municipality} has no zone {zone_id}")


def _read_zone_files(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Replace each zone's `geojson = "file"` by its geometry (the feature whose zone_id matches)."""
    zones = []
    for zone in raw.get("zones", []):
        zone = dict(zone)
        name = zone.pop("geojson", None)
        if name is not None:
            features = geo.load_geojson_features(base / name)
            matching = [f for f in features if (f.get("properties") or {}).get("zone_id") == zone.get("zone_id")]
            if not matching and len(features) == 1:
                matching = features
            if len(matching) != 1:
                raise ValueError(f"{name}: no single feature with zone_id {zone.get('zone_id')!r}")
            zone["geometry"] = matching[0]["geometry"]
        zones.append(zone)
    return {**raw, "zones": zones}


def _check_codes(path: Path, raw: dict[str, Any]) -> None:
    """One line naming the file and zone for a zone without an ndw_code, or sharing one within the file."""
    seen: dict[int, str] = {}
    for zone in raw.get("zones", []):
        ident = zone.get("zone_id", "?")
        code = zone.get("ndw_code")
        if code is None:
            raise ValueError(f"{path}: zone {ident} has no ndw_code (its NDW zone code, published as zoneId)")
        if not isinstance(code, int) or isinstance(code, bool) or not 0 < code <= NDW_CODE_MAX:
            raise ValueError(f"{path}: zone {ident}: ndw_code {code!r} is not a positive integer")
        if code in seen:
            raise ValueError(f"{path}: zone {ident} has ndw_code {code}, as zone {seen[code]} has")
        seen[code] = ident


def load_municipality(path: Path) -> Municipality:
    try:
        raw = tomllib.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    _check_codes(path, raw)
    try:
        return Municipality.model_validate(_read_zone_files(raw, path.parent))
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def load_municipalities(conf_dir: Path = CONF_DIR) -> list[Municipality]:
    """Every municipality; ValueError (one line, naming the file and zone) for a zone without an ndw_code
    or with one that another zone, in any file, has: zoneId must name one zone in every table."""
    out: list[Municipality] = []
    seen: dict[int, str] = {}
    for path in sorted((conf_dir / "municipalities").glob("*.toml")):
        municipality = load_municipality(path)
        for zone in municipality.zones:
            if zone.ndw_code in seen:
                raise ValueError(f"{path}: zone {zone.zone_id} has ndw_code {zone.ndw_code}, as zone "
                                 f"{seen[zone.ndw_code]} has")
            seen[zone.ndw_code] = f"{zone.zone_id} ({path.name})"
        out.append(municipality)
    return out


def camera_rows(municipalities: list[Municipality]) -> list[dict[str, object]]:
    """One row per camera with everything enrichment needs (zone, municipality, direction rule)."""
    rows = []
    for m in municipalities:
        for c in m.cameras:
            rows.append({
                "camera_id": c.camera_id, "camera_name": c.name, "municipality": m.code,
                "zone_id": c.zone_id, "zone_name": m.zone(c.zone_id).name, "latitude": c.lat,
                "longitude": c.lon, "azimuth_deg": c.azimuth_deg,
                "obverse_direction": c.obverse_direction, "reverse_direction": c.reverse_direction,
            })
    return rows


def zone_codes(municipalities: list[Municipality]) -> dict[str, int]:
    """Text zone id (zone_id) -> NDW zone code (ndw_code, the published zoneId)."""
    return {z.zone_id: z.ndw_code for m in municipalities for z in m.zones}


def municipality_by_code(code: str, conf_dir: Path = CONF_DIR) -> Municipality:
    for m in load_municipalities(conf_dir):
        if m.code == code:
            return m
    raise KeyError(f"no municipality {code} in {conf_dir / 'municipalities'}")
