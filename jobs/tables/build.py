"""One month's cells for every declared table, built in Spark and collected per zone as pandas frames.

The month's passages are prepared once (jobs/tables/enrich.py), summed to one row per vehicle and
passage-level slot, and cached; each table's cells come from that frame or from its per-vehicle sums.
Cells are few (thousands per zone), so everything after this runs in pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame

from anpr.catalogue import Catalogue, TableSpec
from jobs.tables.cameras import camera_hours
from jobs.tables.cells import (
    ZONE,
    CellPart,
    Sizes,
    cell_stats,
    count_parts,
    plain_counts,
    slot_frame,
    split,
    stack,
    vehicle_frame,
)
from jobs.tables.enrich import prepare


@dataclass
class MonthCells:
    parts: list[tuple[CellPart, pd.DataFrame]]  # all zones; columns municipality, zone_id, keys, stats
    camera_hours: pd.DataFrame
    passages: int

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
        stacked, keys, extra = stack(slots, vehicles, parts)
        frame = plain_counts(stacked, keys) if plain else cell_stats(stacked, keys, extra, sizes)
        cells = split(frame.toPandas(), parts)
        passages = int(slots.agg({"n": "sum"}).collect()[0][0] or 0)
        vehicles.unpersist()
    finally:
        slots.unpersist()
    hours = camera_hours(month_passages, catalogue.definitions.beschikbaarheid_min_zone_passages)
    return MonthCells(cells, hours, passages)
