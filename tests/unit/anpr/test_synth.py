"""The synthetic municipal feed: realistic shape, vehicles from the register, verdicts known in advance."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from anpr.synth import register as synth_register
from anpr.synth.detections import BROKEN_KINDS, synth_day
from anpr.zones import camera_rows, load_municipalities
from streaming import pipeline as P
from streaming.cameras import CAMERAS_SCHEMA
from tests.peppers import pepper_file
from tests.unit.streaming.test_pipeline import KAFKA_SCHEMA, PEPPER

UTRECHT = load_municipalities()[0]
SIZE = 1_000_000  # a smaller register keeps the tests quick; the default is national (10M)
TUESDAY, SATURDAY = date(2026, 3, 10), date(2026, 3, 14)
LOCAL = ZoneInfo("Europe/Amsterdam")


def feed(day: date = TUESDAY, seed: int = 1, detections: int = 6_000, **options):  # noqa: ANN003, ANN201
    return synth_day(day, UTRECHT.cameras, detections=detections, seed=seed, register_size=SIZE, **options)


def observations(f) -> list[dict]:  # noqa: ANN001
    return [json.loads(v) for _, v, _ in f.messages if v.startswith(b'{"')]


def test_same_seed_same_feed_and_counts_add_up():
    a, b = feed(), feed()
    assert a.messages == b.messages
    unique = {o["observation_id"] for o in observations(a)}
    assert a.published == len(unique) + a.duplicates + a.poison
    assert a.expected_valid == len(unique) - a.low_confidence
    assert feed(seed=2).messages != a.messages


def test_class_mix_foreign_share_and_register_hits_look_like_utrecht():
    f = feed(detections=20_000)
    seen = {(v.country, v.plate): v for v in f.fleet}
    detected = [seen.get((o["plate_country"], o["plate_text"])) for o in observations(f)]
    known = [v for v in detected if v is not None]  # misread plates match no vehicle
    dutch = Counter(v.voertuig_type for v in known if v.country == "NL" and v.voertuig_type)
    total = sum(dutch.values())
    assert 0.79 < dutch["Personenauto"] / total < 0.87
    assert 0.08 < dutch["Bestelauto"] / total < 0.14
    assert 0.004 < dutch["Vrachtauto"] / total < 0.02
    assert 0.03 < sum(v.country != "NL" for v in known) / len(known) < 0.05
    assert sum(v.voertuig_type is not None for v in known) / len(known) > 0.93  # enrichment mostly hits


def test_registered_vehicles_are_the_registers_own():
    for v in feed(detections=2_000).register_vehicles()[:300]:
        assert v.register_index is not None
        twin = synth_register.vehicle_at(v.register_index, SIZE)
        assert (twin.plate, twin.voertuig_type) == (v.plate, v.voertuig_type)


def test_the_daily_fleet_comes_back_and_one_off_visitors_do_not():
    monday, tuesday = feed(day=date(2026, 3, 9)), feed()
    daily = [{v.plate for v in f.fleet if v.visitor == "daily"} for f in (monday, tuesday)]
    once = [{v.plate for v in f.fleet if v.visitor == "once"} for f in (monday, tuesday)]
    assert len(daily[0] & daily[1]) > 0.5 * len(daily[1])
    assert {v.voertuig_type for v in tuesday.fleet if v.visitor == "daily"} <= {"Bestelauto", "Bus", "Vrachtauto"}
    assert len(once[0] & once[1]) < 0.01 * len(once[1])


def test_peaks_quiet_nights_and_quieter_weekends():
    hours = Counter(datetime.fromisoformat(o["event_time"]).astimezone(LOCAL).hour
                    for o in observations(feed(detections=20_000)))
    assert hours[8] > 1.3 * hours[12] and hours[17] > 1.2 * hours[12] and hours[12] > 3 * hours[3]
    assert feed(day=SATURDAY).published < 0.75 * feed().published


def test_cordon_passages_pair_in_and_out_and_arrive_late_and_out_of_order():
    f = feed()
    rules = {c.camera_id: c.obverse_direction for c in UTRECHT.cameras}
    inbound = Counter(
        rules[o["camera_id"]] == ("Inbound" if o["detection_direction"] == "obverse" else "Outbound")
        for o in observations(f))
    assert abs(inbound[True] - inbound[False]) < 0.05 * f.published
    times = [o["event_time"] for o in observations(f)]
    assert times != sorted(times) and f.late > 0.02 * len(times)


def test_a_camera_outage_leaves_a_gap_in_its_detections():
    f = next(f for d in range(60) if (f := feed(day=TUESDAY + timedelta(days=d), detections=3_000)).outages)
    camera, start, end = f.outages[0]
    during = [o for o in observations(f) if o["camera_id"] == camera
              and start <= datetime.fromisoformat(o["event_time"]) < end]
    assert during == []


def test_the_stream_judges_every_message_as_the_feed_predicts(spark):
    f = feed(detections=1_500, broken_per_reason=4)
    first, last = f.publish_window
    assert first < last
    ingested = first + (last - first) / 2
    rows = [(k, v, "anpr.observations", 0, i, ingested.astimezone(UTC).replace(tzinfo=None), 0)
            for i, (k, v, _) in enumerate(f.messages)]
    records = spark.createDataFrame(rows, KAFKA_SCHEMA)
    cameras = spark.createDataFrame([tuple(r.get(f) for f in CAMERAS_SCHEMA.fieldNames())
                                     for r in camera_rows([UTRECHT])], CAMERAS_SCHEMA)
    checked = P.validate(P.attach_cameras(P.pseudonymize(P.parse_observations(records), pepper_file(PEPPER)), cameras),
                         future_minutes=5, late_days=7, min_confidence=0.6)
    verdicts = [(r.observation_id, r.reason) for r in checked.select("observation_id", "reason").collect()]
    assert {i for i, reason in verdicts if reason is None} == f.valid_ids
    reasons = Counter(reason for _, reason in verdicts if reason is not None)
    assert reasons["MALFORMED_JSON"] == f.poison
    assert reasons["LOW_CONFIDENCE"] >= f.low_confidence  # plus the resent copies of some
    assert {k: reasons[k] for k in BROKEN_KINDS} == dict.fromkeys(BROKEN_KINDS, 4)
