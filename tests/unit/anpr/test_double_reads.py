"""One vehicle passing one camera once is one passage (anpr/double_reads.py), on a few inline reads."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from anpr.double_reads import double_reads, drop_double_reads

CAM, OTHER_CAM = "cam-1", "cam-2"
T0 = datetime(2026, 3, 10, 12, 0, 0)


def reads(spark, rows):
    """rows: (observation_id, camera_id, vehicle, seconds after T0)."""
    data = [(i, cam, vehicle, T0 + timedelta(seconds=s)) for i, cam, vehicle, s in rows]
    return spark.createDataFrame(data, "observation_id string, camera_id string, vehicle string, event_ts timestamp")


def doubles(spark, rows, window: float = 3.0) -> list[str]:
    return sorted(r.observation_id for r in double_reads(reads(spark, rows), ["vehicle"], window).collect())


@pytest.mark.parametrize(("apart", "expected"), [(1.0, ["o2"]), (3.0, ["o2"]), (10.0, [])])
def test_a_second_read_within_the_window_is_a_double_read(spark, apart, expected):
    assert doubles(spark, [("o1", CAM, "v", 0.0), ("o2", CAM, "v", apart)]) == expected


def test_other_cameras_and_other_vehicles_are_other_passages(spark):
    rows = [("o1", CAM, "v", 0.0), ("o2", OTHER_CAM, "v", 1.0), ("o3", CAM, "w", 1.0)]
    assert doubles(spark, rows) == []


def test_a_chain_of_close_reads_is_one_passing_kept_as_its_first_read(spark):
    # a vehicle queueing in view, read every two seconds: one passage, then a new one 10 s later
    rows = [("o1", CAM, "v", 0.0), ("o2", CAM, "v", 2.0), ("o3", CAM, "v", 4.0), ("o4", CAM, "v", 14.0)]
    assert doubles(spark, rows) == ["o2", "o3"]
    kept = drop_double_reads(reads(spark, rows), ["vehicle"], 3.0).collect()
    assert sorted(r.observation_id for r in kept) == ["o1", "o4"]


def test_reads_at_the_same_instant_keep_the_lowest_observation_id(spark):
    # two lanes, one frame: the choice is the same in any batch or partitioning
    assert doubles(spark, [("o9", CAM, "v", 0.0), ("o1", CAM, "v", 0.0)]) == ["o9"]


def test_a_window_of_zero_merges_nothing(spark):
    rows = [("o1", CAM, "v", 0.0), ("o2", CAM, "v", 0.0)]
    assert doubles(spark, rows, window=0) == []
    assert drop_double_reads(reads(spark, rows), ["vehicle"], 0).count() == 2


def test_the_monthly_statistics_merge_a_double_read_the_stream_wrote_twice(spark):
    # the stream met these reads in two micro-batches and wrote both; the month counts one passage
    from jobs.stats.tables.enrich import month_passages

    rows = [("o1", CAM, "token", 0.0), ("o2", CAM, "token", 1.0), ("o3", CAM, "token", 10.0)]
    passages = (reads(spark, rows).withColumnRenamed("vehicle", "period_token")
                .selectExpr("*", "2026 AS jaar", "3 AS maand", "'GM0344' AS municipality"))
    kept = month_passages(passages, 2026, 3, "GM0344", double_read_seconds=3.0).collect()
    assert sorted(r.observation_id for r in kept) == ["o1", "o3"]
    assert month_passages(passages, 2026, 3, double_read_seconds=0).count() == 3


def test_the_merged_read_is_named_and_the_kept_read_carries_its_last_read(spark):
    from anpr.double_reads import last_reads

    rows = [("o1", CAM, "v", 0.0), ("o2", CAM, "v", 2.0), ("o3", CAM, "v", 4.0), ("o4", CAM, "v", 14.0),
            ("o5", CAM, "v", 15.0)]
    found = double_reads(reads(spark, rows), ["vehicle"], 3.0)
    assert sorted((r.observation_id, r.merged_into) for r in found.collect()) == [("o2", "o1"), ("o3", "o1"),
                                                                                  ("o5", "o4")]
    assert sorted((r.observation_id, r.last_read_ts) for r in last_reads(found).collect()) == [
        ("o1", T0 + timedelta(seconds=4)), ("o4", T0 + timedelta(seconds=15))]


@pytest.mark.parametrize(("batches", "passings"), [
    # a fresh reader's case: 0 and 2.5 s in one micro-batch, 5 s in the next; the kept reads are 5 s apart
    ([[0.0, 2.5], [5.0]], 1),
    # a read delivered late, inside a chain the first batch already merged
    ([[0.0, 2.5], [1.0]], 1),
    # the earlier batch kept two passings; a late read between them joins them into one
    ([[0.0, 4.0], [2.0]], 1),
    ([[0.0, 2.5], [6.0]], 2),
    ([[0.0], [2.0], [4.0], [6.5]], 1),
])
def test_a_chain_split_over_micro_batches_is_one_passing_in_the_month(spark, batches, passings):
    """The stream's steps per micro-batch (double_read_ids, without_double_reads), then the monthly merge of what
    it wrote: as many passings as the whole sequence of reads holds, however it was batched."""
    from jobs.stats.tables.enrich import month_passages
    from streaming.pipeline import double_read_ids, without_double_reads

    written, n = None, 0
    for batch in batches:
        rows = [(f"o{n + i}", CAM, "v", s) for i, s in enumerate(batch)]
        n += len(batch)
        frame = (reads(spark, rows).withColumnRenamed("vehicle", "vehicle_key")
                 .selectExpr("*", "'2026-03' AS period_month"))
        kept = without_double_reads(frame, double_read_ids(frame, 3.0))
        written = kept if written is None else written.unionByName(kept)
    assert written is not None
    passages = (written.withColumnRenamed("vehicle_key", "period_token")
                .selectExpr("*", "2026 AS jaar", "3 AS maand", "'GM0344' AS municipality"))
    assert month_passages(passages, 2026, 3, double_read_seconds=3.0).count() == passings
