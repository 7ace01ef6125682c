"""The tables' transaction state is read while a micro-batch computes, never in its way."""

from __future__ import annotations

import threading

import pytest

from streaming.sink import BATCH_TABLES, app_id, warmed


class FakeLake:
    """Records each lookup; `gate` holds every lookup until the block under test lets it go."""

    def __init__(self, spark, broken: str | None = None) -> None:
        self.spark, self.broken = spark, broken
        self.gate, self.seen, self.query_ids = threading.Event(), [], []

    def transaction_version(self, name: str, app: str) -> int | None:
        self.query_ids.append(self.spark.sparkContext.getLocalProperty("sql.streaming.queryId"))
        if not self.gate.wait(10):
            raise TimeoutError("the block never let the lookups go")
        if name == self.broken:
            raise RuntimeError(f"no Delta table {name!r}")
        self.seen.append((name, app))
        return None


def test_every_table_is_read_while_the_block_runs_and_done_when_it_ends(spark):
    lake = FakeLake(spark)
    apps = {t: app_id("query-1", t) for t in BATCH_TABLES}
    with warmed(spark, lake, apps):
        assert lake.seen == []  # still held: the block is not waiting for them
        lake.gate.set()
    assert sorted(lake.seen) == sorted(apps.items())
    assert apps["passages"] == "query-1/passages"


def test_a_failed_lookup_is_left_for_the_write_and_the_block_error_is_the_one_raised(spark):
    lake = FakeLake(spark, broken="quarantine")
    lake.gate.set()
    with warmed(spark, lake, {"passages": "q/passages", "quarantine": "q/quarantine"}):
        pass
    assert lake.seen == [("passages", "q/passages")]
    with pytest.raises(ValueError, match="the batch failed"), \
            warmed(spark, lake, {"quarantine": "q/quarantine"}):
        raise ValueError("the batch failed")


def test_the_lookups_run_as_part_of_the_batch_query(spark):
    context = spark.sparkContext
    context.setLocalProperty("sql.streaming.queryId", "query-1")
    lake = FakeLake(spark)
    lake.gate.set()
    try:
        with warmed(spark, lake, {t: app_id("query-1", t) for t in BATCH_TABLES}):
            pass
    finally:
        context.setLocalProperty("sql.streaming.queryId", None)  # type: ignore[arg-type]
    assert lake.query_ids == ["query-1"] * len(BATCH_TABLES)


def test_a_failed_batch_still_waits_for_the_lookups_so_none_outlives_it(spark):
    lake = FakeLake(spark)
    threading.Timer(0.3, lake.gate.set).start()
    apps = {t: app_id("query-1", t) for t in BATCH_TABLES}
    with pytest.raises(ValueError, match="the batch failed"), warmed(spark, lake, apps):
        raise ValueError("the batch failed")
    assert sorted(lake.seen) == sorted(apps.items())
