"""While the stream runs, Delta rebuilds table states in the stream's own number of tasks and persisted batches
stay uncompressed; only then."""

from __future__ import annotations

import pytest

import streaming.job as job
from anpr.spark import CACHE_COMPRESSED, SNAPSHOT_PARTITIONS


def test_the_stream_sets_its_confs_and_gives_the_session_its_own_back(spark, settings, monkeypatch):
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(job, "_run_queries", lambda s, *args: seen.append(
        (s.conf.get(SNAPSHOT_PARTITIONS), s.conf.get(CACHE_COMPRESSED))))
    before = spark.conf.get(SNAPSHOT_PARTITIONS), spark.conf.get(CACHE_COMPRESSED)
    stream = settings.model_copy(update={"stream": settings.stream.model_copy(update={"delta_snapshot_partitions": 3})})
    job.run_stream(spark, stream, lake=None)  # type: ignore[arg-type]
    assert seen == [("3", "false")]
    assert (spark.conf.get(SNAPSHOT_PARTITIONS), spark.conf.get(CACHE_COMPRESSED)) == before  # the session's own


def test_a_failed_stream_gives_the_session_its_own_back_too(spark, settings, monkeypatch):
    def broken(*args):
        raise RuntimeError("broker gone")

    monkeypatch.setattr(job, "_run_queries", broken)
    before = spark.conf.get(SNAPSHOT_PARTITIONS), spark.conf.get(CACHE_COMPRESSED)
    with pytest.raises(RuntimeError, match="broker gone"):
        job.run_stream(spark, settings, lake=None)  # type: ignore[arg-type]
    assert (spark.conf.get(SNAPSHOT_PARTITIONS), spark.conf.get(CACHE_COMPRESSED)) == before


def test_a_micro_batch_of_the_stream_sees_its_confs(spark, settings, monkeypatch, tmp_path):
    # A streaming query runs on a clone of the session made when it starts: the confs must be set by then.
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text('{"n": 1}\n')
    seen: list[str] = []

    def one_query(s, *args):
        query = (s.readStream.schema("n INT").json(str(tmp_path / "in")).writeStream
                 .foreachBatch(lambda batch, _: seen.append(batch.sparkSession.conf.get(CACHE_COMPRESSED)))
                 .option("checkpointLocation", str(tmp_path / "checkpoint")).trigger(availableNow=True).start())
        query.awaitTermination()

    monkeypatch.setattr(job, "_run_queries", one_query)
    job.run_stream(spark, settings, lake=None)  # type: ignore[arg-type]
    assert seen == ["false"]
    assert spark.conf.get(CACHE_COMPRESSED) != "false"  # the session's own again (Spark's default: true)
