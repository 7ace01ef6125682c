"""The cells of one zone's release as nodes: one population is one node, however often it is published.

A node is a population of vehicles and passages. A cell shown in two tables at the same level (a 4.9 row
and a margin of a 4.8 table, say) is one node; so are cells of different levels or dimensions that hold
the same records: a 4.9 vehicle-type row whose vehicles all have one body type is the 4.8c cell of that
type and body, and the 4.9 rows SBI `Onbekend` and size `Onbekend` are one population (jobs/stats/sdc/
identities.py). One node has one fate: a population is never published in one table and suppressed in
another. Two cells are one population when they agree in every count and in the 32-bit cell keys of
passages, trips and vehicles (sums of per-record keys: equal sets give equal sums; unequal ones agree in
both the vehicle and the passage key with odds of about 2**-64), or when the category identities give
them the same canonical name.
Primary suppression (frequency at two levels, dominance) and the safety of unions of suppressed cells
are judged here, from the statistics each cell carries (see jobs/stats/tables/cells.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from anpr.dimensions import Containment
from anpr.disclosure import Rules
from jobs.stats.sdc.identities import Identities, find_identities, merge_classes

MEASURES = ("P", "R", "V")
REASONS = ("min_vehicles", "min_owners", "dominance")
PUBLISHED, PRIMARY, SECONDARY = "published", "primary", "secondary"  # a cell's fate in a release
_SIGNATURE = ("P", "R", "V", "O", "vkey", "pkey", "rkey")

Level = tuple[str, ...]
Key = tuple[object, ...]


class InconsistentCellsError(RuntimeError):
    """Two tables show the same population with different counts: the tables cannot be audited."""


@dataclass
class Part:
    """One block of cells: a table, or one characteristic of an overview table."""

    table: str
    part: str
    keys: tuple[str, ...]
    measures: tuple[str, ...]  # of MEASURES, the counts this block publishes
    cells: pd.DataFrame  # key (and hidden-key) columns plus P, R, V, O, top_p, top_v, vsample, osample
    rules: Rules
    hidden: tuple[str, ...] = ()  # keys derivable from the others (e.g. tijd_vak from uur)

    def level(self) -> Level:
        usable = [h for h in self.hidden if h in self.cells and not self.cells[h].isna().any()]
        return tuple(sorted({*self.keys, *usable}))


@dataclass
class Registry:
    parts: list[Part]
    level: list[Level] = field(default_factory=list)  # of the node's first cell
    key: list[Key] = field(default_factory=list)
    aliases: list[list[tuple[Level, Key]]] = field(default_factory=list)  # every (level, key) showing the node
    rows: list[list[tuple[int, int]]] = field(default_factory=list)  # (part, row) showing the node
    node_of: list[np.ndarray] = field(default_factory=list)  # per part: node of each row
    measures: list[set[str]] = field(default_factory=list)
    rules: list[Rules] = field(default_factory=list)
    identities: Identities = field(default_factory=Identities)
    # (dimension, category) -> a lower bound on its zone total of passages that anyone reads outside the count
    # tables: 4.12 gives each camera's worked hours, each of which holds a passage (jobs/stats/tables/cameras.py)
    floors: dict[tuple[str, object], float] = field(default_factory=dict)
    # (dimensions, categories) -> an upper bound on their zone total of passages that anyone reads outside the
    # count tables: a camera working in every judged hour (4.12: 100%) that shows no passage in a weekday's hour
    # (4.1) says none of those hours was judged, so the zone saw fewer than the judging threshold in each
    # (jobs/stats/tables/cameras.py hour_ceilings; found by an independent attacker at stop 47)
    ceilings: dict[tuple[tuple[str, ...], tuple[object, ...]], float] = field(default_factory=dict)
    # the month's own containments besides anpr/dimensions.py CONTAINMENTS (jobs/stats/tables/enrich.py
    # calendar_containments: week 5 lies among the weekdays of days 29-31; anpr/dimensions.py access_containments:
    # ZE access on the day against the day access ends)
    calendar: tuple[Containment, ...] = ()
    # the month's days per category of its calendar dimensions (jobs/stats/tables/enrich.py month_days)
    days: dict[str, dict[object, int]] = field(default_factory=dict)
    _cache: dict[str, list[Any]] = field(default_factory=dict)
    _arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.level)

    def values(self, name: str) -> list[Any]:
        """One statistic of every node (from the first table showing it), read once."""
        if name not in self._cache:
            columns = {p: part.cells[name].tolist() for p, part in enumerate(self.parts)}
            self._cache[name] = [columns[p][r] for p, r in (rows[0] for rows in self.rows)]
        return self._cache[name]

    def stat(self, name: str) -> np.ndarray:
        """One numeric statistic of every node, as a new array (converted once: the union rule asks for
        vehicles and owners thousands of times a zone, 4 s of a Utrecht-sized zone's run before)."""
        if name not in self._arrays:
            self._arrays[name] = np.array(self.values(name), dtype=np.float64)
        return self._arrays[name].copy()

    def contributors(self, node: int, name: str) -> list[Any]:
        return list(self.values(name)[node])

    def dominance_measure(self, node: int) -> str:
        return "P" if "P" in self.measures[node] else "V"

    def tables_of(self, node: int) -> list[str]:
        return sorted({self.parts[p].table for p, _ in self.rows[node]})

    def depth(self, node: int) -> int:
        """Dimensions of the node's finest cell: 0 for the zone total only."""
        return max(len(level) for level, _ in self.aliases[node])


def _cells_of(parts: Sequence[Part]) -> tuple[list[Level], list[Key], list[list[tuple[int, int]]], list[np.ndarray]]:
    """Cells per (level, key), in part order, rows sorted by key; tables at one level share cells."""
    index: dict[tuple[Level, Key], int] = {}
    levels: list[Level] = []
    keys: list[Key] = []
    rows: list[list[tuple[int, int]]] = []
    of: list[np.ndarray] = []
    for p, part in enumerate(parts):
        level = part.level()
        part.cells = part.cells.sort_values(list(level), kind="mergesort").reset_index(drop=True) if level else \
            part.cells.reset_index(drop=True)
        values = part.cells[list(level)].itertuples(index=False, name=None) if level else [()] * len(part.cells)
        ids = np.empty(len(part.cells), dtype=np.int64)
        for r, key in enumerate(values):
            cell = index.get((level, key))
            if cell is None:
                cell = index[(level, key)] = len(levels)
                levels.append(level)
                keys.append(key)
                rows.append([])
            rows[cell].append((p, r))
            ids[r] = cell
        of.append(ids)
    return levels, keys, rows, of


def _check_same(parts: Sequence[Part], a: tuple[int, int], b: tuple[int, int], what: str) -> None:
    for stat in ("P", "R", "V", "O"):
        x, y = parts[a[0]].cells[stat].iat[a[1]], parts[b[0]].cells[stat].iat[b[1]]
        if x != y:
            raise InconsistentCellsError(f"{stat} of {what} is {x} in {parts[a[0]].part} but {y} in "
                                         f"{parts[b[0]].part}")


def _same_populations(parts: Sequence[Part], levels: list[Level], keys: list[Key],
                      rows: list[list[tuple[int, int]]], identities: Identities) -> list[tuple[int, int]]:
    """Pairs of cells that are one population: the same canonical name, or the same counts and keys."""
    pairs: list[tuple[int, int]] = []
    named: dict[tuple[Level, Key], int] = {}
    signed: dict[tuple[int, ...], int] = {}
    keyed = all(set(_SIGNATURE) <= set(part.cells.columns) for part in parts)
    columns = [{s: part.cells[s].tolist() for s in _SIGNATURE} if keyed else {} for part in parts]
    for cell, (level, key) in enumerate(zip(levels, keys, strict=True)):
        what = str(dict(zip(level, key, strict=True)))
        for first in rows[cell][1:]:
            _check_same(parts, rows[cell][0], first, what)
        name = identities.canonical(level, key)
        if name is None:
            raise InconsistentCellsError(f"{what} holds categories that are one population with others")
        other = named.setdefault(name, cell)
        if other != cell:
            _check_same(parts, rows[other][0], rows[cell][0], what)
            pairs.append((other, cell))
        if keyed:
            p, r = rows[cell][0]
            other = signed.setdefault(tuple(int(columns[p][s][r]) for s in _SIGNATURE), cell)
            if other != cell:
                pairs.append((other, cell))
    return pairs


def build_registry(parts: Sequence[Part]) -> Registry:
    """Nodes in a fixed order (parts in catalogue order, rows sorted by key): runs are reproducible."""
    reg = Registry(list(parts))
    levels, keys, rows, cell_of = _cells_of(reg.parts)
    reg.identities = find_identities([part.level() for part in reg.parts], [part.cells for part in reg.parts])
    root = merge_classes(_same_populations(reg.parts, levels, keys, rows, reg.identities), len(levels))
    node_of_cell = np.empty(len(levels), dtype=np.int64)
    first: dict[int, int] = {}
    for cell in range(len(levels)):
        node = first.get(root[cell])
        if node is None:
            node = first[root[cell]] = reg.size
            reg.level.append(levels[cell])
            reg.key.append(keys[cell])
            reg.aliases.append([])
            reg.rows.append([])
            reg.measures.append(set())
            reg.rules.append(reg.parts[rows[cell][0][0]].rules)
        node_of_cell[cell] = node
        reg.aliases[node].append((levels[cell], keys[cell]))
        for p, r in rows[cell]:
            reg.rows[node].append((p, r))
            reg.measures[node].update(reg.parts[p].measures)
            reg.rules[node] = reg.rules[node].strictest(reg.parts[p].rules)
    reg.node_of = [node_of_cell[ids] for ids in cell_of]
    return reg


def cell_reasons(rules: Rules, vehicles: float, owners: float, amount: float, top: Sequence[Sequence[int]]
                 ) -> list[str]:
    """Why one population may not be published (frequency at two levels, dominance). amount: its passages,
    or its vehicles where it publishes no passages; top: its largest owners as [-amount, owner hash]."""
    reasons = []
    if vehicles < rules.min_vehicles:
        reasons.append("min_vehicles")
    if owners < rules.min_owners:
        reasons.append("min_owners")
    largest = -sum(int(pair[0]) for pair in top[: rules.dominance_n])
    if largest > rules.dominance_k / 100 * float(amount):
        reasons.append("dominance")
    return reasons


def primary_reasons(reg: Registry) -> list[list[str]]:
    """Why each node may not be published, by the strictest rules of the tables showing it."""
    vehicles, owners = reg.values("V"), reg.values("O")
    out: list[list[str]] = []
    for node in range(reg.size):
        measure = reg.dominance_measure(node)
        top = reg.contributors(node, "top_p" if measure == "P" else "top_v")
        out.append(cell_reasons(reg.rules[node], vehicles[node], owners[node], reg.values(measure)[node], top))
    return out


def union_problem(reg: Registry, nodes: Iterable[int]) -> str | None:
    """Why the union of these cells would be unsafe to disclose by subtraction, or None if it is safe.

    The samples keep each cell's smallest vehicle and owner hashes up to the thresholds, so the union's
    sample reaches a threshold exactly when the union does. Dominance uses an upper bound on what the
    largest owners can hold: an owner missing from a cell's (truncated) top list holds at most that
    list's smallest entry.
    """
    nodes = list(nodes)
    rules = reg.rules[nodes[0]]
    # Most cells share one rule set; folding only the distinct ones keeps this cheap for long rows.
    for other in set(reg.rules[node] for node in nodes[1:]) - {rules}:
        rules = rules.strictest(other)
    vehicles: set[object] = set().union(*(reg.contributors(n, "vsample") for n in nodes))
    if len(vehicles) < rules.min_vehicles:
        return "min_vehicles"
    owner_sample: set[object] = set().union(*(reg.contributors(n, "osample") for n in nodes))
    if len(owner_sample) < rules.min_owners:
        return "min_owners"
    measure = "P" if all("P" in reg.measures[n] for n in nodes) else "V"
    total = unlisted = 0.0
    extra: dict[int, float] = {}  # per listed owner: what it holds beyond the cap of the cells listing it
    amounts = reg.values(measure)
    for n in nodes:
        total += float(amounts[n])
        cap, listed = owner_bound(reg, n, measure)
        unlisted += cap
        for owner, beyond in listed:
            extra[owner] = extra.get(owner, 0.0) + beyond
    bounds = [unlisted + e for e in extra.values()] + [unlisted] * rules.dominance_n
    largest = sorted(bounds, reverse=True)[: rules.dominance_n]
    if sum(largest) > rules.dominance_k / 100 * total:
        return "dominance"
    return None


def owner_bound(reg: Registry, node: int, measure: str) -> tuple[float, list[tuple[int, float]]]:
    """What any one owner can hold of a cell's passages (measure "P") or vehicles ("V"), as (cap, listed):
    an owner missing from the cell's (truncated) top list holds at most cap, its smallest entry (0 when the
    list names every owner); a listed owner holds cap plus its entry in listed, (owner hash, amount - cap).
    The dominance bound of a union of cells (union_problem) is the n largest owners' sums of these."""
    top = [(-int(a), int(h)) for a, h in reg.values("top_p" if measure == "P" else "top_v")[node]]
    cap = float(top[-1][0]) if top and len(top) < int(reg.values("O")[node]) else 0.0
    return cap, [(owner, amount - cap) for amount, owner in top]
