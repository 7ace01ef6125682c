"""A new release of a month, protected and audited jointly with every earlier served release of that month.

Every release stays served (`/v1/releases?history=true`), so an attacker holds them all. For any two
served releases, old and new (this release and an earlier one, or two earlier ones), and a cell shown in
both (the same table and key), the counts obey

    new = old + d  where the cell grew or held still,   old = new + d  where it shrank,   d >= 0,

d being the counts of the cell's difference population: the vehicles whose contribution to the cell
(passages, trips, presence) differs between the two builds (jobs/stats/sdc/microdata.py difference_cells). A
cell published in both releases gives d away exactly. The revision policy (docs/statistics.md,
"Revisions"):

1. carried forward: a cell suppressed in any earlier release of the month stays suppressed, since a cell
   published now that was a companion then can pin the earlier primary cell exactly;
2. a cell whose difference population from an earlier release changes a count it publishes and fails the
   primary rules on its own (too few vehicles or owners, or dominated) is suppressed (reason `revision`),
   and each such difference is attacked: its feasible interval must span the margin of its own value;
3. the earlier releases' primary cells are attacked again, now against everything served, and so is every
   difference between two earlier releases that the later of them found unsafe (rule 2): that release's
   audit record names it ("<measure> difference <release id>" on the cell), and a later release can
   narrow it;
4. the attacker's system is each release's own (jobs/stats/sdc/system.py) side by side, the earlier releases'
   published counts known, every two releases tied by the rows above, the earlier ones among themselves
   too: with three releases, x2 >= x1 and x3 >= x2 bound x2 from both sides, which ties to the newest
   release alone would miss (Willenborg and de Waal, "Elements of Statistical Disclosure Control", ch. 4:
   disclosure by differencing of linked releases).

Each difference carries its true sign, so the attacker is taken to know which cells grew and which shrank
(late data only adds passages, but a vehicle seen on one more day moves from one visitor type to
another): stronger than any attacker who does not, and the true counts stay a feasible point. Counts no
table publishes (margins, joint cells) are tied across releases only through the cells under them. A cell
that exists in only one of two releases is its own difference population, judged by the primary rules
of the release that shows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from anpr.catalogue import Definitions
from jobs.stats.sdc.cells import MEASURES, PRIMARY, PUBLISHED, Key, Level, Registry, build_registry, cell_reasons
from jobs.stats.sdc.system import System, Target, build_system, sparse_rows, sum_row

REVISION, CARRIED, DIFFERENCE = "revision", "carried", "difference"
Alias = tuple[Level, Key]
Vars = Mapping[tuple[int, str], int]  # (node, measure) -> variable of the joint system


@dataclass
class Earlier:
    """One earlier served release of the month, for one zone."""

    release_id: str
    # part -> its cells as that release built them, with their `status`, `reasons` and the `audit` it recorded
    # (JSON, as jobs/stats/sdc/zone.py fates writes them; "" where nothing was attacked)
    cells: Mapping[str, pd.DataFrame]
    difference: Mapping[str, pd.DataFrame]  # part -> cells of the difference population from it to this one
    # its cameras' worked hours then (Registry.floors): its 4.12 gave them away as this release's 4.12 does
    floors: Mapping[tuple[str, object], float] = field(default_factory=dict)
    # and its quiet hours' ceilings (Registry.ceilings), which its 4.12 and 4.1 gave away
    ceilings: Mapping[tuple[tuple[str, ...], tuple[object, ...]], float] = field(default_factory=dict)
    # what its audit recorded for the zone (zone.py summarize), {} if nothing
    summary: Mapping[str, Any] = field(default_factory=dict)

    @property
    def availability_withheld(self) -> bool:
        """Its 4.12 showed no percentage for the zone's fully available cameras, so it gave no ceilings away
        (zone.py protect_zone)."""
        return bool(self.summary.get("availability_withheld"))


@dataclass
class _Loaded:
    release_id: str
    registry: Registry  # of its cells
    status: list[str]  # per node of its registry: its fate in that release
    pairs: list[tuple[int, int]]  # (its node, this release's node) showing the same cell
    unsafe: set[int]  # this release's nodes whose difference from it breaks the primary rules
    moved: dict[int, tuple[float, float]]  # this release's node -> vehicles and owners of its difference population
    revised: dict[str, set[int]]  # release before it -> its nodes whose difference from that one it found unsafe
    at: dict[Alias, int]  # every (level, key) its registry shows, and its node (_nodes)
    systems: dict[tuple[str, ...], System] = field(default_factory=dict)


class Revision:
    """The earlier releases of a zone's month, and the joint system against them."""

    def __init__(self, reg: Registry, earlier: Sequence[Earlier], definitions: Definitions | None = None) -> None:
        """earlier: oldest first."""
        self.reg, self.definitions = reg, definitions
        self.at = _nodes(reg)
        # The latest release built from the same records was protected against every release before it:
        # its pattern, carried forward, reproduces it cell for cell, and the joint system would add nothing
        # (any point feasible for it is feasible for this release with every difference 0). So only that
        # pattern is carried, and this release is attacked alone (jobs/stats/sdc/protect.py): exact, and as fast
        # as a first release.
        self.repeat = bool(earlier) and all(frame.empty for frame in earlier[-1].difference.values())
        self.earlier = [self._load(e) for e in (earlier[-1:] if self.repeat else earlier)]

    def _load(self, e: Earlier) -> _Loaded:
        old = build_registry([replace(part, cells=e.cells[part.part]) for part in self.reg.parts
                              if part.part in e.cells])
        old.floors = dict(e.floors)
        old.ceilings = dict(e.ceilings)
        old.calendar, old.days = self.reg.calendar, self.reg.days  # the same month
        status = [PUBLISHED] * old.size
        for p, part in enumerate(old.parts):
            for node, fate in zip(old.node_of[p], part.cells["status"], strict=True):
                if fate != PUBLISHED:
                    status[node] = fate  # one population has one fate in a release
        pairs = _pairs(old, self.at)
        rows = self._difference_rows(e)
        moved = {node: (float(row["V"]), float(row["O"])) for node, row in rows.items()}
        return _Loaded(e.release_id, old, status, pairs, self._unsafe(old, pairs, rows), moved, _revised(old),
                       _nodes(old))

    def _difference_rows(self, e: Earlier) -> dict[int, dict[str, Any]]:
        """This release's node -> the row of its difference population from e (difference_cells: V, O, P,
        top_p, top_v); a node no row names kept its population."""
        out: dict[int, dict[str, Any]] = {}
        for part in self.reg.parts:
            diff = e.difference.get(part.part)
            if diff is None or diff.empty:
                continue
            level = part.level()
            for row in diff.to_dict("records"):
                node = self.at.get((level, tuple(row[k] for k in level)))
                if node is not None:
                    out[node] = row
        return out

    def _unsafe(self, old: Registry, pairs: list[tuple[int, int]], rows: dict[int, dict[str, Any]]) -> set[int]:
        """Nodes shown in both releases whose published counts differ by a population below the rules; rows:
        _difference_rows."""
        changed = {n for o, n in pairs
                   if any(old.values(m)[o] != self.reg.values(m)[n] for m in self.reg.measures[n])}
        out: set[int] = set()
        for node, row in rows.items():
            if node not in changed:
                continue
            measure = self.reg.dominance_measure(node)
            top = row["top_p" if measure == "P" else "top_v"]
            if cell_reasons(self.reg.rules[node], row["V"], row["O"], row[measure], top):
                out.add(node)
        return out

    def forced(self, reasons: list[list[str]]) -> dict[int, str]:
        """This release's nodes the policy suppresses, with why; adds `revision` to their primary reasons."""
        out: dict[int, str] = {}
        for e in self.earlier:
            out.update({n: CARRIED for o, n in e.pairs if e.status[o] != PUBLISHED and n not in out})
        for e in self.earlier:
            for n in sorted(e.unsafe):
                out[n] = REVISION
                if REVISION not in reasons[n]:
                    reasons[n].append(REVISION)
        return out

    def _system(self, e: _Loaded, measures: tuple[str, ...]) -> System:
        if measures not in e.systems:
            full = e.systems.get(MEASURES) or build_system(e.registry, definitions=self.definitions)
            e.systems[MEASURES] = full
            e.systems[measures] = full if measures == MEASURES else \
                build_system(e.registry, measures, full.model, self.definitions)
        return e.systems[measures]

    def join(self, system: System) -> System:
        """This release's system (all measures, or one) with each earlier release's, side by side, every two
        of them tied by signed differences."""
        measures = tuple(m for m in MEASURES if m in system.var_measure)
        j = _Joint(system)
        placed = [self._place(j, e, measures) for e in self.earlier]
        for e, old in zip(self.earlier, placed, strict=True):
            for n, d in _differences(j, e.pairs, system.node_var, old, measures):
                # a cell outside the difference frames kept its population: none moved
                j.joint[d] = Target(n, self.reg.rules[n], difference_about(e.release_id), *e.moved.get(n, (0.0, 0.0)))
                if n in e.unsafe:
                    j.targets[d] = j.joint[d]
            counterpart = dict(e.pairs)
            vehicles, owners = e.registry.stat("V"), e.registry.stat("O")
            for (o, _), y in sorted(old.items()):
                j.joint[y] = Target(counterpart.get(o, -1), e.registry.rules[o], f"earlier {e.release_id}",
                                    float(vehicles[o]), float(owners[o]))
                if e.status[o] == PRIMARY:
                    j.targets[y] = j.joint[y]
        for (a, older), (b, newer) in combinations(zip(self.earlier, placed, strict=True), 2):
            self._tie_earlier(j, a, older, b, newer, measures)
        return j.system()

    def _place(self, j: _Joint, e: _Loaded, measures: tuple[str, ...]) -> dict[tuple[int, str], int]:
        """Adds an earlier release's system to j: its variables there."""
        old = self._system(e, measures)
        # published counts, and what the attacker reads besides (Registry.ceilings)
        read = np.zeros(old.size, dtype=bool) if old.known is None else old.known
        offset = j.add(old, [(node >= 0 and e.status[node] == PUBLISHED) or bool(read[v])
                             for v, node in enumerate(old.var_node)])
        return {key: offset + v for key, v in old.node_var.items()}

    @staticmethod
    def _tie_earlier(j: _Joint, a: _Loaded, older: Vars, b: _Loaded, newer: Vars, measures: tuple[str, ...]) -> None:
        """Ties two earlier releases a (the older) and b, whose difference the attacker forms as well; the
        differences b found unsafe (rule 2) are attacked again, as what is served now can narrow them."""
        counterpart, unsafe = dict(b.pairs), b.revised.get(a.release_id, set())
        for n, d in _differences(j, _pairs(a.registry, b.at), newer, older, measures):  # n: b's node
            j.joint[d] = Target(counterpart.get(n, -1), b.registry.rules[n],
                                difference_about(a.release_id, b.release_id))
            if n in unsafe:
                j.targets[d] = j.joint[d]


def difference_about(*release_ids: str) -> str:
    """The audit label of a difference: from an earlier release to the one audited, or between two earlier
    ones (older first)."""
    return " ".join((DIFFERENCE, *release_ids))


def _revised(reg: Registry) -> dict[str, set[int]]:
    """Per release before the one whose cells reg holds: that release's nodes whose difference from it was
    attacked (rule 2 found it unsafe), read back from the `audit` it recorded: its labels are
    "<measure> difference <release id>" (jobs/stats/sdc/zone.py fates, difference_about)."""
    out: dict[str, set[int]] = {}
    for p, part in enumerate(reg.parts):
        if "audit" not in part.cells:
            continue
        for node, audit in zip(reg.node_of[p], part.cells["audit"], strict=True):
            for label in json.loads(audit) if audit else ():
                about = label.split(" ")[1:]
                if len(about) == 2 and about[0] == DIFFERENCE:
                    out.setdefault(about[1], set()).add(node)
    return out


def _nodes(reg: Registry) -> dict[Alias, int]:
    """Every (level, key) a registry shows, and its node."""
    return {alias: n for n, aliases in enumerate(reg.aliases) for alias in aliases}


def _pairs(old: Registry, at: Mapping[Alias, int]) -> list[tuple[int, int]]:
    """(node of old, node of the other release) pairs showing the same cell; at: the other's _nodes."""
    return sorted({(o, at[alias]) for o, aliases in enumerate(old.aliases) for alias in aliases if alias in at})


def _differences(j: _Joint, pairs: list[tuple[int, int]], newer: Vars, older: Vars,
                 measures: tuple[str, ...]) -> Iterator[tuple[int, int]]:
    """Ties the counts of each pair (older node, newer node) by a signed difference: (newer node, difference)."""
    for o, n in pairs:
        for m in measures:
            x, y = newer.get((n, m)), older.get((o, m))
            if x is not None and y is not None:
                yield n, j.difference(x, y)


class _Joint:
    """Variables and rows of a joint system as they are added: this release's first."""

    def __init__(self, system: System) -> None:
        self.new = system
        self.var_node, self.var_measure = list(system.var_node), list(system.var_measure)
        self.base, self.lower = list(system.base), list(system.lower)
        self.known = [False] * system.size if system.known is None else list(system.known)
        self.eq, self.ub = [(system.eq, 0)], [(system.ub, 0)]
        self.margins = list(system.margins)
        self.ties: list[tuple[int, list[int]]] = []
        self.targets: dict[int, Target] = {}
        self.joint: dict[int, Target] = {}  # System.joint

    def add(self, old: System, known: list[bool]) -> int:
        """An earlier release's system; returns the offset of its variables."""
        offset = len(self.var_node)
        self.var_node += [-1] * old.size  # not this release's counts: never companions, never released
        self.var_measure += old.var_measure
        self.base += list(old.base)
        self.lower += list(old.lower)
        self.known += known
        self.eq.append((old.eq, offset))
        self.ub.append((old.ub, offset))
        self.margins += [(offset + m, [offset + c for c in cells]) for m, cells in old.margins]
        return offset

    def difference(self, x: int, y: int) -> int:
        """A difference d >= 0 between a count x and the same cell's count y in an older release, signed as
        it is."""
        d = len(self.var_node)
        self.var_node.append(-1)
        self.var_measure.append(self.var_measure[x])
        self.base.append(abs(self.base[x] - self.base[y]))
        self.lower.append(0.0)
        self.known.append(False)
        self.ties.append((x, [y, d]) if self.base[x] >= self.base[y] else (y, [x, d]))
        return d

    def system(self) -> System:
        n = len(self.var_node)
        ties = [sum_row(m, tuple(c)) for m, c in self.ties]
        eq = sp.vstack([_shifted(a, off, n) for a, off in self.eq] + [sparse_rows(ties, n)], format="csr")
        ub = sp.vstack([_shifted(a, off, n) for a, off in self.ub], format="csr")
        return System(self.new.registry, self.var_node, self.var_measure, eq, ub, self.margins + self.ties,
                      np.array(self.base), np.array(self.lower), self.new.node_var, self.new.model,
                      np.array(self.known, dtype=bool), self.targets, self.joint)


def _shifted(matrix: sp.csr_matrix, offset: int, n: int) -> sp.csr_matrix:
    """The rows of a block whose variables start at offset, over all n variables."""
    coo = matrix.tocoo()
    return sp.csr_matrix((coo.data, (coo.row, coo.col + offset)), shape=(matrix.shape[0], n))

