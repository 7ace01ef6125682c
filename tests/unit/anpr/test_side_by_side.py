"""anpr.spark.side_by_side: calls in threads that carry the caller's Spark properties, results by name,
and the first error in the order of the calls once all have ended."""

from __future__ import annotations

import threading
import time

import pytest

from anpr.spark import side_by_side


def test_results_come_back_by_name_and_threads_carry_the_callers_spark_properties(spark):
    context = spark.sparkContext
    context.setLocalProperty("anpr.test.batch", "b-7")
    try:
        seen = side_by_side(spark, {name: (lambda: (threading.current_thread().name,
                                                    context.getLocalProperty("anpr.test.batch")))
                                    for name in ("one", "two", "three")}, prefix="sbs-test")
    finally:
        context.setLocalProperty("anpr.test.batch", None)
    assert list(seen) == ["one", "two", "three"]
    assert all(thread.startswith("sbs-test") and batch == "b-7" for thread, batch in seen.values())


def test_the_first_error_in_the_order_of_the_calls_is_raised_after_the_others_ended(spark):
    ended: list[str] = []

    def slow_failure() -> None:
        time.sleep(0.3)
        ended.append("slow")
        raise ValueError("the first call failed")

    def quick_failure() -> None:
        ended.append("quick")
        raise KeyError("the second call failed")

    with pytest.raises(ValueError, match="the first call failed"):
        side_by_side(spark, {"slow": slow_failure, "quick": quick_failure})
    assert sorted(ended) == ["quick", "slow"]


def test_one_call_runs_in_the_calling_thread(spark):
    assert side_by_side(spark, {"only": lambda: threading.current_thread().name}) == \
        {"only": threading.current_thread().name}
