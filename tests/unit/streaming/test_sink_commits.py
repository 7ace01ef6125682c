"""A micro-batch's commits run side by side: every result by table, each one's seconds, errors after all ended."""

from __future__ import annotations

import threading
import time
import warnings

import pytest

from streaming.sink import commit_together


def test_commits_run_at_once_and_each_result_comes_back_by_table(spark):
    started = threading.Barrier(3, timeout=10)  # passes only when all three run at the same time

    def commit(rows: int):
        def run() -> int:
            started.wait()
            return rows
        return run

    seconds: dict[str, float] = {}
    done = commit_together(spark, {"passages": commit(7), "out_of_scope": commit(2), "quarantine": commit(0)},
                           seconds)
    assert done == {"passages": 7, "out_of_scope": 2, "quarantine": 0}
    assert set(seconds) == {"passages", "out_of_scope", "quarantine"}


def test_a_failed_commit_is_raised_only_after_the_others_ended(spark):
    ended: list[str] = []

    def slow() -> int:
        time.sleep(0.5)
        ended.append("passages")
        return 1

    def broken() -> int:
        raise RuntimeError("quarantine commit refused")

    with pytest.raises(RuntimeError, match="quarantine commit refused"):
        commit_together(spark, {"passages": slow, "quarantine": broken}, {})
    assert ended == ["passages"]


def test_the_commits_see_the_batch_spark_properties_without_a_warning_per_batch(spark):
    context = spark.sparkContext
    context.setLocalProperty("sql.streaming.queryId", "query-1")
    try:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            seen = commit_together(spark, {t: lambda: context.getLocalProperty("sql.streaming.queryId")
                                           for t in ("a", "b")}, {})
    finally:
        context.setLocalProperty("sql.streaming.queryId", None)  # type: ignore[arg-type]
    assert seen == {"a": "query-1", "b": "query-1"}
    assert not [w for w in warned if "inherited" in str(w.message)]
