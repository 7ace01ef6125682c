"""The `anpr retention` subcommand: delete what has outlived its retention period (jobs/retention.py)."""

from __future__ import annotations

import argparse
from typing import Any

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
    from jobs.retention import render, run_retention

    spark = get_spark(settings)
    try:
        with step("retention" + (" (dry run)" if args.dry_run else "")):
            outcomes = run_retention(make_lake(settings, spark), settings, dry_run=args.dry_run)
    finally:
        spark.stop()
    print(render(outcomes, args.dry_run))
    return 0
