"""Categories of different dimensions that hold the same vehicles, and the canonical name of a cell.

The definitions make some categories one population under two names: SBI `Onbekend` and company size
`Onbekend` are both "private or unknown owner" (conf/tables.toml), so every release shows the two 4.9
`Onbekend` rows identical, and an attacker who reads the definitions may equate (sector Onbekend, X)
with (size Onbekend, X) for every X, even where no table crosses sector with size. Such identities are
found here in the data, not read from definition texts: two categories are one population when their
zone totals (from any table keyed by vehicle characteristics only) agree in passages, trips and vehicles
and in the 32-bit cell keys of all three (sums of per-record keys; see jobs/stats/tables/enrich.py). Whatever
a definition implies holds in the data, so this finds it; it also finds identities no definition states
(which an attacker may guess from identical rows), and nothing false.

A cell (level, key) is named canonically by replacing every category of an identity by the class's first
member; a key that holds one member of a class but another category of a second member's dimension is
empty (None): sector Onbekend with size Klein cannot exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from anpr.catalogue import SOURCES

Level = tuple[str, ...]
Key = tuple[object, ...]
Category = tuple[str, object]
_KEYS = ("vkey", "pkey", "rkey")
_MASK32 = 0xFFFFFFFF


def per_vehicle(dim: str) -> bool:
    """Fixed per vehicle and month (SOURCES), so unique vehicles add up over its categories."""
    source = SOURCES.get(dim)
    return source is not None and source.per == "vehicle"


@dataclass(frozen=True)
class Identities:
    classes: tuple[tuple[Category, ...], ...] = ()  # each sorted: its first member names the class
    _of: dict[str, list[int]] = field(default_factory=dict, compare=False)  # dimension -> classes using it

    def __post_init__(self) -> None:
        for c, members in enumerate(self.classes):
            for dim, _ in members:
                self._of.setdefault(dim, []).append(c)

    def __bool__(self) -> bool:
        return bool(self.classes)

    def canonical(self, level: Level, key: Key) -> tuple[Level, Key] | None:
        if not self.classes or not any(d in self._of for d in level):
            return level, key
        values = dict(zip(level, key, strict=True))
        for c in sorted({c for d in level for c in self._of.get(d, ())}):
            members = [(d, v) for d, v in self.classes[c] if d in values]
            hits = [values[d] == v for d, v in members]
            if not any(hits):
                continue
            if not all(hits):
                return None
            for d, _ in members:
                del values[d]
            rep_dim, rep_value = self.classes[c][0]
            values[rep_dim] = rep_value
        out = tuple(sorted(values))
        return out, tuple(values[d] for d in out)

    def named(self, level: Level, keys: pd.DataFrame) -> np.ndarray:
        """Per row of keys (columns: level): whether canonical() names it, that is, it holds all or none of
        each class's members in level."""
        ok = np.ones(len(keys), dtype=bool)
        for c in sorted({c for d in level for c in self._of.get(d, ())}):
            members = [(d, v) for d, v in self.classes[c] if d in level]
            if len(members) > 1:
                hits = np.column_stack([(keys[d] == v).to_numpy(dtype=bool) for d, v in members])
                ok &= hits.all(axis=1) | ~hits.any(axis=1)
        return ok

    def images(self, level: Level) -> list[Level]:
        """level with one identity dimension swapped for another of its class: where such a margin of one
        table meets a margin of another, the identity links them."""
        out = []
        for dim in level:
            for c in self._of.get(dim, ()):
                for other, _ in self.classes[c]:
                    if other != dim and other not in level:
                        out.append(tuple(sorted({*level, other} - {dim})))
        return sorted(set(out))


def _category_signatures(levels: Sequence[Level], cells: Sequence[pd.DataFrame]) -> dict[Category, tuple]:
    out: dict[Category, tuple] = {}
    for level, frame in zip(levels, cells, strict=True):
        if not level or not all(per_vehicle(d) for d in level) or not set(_KEYS) <= set(frame.columns):
            continue
        for dim in level:
            sums = frame.groupby(dim, sort=True)[["P", "R", "V", *_KEYS]].sum()
            for value, row in sums.iterrows():
                signature = (int(row["P"]), int(row["R"]), int(row["V"]),
                             *(int(row[k]) & _MASK32 for k in _KEYS))
                out.setdefault((dim, value), signature)
    return out


def find_identities(levels: Sequence[Level], cells: Sequence[pd.DataFrame]) -> Identities:
    """Identity classes among the categories of per-vehicle dimensions, from the tables' cells."""
    groups: dict[tuple, list[Category]] = {}
    for category, signature in _category_signatures(levels, cells).items():
        groups.setdefault(signature, []).append(category)
    classes = []
    for members in groups.values():
        if len({d for d, _ in members}) > 1:
            classes.append(tuple(sorted(members, key=lambda m: (m[0], str(m[1])))))
    return Identities(tuple(sorted(classes, key=lambda c: [(d, str(v)) for d, v in c])))


def merge_classes(pairs: Iterable[tuple[int, int]], size: int) -> list[int]:
    """Union-find: the smallest member of each item's class."""
    parent = list(range(size))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(size)]
