"""Which levels the attack models per measure: the published ones, unpublished measures of published
cells, and joint levels where tables share dimensions in a cycle.

Unpublished measures: passages live in every population, published or not. Tables of vehicles only (4.5,
4.6, 4.7) get passages as unknowns, because the definitions tie them to vehicles per cell (jobs/stats/sdc/
links.py: a Dagelijks vehicle passed on at least 15 days) and passages add up into the margins other
tables publish.

Joint levels: margins that agree pairwise are all an attacker needs when the tables' dimension sets form
no cycle (a decomposable model: a non-negative joint table with those margins then exists). With a
cycle, such as 4.6 (visitor type x sector), 4.8a (sector x vehicle type) and 4.7 (visitor type x vehicle
type x size), the attacker may solve for the joint table of visitor type x sector x vehicle type and
gets tighter intervals. The cycles are found by GYO reduction (remove dimensions that only one table
has, then tables contained in another; what remains is cyclic); each round joins two tables of the
remaining core, preferring the joint after which the smallest core remains (a joint that closes a
triangle leaves none of it) and then the fewest possible cells, until nothing cyclic is left. A joint's
cells are the keys consistent with every modelled level (an empty published cell is a known zero) and
with the category identities. Unique vehicles are additive only over vehicle characteristics, so their
joints use those dimensions only. A joint of more than MAX_JOINT_CELLS cells is not built: the cycle is
reported (Model.skipped) and the release refused (jobs/stats/sdc/protect.py), since the audit would then be
weaker than the attacker.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from jobs.stats.sdc.cells import Key, Level, Registry
from jobs.stats.sdc.identities import per_vehicle
from jobs.stats.sdc.links import VISITOR

MAX_JOINT_CELLS = 50_000  # a cycle whose smallest joint is larger stays unmodelled (and refused)


@dataclass
class Model:
    """Per measure: level -> key -> node (-1 for a joint cell), and which of those levels are joints."""

    levels: dict[str, dict[Level, dict[Key, int]]] = field(default_factory=dict)
    published: dict[str, set[Level]] = field(default_factory=dict)
    joints: dict[str, list[Level]] = field(default_factory=dict)
    skipped: dict[str, list[Level]] = field(default_factory=dict)  # cycles whose joint was too large

    def only(self, measures: tuple[str, ...]) -> Model:
        return Model({m: v for m, v in self.levels.items() if m in measures},
                     {m: v for m, v in self.published.items() if m in measures},
                     {m: v for m, v in self.joints.items() if m in measures},
                     {m: v for m, v in self.skipped.items() if m in measures})


def _modelled(reg: Registry, measure: str) -> tuple[dict[Level, dict[Key, int]], set[Level]]:
    levels: dict[Level, dict[Key, int]] = {}
    published: set[Level] = set()
    for p, part in enumerate(reg.parts):
        shown = measure in part.measures
        # passages of vehicle-only tables: unknowns the definitions tie to the published vehicles
        if not shown and not (measure == "P" and "V" in part.measures):
            continue
        level = part.level()
        cells = part.cells[list(level)].itertuples(index=False, name=None) if level else [()] * len(part.cells)
        levels.setdefault(level, {}).update(zip(cells, reg.node_of[p].tolist(), strict=True))
        if shown:
            published.add(level)
    return levels, published


def _edge(level: Level, measure: str) -> frozenset[str]:
    return frozenset(d for d in level if measure != "V" or per_vehicle(d))


def gyo_core(edges: list[frozenset[str]]) -> list[frozenset[str]]:
    """What GYO reduction leaves of a hypergraph: empty when it is acyclic."""
    current = [set(e) for e in edges]
    changed = True
    while changed:
        changed = False
        count = Counter(d for e in current for d in e)
        for e in current:
            lonely = {d for d in e if count[d] == 1}
            if lonely:
                e -= lonely
                changed = True
        kept: list[set[str]] = []
        for i, e in enumerate(current):
            covered = any(e < f or (e == f and j < i) for j, f in enumerate(current) if j != i)
            if e and not covered:
                kept.append(e)
        changed |= len(kept) != len(current)
        current = kept
    return sorted({frozenset(e) for e in current}, key=sorted) if len(current) > 1 else []


class _Keys:
    """Each level's keys projected on some of its dimensions, as a frame and as a set, built once while the
    joints of a measure are chosen (a level's cells never change once modelled)."""

    def __init__(self) -> None:
        self._frames: dict[Level, pd.DataFrame] = {}
        self._projections: dict[tuple[Level, Level], tuple[pd.DataFrame, set[Key]]] = {}

    def projection(self, level: Level, cells: dict[Key, int], shared: Level) -> tuple[pd.DataFrame, set[Key]]:
        """The distinct keys of the level's cells over `shared` (a subsequence of level)."""
        if (level, shared) not in self._projections:
            if level not in self._frames:
                frame = pd.DataFrame(list(cells), columns=list(level), dtype=object)
                # Keys are matched as Python values (sets, dicts), where NaN matches only itself and None no
                # NaN: a null category must have been filled (anpr/catalogue.py fills) before cells are made.
                if frame.isna().to_numpy().any():
                    raise ValueError(f"level {level} holds a key with a null category")
                self._frames[level] = frame
            keys = self._frames[level][list(shared)].drop_duplicates().reset_index(drop=True)
            self._projections[level, shared] = (keys, set(keys.itertuples(index=False, name=None)))
        return self._projections[level, shared]


def _empty_by_identity(dims: Level, keys: pd.DataFrame, complete: dict[Level, dict[Key, int]],
                       reg: Registry) -> np.ndarray:
    """Per row of keys (columns: dims): whether it lies within a cell of a complete level that does not exist.

    The joint cell (sector Onbekend, Dagelijks, Bus) is 4.7's (Dagelijks, Bus, size Onbekend): absent
    there, it is a known zero, though no table crosses sector with visitor type and vehicle type. So is
    every cell inside such a population: where emission class Z and fuel Elektriciteit are one population,
    the joint cell (Z, sector 561, Bestelauto, Altijd) lies within 4.8e's (Elektriciteit, 561), and is
    empty when that cell is."""
    classes = [c for c in reg.identities.classes if any(d in dims for d, _ in c)]
    empty = np.zeros(len(keys), dtype=bool)
    if not classes or not len(keys):
        return empty
    # a row hits a class when it names one of its categories: the class's other members are then implied
    hits = np.column_stack([np.logical_or.reduce([(keys[d] == v).to_numpy(dtype=bool) for d, v in c if d in dims])
                            for c in classes])
    patterns, group = np.unique(hits, axis=0, return_inverse=True)
    columns_of = {d: keys[d].to_numpy() for d in dims}
    group = group.reshape(-1)
    wanted = {level: cells for level, cells in complete.items() if not set(level) <= set(dims)}
    for g, pattern in enumerate(patterns):
        # each implied category is one population with a category of the key, so (level, other) below holds
        # the key's population whatever else it names (a later class wins a dimension, as dict order did)
        implied = {d: v for c, hit in zip(classes, pattern, strict=True) if hit for d, v in c}
        rows = np.flatnonzero(group == g)
        for level in wanted:
            if not set(level) <= {*dims, *implied}:
                continue  # not named by these keys
            # Looked up in the level's own dict: a MultiIndex of each group's keys cost more to build (pandas
            # factorizes every object column) than the lookups themselves, most of a small zone's model.
            cells = wanted[level]
            columns = [columns_of[d][rows] if d in dims else np.full(len(rows), implied[d], dtype=object)
                       for d in level]
            empty[rows] |= np.fromiter((key not in cells for key in zip(*columns, strict=True)), dtype=bool,
                                       count=len(rows))
    return empty


def joint_support(dims: Level, levels: dict[Level, dict[Key, int]], reg: Registry, cap: int,
                  complete: dict[Level, dict[Key, int]] | None = None, cache: _Keys | None = None
                  ) -> list[Key] | None:
    """Keys over dims consistent with every level's cells (projected) and not known to be empty by an
    identity (complete: the levels whose every non-empty cell exists), or None if more than cap."""
    cache = cache or _Keys()
    frames = []
    for level, cells in levels.items():
        shared = tuple(d for d in level if d in dims)
        if shared:
            frames.append((set(shared), *cache.projection(level, cells, shared)))
    frames.sort(key=lambda f: (-len(f[0]), len(f[1]), sorted(f[0])))
    covered, result = set(frames[0][0]), frames[0][1]
    while covered < set(dims):
        # the level adding dimensions with the most overlap: no cross products where a join will do
        _, frame, _ = max(((c, f, k) for c, f, k in frames if not c <= covered),
                          key=lambda cfk: (len(cfk[0] & covered), -len(cfk[1]), sorted(cfk[0])))
        on = [d for d in frame.columns if d in covered]
        result = result.merge(frame, on=on, how="inner") if on else result.merge(frame, how="cross")
        covered |= set(frame.columns)
        if len(result) > cap:
            return None
    # Every level's projection must hold the row's: a semi-join by set lookups, as a merge per level was
    # most of the joints' time on a small zone (pandas factorizes every object column it joins on).
    keep = np.ones(len(result), dtype=bool)
    for _, frame, keys in frames:
        columns = [result[d].to_numpy() for d in frame.columns]
        keep &= np.fromiter((key in keys for key in zip(*columns, strict=True)), dtype=bool, count=len(result))
    result = result[keep][list(dims)].drop_duplicates().reset_index(drop=True)
    result = result[reg.identities.named(dims, result)].reset_index(drop=True)
    if reg.identities and complete:
        result = result[~_empty_by_identity(dims, result, complete, reg)]
    return sorted(result.itertuples(index=False, name=None), key=repr)


def _joints(levels: dict[Level, dict[Key, int]], reg: Registry, measure: str
            ) -> tuple[dict[Level, dict[Key, int]], list[Level]]:
    joints: dict[Level, dict[Key, int]] = {}
    supports: dict[Level, list[Key] | None] = {}
    cache = _Keys()
    while True:
        edges = [_edge(level, measure) for level in [*levels, *joints]]
        core = gyo_core(edges)
        options = []
        for a, b in combinations(core, 2):
            dims = tuple(sorted(a | b))
            if not a & b or any(set(dims) <= e for e in edges):
                continue
            if dims not in supports:
                supports[dims] = joint_support(dims, {**levels, **joints}, reg, MAX_JOINT_CELLS, levels, cache)
            support = supports[dims]
            if support is not None:
                # the joint that leaves the least of the cycles, then the smallest (its LPs are the fastest)
                left = len(gyo_core([*edges, frozenset(dims)]))
                options.append((left, len(support), dims))
        if not options:
            return joints, [tuple(sorted(e)) for e in core]
        _, _, dims = min(options)
        # the new joint filters later supports: computed ones may be looser, never wrong
        joints[dims] = {key: -1 for key in supports[dims] or []}


def visitor_levels(levels: dict[Level, dict[Key, int]]) -> list[Level]:
    """The per-vehicle levels of unique vehicles to split by visitor type: every one without it, once some table
    gives vehicles by visitor type (else there is nothing to split by)."""
    if not any(VISITOR in level for level in levels):
        return []
    return sorted(tuple(sorted((*level, VISITOR))) for level in levels
                  if VISITOR not in level and all(per_vehicle(d) for d in level)
                  and tuple(sorted((*level, VISITOR))) not in levels)


def _visitor_joints(model: Model, reg: Registry) -> None:
    """Joint levels of vehicles by visitor type under each per-vehicle level (`visitor_levels`), which
    jobs/stats/sdc/relations.py add_visitor_rows ties to the level's passages (passages >= the fewest days of each
    type x its vehicles) and the margins to the visitor tables. Where 4.7 shows every bus Dagelijks, each 4.8b bus
    cell holds at least 15 passages per vehicle, though no table crosses fuel with visitor type: without these
    joints a hidden 4.8b cell of 5 buses was pinned to [4.14, 5.86] by the 4.9 totals while the audit had [1, 14].
    Passages need no joint of their own: no table gives them by visitor type, so a split of a cell's passages
    by type would add nothing that one row per cell does not say."""
    base = {lv: c for lv, c in model.levels["V"].items() if lv not in model.joints["V"]}
    for dims in visitor_levels(base):
        if dims in model.levels["V"]:
            continue
        support = joint_support(dims, base, reg, MAX_JOINT_CELLS, base)
        if support is None:
            model.skipped["V"].append(dims)
            continue
        model.levels["V"][dims] = {key: -1 for key in support}
        model.joints["V"] = sorted({*model.joints["V"], dims})


def build_model(reg: Registry, measures: tuple[str, ...]) -> Model:
    model = Model()
    for m in measures:
        levels, published = _modelled(reg, m)
        if not levels:
            continue
        joints, skipped = _joints(levels, reg, m)
        model.levels[m] = {**levels, **joints}
        model.published[m] = published
        model.joints[m] = sorted(joints)
        model.skipped[m] = skipped
    if {"V", "P"} <= set(model.levels):
        _visitor_joints(model, reg)
    return model
