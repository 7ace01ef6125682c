"""The relations an attacker who reads the definitions adds to the margins' rows (jobs/stats/sdc/margins.py):
unions of categories that are one population (ZE access `Overgang` and the later dates of `zeToegangTot`)
share a total, containments (anpr/dimensions.py CONTAINMENTS, the month's calendar), the day rows and the
month's calendar per vehicle (jobs/stats/sdc/links.py day_rows, forced_rows), each camera's worked hours
(Registry.floors), and the measures of one cell linked as the definitions imply (links.py cell_rows,
trip_rows).
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from itertools import combinations

from anpr.catalogue import SOURCES
from anpr.dimensions import CONTAINMENTS, NEVER_INSIDE, TOEGESTAAN
from jobs.stats.sdc.cells import Key, Level
from jobs.stats.sdc.identities import per_vehicle
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
from jobs.stats.sdc.margins import Margins, Name, project

ZE_ACCESS = "ze_toegang"  # ZE access on the day of passage (anpr/dimensions.py ze_status)
# a containment's side: passages in each dimension's categories at once
Side = tuple[tuple[str, Container[object]], ...]
# the dimensions of a passage's local date alone (anpr/catalogue.py SOURCES, kind time, level above the hour)
DATE_DIMENSIONS = {d for d, s in SOURCES.items() if s.kind == "time" and s.level in ("dag", "weekdag", "week")}


def barred(side: Side) -> bool:
    """Whether a side is ZE access categories none of which a vehicle whose access never ends has (all but
    Toegestaan): only such passages are never of NEVER_INSIDE's category, so only there may the outer side
    leave out the vehicle types that category holds whole (a week-5 car passage is a weekend passage)."""
    return len(side) == 1 and side[0][0] == ZE_ACCESS and TOEGESTAAN not in side[0][1]


class Relations(Margins):
    """Margins with every relation of the definitions and the month added (`build`)."""

    def build(self) -> None:
        levels = self.model.levels
        formed = trip_margins(self.model.published.get("R", ()), levels.get("P", {})) if "R" in levels else set()
        for measure in levels:
            self.build_measure(measure, formed if measure == "P" else set())
        self.add_unions()
        self.add_containments()
        self.add_day_links()
        self.add_links(formed)

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
        month's Registry.calendar, each also within each calendar containment of other dimensions: `Ontheffing`
        in week 5 among `Tijdelijk` and `Langdurig` on its day type), bound by those: per measure and per
        category of the dimensions two tables of the two sides share besides (none: the zone), the inner
        margins' sum at most the outer ones'. Unique vehicles of a passage-level dimension do not add up: each
        inner margin is at most the outer ones' sum. A category no table shows is 0, so it is left out. At the
        zone, the one-dimension outer side of `barred` ZE access also without the categories of a vehicle
        characteristic that NEVER_INSIDE's category holds whole."""
        for inner, outer in self.containments():
            inner_dims, outer_dims = [d for d, _ in inner], [d for d, _ in outer]
            for measure, cells in self.cells.items():
                for shared in self.shared(cells, inner_dims, outer_dims):
                    inside = self.margins_by(measure, cells, inner, shared)
                    outside = self.margins_by(measure, cells, outer, shared)
                    sides = {key: [side] for key, side in outside.items()}
                    if not shared and len(outer) == 1 and barred(inner):
                        sides.setdefault((), []).extend(self.narrowed(measure, cells, *outer[0]))
                    additive = measure != "V" or all(per_vehicle(d) for d in inner_dims)
                    for key, group in inside.items():
                        for side in sides.get(key, [[]]):
                            for members in [group] if additive else [[v] for v in group]:
                                row = {v: -1.0 for v in side}
                                for v in members:
                                    row[v] = row.get(v, 0.0) + 1.0
                                self.checked.append(row)

    def containments(self) -> list[tuple[Side, Side]]:
        """Every containment as conjunctions of (dimension, categories): each one alone, and each that is no
        calendar one (of two dimensions of the local date) within each calendar one of two other dimensions:
        a passage in both inner categories is in both outer ones."""
        plain: list[tuple[Side, Side]] = [(((a, x),), ((b, y),))
                                          for (a, x), (b, y) in (*CONTAINMENTS, *self.reg.calendar)]
        calendar = [(inner, outer) for inner, outer in plain if {inner[0][0], outer[0][0]} <= DATE_DIMENSIONS]
        composed: list[tuple[Side, Side]] = [((*inner, *day_inner), (*outer, *day_outer)) for inner, outer in plain
                    if (inner, outer) not in calendar for day_inner, day_outer in calendar
                    if not {day_inner[0][0], day_outer[0][0]} & {inner[0][0], outer[0][0]}]
        return plain + composed

    @staticmethod
    def shared(cells: dict[Level, dict[Key, int]], inner: Sequence[str], outer: Sequence[str]) -> list[Level]:
        """The zone, and every set of dimensions a level with the inner dimensions shares with one with the
        outer ones (besides those)."""
        out: set[Level] = set()
        with_inner = [lv for lv in cells if set(inner) <= set(lv)]
        with_outer = [lv for lv in cells if set(outer) <= set(lv)]
        if with_inner and with_outer:
            out.add(())
        for a in with_inner:
            for b in with_outer:
                out.add(tuple(sorted((set(a) & set(b)) - {*inner, *outer})))
        return sorted(out)

    def margins_by(self, measure: str, cells: dict[Level, dict[Key, int]], side: Side, shared: Level
                   ) -> dict[Key, list[int]]:
        """Per key of shared: the margins of side's categories some cell shows with it, tied to a level holding
        side's dimensions and shared."""
        dims = [d for d, _ in side]
        fine = next((lv for lv in sorted(cells) if {*dims, *shared} <= set(lv)), None)
        if fine is None:
            return {}
        level = tuple(sorted({*dims, *shared}))
        out: dict[Key, list[int]] = {}
        for key, var in self.at_level(measure, fine, level).items():
            if all(key[level.index(d)] in values for d, values in side):
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
            out.append([var for k, var in self.at_level(measure, fine, pair).items()
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
        for key, margin in self.at_level("V", source, typed).items():
            values = dict(zip(typed, key, strict=True))
            by_group.setdefault(tuple(values[d] for d in group), {})[str(values[VISITOR])] = margin
        vehicles = self.at_level("V", source, group)
        fine = tuple(sorted((*group, *day)))
        categories = self.groups(fine, group, self.at_level("V", level, fine))
        # a category of all of day at once holds at most the fewest of each one's most days this month
        held = min(max(self.reg.days[d].values()) if d in self.reg.days else DAY_FIXED[d] for d in day)
        for key, members in categories.items():
            if key in by_group:
                self.checked.extend(day_rows(sorted(set(members)), vehicles[key], by_group[key], held, minimum))
        for d in (d for d in day if d in self.reg.days):
            one = tuple(sorted((*group, d)))
            per_group: dict[Key, dict[object, int]] = {}
            for k, var in self.at_level("V", level, one).items():
                values = dict(zip(one, k, strict=True))
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

    def add_ceilings(self) -> dict[int, float]:
        """Per ceiling of the registry (Registry.ceilings) whose categories hold passages: a variable the
        attacker reads, holding the ceiling, tied to the zone's margin by `ceiling = margin + slack`
        (slack >= 0). An upper bound is a row of constants, which the system's homogeneous rows cannot hold,
        so the constant is a known count, as an earlier release's published count is in a joint system."""
        out: dict[int, float] = {}
        cells = self.cells.get("P", {})
        for (dims, values), ceiling in sorted(self.reg.ceilings.items(), key=repr):
            level = tuple(sorted(dims))
            where = dict(zip(dims, values, strict=True))
            key = tuple(where[d] for d in level)
            fine = next((lv for lv in sorted(cells) if set(level) <= set(lv)
                         and any(project(lv, k, level) == key for k in cells[lv])), None)
            if fine is None:
                continue  # no passage there: the zone's count is 0 and known anyway
            self.link("P", fine, level)
            margin = self.margin("P", level, key)
            bound, slack = self.var("P", ("c", level, key)), self.var("P", ("s", level, key))
            self.eq_rows.append((bound, (margin, slack)))
            self.leaves.update((margin, bound, slack))
            out[bound] = float(ceiling)
        return out

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
        self.add_visitor_rows(minimum)
        if formed:
            published_r = {lv: c for lv, c in self.cells["R"].items() if lv in self.model.published["R"]}

            def inbound(level: Level, key: Key) -> int | None:
                name = self.name(level, key)
                return None if name is None else self.index.get(("P", name))

            self.ub_rows += trip_rows(published_r, self.cells.get("V", {}), inbound, formed)

    def add_visitor_rows(self, minimum: dict[str, int]) -> None:
        """Passages of a per-vehicle cell >= the fewest days of each visitor type x its vehicles of that type: per
        cell of a level whose vehicles a joint splits by visitor type (levels.py visitor_levels, and cycles that
        join the visitor type to a level of passages)."""
        v_cells, p_cells = self.cells.get("V", {}), self.cells.get("P", {})
        for joint in self.model.joints.get("V", []):
            level = tuple(d for d in joint if d != VISITOR)
            if VISITOR not in joint or level not in p_cells:
                continue
            at, visitor = [joint.index(d) for d in level], joint.index(VISITOR)
            rows: dict[Key, dict[int, float]] = {}
            for key, var in v_cells[joint].items():
                cell = tuple(key[i] for i in at)
                if cell in p_cells[level]:
                    rows.setdefault(cell, {p_cells[level][cell]: -1.0})[var] = float(minimum.get(str(key[visitor]), 1))
            self.ub_rows += list(rows.values())
