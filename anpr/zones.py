"""Municipalities, their ZE zones and cameras, as declared in conf/municipalities/*.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from anpr.settings import CONF_DIR

Direction = Literal["Inbound", "Outbound"]


class Zone(BaseModel):
    zone_id: str
    name: str
    polygon: list[tuple[float, float]]


class Camera(BaseModel):
    camera_id: str
    name: str
    lat: float
    lon: float
    azimuth_deg: float | None = None
    zone_id: str
    camera_type: Literal["monitoring", "enforcement", "hybrid"] = "enforcement"
    obverse_direction: Direction

    @property
    def reverse_direction(self) -> Direction:
        return "Outbound" if self.obverse_direction == "Inbound" else "Inbound"


class TimeWindow(BaseModel):
    name: str
    start: str = Field(pattern=r"^\d{2}:\d{2}$")
    end: str = Field(pattern=r"^\d{2}:\d{2}$")
    weekdays: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])


class Municipality(BaseModel):
    municipality: str
    code: str
    zones: list[Zone] = Field(min_length=1)
    time_windows: list[TimeWindow] = Field(default_factory=list)
    cameras: list[Camera] = Field(min_length=1)

    def zone(self, zone_id: str) -> Zone:
        for zone in self.zones:
            if zone.zone_id == zone_id:
                return zone
        raise KeyError(f"{self.municipality} has no zone {zone_id}")


def load_municipalities(conf_dir: Path = CONF_DIR) -> list[Municipality]:
    found = []
    for path in sorted((conf_dir / "municipalities").glob("*.toml")):
        try:
            found.append(Municipality.model_validate(tomllib.loads(path.read_text())))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
    return found


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
