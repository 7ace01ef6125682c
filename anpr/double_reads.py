"""Double reads: one vehicle passing one camera once is one passage, however often the camera read it.

A camera reads a vehicle more than once as it passes (two lanes, two frames, a front and a rear plate).
Reads of the same vehicle by the same camera are ordered by (event_ts, observation_id); a read that
comes at most `window_seconds` after the previous one is a double read of that passing and is no
passage. Chains count as one passing (a vehicle queueing in view for minutes, read every second), kept
as their first read. The choice depends only on the reads, never on how they were batched or
partitioned, so the stream (per micro-batch, on vehicle_key and month) and the monthly statistics (per
month, on period_token) apply the same rule and agree. Keys are month-scoped in both, so reads either
side of a (local) month boundary are never merged.

A chain split over two micro-batches: the stream keeps only its first read of each part, so the monthly
statistics would see a wider gap than there was (reads at 0 and 2.5 s in one batch, 5 s in the next: the
kept 0 and 5 s are 5 s apart). So a kept read carries the time of the last read merged into it (LAST_READ,
null when none was), and "the previous read" of a passage is the latest of the earlier passages' last
reads: exactly the previous read of the whole sequence, however the reads were batched.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

DOUBLE_READ_COLUMNS = ("observation_id", "camera_id", "event_ts")
# Passages' column: event_ts of the last read merged into the passage's read; null when none was.
LAST_READ = "last_read_ts"


def _read_until(columns: Sequence[str]) -> Column:
    """When the reads a row stands for end: its last merged read's time, or its own."""
    return F.coalesce(F.col(LAST_READ), F.col("event_ts")) if LAST_READ in columns else F.col("event_ts")


def double_reads(reads: DataFrame, vehicle: Sequence[str], window_seconds: float) -> DataFrame:
    """Every double read among `reads`: observation_id, `merged_into` (the observation_id of the kept read
    whose passing it belongs to, the chain's first) and event_ts.

    reads: one row per observation_id, with camera_id, event_ts (timestamp), optionally LAST_READ, and the
    `vehicle` columns that identify a vehicle (e.g. ["vehicle_key", "period_month"] or ["period_token"]).
    Only those columns are shuffled. window_seconds <= 0 turns the rule off (no double reads).
    """
    columns = [*DOUBLE_READ_COLUMNS, *vehicle, *([LAST_READ] if LAST_READ in reads.columns else [])]
    if window_seconds <= 0:
        return reads.select("observation_id", F.col("observation_id").alias("merged_into"), "event_ts").limit(0)
    order = Window.partitionBy("camera_id", *vehicle).orderBy("event_ts", "observation_id")
    before = F.max(_read_until(columns)).over(order.rowsBetween(Window.unboundedPreceding, -1))
    gap = F.unix_micros(F.col("event_ts")) - F.unix_micros(before)
    flagged = reads.select(*columns).withColumn(
        "_double", F.coalesce(gap <= int(round(window_seconds * 1_000_000)), F.lit(False)))
    chain_start = F.last(F.when(~F.col("_double"), F.col("observation_id")), ignorenulls=True).over(
        order.rowsBetween(Window.unboundedPreceding, 0))
    return (flagged.withColumn("merged_into", chain_start).where(F.col("_double"))
            .select("observation_id", "merged_into", "event_ts"))


def last_reads(doubles: DataFrame) -> DataFrame:
    """Per kept read that double reads were merged into: observation_id and LAST_READ, the latest of them."""
    return doubles.groupBy(F.col("merged_into").alias("observation_id")).agg(F.max("event_ts").alias(LAST_READ))


def drop_double_reads(reads: DataFrame, vehicle: Sequence[str], window_seconds: float) -> DataFrame:
    """`reads` without their double reads (`double_reads`): one row per passing of a camera."""
    if window_seconds <= 0:
        return reads
    doubles = double_reads(reads, vehicle, window_seconds).select("observation_id")
    return reads.join(doubles, "observation_id", "left_anti")
