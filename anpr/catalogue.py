"""Published tables: their working-group field names, definitions and protection, shared by jobs and API."""

from __future__ import annotations

from dataclasses import dataclass, field

# Kept on every published row so the API can authorize per municipality and filter per zone.
SCOPE = ["gemeenteCode", "zoneId"]


@dataclass(frozen=True)
class TableSpec:
    name: str
    number: str
    title: str
    dimensions: list[str]
    measures: list[str]
    definitions: dict[str, str] = field(default_factory=dict)
    protection: str = ""

    @property
    def columns(self) -> list[str]:
        return [*SCOPE, *self.dimensions, *self.measures]


DEFINITIONS = {
    "aantalPassages": "Valid detections (one vehicle passing one camera once), duplicates removed.",
    "aantalUniekeVoertuigen": "Distinct vehicles: distinct month-scoped pseudonyms, so a vehicle counts once "
                              "per cell in a month and cannot be followed across months.",
    "weekDag": "ISO weekday of the local (Europe/Amsterdam) event time, 1 = Monday.",
    "uur": "Hour 0-23 of the local event time.",
    "rijRichtingZone": "Inbound or Outbound, from the camera's rule for the detection direction.",
    "voertuigType": "Register vehicle type as of the event time; Buitenlands for foreign plates, "
                    "Onbekend for Dutch plates without a register match.",
}

HOURLY_PER_CAMERA = TableSpec(
    name="t4_1_uur_camera",
    number="4.1",
    title="Passages per camera, richting, voertuigtype, weekdag en uur",
    dimensions=["cameraId", "locatie", "rijRichtingZone", "voertuigType", "weekDag", "uur", "maand", "jaar"],
    measures=["aantalPassages", "aantalUniekeVoertuigen"],
    definitions=DEFINITIONS,
    protection="Frequency rule: cells with fewer than the configured number of distinct vehicles "
               "(default 10) publish no counts (null).",
)

TABLES: dict[str, TableSpec] = {spec.name: spec for spec in [HOURLY_PER_CAMERA]}
