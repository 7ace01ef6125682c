"""The checkpoint's topic ids: a recreated topic stops the stream instead of being read from the middle."""

from __future__ import annotations

import json

import pytest
from kafka.errors import KafkaTimeoutError

from streaming.topics import IDS_FILE, TopicIdentityError, batch_guard, check_topic_identity, mismatches

TOPIC = "anpr.observations"
OLD, NEW = "0b5c2f4e-0000-4000-8000-000000000001", "7d1e9a30-0000-4000-8000-000000000002"


def with_progress(checkpoint):
    (checkpoint / "commits").mkdir(parents=True)
    (checkpoint / "commits" / "0").write_text("v1\n{}")
    return checkpoint


def test_a_fresh_checkpoint_records_the_ids_it_starts_on(tmp_path):
    checkpoint = tmp_path / "passages"
    check_topic_identity(checkpoint, {TOPIC: OLD})
    assert json.loads((checkpoint / IDS_FILE).read_text()) == {TOPIC: OLD}


def test_the_same_topic_passes_and_a_recreated_one_is_refused_in_one_line(tmp_path):
    checkpoint = with_progress(tmp_path / "passages")
    check_topic_identity(checkpoint, {TOPIC: OLD})
    check_topic_identity(checkpoint, {TOPIC: OLD})
    with pytest.raises(TopicIdentityError) as refused:
        check_topic_identity(checkpoint, {TOPIC: NEW})
    message = str(refused.value)
    assert "\n" not in message
    assert f"topic {TOPIC} (id {OLD}, now {NEW})" in message
    assert "--accept-data-loss" in message
    assert (checkpoint / "commits" / "0").exists(), "a refusal changes nothing"


def test_a_deleted_topic_is_a_mismatch_too(tmp_path):
    checkpoint = with_progress(tmp_path / "passages")
    check_topic_identity(checkpoint, {TOPIC: OLD})
    with pytest.raises(TopicIdentityError, match="now missing"):
        check_topic_identity(checkpoint, {TOPIC: None})


def test_accepting_the_loss_moves_the_checkpoint_aside_and_starts_on_the_new_topic(tmp_path):
    checkpoint = with_progress(tmp_path / "passages")
    check_topic_identity(checkpoint, {TOPIC: OLD})
    check_topic_identity(checkpoint, {TOPIC: NEW}, accept_loss=True)
    aside = list(tmp_path.glob("passages.lost-*"))
    assert len(aside) == 1 and (aside[0] / "commits" / "0").exists()
    assert not (checkpoint / "commits").exists()
    assert json.loads((checkpoint / IDS_FILE).read_text()) == {TOPIC: NEW}


def test_a_checkpoint_from_before_the_ids_were_kept_is_not_judged():
    assert mismatches({}, {TOPIC: NEW}) == []
    assert mismatches({TOPIC: OLD}, {"other": NEW}) == []


def test_the_batch_guard_stops_a_batch_on_a_changed_id_and_lets_it_pass_when_the_broker_is_away(tmp_path):
    checkpoint = tmp_path / "passages"
    check_topic_identity(checkpoint, {TOPIC: OLD})
    batch_guard(checkpoint, lambda: {TOPIC: OLD})()

    def away() -> dict[str, str | None]:
        raise KafkaTimeoutError("no answer")

    batch_guard(checkpoint, away)()
    with pytest.raises(TopicIdentityError):
        batch_guard(checkpoint, lambda: {TOPIC: NEW})()
