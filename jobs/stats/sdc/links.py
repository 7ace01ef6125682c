"""Links between the measures of one population that the published definitions imply.

Every rule is read off docs/statistics.md ("Definitions") and conf/tables.toml [definitions]; nothing
stronger than what they guarantee:

* a unique vehicle of a cell passed at least once in it: vehicles <= passages;
* a trip is a passage (the inbound one that opens a stay), counted in that passage's cell: trips <= passages;
* a visitor type counts the distinct local days a vehicle was seen in the zone, and each such day holds a
  passage: passages >= vehicles x the type's minimum days (Incidenteel 2, Dagelijks 15; Eenmalig 1);
* a trip is an inbound passage, so trips of a group of vehicles <= its inbound passages;
* a vehicle's first inbound passage of the month always opens a trip (tokens are month-scoped, so no stay
  is open before it): trips of a group of vehicles >= its vehicles with an inbound passage, which is at
  least the vehicles of any one inbound cell of theirs.

* a vehicle seen on d local days lies, for dimensions fixed by the day (the date, weekday, week of the
  month, day type, exemption and ZE access of that day), in at most min(d, k) of a group's k categories and
  at least in as many as d days need when one category holds at most so many days of a month: the vehicles
  of a group's categories add up to its vehicles plus at most (min(k, most days of its type) - 1) per
  vehicle of each visitor type, and at least (fewest categories of its type's fewest days - 1). An
  Eenmalig vehicle is in exactly one category.

Not implied, so not assumed: trips >= vehicles (a vehicle seen only leaving, or only at cameras without
a direction rule, makes no trip); any upper bound on passages per vehicle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from anpr.catalogue import CATALOGUE, Definitions
from jobs.stats.sdc.cells import Key, Level
from jobs.stats.sdc.identities import per_vehicle
from jobs.stats.tables.enrich import DAGELIJKS, EENMALIG, INCIDENTEEL

VISITOR = "type_bezoeker"
DIRECTION, TRIPS_START = "rij_richting_zone", "Inbound"
Row = dict[int, float]


def min_passages(definitions: Definitions | None = None) -> dict[str, int]:
    """Minimum passages per vehicle of each visitor type: one per distinct day seen (jobs/stats/tables/enrich.py)."""
    d = definitions or CATALOGUE.definitions
    return {EENMALIG: 1, INCIDENTEEL: d.bezoeker_incidenteel_min_dagen, DAGELIJKS: d.bezoeker_dagelijks_min_dagen}


# Dimensions fixed for a vehicle on a local day: the date and what jobs/stats/tables/enrich.py derives from it
# (weekday, week of the month, day type), and what anpr/register_snapshot.py works out per local day (the
# exemption, and ZE access from it); each with the most days of a month one of its categories holds.
DAY_FIXED = {"event_date": 1, "week_dag": 5, "week_van_maand": 7, "dag_type": 23, "ontheffing": 31, "ze_toegang": 31}
MONTH_DAYS = 31


def day_rows(categories: list[int], vehicles: int, by_type: Mapping[str, int], held: int,
             minimum: Mapping[str, int]) -> list[Row]:
    """Rows (sum(coef * x) <= 0) between the unique vehicles of a group (vehicles), of each of its categories
    under day-fixed dimensions (categories: every one that exists; held: the most days of the month one of
    them holds) and of each visitor type in it (by_type: type -> variable; a type absent has none). minimum:
    the fewest days of each visitor type (min_passages)."""
    order = sorted(minimum, key=lambda t: minimum[t])
    most = {t: (minimum[order[i + 1]] - 1 if i + 1 < len(order) else MONTH_DAYS) for i, t in enumerate(order)}
    k = len(categories)
    upper: Row = {v: 1.0 for v in categories}
    lower: Row = {v: -1.0 for v in categories}
    upper[vehicles] = upper.get(vehicles, 0.0) - 1.0
    lower[vehicles] = lower.get(vehicles, 0.0) + 1.0
    fewest = {t: -(-minimum[t] // held) for t in by_type}  # categories the type's fewest days fill at least
    for t, var in by_type.items():
        upper[var] = upper.get(var, 0.0) - float(min(k, most[t]) - 1)
        lower[var] = lower.get(var, 0.0) + float(fewest[t] - 1)
    return [upper, lower] if any(f > 1 for f in fewest.values()) else [upper]


def forced_rows(categories: Mapping[object, int], by_type: Mapping[str, int], days: Mapping[object, int],
                minimum: Mapping[str, int]) -> list[Row]:
    """A vehicle seen on more days than the month has outside a category was seen in it: vehicles of the
    category >= vehicles of each such visitor type (in February, 8 weekend days: every Dagelijks vehicle
    passed on a workday). categories: category -> its vehicles' variable in one group; days: the month's
    days of each category of that dimension, which together make the month."""
    month = sum(days.values())
    return [{var: 1.0, categories[x]: -1.0} for x in sorted(categories, key=repr) for t, var in sorted(by_type.items())
            if x in days and minimum[t] > month - days[x]]


def cell_rows(measures: Mapping[str, int], aliases: Iterable[tuple[Level, Key]], minimum: Mapping[str, int]
              ) -> list[Row]:
    """Rows (sum(coef * x) <= 0) between the measures of one cell: measure -> its variable."""
    rows = []
    p, r, v = measures.get("P"), measures.get("R"), measures.get("V")
    if p is not None and v is not None:
        k = max([1, *(minimum.get(str(dict(zip(lv, key, strict=True)).get(VISITOR)), 1) for lv, key in aliases)])
        rows.append({v: float(k), p: -1.0})
    if p is not None and r is not None:
        rows.append({r: 1.0, p: -1.0})
    return rows


def trip_margins(r_levels: Iterable[Level], p_levels: Iterable[Level]) -> set[Level]:
    """Levels of inbound passages to form from the passage tables: each level of trips plus the direction."""
    out = set()
    for r_level in r_levels:
        if not all(per_vehicle(d) for d in r_level):
            continue
        for p_level in p_levels:
            if DIRECTION in p_level and set(r_level) <= set(p_level):
                out.add(tuple(sorted({*r_level, DIRECTION})))
    return out


def trip_rows(r_cells: Mapping[Level, Mapping[Key, int]], v_cells: Mapping[Level, Mapping[Key, int]],
              inbound_passages: Callable[[Level, Key], int | None], formed: set[Level]) -> list[Row]:
    """trips(L) <= inbound passages(L), and trips(L) >= vehicles of each inbound cell under L.

    inbound_passages(level, key): the variable of the inbound passages at that level and key, None when
    no passage cell under it exists (then there are none, and no trips)."""
    rows: list[Row] = []
    for level, cells in r_cells.items():
        with_direction = tuple(sorted({*level, DIRECTION}))
        if with_direction not in formed:
            continue
        for key, trips in cells.items():
            values = dict(zip(level, key, strict=True)) | {DIRECTION: TRIPS_START}
            inbound = inbound_passages(with_direction, tuple(values[d] for d in with_direction))
            rows.append({trips: 1.0} if inbound is None else {trips: 1.0, inbound: -1.0})
        for v_level, v_cells_of in v_cells.items():
            if DIRECTION not in v_level or not set(level) <= set(v_level):
                continue
            at = [v_level.index(d) for d in level]
            direction = v_level.index(DIRECTION)
            for v_key, vehicles in v_cells_of.items():
                if v_key[direction] == TRIPS_START and tuple(v_key[i] for i in at) in cells:
                    rows.append({vehicles: 1.0, cells[tuple(v_key[i] for i in at)]: -1.0})
    return rows
