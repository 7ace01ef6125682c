"""The `anpr retention` subcommand: delete what has outlived its retention period (jobs/retention.py)."""

from __future__ import annotations

import argparse
from typing import Any

from anpr import operator_audit
from anpr.settings import Settings


def add_commands(sub: Any) -> None:  # argparse's _SubParsersAction is private
    p = sub.add_parser("retention", help="delete expired quarantine rows, passages, metrics, ingest keys",
                       description="Applies conf/base.toml [retention]: Delta DELETE of expired rows, then VACUUM "
                                   "of files past the time-travel window; ingest idempotency keys; the Kafka "
                                   "topic's retention. Safe while the stream runs.")
    p.add_argument("action", choices=["run"], help="run: apply the retention periods once")
    p.add_argument("--dry-run", action="store_true", help="count what would be deleted, change nothing")
    p.set_defaults(func=cmd_retention)


def cmd_retention(args: argparse.Namespace, settings: Settings) -> int:
    from anpr.lake import make_lake
    from anpr.progress import step
    from anpr.spark import get_spark
    from anpr.stream_tables import PASSAGES, QUARANTINE, STREAM_METRICS
    from jobs.retention import render, run_retention

    deletes_from = (QUARANTINE, PASSAGES, STREAM_METRICS)
    spark = get_spark(settings)
    try:
        with step("retention" + (" (dry run)" if args.dry_run else "")):
            lake = make_lake(settings, spark)
            outcomes = run_retention(lake, settings, dry_run=args.dry_run)
        operator_audit.record(dry_run=args.dry_run,
                              rows_deleted={o.dataset: o.rows_deleted for o in outcomes},
                              files_removed={o.dataset: o.files_removed for o in outcomes},
                              written={} if args.dry_run else {t: lake.version(t) for t in deletes_from
                                                                if lake.exists(t)})
    finally:
        spark.stop()
    print(render(outcomes, args.dry_run))
    return 0
