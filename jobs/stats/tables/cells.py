"""Cells of the count tables, with what disclosure control needs to judge each cell and unions of cells.

Per cell: passages (P), trips (R), distinct vehicles (V), distinct owners (O); the largest owners'
contributions (top_p, top_v, as [-amount, owner hash] pairs); the smallest vehicle and owner hashes
(vsample, osample), enough to decide whether a union of cells reaches the frequency thresholds; and
32-bit cell keys (vkey, pkey, rkey) for optional perturbation. Arrays are sorted, so the cells never
depend on Spark's partitioning.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from anpr.catalogue import CONFIGURED_LABELS, DERIVABLE, OVERVIEW_TOTAL, SOURCES, Catalogue, TableSpec
from jobs.stats.tables.enrich import PASSAGE_LEVEL, vehicle_attributes

ZONE = ["municipality", "zone_id"]
STATS = ["P", "R", "V", "O", "top_p", "top_v", "vsample", "osample", "vkey", "pkey", "rkey"]


@dataclass(frozen=True)
class Sizes:
    """How much of each cell's contributors to keep: enough for the strictest configured rule."""

    top: int = 3
    vehicles: int = 10
    owners: int = 3


@dataclass(frozen=True)
class CellPart:
    """One block of a table's cells: a table, or one characteristic of an overview (keys [] = total)."""

    table: str
    part: str
    keys: tuple[str, ...]
    hidden: tuple[str, ...]
    labels: tuple[str, ...]


def _vehicle_keys(catalogue: Catalogue) -> list[str]:
    return ["period_token", "owner", "vh", "vrk", "oh", *vehicle_attributes(catalogue), "type_bezoeker"]


def slot_frame(prepared: DataFrame, catalogue: Catalogue) -> DataFrame:
    """Passages summed per vehicle and passage-level slot (camera, direction, weekday, hour, windows)."""
    slots = [c for c in PASSAGE_LEVEL if c in prepared.columns]
    return (prepared.groupBy(*ZONE, *_vehicle_keys(catalogue), *slots)
            .agg(F.count(F.lit(1)).alias("n"), F.sum(F.col("trip_start").cast("long")).alias("r"),
                 F.sum("prk").alias("pk"), F.sum(F.when(F.col("trip_start"), F.col("prk")).otherwise(0)).alias("rk")))


def vehicle_frame(slots: DataFrame, catalogue: Catalogue) -> DataFrame:
    """One row per vehicle and zone."""
    return (slots.groupBy(*ZONE, *_vehicle_keys(catalogue))
            .agg(*[F.sum(c).alias(c) for c in ("n", "r", "pk", "rk")]))


def parts_of(spec: TableSpec, catalogue: Catalogue, published: Collection[str] | None = None) -> list[CellPart]:
    """The blocks of cells of one table. published: the key columns the release's tables are keyed by
    (default: the catalogue's), which decides the hidden keys. A recoded key's label (the SBI afdeling's
    name) is not a cell's: jobs/stats/rows.py names the coarse code instead."""
    dims = catalogue.dimensions
    labels = tuple(sorted({dims[d].source for d in spec.dimensions
                           if d in dims and dims[d].label_of and dims[d].source not in CONFIGURED_LABELS
                           and dims[d].label_of not in spec.recoded}))
    # Only keys some table publishes link tables; the others need not be built.
    if published is None:
        published = {k for s in catalogue.tables.values() for k in s.keys.values()}

    def hidden(keys: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(d for d, needs in DERIVABLE.items()
                     if d in published and d not in keys and set(needs) <= set(keys))

    if spec.kind == "overview":
        # An overview's rows link too: 4.9's afdelingen sum into the sections of a recoded table (where every
        # table keyed by afdeling is recoded, nothing else ties them)
        parts = [CellPart(spec.name, name, (dims[name].source,), hidden((dims[name].source,)), ())
                 for name in spec.characteristics]
        return [*parts, CellPart(spec.name, OVERVIEW_TOTAL, (), (), ())]
    keys = tuple(spec.keys.values())
    return [CellPart(spec.name, spec.part_name, keys, hidden(keys), labels)]


def needs_slots(part: CellPart) -> bool:
    return any(SOURCES[k].per == "passage" for k in part.keys)


def vehicle_fed(parts: Sequence[CellPart]) -> list[int]:
    """The indexes of the parts stack feeds from its vehicles frame (no passage-level key)."""
    return [i for i, p in enumerate(parts) if not needs_slots(p)]


def _hidden(column: str) -> str:
    return f"h__{column}"


@dataclass(frozen=True)
class Coding:
    """The label and hidden columns of a build as integer codes: each value's 1-based position in its column's
    distinct values, in Spark's order. An aggregate of strings (min, max) makes Spark sort its input
    (SortAggregate); one of integers hashes it. `extra_coding` makes it; `stack` codes, `cell_stats` decodes."""

    values: dict[str, list[object]]  # column -> its distinct values, nulls left out
    types: dict[str, str]  # column -> its Spark type (simple string)

    def _array(self, column: str) -> Column:
        return F.array(*[F.lit(v) for v in self.values[column]]).cast(f"array<{self.types[column]}>")

    def code(self, column: str) -> Column:
        """column's value as its code (int; null stays null)."""
        return F.array_position(self._array(column), F.col(column)).cast("int")

    def value(self, column: str, coded: str) -> Column:
        """The value of column whose code is in column `coded`."""
        return F.element_at(self._array(column), F.col(coded))


def extra_coding(slots: DataFrame, parts: Sequence[CellPart]) -> Coding:
    """The Coding of every label and hidden column the parts carry, from slots (slot_frame, which holds each
    such column), in one job."""
    columns = sorted({c for p in parts for c in (*p.labels, *p.hidden)})
    types = dict(slots.dtypes)
    row = slots.agg(*[F.array_sort(F.collect_set(c)).alias(c) for c in columns]).first() if columns else None
    return Coding({c: list(row[c]) if row is not None else [] for c in columns}, {c: types[c] for c in columns})


def stack(slots: DataFrame, vehicles: DataFrame, parts: Sequence[CellPart], coding: Coding
          ) -> tuple[DataFrame, list[str], list[str]]:
    """Every part's input rows in one frame, tagged with the part's index: one Spark job builds all cells.

    Columns a part is not keyed by are null for it; hidden keys go in their own h__ columns. Label and
    hidden columns hold their codes (`coding`, made by `extra_coding` for these parts).
    Returns the frame, the key columns and the extra (label and hidden) columns.

    Each source row is exploded into one row per part it feeds, a part index, and each column is kept for
    the parts that use it, rather than one union branch per part: Spark analyses a union of n branches n
    times over, and the explode reads the cached source once. A 488-passage month's 35 parts: 19 s of
    planning as a union, 4 s exploded. At 196k passages (0.5% of the national month) the whole build took
    168 s as a union, 80 s exploded (101 s exploding a struct per part instead of its index)."""
    types = dict(slots.dtypes)
    keys = sorted({k for p in parts for k in p.keys})
    labels = sorted({c for p in parts for c in p.labels})
    hidden = sorted({c for p in parts for c in p.hidden})

    def kept(column: str, using: list[int], name: str, coded: bool = False) -> Column:
        if not using:
            return F.lit(None).cast("int" if coded else types[column]).alias(name)
        value = coding.code(column) if coded else F.col(column)
        return F.when(F.col("part").isin(using), value).alias(name)

    frames = []
    by_vehicle = vehicle_fed(parts)
    for source, fed in ((slots, [i for i in range(len(parts)) if i not in by_vehicle]), (vehicles, by_vehicle)):
        if not fed:
            continue
        exploded = source.withColumn("part", F.explode(F.array(*[F.lit(i) for i in fed])))
        frames.append(exploded.select(
            "part", *ZONE,
            *[kept(k, [i for i in fed if k in parts[i].keys], k) for k in keys],
            *[kept(c, [i for i in fed if c in parts[i].labels], c, coded=True) for c in labels],
            *[kept(c, [i for i in fed if c in parts[i].hidden], _hidden(c), coded=True) for c in hidden],
            "owner", "oh", "period_token", "vh", "vrk", "n", "r", "pk", "rk"))
    stacked = frames[0]
    for frame in frames[1:]:
        stacked = stacked.unionByName(frame)
    return stacked, keys, [*labels, *[_hidden(c) for c in hidden]]


def smallest(value: Column | str, size: int) -> Column:
    """A group's size smallest values, ascending, ties kept (a multiset, as sorting them all would give).
    Spark 4.2's bounded min_by keeps size values a group instead of collecting every row and sorting it:
    on 4M rows in 20,011 groups, 2.5-4.8 s against 11.4-13.8 s for collect_list, array_sort and slice."""
    return F.min_by(value, value, size)


def _top(amount: str, size: int) -> Column:
    """The size largest owners of a cell by amount, as [-amount, owner hash] pairs, ties by owner hash.
    Ranked as structs and made pairs after the cut: Spark compares structs about twice as fast as arrays
    (the build's per-cell step at 2% of the national month: 36 s against 17 s)."""
    ranked = smallest(F.struct((-F.col(amount)).alias("a"), F.col("oh").alias("o")), size)
    return F.transform(ranked, lambda pair: F.array(pair["a"], pair["o"]))


def smallest_of_lists(lists: str, size: int) -> Column:
    """The size smallest values of a group's ascending lists (each already cut to its size smallest).
    Only the size lists with the smallest first values can hold any of them: every list left out starts
    at or above each kept list's first value, and those size first values are already size candidates."""
    kept = F.min_by(F.col(lists), F.col(lists)[0], size)
    return F.slice(F.array_sort(F.flatten(kept)), 1, size)


def cell_stats(frame: DataFrame, keys: Sequence[str], extra: Sequence[str], sizes: Sizes, coding: Coding,
               single_rows: Collection[int] = ()) -> DataFrame:
    """One row per part, zone and key combination, with the statistics in the module docstring; frame as
    `stack` makes it, its label and hidden columns coded by `coding`. single_rows: the parts whose rows
    are already one per vehicle and cell (`vehicle_fed`, when stack's vehicles are vehicle_frame's one row
    per vehicle and zone), which skip the per-vehicle step and its shuffle.

    In three steps: per vehicle and cell, per owner and cell, per cell. The vehicle is a group key of the
    first, so the second counts distinct vehicles and sums their cell keys by counting and summing rows
    (a count_distinct beside other aggregates makes Spark expand every row; the build's cell step at 2% of
    the national month went from 185 s to 158 s, the same cells). Only owners of several vehicles take the
    owner step. At 0.5% of the national month (196k passages) this and the coding took the build from
    91-93 s to 81 s. The largest owners and the samples are bounded (`smallest`), and single rows skip the
    per-vehicle step: at 5% (1.96M passages) the build went 322 -> 253 -> 191 s, the same cells.
    Shuffling once by the cell's keys for all three steps (no shuffle between them) gained 1 s there but put
    every step's memory in one task: at 5% (1.96M passages, 3 GB driver) a task ran out of heap merging the
    owner step's spills."""
    keys = ["part", *ZONE, *keys]
    hidden = [c for c in extra if c.startswith("h__")]
    once = F.col("part").isin(sorted(single_rows)) if single_rows else F.lit(False)
    sums = [F.sum(c).alias(c) for c in ("n", "r", "pk", "rk")]
    # the label and hidden codes, and each hidden key's largest, carried up from the step below
    carried = [*[F.min(c).alias(c) for c in extra], *[F.max(f"{c}__max").alias(f"{c}__max") for c in hidden]]

    def per_vehicle(rows: DataFrame) -> DataFrame:
        vehicle = ["owner", "oh", "period_token", "vh", "vrk"]
        summed = (rows.where(~once).groupBy(*keys, *vehicle)
                  .agg(*sums, *[F.min(c).alias(c) for c in extra], *[F.max(c).alias(f"{c}__max") for c in hidden]))
        if not single_rows:
            return summed
        ready = rows.where(once).select(*keys, *vehicle, "n", "r", "pk", "rk", *extra,
                                        *[F.col(c).alias(f"{c}__max") for c in hidden])
        return summed.unionByName(ready)

    # A private vehicle (or one of an unknown owner) is its own owner (jobs/stats/tables/enrich.py
    # fix_vehicle_attributes): its row per cell is its owner's.
    alone = F.col("owner") == F.col("period_token")
    private = per_vehicle(frame.where(alone)).select(
        *keys, "owner", "oh", "n", "r", "pk", "rk", F.lit(1).cast("long").alias("v"), F.col("vrk").alias("vkey"),
        F.array("vh").alias("vsample"), *extra, *[f"{c}__max" for c in hidden])
    owned = (per_vehicle(frame.where(~alone)).groupBy(*keys, "owner", "oh")
             .agg(*sums, F.count(F.lit(1)).alias("v"), F.sum("vrk").alias("vkey"),
                  smallest("vh", sizes.vehicles).alias("vsample"), *carried))
    per_owner = private.unionByName(owned)
    mask = F.lit(0xFFFFFFFF)
    cells = (per_owner.groupBy(*keys)
             .agg(F.sum("n").alias("P"), F.sum("r").alias("R"), F.sum("v").alias("V"), F.count(F.lit(1)).alias("O"),
                  _top("n", sizes.top).alias("top_p"), _top("v", sizes.top).alias("top_v"),
                  smallest_of_lists("vsample", sizes.vehicles).alias("vsample"),
                  smallest("oh", sizes.owners).alias("osample"),
                  F.sum("vkey").bitwiseAND(mask).alias("vkey"), F.sum("pk").bitwiseAND(mask).alias("pkey"),
                  F.sum("rk").bitwiseAND(mask).alias("rkey"), *carried))
    # A hidden key is usable only where it is one value per cell (a function of the declared keys).
    single = {c: F.when(F.col(c) == F.col(f"{c}__max"), F.col(c)) for c in hidden}
    return (cells.select(*keys, *[single.get(c, F.col(c)).alias(c) for c in extra], *STATS)
            .select(*keys, *[coding.value(c.removeprefix("h__"), c).alias(c) for c in extra], *STATS))


def plain_counts(frame: DataFrame, keys: Sequence[str]) -> DataFrame:
    """Only the published counts, no disclosure-control statistics: the benchmark's baseline build."""
    return (frame.groupBy("part", *ZONE, *keys)
            .agg(F.sum("n").alias("P"), F.sum("r").alias("R"), F.count_distinct("period_token").alias("V")))


def count_parts(specs: Sequence[TableSpec], catalogue: Catalogue) -> list[CellPart]:
    """Every count table's blocks of cells, with the hidden keys that link them to the tables among specs
    (all of which one build makes, recoded variants included)."""
    published = {k for s in specs for k in s.keys.values()} | {k for s in catalogue.tables.values()
                                                                for k in s.keys.values()}
    return [part for spec in specs if spec.protected for part in parts_of(spec, catalogue, published)]


def split(cells: pd.DataFrame, parts: Sequence[CellPart]) -> list[tuple[CellPart, pd.DataFrame]]:
    """The collected cells of all parts -> each part's own columns, in a stable row order."""
    out = []
    for i, part in enumerate(parts):
        rows = cells[cells["part"] == i]
        hidden = [_hidden(c) for c in part.hidden if _hidden(c) in rows]
        columns = [*ZONE, *part.keys, *[c for c in [*part.labels, *hidden, *STATS] if c in rows]]
        rows = (rows[columns].rename(columns={_hidden(c): c for c in part.hidden})
                .sort_values([*ZONE, *part.keys], kind="mergesort").reset_index(drop=True))
        out.append((part, rows))
    return out
