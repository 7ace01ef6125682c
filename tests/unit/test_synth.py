import json
from collections import Counter
from datetime import date

from anpr.synth import synth_day
from anpr.zones import load_municipalities


def feed(seed: int = 1):
    cameras = load_municipalities()[0].cameras
    return synth_day(date(2026, 3, 10), cameras, detections=6_000, seed=seed)


def test_same_seed_same_feed_and_counts_add_up():
    a, b = feed(), feed()
    assert a.messages == b.messages
    unique = {json.loads(v)["observation_id"] for _, v, _ in a.messages if v.startswith(b"{\"")}
    assert a.published == len(unique) + a.duplicates + a.poison
    assert a.expected_valid == len(unique) - a.low_confidence
    assert feed(seed=2).messages != a.messages


def test_class_mix_and_foreign_share_look_like_utrecht():
    fleet = feed().fleet
    kinds = Counter(v.voertuig_type for v in fleet if v.country == "NL")
    dutch = sum(kinds.values())
    assert 0.75 < kinds["Personenauto"] / dutch < 0.9
    assert 0.07 < kinds["Bestelauto"] / dutch < 0.15
    assert 0.02 < sum(v.country != "NL" for v in fleet) / len(fleet) < 0.07


def test_every_message_is_keyed_by_a_known_camera():
    cameras = {c.camera_id for c in load_municipalities()[0].cameras}
    assert {k.decode() for k, _, _ in feed().messages} <= cameras
