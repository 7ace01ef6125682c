"""The month's disclosure control, zone by zone as Spark tasks (jobs/stats/sdc/tasks.py), and at a month's
first release the second protection of recoding for information loss (jobs/stats/recoding.py by_loss): made
after the first, or begun beside it where the first's primary cells already decide it and task slots would
otherwise idle."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from pyspark.sql import SparkSession

from anpr.catalogue import Catalogue, TableSpec
from anpr.disclosure import DisclosureConfig
from jobs.stats import recoding
from jobs.stats.sdc import Earlier, Pending, ProtectionError, ZoneJob, ZoneResult, protect_zones
from jobs.stats.tables.build import MonthCells
from jobs.stats.tables.cameras import hour_ceilings, worked_floors
from jobs.stats.tables.enrich import month_facts

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


def zone_jobs(cells: MonthCells, catalogue: Catalogue, disclosure: DisclosureConfig,
              earlier: Mapping[tuple[str, str], list[Earlier]], jaar: int, maand: int) -> list[ZoneJob]:
    """One protection job per zone of cells, with what its cells are protected with: the zone's earlier
    releases, camera floors and ceilings, and the month's calendar."""
    containments, days = month_facts(jaar, maand)
    threshold = catalogue.definitions.beschikbaarheid_min_zone_passages
    jobs = []
    for g, z in cells.zones():
        frames = cells.of_zone(g, z)
        jobs.append(ZoneJob(g, z, frames, catalogue.tables, disclosure, catalogue.definitions, earlier.get((g, z), []),
                            worked_floors(cells.camera_hours, z), containments, days,
                            hour_ceilings(cells.camera_hours, cells.slot_hours, frames, z, threshold)))
    return jobs


def reporter(say: Progress, zones: int) -> Callable[[ZoneResult], None]:
    """Says a line per zone as it finishes: its suppressions, attacks and what the audit did not judge."""
    finished = 0

    def report(r: ZoneResult) -> None:
        nonlocal finished
        finished += 1
        s = r.summary
        say(f"    [{finished}/{zones}] zone {r.zone}: {s['cells']:,} cells, {s['primary']:,} primary and "
            f"{s['secondary']:,} secondary suppressions, {s['attacked']:,} attacks ({s['lp_solved']:,} LPs), "
            f"audit passed" + (f" (fixed sums of five or more of {s['dominance_unsearched']:,} linked counts not "
                               "judged for dominance)" if s.get("dominance_unsearched") else "")
            + ("; 4.12 withholds its fully available cameras' percentages, which with 4.1 would narrow quiet "
               "hours' suppressed counts" if s.get("availability_withheld") else ""))

    return report


def protect_all(spark: SparkSession, cells: MonthCells, catalogue: Catalogue, disclosure: DisclosureConfig,
                say: Progress, earlier: Mapping[tuple[str, str], list[Earlier]], jaar: int, maand: int
                ) -> list[ZoneResult]:
    jobs = zone_jobs(cells, catalogue, disclosure, earlier, jaar, maand)
    return protect_zones(spark, jobs, reporter(say, len(jobs)))


Protected = tuple[MonthCells, list[TableSpec], list[ZoneResult]]  # cells, the specs they publish, zone results


@dataclass
class SecondProtection:
    """A protection of every zone with more tables recoded (recoding.by_loss's choice), with its cells, and
    where it was begun beside the first protection (speculate), its run."""

    more: recoding.Recoded  # the tables recoded beyond what the first protection published
    specs: list[TableSpec]
    cells: MonthCells
    pending: Pending | None = None


def second_protection(built: MonthCells, specs: Sequence[TableSpec], fine: Sequence[TableSpec],
                      catalogue: Catalogue, more: recoding.Recoded) -> SecondProtection:
    """specs (as the first protection published them) with more recoded too, and their cells, selected from
    built (every table and its recoded variants, build_cells); fine: the specs before any recoding."""
    chosen = recoding.recoded_in(specs) | more
    other_specs = recoding.apply(fine, chosen)
    cells = replace(built, parts=recoding.select(built.parts, other_specs, catalogue))
    return SecondProtection(more, other_specs, cells)


def speculate(spark: SparkSession, built: MonthCells, first: tuple[MonthCells, list[TableSpec]],
              fine: Sequence[TableSpec], catalogue: Catalogue, disclosure: DisclosureConfig, jaar: int, maand: int
              ) -> SecondProtection | None:
    """The second protection of a month's first release, started beside the first, where the first's primary
    cells alone already make recoding.by_loss recode (recoding.by_primary_loss) and the zones leave task slots
    idle (a month of a few zones, as in a test or a municipality's first month): the month's protection then
    takes the time of one. Its result is used only if by_loss chooses exactly those tables, so the release is
    the one a second protection after the first gives. first: the first protection's cells and specs."""
    cells, specs = first
    if 2 * len(cells.zones()) > spark.sparkContext.defaultParallelism:
        return None
    more = recoding.by_primary_loss(fine, specs, cells.parts, disclosure)
    if not more:
        return None
    other = second_protection(built, specs, fine, catalogue, more)
    other.pending = Pending(spark, zone_jobs(other.cells, catalogue, disclosure, {}, jaar, maand))
    return other


def recode_for_loss(spark: SparkSession, built: MonthCells, first: Protected, fine: Sequence[TableSpec],
                    catalogue: Catalogue, disclosure: DisclosureConfig, say: Progress, jaar: int, maand: int,
                    begun: SecondProtection | None = None) -> tuple[Protected, list[ZoneResult]]:
    """The month's first protection (first: its cells, specs and results), or, where a table it publishes
    puts too many of a zone's passages in suppressed cells (recoding.by_loss), the protection of every zone
    with those tables recoded, if that hides fewer passages over all tables; and the results of that second
    protection, kept or not (their time counts). built: every table and its recoded variants (build_cells);
    fine: the specs before any recoding; begun: the second protection speculate began, used if it recodes
    what by_loss chooses, cancelled otherwise. The first protection passed its audit, so a second that fails
    leaves it published, whatever failed."""
    cells, specs, results = first
    summaries = [r.summary for r in results]
    more = recoding.by_loss(fine, specs, summaries, disclosure)
    if begun is not None and begun.more != more:
        if begun.pending is not None:
            begun.pending.cancel()
        begun = None
    if not more:
        return first, []
    limit = disclosure.recoding.max_passages_share
    say(f"    information loss over {limit:.0%} of a zone's passages in {', '.join(sorted(more))}: recoding "
        f"{'it' if len(more) == 1 else 'them'} and protecting every zone again"
        + (" (begun beside the first protection)" if begun else ""))
    second = begun or second_protection(built, specs, fine, catalogue, more)
    try:
        if second.pending is not None:
            other = second.pending.result(reporter(say, len(results)))  # the same zones as the first
        else:
            other = protect_all(spark, second.cells, catalogue, disclosure, say, {}, jaar, maand)
    except Exception as failed:
        log.warning("the protection with %s recoded failed", sorted(more), exc_info=True)
        # one line: a Spark failure's message carries the Java stack, which the log has
        why = str(failed) if isinstance(failed, ProtectionError) else f"{type(failed).__name__}: {failed}"
        why = (why.strip().splitlines() or [""])[0]
        say(f"    the recoded tables could not be protected ({why}): the first protection stays")
        return first, []
    before, after = recoding.passages_suppressed(summaries), recoding.passages_suppressed([r.summary for r in other])
    if after >= before:
        say(f"    recoded, {after:,} passages in suppressed cells against {before:,}: the first protection stays")
        return first, other
    say(f"    recoded, {after:,} passages in suppressed cells against {before:,}: the recoded tables are published")
    return (second.cells, second.specs, other), results
