"""Seeded synthetic zone-day: a fleet, its register rows and the camera detections it causes.

Only synthetic plates: generated from Dutch side-code patterns (and a few foreign formats) by a
seeded random generator, so tests and demos never touch real registrations.
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from anpr.zones import Camera

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
LETTERS = "BDFGHJKLNPRSTVXZ"  # RDW side codes use no vowels
# Relative traffic per local hour: morning and evening peaks, quiet nights.
HOURLY_WEIGHTS = [1, 1, 1, 1, 2, 4, 9, 16, 18, 14, 12, 12, 12, 12, 12, 13, 16, 17, 13, 9, 6, 4, 3, 2]
# Utrecht-like class mix of detected vehicles (register voertuigType).
CLASS_MIX = [("Personenauto", 0.83), ("Bestelauto", 0.11), ("Vrachtauto", 0.01), ("Bus", 0.01),
             ("Overig", 0.04)]
FOREIGN_SHARE = 0.04
UNREGISTERED_SHARE = 0.01  # exported or otherwise missing from the register: "Onbekend"
MISREAD_SHARE = 0.015
DUPLICATE_SHARE = 0.005
POISON_MESSAGES = 3


@dataclass(frozen=True)
class Vehicle:
    plate: str
    country: str
    voertuig_type: str | None  # None: not in the Dutch register
    daily_visits: float


@dataclass
class SynthDay:
    day: date
    messages: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)
    fleet: list[Vehicle] = field(default_factory=list)
    valid_ids: set[str] = field(default_factory=set)
    low_confidence: int = 0
    duplicates: int = 0
    poison: int = 0

    @property
    def expected_valid(self) -> int:
        return len(self.valid_ids)

    @property
    def published(self) -> int:
        return len(self.messages)

    def register_vehicles(self) -> Iterator[Vehicle]:
        return (v for v in self.fleet if v.voertuig_type is not None)


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(n))


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def dutch_plate(rng: random.Random, voertuig_type: str) -> str:
    if voertuig_type == "Bestelauto":  # commercial side codes start with V
        return rng.choice([f"V{_letters(rng, 1)}-{_digits(rng, 3)}-{_letters(rng, 1)}",
                           f"V-{_digits(rng, 3)}-{_letters(rng, 2)}"])
    if voertuig_type in ("Vrachtauto", "Bus"):
        return f"B{_letters(rng, 1)}-{_digits(rng, 2)}-{_digits(rng, 2)}"
    return rng.choice([f"{_digits(rng, 2)}-{_letters(rng, 3)}-{_digits(rng, 1)}",
                       f"{_digits(rng, 1)}-{_letters(rng, 3)}-{_digits(rng, 2)}",
                       f"{_letters(rng, 2)}-{_digits(rng, 3)}-{_letters(rng, 1)}",
                       f"{_letters(rng, 1)}-{_digits(rng, 3)}-{_letters(rng, 2)}",
                       f"{_letters(rng, 3)}-{_digits(rng, 2)}-{_letters(rng, 1)}"])


def foreign_plate(rng: random.Random) -> tuple[str, str]:
    country = rng.choice(["DE", "DE", "BE", "BE", "PL", "FR"])
    if country == "DE":
        return f"{_letters(rng, 1)} {_letters(rng, 2)} {_digits(rng, 4)}", country
    if country == "BE":
        return f"1-{_letters(rng, 3)}-{_digits(rng, 3)}", country
    return f"{_letters(rng, 2)}{_digits(rng, 5)}", country


def make_fleet(rng: random.Random, size: int) -> list[Vehicle]:
    kinds, weights = zip(*CLASS_MIX, strict=True)
    fleet = []
    for _ in range(size):
        kind = rng.choices(kinds, weights)[0]
        # Delivery vans and buses come back daily; most private cars are one-off visitors.
        visits = {"Bestelauto": 2.5, "Bus": 6.0, "Vrachtauto": 1.5}.get(kind, 1.0)
        if rng.random() < FOREIGN_SHARE:
            plate, country = foreign_plate(rng)
            fleet.append(Vehicle(plate, country, None, 1.0))
            continue
        registered = rng.random() >= UNREGISTERED_SHARE
        fleet.append(Vehicle(dutch_plate(rng, kind), "NL", kind if registered else None, visits))
    return fleet


def _misread(rng: random.Random, plate: str) -> str:
    chars = list(plate)
    spots = [i for i, c in enumerate(chars) if c.isalnum()]
    i = rng.choice(spots)
    chars[i] = rng.choice("0123456789" if chars[i].isdigit() else LETTERS)
    return "".join(chars)


def _local_time(rng: random.Random, day: date) -> datetime:
    hour = rng.choices(range(24), HOURLY_WEIGHTS)[0]
    start = datetime(day.year, day.month, day.day, hour, tzinfo=AMSTERDAM)
    return start + timedelta(seconds=rng.uniform(0, 3600))


def _iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def synth_day(day: date, cameras: list[Camera], detections: int = 63_500, seed: int = 7,
              supplier: str = "demo-supplier", municipality: str = "GM0344",
              min_confidence: float = 0.6) -> SynthDay:
    """About `detections` messages for one zone-day: paired in/out passages plus realistic noise."""
    rng = random.Random(f"{seed}:{day.isoformat()}")
    result = SynthDay(day=day)
    visits = max(1, detections // 2)
    result.fleet = make_fleet(rng, max(1, int(visits * 0.6)))
    cum_weights = list(itertools.accumulate(v.daily_visits for v in result.fleet))
    request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    headers = [("supplier", supplier.encode()), ("municipality", municipality.encode()),
               ("request_id", request_id.encode())]
    weekend = day.isoweekday() >= 6

    def emit(vehicle: Vehicle, camera: Camera, moment: datetime, direction: str) -> None:
        plate, confidence = vehicle.plate, round(rng.uniform(0.8, 0.999), 3)
        if rng.random() < MISREAD_SHARE:
            plate, confidence = _misread(rng, plate), round(rng.uniform(0.2, min_confidence - 0.05), 3)
        observation = {
            "observation_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "camera_id": camera.camera_id, "event_time": _iso_ms(moment),
            "plate_country": vehicle.country, "plate_text": plate, "read_confidence": confidence,
            "detection_direction": direction, "lane": rng.choice([1, 1, 2]),
        }
        value = json.dumps(observation, separators=(",", ":")).encode()
        copies = 2 if rng.random() < DUPLICATE_SHARE else 1
        for _ in range(copies):
            result.messages.append((camera.camera_id.encode(), value, headers))
        result.duplicates += copies - 1
        if confidence >= min_confidence:
            result.valid_ids.add(str(observation["observation_id"]))
        else:
            result.low_confidence += 1

    for _ in range(visits if not weekend else int(visits * 0.6)):
        vehicle = rng.choices(result.fleet, cum_weights=cum_weights)[0]
        entry = _local_time(rng, day)
        dwell = timedelta(minutes=rng.lognormvariate(4.0 if vehicle.voertuig_type != "Bestelauto" else 3.0, 0.7))
        emit(vehicle, rng.choice(cameras), entry, "obverse")
        emit(vehicle, rng.choice(cameras), entry + dwell, "reverse")
    for _ in range(POISON_MESSAGES):
        result.messages.append((cameras[0].camera_id.encode(), b"{not json", headers))
        result.poison += 1
    rng.shuffle(result.messages)  # suppliers deliver out of order
    return result
