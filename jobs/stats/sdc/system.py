"""What an attacker knows about one zone's release, as linear constraints over all its counts at once.

Variables are the counts (passages P, trips R, unique vehicles V) of the nodes, and counts nobody
publishes but anyone can form or reason about: margins where tables share dimensions (both sum to the same
unpublished total, which links them), passages of the vehicle-only tables, and the cells of joint levels
where tables share dimensions in a cycle (jobs/stats/sdc/levels.py). A margin is named canonically (jobs/stats/sdc/
identities.py), so a margin of one table that is the same population as a cell or margin of another (size
`Onbekend` of 4.7 summed over vehicle types is sector `Onbekend` of 4.6) is one variable, and unions of
categories that are one population (ZE access `Overgang` and the later dates of `zeToegangTot`) share a total.

For each modelled level F and each coarser level L (the dimensions F shares with another level, or with
the identity image of another level, and the zone total), passages and trips give equalities
margin(L) = sum of the F cells under it. Unique vehicles add up only over vehicle characteristics (fixed
per vehicle and month); over passage-level dimensions (camera, hour, ...) a vehicle may sit in several
cells, so the margin I is bounded: max(cells) <= I <= sum(cells). The measures of one cell are linked as
the definitions imply (jobs/stats/sdc/links.py). All rows are homogeneous: sum(coef * x) = 0 or <= 0.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from anpr.catalogue import Definitions
from anpr.dimensions import CONTAINMENTS, NEVER_INSIDE
from anpr.disclosure import Rules
from jobs.stats.sdc.cells import MEASURES, Key, Level, Registry
from jobs.stats.sdc.identities import per_vehicle
from jobs.stats.sdc.levels import Model, build_model
from jobs.stats.sdc.links import (
    DAY_FIXED,
    VISITOR,
    cell_rows,
    day_rows,
    forced_rows,
    min_passages,
    trip_margins,
    trip_rows,
)

Name = tuple[object, ...]  # ("n", node) or ("a", canonical level, canonical key)


@dataclass(frozen=True)
class Target:
    """A count to attack that is no published count of this release (jobs/stats/sdc/revision.py): an earlier
    release's primary cell, or the difference population of a cell between an earlier release and this one."""

    node: int  # the node of this release it concerns; -1 if none
    rules: Rules  # whose margin its interval must reach
    about: str  # what it is, for the audit record ("difference <release id>", "earlier <release id>")


@dataclass
class System:
    registry: Registry
    var_node: list[int]  # node whose published count the variable is; -1 for a count no table publishes
    var_measure: list[str]
    eq: sp.csr_matrix
    ub: sp.csr_matrix
    margins: list[tuple[int, list[int]]]  # per equality row: its margin variable and the cell variables
    base: np.ndarray  # a feasible point: true values of the nodes, a consistent choice for the rest
    lower: np.ndarray
    node_var: dict[tuple[int, str], int] = field(default_factory=dict)  # (node, measure) -> variable
    model: Model = field(default_factory=Model)
    # Joint systems over several releases of a month (jobs/stats/sdc/revision.py): variables the attacker reads
    # whatever this release suppresses (earlier releases' published counts), and counts to attack besides
    # this release's primary cells.
    known: np.ndarray | None = None
    targets: dict[int, Target] = field(default_factory=dict)
    _margin_cells: sp.csr_matrix | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def size(self) -> int:
        return len(self.var_node)

    def cells(self) -> np.ndarray:
        """Per variable: whether it is a cell's count (of this release, or a joint system's target), as
        opposed to a count nobody publishes."""
        out = np.asarray(self.var_node) >= 0
        out[list(self.targets)] = True
        return out

    def margin_cells(self) -> sp.csr_matrix:
        """Per equality row (margins' order), how often each variable is one of its cells."""
        if self._margin_cells is None:
            lengths = [len(cells) for _, cells in self.margins]
            cols = np.fromiter((v for _, cells in self.margins for v in cells), dtype=np.int64, count=sum(lengths))
            rows = np.repeat(np.arange(len(self.margins)), lengths)
            self._margin_cells = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(self.margins), self.size))
        return self._margin_cells

    def subject(self, var: int) -> Target:
        """What an attacked count is about: its node, the rules for its margin, and a label."""
        if var in self.targets:
            return self.targets[var]
        node = self.var_node[var]
        return Target(node, self.registry.rules[node], "")

    def var_of(self, node: int, measure: str) -> int:
        return self.node_var[(node, measure)]


def _project(level: Level, key: Key, onto: Level) -> Key:
    values = dict(zip(level, key, strict=True))
    return tuple(values[d] for d in onto)


class _Builder:
    def __init__(self, reg: Registry, model: Model, definitions: Definitions | None) -> None:
        self.reg, self.model, self.definitions = reg, model, definitions
        self.var_node: list[int] = []
        self.var_measure: list[str] = []
        self.var_name: list[Name] = []
        self.index: dict[tuple[str, Name], int] = {}
        self.named: dict[tuple[Level, Key], int] = {}
        for node, aliases in enumerate(reg.aliases):
            for level, key in aliases:
                name = reg.identities.canonical(level, key)
                if name is not None:
                    self.named.setdefault(name, node)
        self.cells: dict[str, dict[Level, dict[Key, int]]] = {}
        self.eq_rows: list[tuple[int, tuple[int, ...]]] = []
        self.ub_rows: list[dict[int, float]] = []
        self.seen: set[tuple[int, tuple[int, ...]]] = set()
        self.leaves: set[int] = set()  # variables of joint cells
        # rows of relations the data may break after all (containments, day_rows): kept where the base point,
        # whose counts they hold are true counts, meets them
        self.checked: list[dict[int, float]] = []
        # levels whose every non-empty cell exists: a margin there that is no cell contradicts its sub-cells
        self.complete = {m: set(levels) - set(model.joints[m]) for m, levels in model.levels.items()}

    def name(self, level: Level, key: Key) -> Name | None:
        canonical = self.reg.identities.canonical(level, key)
        if canonical is None:
            return None
        node = self.named.get(canonical)
        return ("n", node) if node is not None else ("a", *canonical)

    def var(self, measure: str, name: Name) -> int:
        found = self.index.get((measure, name))
        if found is not None:
            return found
        var = self.index[(measure, name)] = len(self.var_node)
        node = int(name[1]) if name[0] == "n" else -1  # type: ignore[call-overload]
        self.var_node.append(node if node >= 0 and measure in self.reg.measures[node] else -1)
        self.var_measure.append(measure)
        self.var_name.append(name)
        return var

    def margin(self, measure: str, level: Level, key: Key) -> int:
        name = self.name(level, key)
        where = dict(zip(level, key, strict=True))
        if name is None:
            raise ValueError(f"{where} is empty by a category identity, yet cells under it exist")
        if name[0] == "a" and (level in self.complete[measure] or name[1] in self.complete[measure]):
            raise ValueError(f"no {measure} cell {where} although its sub-cells exist")
        return self.var(measure, name)

    def add_equalities(self, measure: str, groups: dict[Key, list[int]], coarse: Level) -> None:
        for key, vars_ in groups.items():
            row = (self.margin(measure, coarse, key), tuple(sorted(set(vars_))))
            if row not in self.seen and row[1] != (row[0],):
                self.seen.add(row)
                self.eq_rows.append(row)

    def add_bounds(self, measure: str, groups: dict[Key, list[int]], coarse: Level) -> None:
        for key, vars_ in groups.items():
            margin = self.margin(measure, coarse, key)
            cells = sorted(set(vars_) - {margin})
            if margin not in vars_:
                self.ub_rows.append({margin: 1.0, **{v: -1.0 for v in cells}})  # margin <= sum(cells)
            for v in cells:
                self.ub_rows.append({v: 1.0, margin: -1.0})  # cell <= margin

    def build_measure(self, measure: str, extra: set[Level]) -> None:
        levels = self.model.levels[measure]
        cells: dict[Level, dict[Key, int]] = {}
        for level, keys in levels.items():
            out = {}
            for key, node in keys.items():
                name = ("n", node) if node >= 0 else self.name(level, key)
                if name is not None:
                    out[key] = self.var(measure, name)
            cells[level] = out
            if level in self.model.joints[measure]:
                self.leaves.update(out.values())
        self.cells[measure] = cells
        identities = self.reg.identities
        images = {level: identities.images(level) for level in levels}
        for fine in sorted(levels):
            # a level's own identity images only drop one of its dimensions: margins nothing else meets
            others = {*(lv for lv in levels if lv != fine), *(i for lv in levels if lv != fine for i in images[lv]),
                      *extra}
            coarse_levels = {tuple(sorted(set(fine) & set(o))) for o in others} | {()}
            for coarse in sorted(c for c in coarse_levels if set(c) < set(fine)):
                self.link(measure, fine, coarse)

    def link(self, measure: str, fine: Level, coarse: Level) -> None:
        """The rows between the cells of fine and their margins at coarse."""
        cells = self.cells[measure]
        added = [d for d in fine if d not in coarse]
        passage = [d for d in added if not per_vehicle(d)]
        if measure != "V" or not passage:
            self.add_equalities(measure, self.groups(fine, coarse, cells[fine]), coarse)
            return
        middle = tuple(sorted({*coarse, *(d for d in added if per_vehicle(d))}))
        if middle != coarse:
            middle_keys = {_project(fine, k, middle) for k in cells[fine]}
            middle_vars = {k: self.margin(measure, middle, k) for k in sorted(middle_keys, key=repr)}
            self.add_equalities(measure, self.groups(middle, coarse, middle_vars), coarse)
        self.add_bounds(measure, self.groups(fine, middle, cells[fine]), middle)

    def add_unions(self) -> None:
        """Unions of categories that hold the same passages (jobs/stats/sdc/identities.py `unions`): per
        measure an unpublished total U of both sides' zone margins. Unique vehicles add up only over a
        vehicle characteristic; over a passage-level one U lies between the largest margin and their sum."""
        for i, union in enumerate(self.reg.identities.unions):
            for measure, cells in self.cells.items():
                sides = [(dim, self.zone_margins(measure, cells, dim, values)) for dim, values in union]
                if any(margins is None for _, margins in sides):
                    continue
                total = self.var(measure, ("a", ("union",), (i,)))
                for dim, margins in sides:
                    assert margins is not None
                    if measure != "V" or per_vehicle(dim):
                        self.eq_rows.append((total, tuple(sorted(margins))))
                    else:
                        self.ub_rows.append({total: 1.0, **{v: -1.0 for v in margins}})
                        self.ub_rows += [{v: 1.0, total: -1.0} for v in margins]

    def add_containments(self) -> None:
        """Categories whose passages lie among another dimension's (anpr/dimensions.py CONTAINMENTS and the
        month's Registry.calendar), bound by those: per measure and per category of the dimensions two tables
        of the two share besides (none: the zone), the inner margins' sum at most the outer ones'. Unique
        vehicles of a passage-level dimension do not add up: each inner margin is at most the outer ones'
        sum. A category no table shows is 0, so it is left out. At the zone, the outer side also without the
        categories of a vehicle characteristic that NEVER_INSIDE's category holds whole."""
        for (inner_dim, inner), (outer_dim, outer) in (*CONTAINMENTS, *self.reg.calendar):
            for measure, cells in self.cells.items():
                for shared in self.shared(cells, inner_dim, outer_dim):
                    inside = self.margins_by(measure, cells, inner_dim, inner, shared)
                    outside = self.margins_by(measure, cells, outer_dim, outer, shared)
                    sides = {key: [side] for key, side in outside.items()}
                    if not shared:
                        sides.setdefault((), []).extend(self.narrowed(measure, cells, outer_dim, outer))
                    for key, group in inside.items():
                        groups = [group] if measure != "V" or per_vehicle(inner_dim) else [[v] for v in group]
                        for side in sides.get(key, [[]]):
                            for members in groups:
                                row = {v: -1.0 for v in side}
                                for v in members:
                                    row[v] = row.get(v, 0.0) + 1.0
                                self.checked.append(row)

    @staticmethod
    def shared(cells: dict[Level, dict[Key, int]], inner_dim: str, outer_dim: str) -> list[Level]:
        """The zone, and every set of dimensions a level with inner_dim shares with one with outer_dim."""
        out: set[Level] = set()
        if any(inner_dim in lv for lv in cells) and any(outer_dim in lv for lv in cells):
            out.add(())
        for a in cells:
            for b in cells:
                if inner_dim in a and outer_dim in b:
                    out.add(tuple(sorted((set(a) & set(b)) - {inner_dim, outer_dim})))
        return sorted(out)

    def margins_by(self, measure: str, cells: dict[Level, dict[Key, int]], dim: str, values: Container[object],
                   shared: Level) -> dict[Key, list[int]]:
        """Per key of shared: the margins of dim's values some cell shows with it, tied to a level holding
        dim and shared."""
        fine = next((lv for lv in sorted(cells) if {dim, *shared} <= set(lv)), None)
        if fine is None:
            return {}
        level = tuple(sorted((dim, *shared)))
        if level != fine:
            self.link(measure, fine, level)
        out: dict[Key, list[int]] = {}
        for key in sorted({_project(fine, k, level) for k in cells[fine]}, key=repr):
            if key[level.index(dim)] in values:
                var = self.margin(measure, level, key) if level != fine else cells[fine][key]
                out.setdefault(tuple(key[level.index(d)] for d in shared), []).append(var)
        return out

    def narrowed(self, measure: str, cells: dict[Level, dict[Key, int]], outer_dim: str,
                 outer: Container[object]) -> list[list[int]]:
        """Per vehicle characteristic d that a table crosses with outer_dim and another with NEVER_INSIDE's
        dimension: the margins of (outer_dim, d) for outer's categories, without those of d whose every
        vehicle is in NEVER_INSIDE's category (no other category shows them)."""
        never_dim, never = NEVER_INSIDE
        out = []
        for d in sorted({d for lv in cells if outer_dim in lv for d in lv if d != never_dim and per_vehicle(d)}):
            shown = next((lv for lv in sorted(cells) if {never_dim, d} <= set(lv)), None)
            fine = next(lv for lv in sorted(cells) if {outer_dim, d} <= set(lv))
            if shown is None:
                continue
            of: dict[object, set[object]] = {}
            for key in cells[shown]:
                of.setdefault(key[shown.index(d)], set()).add(key[shown.index(never_dim)])
            left_out = {c for c, categories in of.items() if categories == {never}}
            if not left_out:
                continue
            pair = tuple(sorted((outer_dim, d)))
            if pair != fine:
                self.link(measure, fine, pair)
            keys = sorted({_project(fine, k, pair) for k in cells[fine]}, key=repr)
            out.append([self.margin(measure, pair, k) if pair != fine else cells[fine][k] for k in keys
                        if k[pair.index(outer_dim)] in outer and k[pair.index(d)] not in left_out])
        return out

    def add_day_links(self) -> None:
        """links.py day_rows for every table with a dimension fixed by the day: over its day-fixed dimensions
        (its other passage-level ones summed away), per group of any of its per-vehicle dimensions that a table
        of per-vehicle dimensions gives by visitor type."""
        cells = self.cells.get("V")
        if not cells:
            return
        minimum = min_passages(self.definitions)
        joints = set(self.model.joints.get("V", {}))
        for level in sorted(cells):
            day = tuple(d for d in level if d in DAY_FIXED)
            rest = tuple(d for d in level if d not in DAY_FIXED and per_vehicle(d))
            if level in joints or not day or VISITOR in level:
                continue
            for size in range(len(rest) + 1):
                for group in combinations(rest, size):
                    self.day_group(level, group, day, minimum)

    def day_group(self, level: Level, group: Level, day: Level, minimum: dict[str, int]) -> None:
        cells = self.cells["V"]
        typed = tuple(sorted((*group, VISITOR)))
        source = next((lv for lv in sorted(cells) if set(typed) <= set(lv) and all(per_vehicle(d) for d in lv)
                       and lv not in self.model.joints.get("V", {})), None)
        if source is None:
            return
        by_group: dict[Key, dict[str, int]] = {}
        for key in sorted({_project(source, k, typed) for k in cells[source]}, key=repr):
            values = dict(zip(typed, key, strict=True))
            margin = self.margin("V", typed, key) if typed != source else cells[source][key]
            by_group.setdefault(tuple(values[d] for d in group), {})[str(values[VISITOR])] = margin
        if typed != source:
            self.link("V", source, typed)
        if group != typed:
            self.link("V", source, group)
        fine = tuple(sorted((*group, *day)))
        if fine != level:
            self.link("V", level, fine)
        categories = self.groups(fine, group, {k: self.margin("V", fine, k) if fine != level else cells[level][k]
                                               for k in {_project(level, k, fine) for k in cells[level]}})
        # a category of all of day at once holds at most the fewest of each one's most days this month
        held = min(max(self.reg.days[d].values()) if d in self.reg.days else DAY_FIXED[d] for d in day)
        for key, members in categories.items():
            if key in by_group:
                vehicles = self.margin("V", group, key)
                self.checked.extend(day_rows(sorted(set(members)), vehicles, by_group[key], held, minimum))
        for d in (d for d in day if d in self.reg.days):
            one = tuple(sorted((*group, d)))
            if one != level:
                self.link("V", level, one)
            per_group: dict[Key, dict[object, int]] = {}
            for k in {_project(level, k, one) for k in cells[level]}:
                values = dict(zip(one, k, strict=True))
                var = self.margin("V", one, k) if one != level else cells[level][k]
                per_group.setdefault(tuple(values[g] for g in group), {})[values[d]] = var
            for key, of_category in per_group.items():
                if key in by_group:
                    self.checked.extend(forced_rows(of_category, by_group[key], self.reg.days[d], minimum))

    def add_floors(self) -> dict[int, float]:
        """The passages variables of the registry's floors (Registry.floors), kept in the system."""
        out: dict[int, float] = {}
        if "P" not in self.cells:
            return out
        for (dim, value), floor in sorted(self.reg.floors.items(), key=repr):
            margins = self.zone_margins("P", self.cells["P"], dim, (value,))
            if margins:
                out[margins[0]] = float(floor)
                self.leaves.add(margins[0])  # a bound on a margin no row else holds still says something
        return out

    def zone_margins(self, measure: str, cells: dict[Level, dict[Key, int]], dim: str,
                     values: tuple[object, ...]) -> list[int] | None:
        """The zone margins of dim's values, tied to the cells of a level that has dim (None: no level has)."""
        fine = next((level for level in sorted(cells) if dim in level), None)
        if fine is None:
            return None
        self.link(measure, fine, (dim,))
        return [self.margin(measure, (dim,), (value,)) for value in values]

    @staticmethod
    def groups(fine: Level, coarse: Level, children: dict[Key, int]) -> dict[Key, list[int]]:
        out: dict[Key, list[int]] = {}
        for key, var in children.items():
            out.setdefault(_project(fine, key, coarse), []).append(var)
        return out

    def build(self) -> None:
        levels = self.model.levels
        formed = trip_margins(self.model.published.get("R", ()), levels.get("P", {})) if "R" in levels else set()
        for measure in levels:
            self.build_measure(measure, formed if measure == "P" else set())
        self.add_unions()
        self.add_containments()
        self.add_day_links()
        self.add_links(formed)

    def drop_loose_margins(self) -> None:
        """Rows of a margin nobody publishes and no other row holds: whatever its cells, the margin can
        take a value that satisfies them (their sum, or for unique vehicles their largest), so they say
        nothing. Dropping them keeps the LPs small and leaves vehicles of passage cells free to move alone."""
        while True:
            eq_uses: dict[int, int] = {}
            for margin, cells in self.eq_rows:
                for v in {margin, *cells}:
                    eq_uses[v] = eq_uses.get(v, 0) + 1
            ub_uses: dict[int, list[int]] = {}
            for r, row in enumerate(self.ub_rows):
                for v in row:
                    ub_uses.setdefault(v, []).append(r)
            loose = {v for v in range(len(self.var_node)) if self.var_name[v][0] == "a" and v not in self.leaves}
            drop_eq = {i for i, (margin, _) in enumerate(self.eq_rows)
                       if margin in loose and eq_uses[margin] == 1 and margin not in ub_uses}
            drop_ub = set()
            for v in loose:
                rows = ub_uses.get(v, [])
                if rows and v not in eq_uses and sum(self.ub_rows[r][v] > 0 for r in rows) == 1 and \
                        all(len(self.ub_rows[r]) == 2 for r in rows if self.ub_rows[r][v] < 0):
                    drop_ub.update(rows)
            if not drop_eq and not drop_ub:
                return
            self.eq_rows = [row for i, row in enumerate(self.eq_rows) if i not in drop_eq]
            self.ub_rows = [row for r, row in enumerate(self.ub_rows) if r not in drop_ub]

    def add_links(self, formed: set[Level]) -> None:
        minimum = min_passages(self.definitions)
        by_name: dict[Name, dict[str, int]] = {}
        for (measure, name), var in self.index.items():
            by_name.setdefault(name, {})[measure] = var
        joint_cells = {self.name(level, key) for m in self.model.joints for level in self.model.joints[m]
                       for key in self.model.levels[m][level]}
        for name, measures in by_name.items():
            if len(measures) < 2 or (name[0] == "a" and name not in joint_cells):
                continue  # a margin's links follow from its cells'
            aliases: list[tuple[Level, Key]] = (self.reg.aliases[int(name[1])] if name[0] == "n"  # type: ignore
                                                else [(name[1], name[2])])  # type: ignore[list-item]
            self.ub_rows += cell_rows(measures, aliases, minimum)
        if formed:
            published_r = {lv: c for lv, c in self.cells["R"].items() if lv in self.model.published["R"]}

            def inbound(level: Level, key: Key) -> int | None:
                name = self.name(level, key)
                return None if name is None else self.index.get(("P", name))

            self.ub_rows += trip_rows(published_r, self.cells.get("V", {}), inbound, formed)


def build_system(reg: Registry, measures: tuple[str, ...] = MEASURES, model: Model | None = None,
                 definitions: Definitions | None = None) -> System:
    """The attacker's constraints over the given measures (all three by default; one gives the measure's
    own system, without the links between measures). model: the levels, if already worked out;
    definitions: those the cells were built with (conf/tables.toml's by default)."""
    present = tuple(m for m in measures if any(m in ms for ms in reg.measures))
    model = build_model(reg, present) if model is None else model.only(present)
    b = _Builder(reg, model, definitions)
    b.build()
    floors = b.add_floors()
    b.leaves.update(v for row in b.checked for v in row)  # their margins' rows keep them true in the base
    b.drop_loose_margins()
    n = len(b.var_node)
    eq = sparse_rows([sum_row(margin, cells) for margin, cells in b.eq_rows], n)
    ub = sparse_rows(_dedupe(b.ub_rows), n)
    truth = np.full(n, np.nan)
    lower = np.zeros(n)
    stats = {m: reg.stat(m) for m in present}
    for var, name in enumerate(b.var_name):
        if name[0] == "n":
            node, measure = int(name[1]), b.var_measure[var]  # type: ignore[call-overload]
            truth[var] = stats[measure][node]
            lower[var] = 1.0 if measure in ("P", "V") else 0.0
    node_var = {(int(name[1]), b.var_measure[v]): v for v, name in enumerate(b.var_name) if name[0] == "n"}  # type: ignore
    checked = sparse_rows(_dedupe(b.checked), n)
    system = System(reg, b.var_node, b.var_measure, eq, sp.vstack([ub, checked], format="csr"),
                    [(m, list(c)) for m, c in b.eq_rows], truth, lower, node_var, model)
    try:
        # the true counts meet these rows, so a base point of true node values that meets them exists ...
        system.base = _complete(system, truth)
    except ValueError:
        # ... unless this data breaks a relation after all (an exemption or a vehicle type the register changed
        # within the day or month): an attacker who assumed it would be misled, so the rows the true counts
        # cannot meet are not assumed, and only those: a real attacker sees which ones fail and keeps the rest
        system.ub = sp.vstack([ub, checked[~_broken(eq, ub, checked, truth)]], format="csr")
        system.base = _complete(system, truth)
    for var, floor in floors.items():
        # never above the truth: a floor from another table that counts fewer passages binds nothing
        system.lower[var] = max(system.lower[var], min(floor, system.base[var]))
    return system


def _broken(eq: sp.csr_matrix, ub: sp.csr_matrix, checked: sp.csr_matrix, truth: np.ndarray) -> np.ndarray:
    """Per checked row: whether it fails with every published count at its true value. The least total slack
    over the checked rows (the other rows met, the unpublished counts free) leaves slack only where the
    published counts force it, or where slack there saves more elsewhere (both kinds are dropped)."""
    free, fixed = np.flatnonzero(np.isnan(truth)), np.flatnonzero(~np.isnan(truth))
    k = checked.shape[0]

    def side(rows: sp.csr_matrix, slack: sp.csr_matrix) -> sp.csr_matrix:
        return sp.hstack([rows[:, free], slack], format="csr")

    res = linprog(np.r_[np.zeros(len(free)), np.ones(k)],
                  A_ub=sp.vstack([side(ub, sp.csr_matrix((ub.shape[0], k))),
                                  side(checked, -sp.identity(k, format="csr"))], format="csr"),
                  b_ub=-np.r_[ub[:, fixed] @ truth[fixed], checked[:, fixed] @ truth[fixed]],
                  A_eq=side(eq, sp.csr_matrix((eq.shape[0], k))), b_eq=-(eq[:, fixed] @ truth[fixed]),
                  bounds=(0, None), method="highs")
    if res.status != 0:
        raise ValueError(f"the cells of this zone contradict each other: {res.message}")
    return np.asarray(res.x[len(free):] > 1e-7)


def sum_row(margin: int, cells: tuple[int, ...]) -> dict[int, float]:
    """margin - sum(cells); a margin that is one of its own cells (one population) leaves the others at 0."""
    row = {margin: 1.0}
    for v in cells:
        row[v] = row.get(v, 0.0) - 1.0
    return {v: c for v, c in row.items() if c}


def _dedupe(rows: list[dict[int, float]]) -> list[dict[int, float]]:
    seen, out = set(), []
    for row in rows:
        key = tuple(sorted(row.items()))
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def sparse_rows(rows: list[dict[int, float]], n: int) -> sp.csr_matrix:
    data, ri, ci = [], [], []
    for r, row in enumerate(rows):
        for c, v in row.items():
            ri.append(r)
            ci.append(c)
            data.append(v)
    return sp.csr_matrix((data, (ri, ci)), shape=(len(rows), n))


def _complete(system: System, truth: np.ndarray) -> np.ndarray:
    """Values for the unpublished counts that, with the true node values, satisfy every row.

    Additive margins are sums of their cells; the rest (unique vehicles over passage-level cells, joint
    cells) come from a feasibility LP with every node fixed at its true value.
    """
    x = truth.copy()
    changed = True
    while changed:
        changed = False
        for margin, cells in system.margins:
            if np.isnan(x[margin]) and not np.isnan(x[cells]).any():
                x[margin] = x[cells].sum()
                changed = True
    # a count in no row (a margin only another measure's links name) is free: maximizing it is unbounded
    used = np.zeros(len(x), dtype=bool)
    used[system.eq.indices] = True
    used[system.ub.indices] = True
    x[np.isnan(x) & ~used] = 0.0
    missing = np.flatnonzero(np.isnan(x))
    if len(missing):
        known = ~np.isnan(x)
        rows_eq = system.eq[:, missing]
        rows_ub = system.ub[:, missing]
        parts = dict(A_ub=rows_ub if rows_ub.shape[0] else None,
                     b_ub=-(system.ub[:, known] @ x[known]) if rows_ub.shape[0] else None,
                     A_eq=rows_eq if rows_eq.shape[0] else None,
                     b_eq=-(system.eq[:, known] @ x[known]) if rows_eq.shape[0] else None,
                     bounds=(0, None), method="highs")
        # Totals as large as the rows allow leave the cells below them room to move: twins use it.
        res = linprog(-np.ones(len(missing)), **parts)
        if res.status == 3:
            res = linprog(np.zeros(len(missing)), **parts)
        if res.status != 0:
            raise ValueError(f"the cells of this zone contradict each other: {res.message}")
        x[missing] = res.x
    residual_eq = np.abs(system.eq @ x).max(initial=0.0)
    residual_ub = (system.ub @ x).max(initial=0.0)
    if residual_eq > 1e-6 or residual_ub > 1e-6:
        raise ValueError(f"the cells of this zone do not add up (residual {residual_eq:g}, {residual_ub:g}); "
                         "tables must cover the same passages")
    return x


def unknown_mask(system: System, suppressed: np.ndarray) -> np.ndarray:
    """Variables an attacker does not read from the releases: suppressed nodes and auxiliary totals (and, in a
    joint system, the earlier releases' suppressed counts and the differences)."""
    unknown = np.array([node < 0 or bool(suppressed[node]) for node in system.var_node], dtype=bool)
    return unknown if system.known is None else unknown & ~system.known


def propagate(system: System, unknown: np.ndarray) -> dict[int, int]:
    """Unknowns pinned down by equalities alone, each with the row that pinned it (unit propagation)."""
    rows, cols = system.eq, system.eq.tocsc()
    left = np.abs(rows) @ unknown.astype(np.int64)
    solved: dict[int, int] = {}
    queue = [int(r) for r in np.flatnonzero(left == 1)]
    while queue:
        r = int(queue.pop())
        members = rows.indices[rows.indptr[r]:rows.indptr[r + 1]]
        free = [int(c) for c in members if unknown[c] and int(c) not in solved]
        if len(free) != 1:
            continue
        var = free[0]
        solved[var] = r
        for other in cols.indices[cols.indptr[var]:cols.indptr[var + 1]]:
            left[other] -= 1
            if left[other] == 1:
                queue.append(int(other))
    return solved


def components(system: System, unknown: np.ndarray) -> np.ndarray:
    """Connected groups of unknowns (linked through rows): an interval depends only on its own group.

    Known variables get -1."""
    idx = np.flatnonzero(unknown)
    group = np.full(system.size, -1, dtype=np.int64)
    if not len(idx):
        return group
    incidence = sp.vstack([abs(system.eq), abs(system.ub)]).tocsc()[:, idx].tocsr()
    graph = sp.bmat([[None, incidence.T], [incidence, None]], format="csr")
    _, labels = connected_components(graph, directed=False)
    group[idx] = labels[: len(idx)]
    return group
