"""Disclosure control per zone as Spark tasks (jobs/stats/sdc/tasks.py): the same results as one zone after the
other in this process, in zone order, and a refused zone refuses the month with its own error; the same begun
in the background (Pending), waited for or cancelled."""

from __future__ import annotations

import pandas as pd
import pytest

from anpr.catalogue import CATALOGUE
from anpr.disclosure import DisclosureConfig, load_disclosure
from jobs.stats.recoding import by_loss, by_primary_loss
from jobs.stats.sdc.microdata import catalogue_parts
from jobs.stats.sdc.protect import ProtectionError
from jobs.stats.sdc.tasks import Pending, ZoneJob, protect_zones
from jobs.stats.sdc.zone import ZoneResult
from jobs.stats.tables.cells import count_parts
from tests.polling import wait_until
from tests.unit.jobs.stats.sdc.sdc_zone import zone_records

# Linked through vehicle type, sector, company size and the owner-unknown identity; the whole catalogue
# would take minutes a zone here, and what is tested is where a zone runs, not the catalogue.
TABLES = ("t4_7_bezoeker_grootte", "t4_8a_sector_voertuig", "t4_8b_voertuig_brandstof_emissie",
          "t4_8c_voertuig_carrosserie", "t4_8d_grootte_voertuig", "t5_1_eigenaar_voertuig")
ZONES = (("GM0001", "Z1", 60, 11), ("GM0001", "Z2", 30, 12), ("GM0002", "Z1", 45, 13))  # vehicles, seed


def zone_jobs(disclosure: DisclosureConfig) -> list[ZoneJob]:
    """A small synthetic month: zones of sdc_zone.py beside this file, cut as jobs/stats/tables/build.py cuts them."""
    cut = {cp.part: cp for cp in count_parts([CATALOGUE.tables[t] for t in TABLES], CATALOGUE)}
    jobs = []
    for gemeente, zone, vehicles, seed in ZONES:
        parts = catalogue_parts(zone_records(vehicles, seed=seed), CATALOGUE, disclosure.rules)
        frames = [(cut[p.part], p.cells) for p in parts if p.part in cut]
        jobs.append(ZoneJob(gemeente, zone, frames, CATALOGUE.tables, disclosure, CATALOGUE.definitions))
    return jobs


def assert_same(got: ZoneResult, want: ZoneResult) -> None:
    assert (got.gemeente, got.zone) == (want.gemeente, want.zone)
    assert got.summary == want.summary
    assert list(got.cells) == list(want.cells)
    for part, cells in want.cells.items():  # values, status (published/primary/secondary), reasons, audit
        pd.testing.assert_frame_equal(got.cells[part], cells, check_exact=True)


@pytest.fixture(scope="module")
def disclosure() -> DisclosureConfig:
    return load_disclosure()


def test_zones_as_spark_tasks_equal_the_zones_one_after_the_other(spark, disclosure):
    jobs = zone_jobs(disclosure)
    one_by_one = [job.run() for job in jobs]
    finished: list[tuple[str, str]] = []
    distributed = protect_zones(spark, jobs, lambda r: finished.append((r.gemeente, r.zone)))
    assert [(r.gemeente, r.zone) for r in distributed] == [(g, z) for g, z, _, _ in ZONES]
    assert sorted(finished) == sorted((g, z) for g, z, _, _ in ZONES)  # each reported once, as it finished
    for got, want in zip(distributed, one_by_one, strict=True):
        assert_same(got, want)
    assert sum(r.summary["secondary"] for r in one_by_one) > 0  # the patterns compared hold secondary cells
    assert sum(r.summary["primary"] for r in one_by_one) > 0


def test_a_refused_zone_raises_its_own_protection_error(spark, disclosure):
    strict = disclosure.model_copy(update={"audit": disclosure.audit.model_copy(update={"max_rounds": 1})})
    jobs = zone_jobs(strict)
    with pytest.raises(ProtectionError, match="did not converge in 1 rounds"):
        protect_zones(spark, jobs)


def test_no_zones_start_no_job(spark):
    assert protect_zones(spark, []) == []


def test_a_pending_protection_gives_what_protect_zones_gives_and_a_cancelled_one_leaves_nothing_running(
        spark, disclosure):
    jobs = zone_jobs(disclosure)
    finished: list[tuple[str, str]] = []
    pending = Pending(spark, jobs)
    results = pending.result(lambda r: finished.append((r.gemeente, r.zone)))
    assert sorted(finished) == sorted((g, z) for g, z, _, _ in ZONES)
    for got, want in zip(results, protect_zones(spark, jobs), strict=True):
        assert_same(got, want)
    Pending(spark, jobs).cancel()
    # The status store hears of a job's end through Spark's asynchronous listener bus: it may lag the cancel.
    tracker = spark.sparkContext.statusTracker()
    wait_until(lambda: not tracker.getActiveJobsIds(), timeout=10, every=0.1)
    assert tracker.getActiveJobsIds() == []


def test_the_tables_recoded_from_primary_cells_alone_are_among_those_the_loss_rule_recodes(spark, disclosure):
    """jobs/stats/recoding.py by_primary_loss, on which the job begins a month's second protection beside its
    first (jobs/stats/protection.py speculate), never names a table by_loss would not: secondary suppression
    only adds to what the primary cells hide."""
    specs = [CATALOGUE.tables[t] for t in TABLES]
    jobs = zone_jobs(disclosure)
    parts = [(part, frame.assign(municipality=job.gemeente, zone_id=job.zone)) for job in jobs
             for part, frame in job.frames]
    predicted = by_primary_loss(specs, specs, parts, disclosure)
    chosen = by_loss(specs, specs, [r.summary for r in protect_zones(spark, jobs)], disclosure)
    assert predicted and set(predicted) <= set(chosen)
    assert all(chosen[t] == levels for t, levels in predicted.items())
