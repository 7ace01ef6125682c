"""While the stream runs, Delta rebuilds table states in the stream's own number of tasks; only then."""

from __future__ import annotations

import pytest

import streaming.job as job
from anpr.spark import SNAPSHOT_PARTITIONS


def test_the_stream_sets_its_snapshot_partitions_and_gives_the_session_its_own_back(spark, settings, monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(job, "_run_queries", lambda s, *args: seen.append(s.conf.get(SNAPSHOT_PARTITIONS)))
    before = spark.conf.get(SNAPSHOT_PARTITIONS)
    stream = settings.model_copy(update={"stream": settings.stream.model_copy(update={"delta_snapshot_partitions": 3})})
    job.run_stream(spark, stream, lake=None)  # type: ignore[arg-type]
    assert seen == ["3"]
    assert spark.conf.get(SNAPSHOT_PARTITIONS) == before  # the session's own, whatever set it


def test_a_failed_stream_gives_the_session_its_own_back_too(spark, settings, monkeypatch):
    def broken(*args):
        raise RuntimeError("broker gone")

    monkeypatch.setattr(job, "_run_queries", broken)
    before = spark.conf.get(SNAPSHOT_PARTITIONS)
    with pytest.raises(RuntimeError, match="broker gone"):
        job.run_stream(spark, settings, lake=None)  # type: ignore[arg-type]
    assert spark.conf.get(SNAPSHOT_PARTITIONS) == before
