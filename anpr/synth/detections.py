"""Seeded synthetic municipal feeds: one zone-day of camera detections as the supplier would send them.

Dutch vehicles come from the synthetic national register (anpr/synth/register.py) by index, so
enrichment finds them; the class mix of detections is Utrecht's, not the national stock's. Each zone
has a fixed population of company vans and buses that come back every working day and of regular
visitors; the rest are one-off visitors drawn afresh each day. Visits are cordon passages: an
Inbound detection at one camera, a dwell, an Outbound one at another. On top: foreign and
unregistered plates, OCR misreads (low confidence), resent duplicates, late uploads and delivery
out of order, camera outages (no detections) and a few non-JSON messages.

Every message is valid or invalid by the stream's rules (streaming/pipeline.py) in a way known here,
provided it is published inside `SynthDay.publish_window` (lateness is judged against the Kafka
timestamp): `valid_ids` is then exactly the set of observations the stream must accept.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from anpr.feeds.messages import headers, iso_ms
from anpr.synth import register
from anpr.zones import Camera

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
LETTERS = register.LETTERS
# Relative traffic per local hour: morning and evening peaks on working days, a late flat day at weekends.
HOURLY_WEIGHTS = [1, 1, 1, 1, 2, 4, 9, 16, 18, 14, 12, 12, 12, 12, 12, 13, 16, 17, 13, 9, 6, 4, 3, 2]
WEEKEND_WEIGHTS = [2, 1, 1, 1, 1, 1, 2, 4, 7, 10, 13, 14, 14, 14, 13, 12, 11, 10, 9, 7, 5, 4, 3, 2]
WEEKEND_FACTOR = 0.6
# Utrecht-like class mix of detected Dutch vehicles (register voertuigType).
CLASS_MIX = [("Personenauto", 0.83), ("Bestelauto", 0.11), ("Vrachtauto", 0.01), ("Bus", 0.01), ("Overig", 0.04)]
# Where a visit's vehicle comes from, per type: the zone's daily fleet, its regulars, or one-off.
SOURCES = {"Bestelauto": (0.5, 0.2), "Bus": (0.8, 0.1), "Vrachtauto": (0.2, 0.3)}  # (daily, regular)
DEFAULT_SOURCES = (0.0, 0.3)
DAILY_VISITS = 1.5  # mean visits per working day of a daily van or bus
REGULAR_VISIT_CHANCE = 0.08  # per day
FOREIGN_SHARE = 0.04
UNREGISTERED_SHARE = 0.01  # exported or otherwise missing from the register: "Onbekend"
MISREAD_SHARE = 0.015  # misread with low confidence: rejected downstream
SILENT_MISREAD_SHARE = 0.003  # misread with high confidence: accepted, not in the register
DUPLICATE_SHARE = 0.005
OUTAGE_CHANCE = 0.08  # per camera and day
POISON_MESSAGES = 3
DELIVERY_BATCH = 500  # messages per supplier request (one request_id)
BROKEN_KINDS = ("BAD_UUID", "EVENT_IN_FUTURE", "EVENT_TOO_LATE", "UNKNOWN_CAMERA", "MALFORMED_PLATE")


@dataclass(frozen=True)
class Vehicle:
    plate: str
    country: str
    voertuig_type: str | None  # None: not in the Dutch register (foreign or unregistered)
    register_index: int | None = None
    visitor: str = "once"  # daily | regular | once


@dataclass
class SynthDay:
    day: date
    messages: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)
    delivered_ms: list[int] = field(default_factory=list)  # per message: when the supplier sent it (epoch ms)
    fleet: list[Vehicle] = field(default_factory=list)  # every vehicle seen, once
    valid_ids: set[str] = field(default_factory=set)
    low_confidence: int = 0
    duplicates: int = 0
    poison: int = 0
    late: int = 0  # delivered more than 5 minutes after the event
    broken: Counter[str] = field(default_factory=Counter)  # other deliberate content errors, by reason
    outages: list[tuple[str, datetime, datetime]] = field(default_factory=list)  # camera, from, to (UTC)
    first_event: datetime | None = None
    last_event: datetime | None = None

    @property
    def expected_valid(self) -> int:
        return len(self.valid_ids)

    @property
    def published(self) -> int:
        return len(self.messages)

    @property
    def publish_window(self) -> tuple[datetime, datetime]:
        """Publishing between these instants keeps every verdict as predicted: no event more than 5
        minutes ahead of its Kafka timestamp, none more than 7 days behind it. Publishing each message
        with its `delivered_ms` as Kafka timestamp (simulated time) keeps them too, at any time."""
        assert self.first_event is not None and self.last_event is not None
        return self.last_event - timedelta(minutes=4), self.first_event + timedelta(days=7, minutes=-1)

    def register_vehicles(self) -> list[Vehicle]:
        return [v for v in self.fleet if v.voertuig_type is not None]


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(n))


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def foreign_plate(rng: random.Random) -> tuple[str, str]:
    country = rng.choice(["DE", "DE", "DE", "BE", "BE", "PL", "FR", "GB"])
    if country == "DE":
        return f"{_letters(rng, 1)} {_letters(rng, 2)} {_digits(rng, 4)}", country
    if country == "BE":
        return f"1-{_letters(rng, 3)}-{_digits(rng, 3)}", country
    return f"{_letters(rng, 2)}{_digits(rng, 5)}", country


@lru_cache(maxsize=16)
def plate_capacity(kind: str) -> int:
    letters = register.ALPHABET.get(kind, register.LETTERS)
    return sum(math.prod(10 if c == "9" else len(letters) if c == "X" else 1 for c in pattern)
               for pattern in register.PATTERNS[kind])


def register_vehicles(draws: list[tuple[str, int]], size: int, visitor: str,
                      registered: bool = True) -> list[Vehicle]:
    """Vehicles of (type, ordinal within the type) draws, plates computed in one vectorized call per
    type. Registered ones are vehicle `lo + ordinal` of the register; their plate follows from that."""
    ranges = register.type_ranges(size)
    out: list[Vehicle | None] = [None] * len(draws)
    for kind in {k for k, _ in draws}:
        positions = [i for i, (k, _) in enumerate(draws) if k == kind]
        plates = register.plates_of(kind, np.array([draws[i][1] for i in positions], dtype=np.int64))
        for i, plate in zip(positions, plates, strict=True):
            index = ranges[kind][0] + draws[i][1] if registered else None
            out[i] = Vehicle(str(plate), "NL", kind if registered else None, index, visitor)
    return [v for v in out if v is not None]


@lru_cache(maxsize=256)
def zone_population(zone: str, size: int, register_seed: int, seed: int, visits: int) -> dict[str, list[Vehicle]]:
    """The zone's daily fleet (company vans, buses and trucks) and regulars per type: fixed across days."""
    rng = random.Random(f"population:{seed}:{zone}")
    ranges = register.type_ranges(size)
    out: dict[str, list[Vehicle]] = {}
    for kind, share in CLASS_MIX:
        lo, hi = ranges[kind]
        daily_share, regular_share = SOURCES.get(kind, DEFAULT_SOURCES)
        n_daily = min(hi - lo, math.ceil(visits * share * daily_share / DAILY_VISITS)) if daily_share else 0
        daily: list[int] = []
        for _ in range(n_daily * 4):
            if len(daily) >= n_daily:
                break
            index = rng.randrange(lo, hi)
            # Delivery rounds are company vehicles: the register's owner says so.
            if register.vehicle_at(index, size, register_seed).company_owned:
                daily.append(index - lo)
        n_regular = min(hi - lo, math.ceil(visits * share * regular_share / REGULAR_VISIT_CHANCE))
        out[f"daily:{kind}"] = register_vehicles([(kind, o) for o in daily], size, "daily")
        out[f"regular:{kind}"] = register_vehicles([(kind, rng.randrange(hi - lo)) for _ in range(n_regular)],
                                                   size, "regular") if hi > lo else []
    return out


def _misread(rng: random.Random, plate: str) -> str:
    chars = list(plate)
    i = rng.choice([i for i, c in enumerate(chars) if c.isalnum()])
    chars[i] = rng.choice([c for c in ("0123456789" if chars[i].isdigit() else LETTERS) if c != chars[i]])
    return "".join(chars)


def _local_time(rng: random.Random, day: date, weights: list[int]) -> datetime:
    hour = rng.choices(range(24), weights)[0]
    start = datetime(day.year, day.month, day.day, hour, tzinfo=AMSTERDAM)
    return start + timedelta(seconds=rng.uniform(0, 3600))


def _delivery_delay(rng: random.Random) -> float:
    """Seconds from event to delivery: 95% within 5 minutes (the contract's target), some late uploads."""
    u = rng.random()
    if u < 0.95:
        return min(299.0, rng.expovariate(1 / 20.0))
    if u < 0.99:
        return rng.uniform(300, 3600)
    return rng.uniform(3600, 30 * 3600)


def synth_day(day: date, cameras: list[Camera], detections: int = 63_500, seed: int = 7,
              supplier: str = "demo-supplier", municipality: str = "GM0344", min_confidence: float = 0.6,
              register_size: int = register.DEFAULT_SIZE, register_seed: int = 1, zone_id: str | None = None,
              broken_per_reason: int = 0) -> SynthDay:
    """About `detections` messages on a working day (fewer at weekends): paired cordon passages plus noise.

    `broken_per_reason` adds that many messages for each of BROKEN_KINDS (counted in `.broken`).
    """
    rng = random.Random(f"{seed}:{municipality}:{day.isoformat()}")
    result = SynthDay(day=day)
    weekend = day.isoweekday() >= 6
    visits = max(1, detections // 2)
    zone = zone_id or (cameras[0].zone_id if cameras else municipality)
    population = zone_population(zone, register_size, register_seed, seed, visits)
    ranges = register.type_ranges(register_size)
    cordon = [c for c in cameras if c.obverse_direction is not None] or list(cameras)
    kinds, weights = zip(*CLASS_MIX, strict=True)
    seen: dict[tuple[str, str], Vehicle] = {}
    outages = {}
    for camera in cameras:
        if rng.random() < OUTAGE_CHANCE:
            start = _local_time(rng, day, HOURLY_WEIGHTS)
            outages[camera.camera_id] = (start, start + timedelta(hours=rng.uniform(1, 5)))
    result.outages = [(c, a.astimezone(UTC), b.astimezone(UTC)) for c, (a, b) in outages.items()]
    pending: list[tuple[float, bytes, bytes]] = []  # (delivery time, key, value)
    events: list[datetime] = []

    def pick() -> Vehicle | tuple[str, int, bool]:
        """A vehicle, or a register draw (type, ordinal, registered) whose plate is computed later."""
        if rng.random() < FOREIGN_SHARE:
            plate, country = foreign_plate(rng)
            return Vehicle(plate, country, None)
        kind = rng.choices(kinds, weights)[0]
        lo, hi = ranges[kind]
        if rng.random() < UNREGISTERED_SHARE and plate_capacity(kind) > hi - lo:
            # A plate of the type's patterns beyond the register's vehicles: well formed, not registered.
            return kind, rng.randrange(hi - lo, plate_capacity(kind)), False
        if hi <= lo:
            kind, (lo, hi) = "Personenauto", ranges["Personenauto"]
        daily_share, regular_share = SOURCES.get(kind, DEFAULT_SOURCES)
        # Delivery rounds mostly skip the weekend; the visits they leave go to regulars and one-offs.
        if rng.random() < daily_share * (0.3 if weekend else 1.0) and population[f"daily:{kind}"]:
            return rng.choice(population[f"daily:{kind}"])
        if rng.random() < regular_share and population[f"regular:{kind}"]:
            return rng.choice(population[f"regular:{kind}"])
        return kind, rng.randrange(hi - lo), True

    def emit(vehicle: Vehicle, camera: Camera, moment: datetime, direction: str, broken: str | None = None) -> None:
        down = outages.get(camera.camera_id)
        if broken is None and down is not None and down[0] <= moment < down[1]:
            return  # the camera was down: nothing detected
        plate, confidence, ok = vehicle.plate, round(rng.uniform(max(min_confidence, 0.8), 0.999), 3), True
        u = 1.0 if broken is not None else rng.random()
        if u < MISREAD_SHARE and min_confidence > 0.01:
            # Below the floor by at least a thousandth, whatever the float rounding of the draw.
            low = math.floor(rng.uniform(0.01, min_confidence) * 1000) / 1000
            plate, confidence, ok = _misread(rng, plate), min(low, round(min_confidence - 0.001, 3)), False
            result.low_confidence += 1
        elif u < MISREAD_SHARE + SILENT_MISREAD_SHARE:
            plate = _misread(rng, plate)
        observation = {
            "observation_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "camera_id": camera.camera_id, "event_time": iso_ms(moment), "plate_country": vehicle.country,
            "plate_text": plate, "read_confidence": confidence, "detection_direction": direction,
            "lane": rng.choice([1, 1, 2]),
        }
        if broken is not None:
            _break(rng, observation, broken, moment)
            result.broken[broken] += 1
        else:
            seen.setdefault((vehicle.country, vehicle.plate), vehicle)
            events.append(moment)
        value = json.dumps(observation, separators=(",", ":")).encode()
        delivered = moment.timestamp() + _delivery_delay(rng)
        result.late += delivered - moment.timestamp() > 300
        pending.append((delivered, str(observation["camera_id"]).encode(), value))
        if rng.random() < DUPLICATE_SHARE:  # resent after a missing acknowledgement
            pending.append((delivered + rng.uniform(1, 120), str(observation["camera_id"]).encode(), value))
            result.duplicates += 1
        if ok and broken is None:
            result.valid_ids.add(str(observation["observation_id"]))

    def side(camera: Camera, rij_richting: str) -> str:
        if camera.obverse_direction is None:
            return rng.choice(["obverse", "reverse"])
        return "obverse" if camera.obverse_direction == rij_richting else "reverse"

    n_visits = int(visits * (WEEKEND_FACTOR if weekend else 1.0))
    picked = [pick() for _ in range(n_visits + broken_per_reason * len(BROKEN_KINDS))]
    drafts = [(i, p) for i, p in enumerate(picked) if not isinstance(p, Vehicle)]
    for registered in (True, False):
        chosen = [(i, (k, o)) for i, (k, o, r) in drafts if r == registered]  # type: ignore[misc]
        made = register_vehicles([d for _, d in chosen], register_size, "once", registered)
        for (i, _), vehicle in zip(chosen, made, strict=True):
            picked[i] = vehicle
    vehicles = [v for v in picked if isinstance(v, Vehicle)]
    hours = WEEKEND_WEIGHTS if weekend else HOURLY_WEIGHTS
    for vehicle in vehicles[:n_visits]:
        entry = _local_time(rng, day, hours)
        mu = {"Bestelauto": 3.0, "Vrachtauto": 3.2, "Bus": 2.5}.get(vehicle.voertuig_type or "", 4.0)
        dwell = timedelta(minutes=min(600.0, rng.lognormvariate(mu, 0.7)))
        camera_in, camera_out = rng.choice(cordon), rng.choice(cordon)
        emit(vehicle, camera_in, entry, side(camera_in, "Inbound"))
        emit(vehicle, camera_out, entry + dwell, side(camera_out, "Outbound"))
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=AMSTERDAM)
    broken = iter(vehicles[n_visits:])
    for kind in BROKEN_KINDS:
        for _ in range(broken_per_reason):
            emit(next(broken), rng.choice(cordon), noon + timedelta(seconds=rng.uniform(0, 3600)), "obverse", kind)
    result.fleet = list(seen.values())
    result.first_event, result.last_event = min(events, default=noon), max(events, default=noon)
    for _ in range(POISON_MESSAGES):
        pending.append((rng.uniform(noon.timestamp(), noon.timestamp() + 12 * 3600),
                        cordon[0].camera_id.encode(), b"{not json"))
        result.poison += 1
    pending.sort(key=lambda p: p[0])  # delivery order: out of event order, late uploads last
    for first in range(0, len(pending), DELIVERY_BATCH):
        request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        batch_headers = headers(supplier, municipality, request_id)
        batch = pending[first:first + DELIVERY_BATCH]
        result.messages.extend((key, value, batch_headers) for _, key, value in batch)
        result.delivered_ms.extend(int(at * 1000) for at, _, _ in batch)
    return result


def _break(rng: random.Random, observation: dict[str, object], kind: str, moment: datetime) -> None:
    """Make the observation fail exactly the stream rule `kind` (and none checked before it)."""
    if kind == "BAD_UUID":
        observation["observation_id"] = f"obs-{rng.getrandbits(32):08x}"
    elif kind == "EVENT_IN_FUTURE":
        observation["event_time"] = iso_ms(moment + timedelta(days=30))
    elif kind == "EVENT_TOO_LATE":
        observation["event_time"] = iso_ms(moment - timedelta(days=30))
    elif kind == "UNKNOWN_CAMERA":
        observation["camera_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    elif kind == "MALFORMED_PLATE":
        observation["plate_country"], observation["plate_text"] = "NL", "AB-1"
    else:
        raise ValueError(f"unknown broken kind {kind}")
