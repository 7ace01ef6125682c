"""The lake's writes through delta-spark against a bare delta-spark write of the same rows.

- idempotent append (txnAppId/txnVersion) of BATCHES x ROWS rows, and the same batches replayed;
- insert_missing (an insert-only MERGE under the session's transaction) of the same batches;
- one stream-sized insert_missing (INSERT_ROWS, half of them known) into the table then holding
  BATCHES x ROWS rows, partitioned like passages (municipality, event_date);
- reading half the table (about 1M rows, 4 columns) as Arrow: Lake.read_arrow (files listed by
  delta-spark, read by pyarrow), Spark collecting the rows (toArrow) and delta-rs (DeltaReader, the
  vendor API's reader).

Run: python -m bench lake_append
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import types as T

ROWS = 200_000
BATCHES = 10
INSERT_ROWS = 100_000
MUNICIPALITIES = [f"GM{n:04d}" for n in (344, 363, 599, 518, 772)]
DAYS = 30
SCHEMA = T.StructType([T.StructField("observation_id", T.StringType(), False),
                       T.StructField("municipality", T.StringType(), False),
                       T.StructField("event_date", T.DateType(), False),
                       T.StructField("event_ts", T.TimestampType(), False),
                       T.StructField("uur", T.IntegerType(), False)])
PARTITIONS = ["municipality", "event_date"]
FIRST_DAY = dt.date(2026, 3, 1)


def batch(i: int, rows: int = ROWS, day: int | None = None) -> pa.Table:
    """Rows of batch i: ids unique per (i, n); spread over the municipalities and DAYS days (or one day)."""
    n = np.arange(rows)
    days = np.full(rows, day) if day is not None else (n + i * rows) % DAYS
    start = int(dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC).timestamp() * 1_000_000)
    return pa.table({
        "observation_id": pa.array(np.char.add(f"{i:04d}-", n.astype(str))),
        "municipality": pa.array(np.array(MUNICIPALITIES)[n % len(MUNICIPALITIES)]),
        "event_date": pa.array((np.datetime64(FIRST_DAY) + days.astype("timedelta64[D]")).astype("datetime64[D]")),
        "event_ts": pa.array(start + days * 86_400_000_000 + n % 86_400 * 1_000_000, pa.int64())
                    .cast(pa.timestamp("us", tz="UTC")),
        "uur": pa.array((n % 24).astype(np.int32)),
    })


def timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run() -> dict[str, object]:
    from anpr.delta_reader import DeltaReader
    from anpr.lake import Lake, filters_to_column
    from anpr.settings import Settings, SparkSettings
    from anpr.spark import get_spark

    data = [batch(i) for i in range(BATCHES)]
    with tempfile.TemporaryDirectory(prefix="anpr-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data",
                            spark=SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="4g"))
        spark = get_spark(settings)
        try:
            raw = str(Path(tmp) / "raw")

            def bare(t: pa.Table) -> None:
                spark.createDataFrame(t).coalesce(1).write.format("delta").mode("append").partitionBy(*PARTITIONS) \
                    .save(raw)

            bare(batch(99, 1000))  # warm up: JIT, Delta's classes, the first table creation
            baseline = sum(timed(lambda t=t: bare(t)) for t in data)
            lake = Lake(str(Path(tmp) / "lake"), spark)
            lake.create("t", SCHEMA, partition_by=PARTITIONS)
            append = sum(timed(lambda i=i, t=t: lake.append("t", t, app_id="bench", version=i))
                         for i, t in enumerate(data))
            replay = sum(timed(lambda i=i, t=t: lake.append("t", t, app_id="bench", version=i))
                         for i, t in enumerate(data))
            lake.create("u", SCHEMA, partition_by=PARTITIONS)
            insert = sum(timed(lambda i=i, t=t: lake.insert_missing("u", t, keys=["observation_id"], app_id="b",
                                                                      version=i)) for i, t in enumerate(data))
            # A stream's micro-batch: one day, every municipality, half of its ids already in the table.
            first_day = pa.scalar(FIRST_DAY, pa.date32())
            known = pa.concat_tables([t.filter(pc.equal(t["event_date"], first_day)) for t in data])
            known = known.slice(0, INSERT_ROWS // 2)
            fresh = batch(BATCHES, INSERT_ROWS - known.num_rows, day=0)
            micro = pa.concat_tables([known, fresh])
            inserted: list[int] = []
            merge_seconds = timed(lambda: inserted.append(
                lake.insert_missing("u", micro, keys=["observation_id"], app_id="b", version=BATCHES)))
            replayed_merge_seconds = timed(lambda: lake.insert_missing("u", micro, keys=["observation_id"],
                                                                       app_id="b", version=BATCHES))
            total = ROWS * BATCHES
            assert lake.read("u").count() == total + fresh.num_rows and inserted == [fresh.num_rows]
            columns = ["observation_id", "municipality", "event_date", "event_ts"]
            reader = DeltaReader(lake.root)
            only_read = [("event_date", "<", FIRST_DAY + dt.timedelta(days=DAYS // 2))]  # half: about 1M rows
            spark_rows = lake.read_arrow("t", columns=columns, filters=only_read).num_rows
            spark_read = min(timed(lambda: lake.read_arrow("t", columns=columns, filters=only_read)) for _ in range(2))
            collected = min(timed(lambda: lake.read("t").where(filters_to_column(only_read)).select(*columns).toArrow())
                            for _ in range(2))
            rs_rows = reader.read_arrow("t", columns=columns, filters=only_read).num_rows
            rs_read = min(timed(lambda: reader.read_arrow("t", columns=columns, filters=only_read)) for _ in range(2))
            assert spark_rows == rs_rows
        finally:
            spark.stop()
    return {
        "rows": total, "batches": BATCHES,
        "baseline_bare_delta_spark_append_rows_per_s": round(total / baseline),
        "idempotent_append_rows_per_s": round(total / append),
        "insert_missing_rows_per_s": round(total / insert),
        "replayed_batches_seconds": round(replay, 3),
        "ratio_append_to_baseline": round(baseline / append, 2),
        "ratio_insert_missing_to_baseline": round(baseline / insert, 2),
        "insert_missing_into_table": {"table_rows": total, "batch_rows": micro.num_rows,
                                      "inserted": inserted[0], "seconds": round(merge_seconds, 2),
                                      "replayed_seconds": round(replayed_merge_seconds, 2)},
        # Lake.read_arrow: files listed by delta-spark, read by pyarrow; Spark collecting the rows itself;
        # delta-rs (the API's reader).
        "read_arrow": {"rows": spark_rows, "columns": len(columns), "lake_seconds": round(spark_read, 2),
                       "spark_collect_seconds": round(collected, 2), "delta_rs_seconds": round(rs_read, 2)},
    }
