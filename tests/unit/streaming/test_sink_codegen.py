"""A running stream compiles its code once: a micro-batch like the one before it reuses every class Spark
generated for it (anpr/spark.py CODEGEN_CACHE_ENTRIES). With Spark's default cache of 100 classes each batch
compiled its some 190 classes again, and the JIT compiled them again after it: about one of the 2 cores at
5,000 detections/s (docs/benchmarks.md, stop 52). A literal that changes from batch to batch inside generated
code (a timestamp, a version) would do the same, and fails here too."""

from __future__ import annotations

from tests.unit.streaming.test_pipeline import obs
from tests.unit.streaming.test_sink_accounting import batches


def compilations(spark) -> int:
    """Classes Spark's code generator compiled in this JVM so far (its codegen metrics, one per cache miss)."""
    return int(spark._jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME().getCount())


def like(hour: int, first: int) -> list[dict]:
    """Two new passages of one day an hour apart and a read past the lateness limit: every batch the same
    steps, as a running stream's batches of one day are."""
    return [obs(first, event_time=f"2026-03-09T{hour:02d}:00:00.000Z"),
            obs(first + 1, event_time=f"2026-03-09T{hour + 1:02d}:00:00.000Z"),
            obs(first + 2, event_time="2026-03-01T10:00:00.000Z")]


def test_a_micro_batch_like_the_one_before_compiles_no_new_code(spark, settings, tmp_path):
    # The register and camera checks run once a minute of wall time (stream.register_check_seconds), not once a
    # batch: the first one compiles its own classes in whichever batch a slow machine reaches the minute in.
    steady = settings.model_copy(update={"stream": settings.stream.model_copy(update={"register_check_seconds": 1e6})})
    after: list[int] = []
    _, reports = batches(spark, steady, tmp_path, like(2, 1), like(4, 4), like(6, 7), like(8, 10),
                         on_batch=lambda _: after.append(compilations(spark)))
    assert [(r.passages_written, sum(r.quarantined.values())) for r in reports] == [(2, 1)] * 4
    # Batch 0 commits under Delta transactions and batch 1 is the first with marked appends: both compile.
    third, fourth = after[2] - after[1], after[3] - after[2]
    assert fourth == 0, f"the fourth batch compiled {fourth} classes, the third {third}"
