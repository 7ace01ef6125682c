"""The sink's per-batch counts come from each step and add up; a row lost between steps stops the batch."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from anpr.lake import Lake
from anpr.stream_tables import PASSAGES, STREAM_METRICS
from streaming import pipeline as P
from streaming import plan
from streaming.accounting import BatchAccountingError
from streaming.job import ensure_tables
from streaming.sink import BatchReport, PassageSink
from tests.unit.streaming.test_pipeline import PEPPER, obs, prepared

LATE_DAYS = 7  # the ingest time of every record is 2026-03-10 12:00 UTC (test_pipeline.INGEST)


def at(day: int) -> str:
    return f"2026-03-{day:02d}T10:00:00.000Z"


def batches(spark, settings, tmp_path, *deliveries: list[dict],
            on_batch: Callable[[BatchReport], None] | None = None) -> tuple[Lake, list[BatchReport]]:
    """Each list of observations as one micro-batch (ids 0, 1, ...) through the real sink; on_batch is called
    with each batch's report as the sink ends it."""
    own = settings.model_copy(update={"data_dir": tmp_path, "pepper": SecretStr(PEPPER.decode())})
    lake = Lake(str(tmp_path / "lake"), spark)
    ensure_tables(lake)
    reports: list[BatchReport] = []
    spark.sparkContext.setLocalProperty("sql.streaming.queryId", "unit-query")
    try:
        def report(batch: BatchReport) -> None:
            reports.append(batch)
            if on_batch is not None:
                on_batch(batch)

        sink = PassageSink.open(spark, own, lake, report)
        for batch_id, observations in enumerate(deliveries):
            checked = P.validate(prepared(spark, [json.dumps(o).encode() for o in observations]), 5, LATE_DAYS, 0.6)
            sink(checked, batch_id)
    finally:
        spark.sparkContext.setLocalProperty("sql.streaming.queryId", None)
    return lake, reports


def balance(metrics: dict) -> int:
    return (metrics["passages_written"] + metrics["duplicates"] + metrics["double_reads"]
            + metrics["out_of_scope"] + metrics["quarantined"])


def test_an_early_month_day_after_later_days_becomes_passages_and_every_batch_adds_up(spark, settings, tmp_path):
    later = [obs(1, event_time=at(9)), obs(2, event_time=at(10))]
    early = [obs(3, event_time=at(4)), obs(3, event_time=at(4)),  # delivered twice within the batch
             obs(1, event_time=at(9)),  # already a passage
             obs(4, event_time=at(1))]  # beyond the 7 days' lateness
    lake, reports = batches(spark, settings, tmp_path, later, early)
    assert sorted(lake.read_arrow(PASSAGES).column("observation_id").to_pylist()) == \
        [obs(i)["observation_id"] for i in (1, 2, 3)]
    first, second = sorted(lake.read_arrow(STREAM_METRICS).to_pylist(), key=lambda m: m["batch_id"])
    assert [first[c] for c in ("rows_in", "passages_written", "duplicates", "quarantined")] == [2, 2, 0, 0]
    assert [second[c] for c in ("rows_in", "passages_written", "duplicates", "quarantined")] == [4, 1, 2, 1]
    assert json.loads(second["quarantined_by_reason"]) == {P.Reason.TOO_LATE: 1}
    assert all(balance(m) == m["rows_in"] for m in (first, second))
    assert [r.duplicates for r in reports] == [0, 2]


def test_a_row_lost_building_passages_stops_the_batch_after_recording_its_counts(spark, settings, tmp_path,
                                                                                 monkeypatch):
    build = plan.passages

    def losing_one(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        frame = build(*args, **kwargs)
        return frame.where(frame["observation_id"] != obs(2)["observation_id"])

    monkeypatch.setattr(plan, "passages", losing_one)
    with pytest.raises(BatchAccountingError, match="batch 0 does not add up: 3 in-scope rows became 2 passage rows"):
        batches(spark, settings, tmp_path, [obs(i, event_time=at(9 - i)) for i in (1, 2, 3)])
    [metrics] = Lake(str(tmp_path / "lake"), spark).read_arrow(STREAM_METRICS).to_pylist()
    assert (metrics["rows_in"], metrics["passages_written"]) == (3, 2)
