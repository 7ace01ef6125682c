"""Double reads: one vehicle passing one camera once is one passage, however often the camera read it.

A camera reads a vehicle more than once as it passes (two lanes, two frames, a front and a rear plate).
Reads of the same vehicle by the same camera are ordered by (event_ts, observation_id); a read that
comes at most `window_seconds` after the previous one is a double read of that passing and is no
passage. Chains count as one passing (a vehicle queueing in view for minutes, read every second), kept
as their first read. The choice depends only on the reads, never on how they were batched or
partitioned, so the stream (per micro-batch, on vehicle_key and month) and the monthly statistics (per
month, on period_token) apply the same rule and agree. Keys are month-scoped in both, so reads either
side of a (local) month boundary are never merged.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

DOUBLE_READ_COLUMNS = ("observation_id", "camera_id", "event_ts")


def double_reads(reads: DataFrame, vehicle: Sequence[str], window_seconds: float) -> DataFrame:
    """The observation_id (one column) of every double read among `reads`.

    reads: one row per observation_id, with camera_id, event_ts (timestamp) and the `vehicle` columns
    that identify a vehicle (e.g. ["vehicle_key", "period_month"] or ["period_token"]). Only those
    columns are shuffled. window_seconds <= 0 turns the rule off (no double reads).
    """
    columns = [*DOUBLE_READ_COLUMNS, *vehicle]
    if window_seconds <= 0:
        return reads.select("observation_id").limit(0)
    order = Window.partitionBy("camera_id", *vehicle).orderBy("event_ts", "observation_id")
    gap = F.unix_micros(F.col("event_ts")) - F.unix_micros(F.lag("event_ts").over(order))
    return (reads.select(*columns).withColumn("_gap", gap)
            .where(F.col("_gap") <= int(round(window_seconds * 1_000_000))).select("observation_id"))


def drop_double_reads(reads: DataFrame, vehicle: Sequence[str], window_seconds: float) -> DataFrame:
    """`reads` without their double reads (`double_reads`): one row per passing of a camera."""
    if window_seconds <= 0:
        return reads
    return reads.join(double_reads(reads, vehicle, window_seconds), "observation_id", "left_anti")
