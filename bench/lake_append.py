"""Idempotent appends through the lake layer, against a bare delta-rs write of the same rows."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake
from pyspark.sql import types as T

from anpr.lake import LocalLake

ROWS = 200_000
BATCHES = 10
SCHEMA = T.StructType([T.StructField("observation_id", T.StringType(), False),
                       T.StructField("municipality", T.StringType(), False),
                       T.StructField("uur", T.IntegerType(), False)])


def batch(i: int) -> pa.Table:
    ids = [f"{i:04d}-{n:08d}" for n in range(ROWS)]
    return pa.table({"observation_id": pa.array(ids, pa.string()),
                     "municipality": pa.array(["GM0344"] * ROWS, pa.string()),
                     "uur": pa.array([n % 24 for n in range(ROWS)], pa.int32())})


def timed(fn) -> float:  # noqa: ANN001
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run() -> dict[str, object]:
    data = [batch(i) for i in range(BATCHES)]
    with tempfile.TemporaryDirectory(prefix="anpr-bench-") as tmp:
        raw = str(Path(tmp) / "raw")
        baseline = sum(timed(lambda t=t: write_deltalake(raw, t, mode="append", partition_by=["municipality"]))
                       for t in data)
        lake = LocalLake(str(Path(tmp) / "lake"))
        lake.create("t", SCHEMA, partition_by=["municipality"])
        append = sum(timed(lambda i=i, t=t: lake.append("t", t, app_id="bench", version=i)) for i, t in enumerate(data))
        replay = sum(timed(lambda i=i, t=t: lake.append("t", t, app_id="bench", version=i)) for i, t in enumerate(data))
        lake.create("u", SCHEMA, partition_by=["municipality"])
        insert = sum(timed(lambda i=i, t=t: lake.insert_missing("u", t, keys=["observation_id"], app_id="b", version=i))
                     for i, t in enumerate(data))
        assert lake.read_arrow("t").num_rows == lake.read_arrow("u").num_rows == ROWS * BATCHES
    total = ROWS * BATCHES
    return {
        "rows": total, "batches": BATCHES,
        "baseline_write_deltalake_rows_per_s": round(total / baseline),
        "idempotent_append_rows_per_s": round(total / append),
        "insert_missing_rows_per_s": round(total / insert),
        "replayed_batches_seconds": round(replay, 3),
        "ratio_append_to_baseline": round(baseline / append, 2),
        "ratio_insert_missing_to_baseline": round(baseline / insert, 2),
    }
