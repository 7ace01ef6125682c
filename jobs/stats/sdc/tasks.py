"""Disclosure control of a month's zones as Spark tasks: one job of one task per zone, all submitted at once,
so the cluster's task slots protect and audit that many zones side by side and adding workers shortens the
step. A zone's result is a pure function of its cells and settings (jobs/stats/sdc/zone.py), so the release is
bit-identical whatever the number of workers or the order in which zones finish.

Executors import this package from their own environment: the image installs it (infra/Dockerfile), and
the standalone cluster of tests and benchmarks (anpr/standalone.py) runs the driver's interpreter with its
PYTHONPATH. Nothing is shipped with the job (docs/architecture.md, "Code on the executors").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from threading import Event

import pandas as pd
from pyspark.sql import SparkSession

from anpr.catalogue import Definitions, TableSpec
from anpr.dimensions import Containment
from anpr.disclosure import DisclosureConfig
from jobs.stats.sdc.protect import ProtectionError
from jobs.stats.sdc.revision import Earlier
from jobs.stats.sdc.zone import ZoneResult, protect_zone
from jobs.stats.tables.cells import CellPart


@dataclass(frozen=True)
class ZoneJob:
    """The arguments of protect_zone for one zone: its cells per part and what they are protected with."""

    gemeente: str
    zone: str
    frames: Sequence[tuple[CellPart, pd.DataFrame]]
    specs: Mapping[str, TableSpec]
    disclosure: DisclosureConfig
    definitions: Definitions | None = None
    earlier: Sequence[Earlier] = ()
    floors: Mapping[tuple[str, object], float] | None = None  # Registry.floors
    calendar: tuple[Containment, ...] = ()  # Registry.calendar
    days: Mapping[str, dict[object, int]] | None = None  # Registry.days
    ceilings: Mapping[tuple[tuple[str, ...], tuple[object, ...]], float] | None = None  # Registry.ceilings

    def run(self) -> ZoneResult:
        return protect_zone(self.gemeente, self.zone, self.frames, self.specs, self.disclosure, self.definitions,
                            self.earlier, self.floors, self.calendar, self.days, self.ceilings)


def _task(job: ZoneJob) -> ZoneResult | ProtectionError:
    # A refused zone comes back as a value, so the driver raises the same one-line ProtectionError it would
    # locally (anpr stats prints it) instead of Spark's wrapped traceback, and no executor retries it.
    try:
        return job.run()
    except ProtectionError as refused:
        return refused
    except Exception as failed:
        # Anything else is a fault of the protection itself: say which zone, so it can be run again alone.
        raise RuntimeError(f"zone {job.gemeente}/{job.zone}: {type(failed).__name__}: {failed}") from failed


def _new_group() -> str:
    return f"sdc-{uuid.uuid4().hex[:12]}"


def protect_zones(spark: SparkSession, jobs: Sequence[ZoneJob],
                  done: Callable[[ZoneResult], None] = lambda result: None, group: str | None = None
                  ) -> list[ZoneResult]:
    """Every zone's protection and audit as a Spark task; done(result) is called in the calling thread as
    each zone finishes. Returns the results in the order of jobs. group: the Spark job group to run them
    in (a fresh one by default), so that another thread can cancel them.

    Raises ProtectionError of the first refused zone (the other zones' jobs are cancelled); a failure of
    Spark itself (an executor lost more often than spark.task.maxFailures) propagates as Spark raises it."""
    if not jobs:
        return []
    context = spark.sparkContext
    group = group or _new_group()
    stopping = Event()

    # One job per zone, not one job with a partition per zone: a job's results reach the driver when all
    # its tasks are done (and toLocalIterator runs one partition at a time), so only separate jobs report
    # each zone as it finishes. The threads only wait on their job; the scheduler runs the tasks. They set
    # their own job group: inheritable_thread_target would share one properties object among them.
    def one(job: ZoneJob) -> ZoneResult:
        context.setJobGroup(group, f"disclosure control of zone {job.gemeente}/{job.zone}")
        if stopping.is_set():
            raise ProtectionError("cancelled: another zone failed")
        [out] = context.parallelize([job], 1).map(_task).collect()
        if isinstance(out, ProtectionError):
            raise out
        return out

    with ThreadPoolExecutor(len(jobs), thread_name_prefix="sdc-zone") as pool:
        futures = [pool.submit(one, job) for job in jobs]
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                stopping.set()
                context.cancelJobGroup(group)
                raise error
            done(future.result())
    return [f.result() for f in futures]


class Pending:
    """protect_zones started in a thread of its own, for a protection that may turn out not to be needed:
    wait for it with result, or cancel it (its Spark jobs are killed, their Python workers with them)."""

    def __init__(self, spark: SparkSession, jobs: Sequence[ZoneJob]) -> None:
        self._context = spark.sparkContext
        self._group = _new_group()
        self._finished: list[ZoneResult] = []  # appended by protect_zones's calling thread, read after it ends
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sdc-pending")
        self._future = self._pool.submit(protect_zones, spark, jobs, self._finished.append, self._group)

    def result(self, done: Callable[[ZoneResult], None] = lambda result: None) -> list[ZoneResult]:
        """As protect_zones returns or raises; done(result) for each zone, in the order they finished."""
        try:
            results = self._future.result()
        finally:
            self._pool.shutdown()
        for finished in self._finished:
            done(finished)
        return results

    def cancel(self) -> None:
        """Kill what still runs and wait for it to end; a no-op once ended."""
        if not self._future.done():
            self._context.cancelJobGroup(self._group)
        self._future.exception()  # waits; a cancelled job's error is expected and dropped
        self._pool.shutdown()
