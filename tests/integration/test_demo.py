"""The walking skeleton end to end: broker, feed, stream, Delta, release; twice on one data dir."""

from __future__ import annotations

import pytest

from anpr.delta_reader import DeltaReader
from anpr.stream_tables import OUT_OF_SCOPE, PASSAGES, QUARANTINE
from anpr.synth.detections import synth_day
from anpr.zones import municipality_by_code
from cli.demo import run_demo
from tests.days import DAY, lateness_days
from tests.privacy import find_plates

pytestmark = pytest.mark.integration


@pytest.fixture
def demo_settings(settings, tmp_path):
    # events are judged against their Kafka ingest time: the window reaches back to the fixed day
    stream = settings.stream.model_copy(update={"max_lateness_days": lateness_days()})
    return settings.model_copy(update={"data_dir": tmp_path / "data", "stream": stream})


def test_two_runs_land_every_valid_detection_in_scope_exactly_once(spark, demo_settings):
    first = run_demo(demo_settings, DAY, detections=3_000, seed=3, spark=spark)
    assert first.passages_for_feed == first.expected_in_scope == first.passages_written_now
    # Most Dutch detections are private passenger cars (anpr/synth.py CLASS_MIX): dropped, only counted.
    # A dropped detection resent in a later micro-batch is counted again: nothing of it is kept to know it by.
    dropped = first.expected_valid - first.expected_in_scope
    assert 0 < first.expected_in_scope < first.expected_valid and dropped > first.expected_valid / 2
    assert dropped <= first.out_of_scope_now <= dropped + first.duplicates_sent
    assert first.rows_published > 0

    second = run_demo(demo_settings, DAY, detections=3_000, seed=3, spark=spark)
    assert second.passages_written_now == 0
    # The second run publishes the feed again: its cars are counted again, nothing of them was kept.
    assert dropped <= second.out_of_scope_now <= dropped + first.duplicates_sent
    assert second.passages_for_feed == second.expected_in_scope == first.expected_in_scope

    assert first.engine.startswith("Apache-Spark/4.2") and "Delta-Lake/4.4" in first.engine
    lake = DeltaReader(str(demo_settings.data_dir / "lake"))
    ids = lake.read_arrow(PASSAGES, columns=["observation_id"]).column("observation_id").to_pylist()
    assert len(ids) == len(set(ids)) == first.expected_in_scope
    scope = municipality_by_code("GM0344").scope
    kinds = lake.read_arrow(PASSAGES, columns=["voertuig_type", "eigenaar_type"]).to_pylist()
    assert all(p["voertuig_type"] in {*scope.voertuig_types, *scope.unclassified}
               or p["eigenaar_type"] in scope.eigenaar_types for p in kinds)
    counted = lake.read_arrow(OUT_OF_SCOPE, columns=["detections"]).column("detections").to_pylist()
    # both runs' drops: the second run's re-published cars were counted again, as its summary says
    assert sum(counted) == first.out_of_scope_now + second.out_of_scope_now
    reasons = lake.read_arrow(QUARANTINE, columns=["reason"]).column("reason").to_pylist()
    assert set(reasons) == {"LOW_CONFIDENCE", "MALFORMED_JSON"}

    fleet = synth_day(DAY, municipality_by_code("GM0344").cameras, detections=3_000, seed=3).fleet
    # The broker's log is the ingest buffer the suppliers' contract delivers plates into; topic retention
    # bounds it. Everything the platform itself writes is checked.
    assert find_plates(demo_settings.data_dir, [v.plate for v in fleet], exclude=["broker"]) == []
