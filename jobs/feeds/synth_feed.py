"""`anpr feed synth`: seeded municipal feeds from one zone-day up to a national roll-out for a month.

Cities are the configured municipalities, topped up with synthetic ones (codes GM9xxx, square
zones with cordon cameras on their boundary, looking out) up to the number asked. City sizes follow
a Zipf-like curve scaled so that 45 cities make the national estimate of ~1.4M detections a day,
with Utrecht's 63,500. One city-day is generated, delivered and dropped at a time, so memory stays
flat whatever the scale.

Through Kafka, messages can carry their simulated delivery time as Kafka timestamp, so a month of
history is judged by the stream as if it had arrived live; through the ingest endpoint (which stamps
arrival itself) only days inside the 7-day lateness window are accepted as valid.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from anpr.feeds.messages import batches, envelope
from anpr.feeds.publisher import Publisher
from anpr.synth.detections import SynthDay, synth_day
from anpr.zones import Municipality, Zone
from jobs.feeds.sinks import IngestSink

NATIONAL_PER_DAY = 1_400_000
NATIONAL_CITIES = 45
UTRECHT_PER_DAY = 63_500
CAMERA_NAMESPACE = uuid.UUID("5d0c1b7e-2f9a-5c3d-8e4f-a1b2c3d4e5f6")


def city_sizes(n: int) -> list[int]:
    """Detections per working day of the n cities: Utrecht first, the rest on a Zipf-like curve that sums
    to the national estimate for 45 cities."""
    rest = [1.0 / (k ** 0.8) for k in range(1, NATIONAL_CITIES)]
    scale = (NATIONAL_PER_DAY - UTRECHT_PER_DAY) / sum(rest)
    sizes = [UTRECHT_PER_DAY] + [max(2_000, int(scale * r)) for r in rest]
    return sizes[:n] if n <= NATIONAL_CITIES else sizes + [2_000] * (n - NATIONAL_CITIES)


def synthetic_city(number: int, detections: int, seed: int = 1) -> Municipality:
    """A square zone around a centre in the Netherlands, one cordon camera per ~6,000 detections a day
    (at least 4), each on the boundary looking outward, so the direction rule resolves from geometry."""
    rng = random.Random(f"city:{seed}:{number}")
    code = f"GM{9000 + number:04d}"
    lat0, lon0 = 51.5 + rng.uniform(0, 1.6), 4.2 + rng.uniform(0, 2.6)
    half_lat = 0.004 + 0.008 * math.sqrt(detections / UTRECHT_PER_DAY)
    half_lon = half_lat / math.cos(math.radians(lat0))
    ring = [(lon0 - half_lon, lat0 + half_lat), (lon0 + half_lon, lat0 + half_lat),
            (lon0 + half_lon, lat0 - half_lat), (lon0 - half_lon, lat0 - half_lat)]
    # NDW codes of synthetic zones: the CBS number times 1000 plus the zone number, unique by construction.
    zone = Zone(zone_id=f"{code}-ZE1", ndw_code=(9000 + number) * 1000 + 1,
                name=f"ZE-zone synthetische stad {number}", polygon=ring)
    cameras = []
    for k in range(max(4, detections // 6_000)):
        side = k % 4  # north, east, south, west; each camera ~90 m inside that edge, looking across it
        along, inset = rng.uniform(-0.8, 0.8), 0.0008
        lat = lat0 + {0: half_lat - inset, 2: inset - half_lat}.get(side, along * half_lat)
        lon = lon0 + {1: half_lon - inset * 1.6, 3: inset * 1.6 - half_lon}.get(side, along * half_lon)
        cameras.append({"camera_id": str(uuid.uuid5(CAMERA_NAMESPACE, f"{code}:{k}")), "name": f"Camera {k + 1}",
                        "lat": round(lat, 6), "lon": round(lon, 6), "azimuth_deg": float(90 * side)})
    # No zone_id, no direction: both follow from the geometry, as for a newly onboarded city.
    return Municipality.model_validate({"municipality": f"Synthetische stad {number}", "code": code,
                                        "zones": [zone], "cameras": cameras})


def cities(configured: list[Municipality], n: int, seed: int = 1) -> list[tuple[Municipality, int]]:
    sizes = city_sizes(n)
    chosen = configured[:n]
    chosen += [synthetic_city(i, sizes[i], seed) for i in range(len(chosen), n)]
    return list(zip(chosen, sizes, strict=True))


@dataclass
class SynthRun:
    days: int = 0
    city_days: int = 0
    published: int = 0
    valid: int = 0
    skipped_poison: int = 0
    stale_days: list[str] = field(default_factory=list)


def live_window_ok(feed: SynthDay, now: datetime) -> bool:
    first, last = feed.publish_window
    return first <= now <= last


def deliver_day(feed: SynthDay, *, publisher: Publisher | None, topic: str, sink: IngestSink | None,
                simulated_time: bool, batch: int = 5_000) -> tuple[int, int]:
    """Deliver one city-day; returns (messages delivered, non-JSON messages left out)."""
    if publisher is not None:
        stamps = feed.delivered_ms if simulated_time else None
        return publisher.publish(topic, feed.messages, timestamps_ms=stamps), 0
    assert sink is not None
    # The contract carries JSON objects only: the feed's deliberately broken non-JSON messages stay home.
    items = [json.loads(v) for _, v, _ in feed.messages if v.startswith(b'{"')]
    for number, chunk in enumerate(batches(items, batch)):
        body = json.dumps(envelope("anpr_observation_batch", chunk), separators=(",", ":")).encode()
        key = f"synth-{feed.day.isoformat()}-{uuid.uuid5(CAMERA_NAMESPACE, chunk[0]['observation_id'])}-{number}"
        sink.post(body, key, key, f"synth-{feed.day.isoformat()}.json")
    return len(items), feed.published - len(items)


def run_synth(towns: list[tuple[Municipality, int]], first_day: date, days: int, *, seed: int, supplier: str,
              register_size: int, publisher: Publisher | None, topic: str, sink: IngestSink | None,
              simulated_time: bool, min_confidence: float, scale: float = 1.0,
              on_city_day: Callable[[Municipality, SynthDay, int], None] | None = None) -> SynthRun:
    run = SynthRun()
    now = datetime.now(UTC)
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        run.days += 1
        for town, size in towns:
            feed = synth_day(day, town.cameras, detections=max(2, int(size * scale)), seed=seed, supplier=supplier,
                             municipality=town.code, min_confidence=min_confidence, register_size=register_size)
            if not simulated_time and not live_window_ok(feed, now):
                run.stale_days.append(f"{town.code} {day}")
            sent, left_out = deliver_day(feed, publisher=publisher, topic=topic, sink=sink,
                                         simulated_time=simulated_time)
            run.city_days += 1
            run.published += sent
            run.skipped_poison += left_out
            run.valid += feed.expected_valid
            if on_city_day is not None:
                on_city_day(town, feed, sent)
    return run
