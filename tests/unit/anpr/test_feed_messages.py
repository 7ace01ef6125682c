"""Kafka record values are standard JSON by construction: NaN or infinity never reaches the topic."""

from __future__ import annotations

import json

import pytest

from anpr.feeds.messages import NotJsonError, encode, observation_record
from api.ingest.examples import OBSERVATION_BATCH

OBSERVATION = json.loads(OBSERVATION_BATCH)["payload"][0]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_an_observation_with_a_non_finite_number_is_refused_in_one_line_naming_no_value(bad):
    item = {**OBSERVATION, "read_confidence": bad}
    with pytest.raises(NotJsonError) as raised:
        observation_record(item, [])
    message = str(raised.value)
    assert "\n" not in message and "NaN or an infinite number" in message and "not written to Kafka" in message
    assert item["plate_text"] not in message and item["observation_id"] not in message


def test_a_finite_observation_encodes_to_the_json_it_came_from():
    assert json.loads(encode(OBSERVATION)) == OBSERVATION


def test_an_observation_is_keyed_by_its_camera_in_lower_case():
    """uuids name one camera in either case: one camera sent in both kept two partitions (and lost its order)."""
    camera = OBSERVATION["camera_id"]
    assert observation_record({**OBSERVATION, "camera_id": camera.upper()}, [])[0] == camera.lower().encode()
    assert observation_record({**OBSERVATION, "camera_id": 7}, [])[0] == b""
