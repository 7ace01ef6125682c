"""The cells of one zone's release as nodes: the same population published twice is one node.

A node is a level (the sorted key dimensions it is defined by) and a key (their values). Tables at the
same level share nodes, so a cell suppressed in one table is suppressed in every table that shows it.
Primary suppression (frequency at two levels, dominance) and the safety of unions of suppressed cells
are judged here, from the statistics each cell carries (see jobs/tables/cells.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from jobs.sdc.config import Rules

MEASURES = ("P", "R", "V")
REASONS = ("min_vehicles", "min_owners", "dominance")


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

    def level(self) -> tuple[str, ...]:
        usable = [h for h in self.hidden if h in self.cells and not self.cells[h].isna().any()]
        return tuple(sorted({*self.keys, *usable}))


@dataclass
class Registry:
    parts: list[Part]
    level: list[tuple[str, ...]] = field(default_factory=list)
    key: list[tuple[object, ...]] = field(default_factory=list)
    rows: list[list[tuple[int, int]]] = field(default_factory=list)  # (part, row) showing the node
    node_of: list[np.ndarray] = field(default_factory=list)  # per part: node of each row
    measures: list[set[str]] = field(default_factory=list)
    rules: list[Rules] = field(default_factory=list)
    _cache: dict[str, list[Any]] = field(default_factory=dict)

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
        return np.array(self.values(name), dtype=np.float64)

    def contributors(self, node: int, name: str) -> list[Any]:
        return list(self.values(name)[node])

    def dominance_measure(self, node: int) -> str:
        return "P" if "P" in self.measures[node] else "V"

    def tables_of(self, node: int) -> list[str]:
        return sorted({self.parts[p].table for p, _ in self.rows[node]})


def build_registry(parts: Sequence[Part]) -> Registry:
    """Nodes in a fixed order (parts in catalogue order, rows sorted by key): runs are reproducible."""
    reg = Registry(list(parts))
    index: dict[tuple[tuple[str, ...], tuple[object, ...]], int] = {}
    for p, part in enumerate(reg.parts):
        level = part.level()
        part.cells = part.cells.sort_values(list(level), kind="mergesort").reset_index(drop=True) if level else \
            part.cells.reset_index(drop=True)
        values = part.cells[list(level)].itertuples(index=False, name=None) if level else [()] * len(part.cells)
        ids = np.empty(len(part.cells), dtype=np.int64)
        for r, key in enumerate(values):
            node = index.get((level, key))
            if node is None:
                node = index[(level, key)] = reg.size
                reg.level.append(level)
                reg.key.append(key)
                reg.rows.append([])
                reg.measures.append(set())
                reg.rules.append(part.rules)
            else:
                _check_same(reg, node, part, r)
                reg.rules[node] = reg.rules[node].strictest(part.rules)
            reg.rows[node].append((p, r))
            reg.measures[node].update(part.measures)
            ids[r] = node
        reg.node_of.append(ids)
    return reg


def _check_same(reg: Registry, node: int, part: Part, row: int) -> None:
    # Called while building, before any statistic is cached.
    first_part, first_row = reg.rows[node][0]
    for stat in ("P", "R", "V", "O"):
        a, b = reg.parts[first_part].cells[stat].iat[first_row], part.cells[stat].iat[row]
        if a != b:
            raise InconsistentCellsError(f"{stat} of {dict(zip(reg.level[node], reg.key[node], strict=True))} "
                                         f"is {a} in {reg.parts[first_part].part} but {b} in {part.part}")


def primary_reasons(reg: Registry) -> list[list[str]]:
    """Why each node may not be published, by the strictest rules of the tables showing it."""
    out: list[list[str]] = []
    vehicles, owners = reg.values("V"), reg.values("O")
    for node in range(reg.size):
        rules = reg.rules[node]
        reasons = []
        if vehicles[node] < rules.min_vehicles:
            reasons.append("min_vehicles")
        if owners[node] < rules.min_owners:
            reasons.append("min_owners")
        measure = reg.dominance_measure(node)
        top = reg.contributors(node, "top_p" if measure == "P" else "top_v")
        largest = -sum(int(pair[0]) for pair in top[: rules.dominance_n])
        if largest > rules.dominance_k / 100 * float(reg.values(measure)[node]):
            reasons.append("dominance")
        out.append(reasons)
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
    amounts, owners, tops = reg.values(measure), reg.values("O"), reg.values("top_p" if measure == "P" else "top_v")
    for n in nodes:
        total += float(amounts[n])
        top = [(-int(a), int(h)) for a, h in tops[n]]
        cap = float(top[-1][0]) if top and len(top) < int(owners[n]) else 0.0
        unlisted += cap
        for amount, owner in top:
            extra[owner] = extra.get(owner, 0.0) + amount - cap
    bounds = [unlisted + e for e in extra.values()] + [unlisted] * rules.dominance_n
    largest = sorted(bounds, reverse=True)[: rules.dominance_n]
    if sum(largest) > rules.dominance_k / 100 * total:
        return "dominance"
    return None
