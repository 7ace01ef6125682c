"""Cells from per-vehicle records in pandas: the reference the Spark build is checked against, and the
way tests and reviews build hand-made tables for the disclosure control."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from anpr.catalogue import Catalogue
from anpr.disclosure import Rules
from jobs.stats.sdc.cells import Part
from jobs.stats.tables.cells import CellPart, Sizes, count_parts

_MASK32 = 0xFFFFFFFF


def _hash(values: pd.Series) -> pd.Series:
    return pd.util.hash_pandas_object(values.astype(str), index=False).astype(np.int64)


def _key32(values: pd.Series) -> pd.Series:
    """32-bit record keys, as jobs/stats/tables/enrich.py draws them: a cell key is their sum modulo 2**32."""
    return pd.Series(pd.util.hash_pandas_object(values.astype(str), index=False).to_numpy() & _MASK32,
                     index=values.index).astype(np.int64)


def cells_from_records(records: pd.DataFrame, keys: Sequence[str], sizes: Sizes | None = None) -> pd.DataFrame:
    """records: one row per vehicle and slot with columns vehicle, owner, n (passages), r (trips) and
    the key columns. Returns one row per key combination with the statistics of jobs/stats/tables/cells.py.

    A record stands for its n passages: its passage key is n times its own key (the same records give
    the same cell key in every table, which is all the keys are for)."""
    keys, sizes = list(keys), sizes or Sizes()
    record_key = _key32(pd.Series(records.index, index=records.index))
    rec = records.assign(vh=_hash(records["vehicle"]), oh=_hash(records["owner"]), vk=_key32(records["vehicle"]),
                         pk=record_key * records["n"], rk=record_key * records["r"], _g=0 if not keys else None)
    group = keys or ["_g"]
    per_owner = rec.groupby([*group, "owner", "oh"], sort=True).agg(
        n=("n", "sum"), r=("r", "sum"), v=("vehicle", "nunique"), pk=("pk", "sum"), rk=("rk", "sum"),
        vkey=("vk", lambda s: int(s.drop_duplicates().sum())),
        vsample=("vh", lambda s: sorted(set(s))[: sizes.vehicles])).reset_index()
    rows = []
    for key, grp in per_owner.groupby(group, sort=True):
        rows.append({
            **dict(zip(group, key if isinstance(key, tuple) else (key,), strict=True)),
            "P": int(grp["n"].sum()), "R": int(grp["r"].sum()), "V": int(grp["v"].sum()), "O": len(grp),
            "top_p": sorted([-int(n), int(h)] for n, h in zip(grp["n"], grp["oh"], strict=True))[: sizes.top],
            "top_v": sorted([-int(v), int(h)] for v, h in zip(grp["v"], grp["oh"], strict=True))[: sizes.top],
            "vsample": sorted({h for s in grp["vsample"] for h in s})[: sizes.vehicles],
            "osample": sorted(int(h) for h in grp["oh"])[: sizes.owners],
            "vkey": int(grp["vkey"].sum()) & _MASK32, "pkey": int(grp["pk"].sum()) & _MASK32,
            "rkey": int(grp["rk"].sum()) & _MASK32,
        })
    return pd.DataFrame(rows).drop(columns=["_g"], errors="ignore")


def parts_from_records(records: pd.DataFrame, tables: dict[str, Sequence[str]], rules: Rules | None = None,
                       measures: Sequence[str] = ("P", "R", "V")) -> list[Part]:
    """Hand-made linked tables (name -> key columns) over the same records, ready for jobs.stats.sdc.protect."""
    rules = rules or Rules()
    return [Part(name, name, tuple(keys), tuple(measures), cells_from_records(records, keys), rules)
            for name, keys in tables.items()]


def catalogue_parts(records: pd.DataFrame, catalogue: Catalogue, rules: Rules | None = None) -> list[Part]:
    """Every declared count table over these records, cut into parts as jobs/stats/tables/build.py cuts them.

    records carry every key column (and the hidden ones, tijd_vak and venster_tijd, which the Spark build
    adds where the declared keys determine them)."""
    rules = rules or Rules()
    out = []
    for cp in _count_parts(catalogue):
        cells = cells_from_records(records, [*cp.keys, *cp.hidden])
        if cp.hidden and cells.duplicated(list(cp.keys)).any():
            raise ValueError(f"{cp.part}: {cp.hidden} are not functions of {cp.keys} in these records")
        out.append(Part(cp.table, cp.part, cp.keys, tuple(catalogue.tables[cp.table].counts), cells, rules,
                        cp.hidden))
    return out


def _count_parts(catalogue: Catalogue) -> list[CellPart]:
    return count_parts([s for s in catalogue.tables.values() if s.protected], catalogue)


def difference_records(old: pd.DataFrame, new: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The difference population of every cell with these keys between two builds' records (columns as for
    cells_from_records): one row per vehicle whose contribution to a cell differs, with n and r the
    absolute differences of its passages and trips there (a vehicle that entered or left the cell counts
    all of its passages). These vehicles are what subtracting the cell's two published counts reveals."""
    group = ["vehicle", "owner", *keys]
    before = old.groupby(group, sort=True, dropna=False)[["n", "r"]].sum()
    after = new.groupby(group, sort=True, dropna=False)[["n", "r"]].sum()
    both = before.join(after, how="outer", lsuffix="_old", rsuffix="_new").fillna(0)
    moved = both[(both["n_old"] != both["n_new"]) | (both["r_old"] != both["r_new"])]
    return pd.DataFrame({"n": (moved["n_new"] - moved["n_old"]).abs().astype(np.int64),
                         "r": (moved["r_new"] - moved["r_old"]).abs().astype(np.int64)}).reset_index()


def difference_cells(old: pd.DataFrame, new: pd.DataFrame, parts: Mapping[str, Sequence[str]]
                     ) -> dict[str, pd.DataFrame]:
    """Per part (name -> its key columns, hidden ones included): the cells of the difference population
    (jobs/stats/sdc/revision.py), with the statistics of cells_from_records; empty where nothing changed."""
    out = {}
    for name, keys in parts.items():
        changed = difference_records(old, new, keys)
        out[name] = cells_from_records(changed, keys) if len(changed) else pd.DataFrame()
    return out


def catalogue_keys(catalogue: Catalogue) -> dict[str, list[str]]:
    """Every declared count table's parts, as jobs/stats/tables/build.py cuts them: part -> key columns."""
    return {cp.part: [*cp.keys, *cp.hidden] for cp in _count_parts(catalogue)}
