"""`anpr retention run`: delete what has outlived its retention period, through the table engine.

Seed 001 (section 4, protective measures): keep microdata as short as possible and delete it
automatically. Each dataset's period is in `conf/base.toml [retention]` (`RetentionSettings`):

| dataset | kept | deleted by |
|---|---|---|
| `quarantine` | `quarantine_days` after ingest | Delta DELETE on `ingest_date` |
| `passages` | month final and released (1), plus `passages_days_after_final` | Delta DELETE on `event_date`, by month |
| `stream_metrics` | `stream_metrics_days` | Delta DELETE on `finished_at` |
| ingest idempotency keys | `idempotency_days` | SQLite DELETE, then VACUUM with secure_delete |
| Kafka `anpr.observations` | `kafka_hours` | the topic's `retention.ms` (the broker drops old segments) |
| register tables with keys | as the register holds them | VACUUM of the files loads and erasures removed |
| stream checkpoint batches | the newest 100 batches, and `kafka_hours` | file delete (jobs/expired_files.py) |
| log files (`<data_dir>/logs`) | `log_days` since last written | file delete (jobs/expired_files.py) |

(1) Final: the day after the lateness window, the 8th of the next month (docs/statistics.md); released:
a release of the month was built on or after that day.

Published releases, their protection records and the API access log are kept. A DELETE only marks
files as removed (time travel can still read them); VACUUM removes the files once they are older
than `time_travel_hours`, so a run deletes the rows now and the bytes of an earlier run's deletes.
Each run VACUUMs every table it deletes from. A month of passages without a release built after it
became final is kept and reported, never deleted unpublished.

Safe beside the running stream: the stream only appends and MERGEs recent partitions, and a DELETE
that loses a race with one of its commits is retried (`Lake.delete`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from anpr.idempotency import purge_older_than, store_path
from anpr.kafka_security import client_config
from anpr.lake import Lake
from anpr.months import month_start, next_month
from anpr.register_tables import HOLDING_KEYS
from anpr.settings import RetentionSettings, Settings
from anpr.stream_tables import OUT_OF_SCOPE, PASSAGES, QUARANTINE, STREAM_METRICS
from jobs import expired_files as ef
from jobs.stats.release import RELEASES

log = logging.getLogger(__name__)

# The tables each run VACUUMs: the ones it deletes rows from and the register tables holding keys.
VACUUMED = (QUARANTINE, PASSAGES, STREAM_METRICS, OUT_OF_SCOPE, *HOLDING_KEYS)


@dataclass
class Outcome:
    dataset: str
    rule: str  # what expired, e.g. "ingest_date < 2026-10-31"
    rows_deleted: int = 0
    files_removed: int = 0
    notes: list[str] = field(default_factory=list)


def month_final(first: date, lateness_days: int) -> date:
    """The day a month's passages stop changing: its last late event (lateness_days after the month's
    end) has been accepted, e.g. the 8th of the next month for 7 days (docs/statistics.md)."""
    return next_month(first) + timedelta(days=lateness_days)


def passages_months_due(months: list[date], today: date, r: RetentionSettings, lateness_days: int) -> list[date]:
    """The months (first days) among `months` whose retention has run out today (no release checked yet)."""
    return sorted(m for m in months if month_final(m, lateness_days) + timedelta(days=r.passages_days_after_final)
                  <= today)


def finally_released(months: list[date], releases: Mapping[str, list[datetime]], lateness_days: int) -> list[date]:
    """The months with a release created on or after the day the month became final (UTC date)."""
    return [m for m in months if any(created.date() >= month_final(m, lateness_days)
                                     for created in releases.get(f"{m:%Y-%m}", []))]


def month_ranges(months: list[date]) -> str:
    """A SQL predicate on event_date covering whole months, e.g. (event_date >= '2026-08-01' AND ...)."""
    return " OR ".join(f"(event_date >= DATE'{m}' AND event_date < DATE'{next_month(m)}')" for m in months)


def _releases_by_month(lake: Lake) -> dict[str, list[datetime]]:
    if not lake.exists(RELEASES):
        return {}
    rows = lake.read_arrow(RELEASES, columns=["month", "created_at"]).to_pylist()
    out: dict[str, list[datetime]] = {}
    for row in rows:
        out.setdefault(row["month"], []).append(row["created_at"])
    return out


def _passage_months_before(lake: Lake, end: date) -> list[date]:
    # event_date is a partition column: only file metadata and row counts are read for this.
    frame = (lake.read(PASSAGES).where(f"event_date < DATE'{end}'")
             .selectExpr("trunc(event_date, 'month') AS month").distinct())
    return sorted(row["month"] for row in frame.collect())


def _delete(lake: Lake, outcome: Outcome, predicate: str, r: RetentionSettings, dry_run: bool) -> None:
    if dry_run:
        outcome.rows_deleted = lake.read(outcome.dataset).where(predicate).count()
        return
    outcome.rows_deleted = lake.delete(outcome.dataset, predicate)
    outcome.files_removed = len(lake.vacuum(outcome.dataset, retention_hours=r.time_travel_hours))


def expire_passages(lake: Lake, settings: Settings, today: date, dry_run: bool = False) -> Outcome:
    r, lateness = settings.retention, settings.stream.max_lateness_days
    # Only months that ended before the retention could have run out are candidates.
    horizon = month_start(today - timedelta(days=r.passages_days_after_final + lateness))
    outcome = Outcome(PASSAGES, f"months final (+{lateness} d) and released, plus {r.passages_days_after_final} d")
    if not lake.exists(PASSAGES):
        return outcome
    due = passages_months_due(_passage_months_before(lake, horizon), today, r, lateness)
    released = finally_released(due, _releases_by_month(lake), lateness)
    for m in sorted(set(due) - set(released)):
        outcome.notes.append(f"{m:%Y-%m} kept: no release built after it became final "
                             f"(run `anpr stats --month {m:%Y-%m}` first)")
    if released:
        outcome.rule = f"event months {', '.join(f'{m:%Y-%m}' for m in released)}"
        _delete(lake, outcome, month_ranges(released), r, dry_run)
    return outcome


def expire_rows(lake: Lake, table: str, column: str, cutoff: date | datetime, r: RetentionSettings,
                dry_run: bool = False) -> Outcome:
    literal = f"DATE'{cutoff}'" if not isinstance(cutoff, datetime) else f"TIMESTAMP'{cutoff:%Y-%m-%d %H:%M:%S}'"
    outcome = Outcome(table, f"{column} < {cutoff:%Y-%m-%d %H:%M:%S}" if isinstance(cutoff, datetime)
                      else f"{column} < {cutoff}")
    if lake.exists(table):
        _delete(lake, outcome, f"{column} < {literal}", r, dry_run)
    return outcome


def vacuum_only(lake: Lake, table: str, r: RetentionSettings, dry_run: bool = False) -> Outcome:
    """A table whose rows have no retention period of their own: only the files its commits removed
    (replaced by a load, erased on request) go, once older than the time travel window."""
    outcome = Outcome(table, f"files removed more than {r.time_travel_hours} h ago")
    if lake.exists(table) and not dry_run:
        outcome.files_removed = len(lake.vacuum(table, retention_hours=r.time_travel_hours))
    return outcome


def run_retention(lake: Lake, settings: Settings, now: datetime | None = None, dry_run: bool = False) -> list[Outcome]:
    """Apply every dataset's retention once; returns what each removed (rows, files) and what it kept.

    now: the time the periods are counted back from (UTC; default the clock). With dry_run nothing is
    changed and rows_deleted counts what would go.
    """
    now = now or datetime.now(UTC)
    today, r = now.date(), settings.retention
    outcomes = [
        expire_rows(lake, QUARANTINE, "ingest_date", today - timedelta(days=r.quarantine_days), r, dry_run),
        expire_passages(lake, settings, today, dry_run),
        # finished_at is stored in UTC and the session's time zone is UTC (anpr.spark).
        expire_rows(lake, STREAM_METRICS, "finished_at", (now - timedelta(days=r.stream_metrics_days)).replace(
            tzinfo=None), r, dry_run),
        # Anonymous counts of dropped detections: operational figures, kept as long as the stream's metrics.
        expire_rows(lake, OUT_OF_SCOPE, "event_date", today - timedelta(days=r.stream_metrics_days), r, dry_run),
    ]
    outcomes += [vacuum_only(lake, table, r, dry_run) for table in HOLDING_KEYS]
    keys = Outcome("ingest idempotency keys", f"older than {r.idempotency_days} d")
    if not dry_run:
        keys.rows_deleted = purge_older_than(store_path(settings.data_dir),
                                             (now - timedelta(days=r.idempotency_days)).timestamp())
    outcomes.append(keys)
    outcomes.append(_kafka_retention(settings, dry_run))
    outcomes += [expire_files(settings.checkpoint_dir, "stream checkpoint", ef.expired_batches,
                              now - timedelta(hours=r.kafka_hours), f"batches before the newest "
                              f"{ef.MIN_BATCHES_TO_RETAIN} and older than {r.kafka_hours} h", dry_run),
                 expire_files(settings.log_dir, "logs", ef.expired_logs, now - timedelta(days=r.log_days),
                              f"not written for {r.log_days} d", dry_run)]
    for o in outcomes:
        log.info("retention %s: %s, %d rows deleted, %d files removed %s", o.dataset, o.rule, o.rows_deleted,
                 o.files_removed, "; ".join(o.notes))
    return outcomes


def expire_files(root: Path, dataset: str, rule: Callable[[list[ef.FileEntry], datetime], list[ef.FileEntry]],
                 cutoff: datetime, text: str, dry_run: bool = False) -> Outcome:
    """Delete the files under root that `rule` finds expired at cutoff (dry run: count them)."""
    outcome = Outcome(dataset, text)
    due = rule(ef.list_files(root), cutoff)
    outcome.files_removed = len(due) if dry_run else ef.delete(root, due)
    return outcome


def _kafka_retention(settings: Settings, dry_run: bool) -> Outcome:
    from kafka.errors import KafkaError

    from anpr.broker import set_retention

    topic, hours = settings.kafka.observations_topic, settings.retention.kafka_hours
    outcome = Outcome(f"kafka {topic}", f"retention.ms = {hours} h, hourly segments")
    bootstrap = settings.kafka.bootstrap_servers
    if not bootstrap:
        outcome.notes.append("no broker configured (ANPR_KAFKA__BOOTSTRAP_SERVERS): topic retention not checked")
    elif not dry_run:
        try:
            if not set_retention(bootstrap, topic, hours * 3_600_000,
                                 client=client_config(settings, "admin")):
                outcome.notes.append("topic does not exist yet")
        except KafkaError as exc:
            outcome.notes.append(f"broker at {bootstrap} unreachable ({type(exc).__name__}): retention not set")
    return outcome


def render(outcomes: list[Outcome], dry_run: bool) -> str:
    verb = "would delete" if dry_run else "deleted"
    lines = []
    for o in outcomes:
        files = f", {o.files_removed:,} files {'to remove' if dry_run else 'removed'}" if o.files_removed else ""
        lines.append(f"{o.dataset:<26} {verb} {o.rows_deleted:>10,} rows{files} ({o.rule})")
        lines += [f"{'':<26} {note}" for note in o.notes]
    return "\n".join(lines)
