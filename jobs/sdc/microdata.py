"""Cells from per-vehicle records in pandas: the reference the Spark build is checked against, and the
way tests and reviews build hand-made tables for the disclosure control."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from jobs.sdc.cells import Part
from jobs.sdc.config import Rules
from jobs.tables.cells import Sizes


def _hash(values: pd.Series) -> pd.Series:
    return pd.util.hash_pandas_object(values.astype(str), index=False).astype(np.int64)


def cells_from_records(records: pd.DataFrame, keys: Sequence[str], sizes: Sizes | None = None) -> pd.DataFrame:
    """records: one row per vehicle and slot with columns vehicle, owner, n (passages), r (trips) and
    the key columns. Returns one row per key combination with the statistics of jobs/tables/cells.py."""
    keys, sizes = list(keys), sizes or Sizes()
    rec = records.assign(vh=_hash(records["vehicle"]), oh=_hash(records["owner"]),
                         _g=0 if not keys else None)
    group = keys or ["_g"]
    per_owner = rec.groupby([*group, "owner", "oh"], sort=True).agg(
        n=("n", "sum"), r=("r", "sum"), v=("vehicle", "nunique"),
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
        })
    return pd.DataFrame(rows).drop(columns=["_g"], errors="ignore")


def parts_from_records(records: pd.DataFrame, tables: dict[str, Sequence[str]], rules: Rules | None = None,
                       measures: Sequence[str] = ("P", "R", "V")) -> list[Part]:
    """Hand-made linked tables (name -> key columns) over the same records, ready for jobs.sdc.protect."""
    rules = rules or Rules()
    return [Part(name, name, tuple(keys), tuple(measures), cells_from_records(records, keys), rules)
            for name, keys in tables.items()]
