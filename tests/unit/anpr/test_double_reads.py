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
