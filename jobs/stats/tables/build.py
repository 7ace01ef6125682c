"""One month's cells for every declared table, built in Spark and collected per zone as pandas frames.

The month's passages are prepared once (jobs/stats/tables/enrich.py), summed to one row per vehicle and
passage-level slot, and cached; each table's cells come from that frame or from its per-vehicle sums.
Cells are few (thousands per zone), so everything after this runs in pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from anpr.catalogue import Catalogue, TableSpec
from jobs.stats.tables.cameras import camera_hours, slot_hours
from jobs.stats.tables.cells import (
    ZONE,
    CellPart,
    Sizes,
    cell_stats,
    count_parts,
    extra_coding,
    plain_counts,
    slot_frame,
    split,
    stack,
    vehicle_fed,
    vehicle_frame,
)
from jobs.stats.tables.enrich import prepare


@dataclass
class MonthCells:
    parts: list[tuple[CellPart, pd.DataFrame]]  # all zones; columns municipality, zone_id, keys, stats
    camera_hours: pd.DataFrame
    passages: int
    slot_hours: pd.DataFrame = field(default_factory=pd.DataFrame)  # cameras.py slot_hours

    def zones(self) -> list[tuple[str, str]]:
        found = set()
        for _, frame in self.parts:
            found |= set(zip(frame["municipality"], frame["zone_id"], strict=True))
        return sorted(found)

    def of_zone(self, municipality: str, zone: str) -> list[tuple[CellPart, pd.DataFrame]]:
        out = []
        for part, frame in self.parts:
            rows = frame[(frame["municipality"] == municipality) & (frame["zone_id"] == zone)]
            out.append((part, rows.drop(columns=ZONE).reset_index(drop=True)))
        return out


def build_month(month_passages: DataFrame, catalogue: Catalogue, specs: Sequence[TableSpec], sizes: Sizes,
                plain: bool = False) -> MonthCells:
    """plain=True builds only the published counts (the unprotected baseline of the benchmark)."""
    prepared = prepare(month_passages, catalogue)
    # Every table reads these rows again: one partition per core keeps the many small tasks few.
    cores = month_passages.sparkSession.sparkContext.defaultParallelism
    slots = slot_frame(prepared, catalogue).coalesce(cores).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        vehicles = vehicle_frame(slots, catalogue).coalesce(cores).persist(StorageLevel.MEMORY_AND_DISK)
        parts = count_parts(specs, catalogue)
        if plain:  # the published counts need no labels nor hidden keys
            parts = [replace(p, labels=(), hidden=()) for p in parts]
        coding = extra_coding(slots, parts)
        stacked, keys, extra = stack(slots, vehicles, parts, coding)
        frame = (plain_counts(stacked, keys) if plain
                 else cell_stats(stacked, keys, extra, sizes, coding, single_rows=vehicle_fed(parts)))
        cells = split(frame.toPandas(), parts)
        passages = int(slots.agg({"n": "sum"}).collect()[0][0] or 0)
        vehicles.unpersist()
    finally:
        slots.unpersist()
    hours = camera_hours(month_passages, catalogue.definitions.beschikbaarheid_min_zone_passages)
    return MonthCells(cells, hours, passages, slot_hours(month_passages))


def difference_month(old_passages: DataFrame, new_passages: DataFrame, catalogue: Catalogue,
                     specs: Sequence[TableSpec], sizes: Sizes) -> MonthCells:
    """The cells of the difference populations between two builds of a month (jobs/stats/sdc/revision.py): per
    cell, the vehicles whose contribution to it (passages, trips, presence) differs, with the absolute
    differences as their passages and trips. Each build's rows are what build_month sums into cells, so a
    vehicle moved to another visitor type or characteristic leaves one cell and enters another."""
    parts = count_parts(specs, catalogue)

    # read by the coding's job and again by the cells' (MEMORY_AND_DISK like build_month's, never memory only)
    slots = {sign: slot_frame(prepare(passages, catalogue), catalogue).persist(StorageLevel.MEMORY_AND_DISK)
             for sign, passages in ((1, new_passages), (-1, old_passages))}
    try:
        # one coding of the label and hidden columns for both builds, so their rows group together
        coding = extra_coding(slots[1].unionByName(slots[-1]), parts)

        def stacked(sign: int) -> tuple[DataFrame, list[str], list[str]]:
            frame, keys, extra = stack(slots[sign], vehicle_frame(slots[sign], catalogue), parts, coding)
            return frame.withColumn("n", F.col("n") * sign).withColumn("r", F.col("r") * sign), keys, extra

        new, keys, extra = stacked(1)
        old, _, _ = stacked(-1)
        group = ["part", *ZONE, *keys, *extra, "owner", "oh", "period_token", "vh", "vrk"]
        # grouping treats nulls as equal, which a join on the keys would not (a part's other keys are null)
        changed = (new.unionByName(old).groupBy(*group).agg(F.sum("n").alias("dn"), F.sum("r").alias("dr"))
                   .where((F.col("dn") != 0) | (F.col("dr") != 0))
                   .select(*group, F.abs("dn").alias("n"), F.abs("dr").alias("r"),
                           F.lit(0).cast("long").alias("pk"), F.lit(0).cast("long").alias("rk")))
        cells = split(cell_stats(changed, keys, extra, sizes, coding).toPandas(), parts)
    finally:
        for frame in slots.values():
            frame.unpersist()
    return MonthCells(cells, pd.DataFrame(), 0)
