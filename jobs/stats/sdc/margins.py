"""The attacker's counts and the rows between cells and their margins (jobs/stats/sdc/system.py builds on them).

Variables are the counts (passages P, trips R, unique vehicles V) of the nodes, and counts nobody
publishes but anyone can form or reason about: margins where tables share dimensions (both sum to the same
unpublished total, which links them), passages of the vehicle-only tables, and the cells of joint levels
where tables share dimensions in a cycle (jobs/stats/sdc/levels.py). A margin is named canonically (jobs/stats/sdc/
identities.py), so a margin of one table that is the same population as a cell or margin of another (size
`Onbekend` of 4.7 summed over vehicle types is sector `Onbekend` of 4.6) is one variable.

For each modelled level F and each coarser level L (the dimensions F shares with another level, or with
the identity image of another level, and the zone total), passages and trips give equalities
margin(L) = sum of the F cells under it. Unique vehicles add up only over vehicle characteristics (fixed
per vehicle and month); over passage-level dimensions (camera, hour, ...) a vehicle may sit in several
cells, so the margin I is bounded: max(cells) <= I <= sum(cells).
"""

from __future__ import annotations

from anpr.catalogue import Definitions
from jobs.stats.sdc.cells import Key, Level, Registry
from jobs.stats.sdc.identities import per_vehicle
from jobs.stats.sdc.levels import Model

Name = tuple[object, ...]  # ("n", node) or ("a", canonical level, canonical key)


def project(level: Level, key: Key, onto: Level) -> Key:
    values = dict(zip(level, key, strict=True))
    return tuple(values[d] for d in onto)


class Margins:
    """The variables of one zone's system and its cell-to-margin rows, as they are added."""

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
            middle_keys = {project(fine, k, middle) for k in cells[fine]}
            middle_vars = {k: self.margin(measure, middle, k) for k in sorted(middle_keys, key=repr)}
            self.add_equalities(measure, self.groups(middle, coarse, middle_vars), coarse)
        self.add_bounds(measure, self.groups(fine, middle, cells[fine]), middle)

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
            out.setdefault(project(fine, key, coarse), []).append(var)
        return out

    def at_level(self, measure: str, source: Level, level: Level) -> dict[Key, int]:
        """level's counts under the cells of source (a level holding each of level's dimensions), by key in
        repr order: source's own cells when level is source, else its margins, tied to source's cells."""
        cells = self.cells[measure][source]
        keys = sorted({project(source, k, level) for k in cells}, key=repr)
        if level == source:
            return {k: cells[k] for k in keys}
        self.link(measure, source, level)
        return {k: self.margin(measure, level, k) for k in keys}

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
