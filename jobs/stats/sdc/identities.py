"""Categories of different dimensions that hold the same vehicles, and the canonical name of a cell.

The definitions make some categories one population under two names: SBI `Onbekend` and company size
`Onbekend` are both "private or unknown owner" (conf/tables.toml), so every release shows the two 4.9
`Onbekend` rows identical, and an attacker who reads the definitions may equate (sector Onbekend, X)
with (size Onbekend, X) for every X, even where no table crosses sector with size. Such identities are
found here in the data, not read from definition texts: two categories are one population when their
zone totals agree in passages and trips and in the 32-bit cell keys of both (sums of per-passage and
per-trip keys; see jobs/stats/tables/enrich.py): one set of passages is one set of vehicles. The totals
come from any table with the category's dimension, so the categories may be of passage-level dimensions
too: ZE access `Toegestaan` on the day of passage (5.3) is every passage of the vehicles whose access never
ends, `zeToegangTot` `Altijd` (5.4, 5.4b), as anpr/dimensions.py `ze_status` defines it. Whatever a
definition implies holds in the data, so this finds it; it also finds identities no definition states
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

from anpr.catalogue import DERIVABLE, SOURCES

Level = tuple[str, ...]
Key = tuple[object, ...]
Category = tuple[str, object]
UnionIdentity = tuple[tuple[str, tuple[object, ...]], tuple[str, tuple[object, ...]]]  # (dim, values) twice
_PASSAGE_KEYS = ("pkey", "rkey")
# Unions are searched over every subset of a dimension's categories: 2**12 sums at most per dimension.
_UNION_CATEGORIES = 12
_MASK32 = 0xFFFFFFFF


def per_vehicle(dim: str) -> bool:
    """Fixed per vehicle and month (SOURCES), so unique vehicles add up over its categories."""
    source = SOURCES.get(dim)
    return source is not None and source.per == "vehicle"


@dataclass(frozen=True)
class Identities:
    classes: tuple[tuple[Category, ...], ...] = ()  # each sorted: its first member names the class
    unions: tuple[UnionIdentity, ...] = ()  # a union of one dimension's categories is one of another's
    _of: dict[str, list[int]] = field(default_factory=dict, compare=False)  # dimension -> classes using it

    def __post_init__(self) -> None:
        for c, members in enumerate(self.classes):
            for dim, _ in members:
                self._of.setdefault(dim, []).append(c)

    def __bool__(self) -> bool:
        return bool(self.classes or self.unions)

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
    """Per category of any table: its zone total's passages, trips and their keys. Every table covers all of
    the zone's passages, so a category's cells sum to the same total in each table that shows it; unique
    vehicles would not add up over passage-level cells, and equal passages give equal vehicles anyway."""
    out: dict[Category, tuple] = {}
    for level, frame in zip(levels, cells, strict=True):
        if not level or not set(_PASSAGE_KEYS) <= set(frame.columns):
            continue
        for dim in level:
            sums = frame.groupby(dim, sort=True)[["P", "R", *_PASSAGE_KEYS]].sum()
            for value, row in sums.iterrows():
                signature = (int(row["P"]), int(row["R"]), *(int(row[k]) & _MASK32 for k in _PASSAGE_KEYS))
                out.setdefault((dim, value), signature)
    return out


def find_identities(levels: Sequence[Level], cells: Sequence[pd.DataFrame]) -> Identities:
    """Identity classes among the categories of the tables' dimensions, from the tables' cells. A class's
    first member names it; a vehicle characteristic comes before a passage-level one, so a canonical name
    keeps a per-vehicle dimension where it can."""
    signatures = _category_signatures(levels, cells)
    groups: dict[tuple, list[Category]] = {}
    for category, signature in signatures.items():
        groups.setdefault(signature, []).append(category)
    classes = []
    for members in groups.values():
        if len({d for d, _ in members}) > 1:
            classes.append(tuple(sorted(members, key=lambda m: (not per_vehicle(m[0]), m[0], str(m[1])))))
    ordered = tuple(sorted(classes, key=lambda c: [(d, str(v)) for d, v in c]))
    return Identities(ordered, _unions(signatures))


def _unions(signatures: dict[Category, tuple]) -> tuple[UnionIdentity, ...]:
    """Unions of categories of one dimension that hold the passages of a union of another's, where one side
    has two categories or more (one and one is a class): ZE access `Overgang` in a month without a tightening
    is every passage of the vehicles whose access ends on a later date, whichever date that is. Only the
    atoms are kept (no smaller union inside on both sides); the rest are sums of atoms. Dimensions of more
    than _UNION_CATEGORIES categories are left out, and dimensions DERIVABLE links already."""
    by_dim: dict[str, dict[object, tuple]] = {}
    for (dim, value), signature in signatures.items():
        by_dim.setdefault(dim, {})[value] = signature
    subsets: dict[tuple, list[tuple[str, tuple[object, ...]]]] = {}
    for dim, categories in sorted(by_dim.items()):
        k = len(categories)
        if not 2 <= k <= _UNION_CATEGORIES:
            continue
        values = sorted(categories, key=str)
        sigs = np.array([categories[v] for v in values], dtype=np.int64)
        masks = (np.arange(1, 2 ** k - 1)[:, None] >> np.arange(k)[None, :]) & 1  # proper non-empty subsets
        sums = masks @ sigs
        sums[:, 2:] &= _MASK32
        for mask, total in zip(masks, sums, strict=True):
            chosen = tuple(v for v, m in zip(values, mask, strict=True) if m)
            subsets.setdefault(tuple(total.tolist()), []).append((dim, chosen))
    found: dict[tuple[str, str], list[UnionIdentity]] = {}
    for sides in subsets.values():
        for i, (a, s) in enumerate(sides):
            for b, t in sides[i + 1:]:
                if a != b and not _derivable(a, b):
                    found.setdefault((a, b), []).append(((a, s), (b, t)))
    # Equal unions meet in equal unions, so the pairs of two dimensions are the unions of atoms that
    # partition both: an atom holds no smaller pair. The largest atom is the zone total less the others,
    # and one-and-one atoms are classes already.
    out = []
    for pairs in found.values():
        atoms = sorted((p for p in pairs if not any(set(s2) < set(p[0][1]) for (_, s2), _ in pairs)),
                       key=lambda p: (len(p[0][1]) + len(p[1][1]), repr(p)))
        out += [p for p in atoms[:-1] if len(p[0][1]) + len(p[1][1]) > 2]
    return tuple(sorted(out, key=repr))


def _derivable(a: str, b: str) -> bool:
    return a in DERIVABLE.get(b, ()) or b in DERIVABLE.get(a, ())


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
