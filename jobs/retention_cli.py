"""The `anpr retention` subcommand: delete what has outlived its retention period (jobs/retention.py)."""

from __future__ import annotations

from argparse import Namespace
from typing import Annotated

import typer

from anpr import operator_audit
from anpr.commands import call, group
from anpr.settings import Settings


def add_commands(app: typer.Typer) -> None:
    retention = group("delete expired quarantine rows, passages, metrics, ingest keys")

    @retention.command("run", short_help="apply the retention periods once (--dry-run: count only)",
                       help="Apply the retention periods once: conf/base.toml [retention]: Delta DELETE of "
                                   "expired rows, then VACUUM of files past the time-travel window; ingest "
                                   "idempotency keys; the Kafka topic's retention. Safe while the stream runs.")
    def run(ctx: typer.Context,
            dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would be deleted, change nothing")]
            = False) -> Namespace:
        return call(ctx, cmd_retention, dry_run=dry_run)

    app.add_typer(retention, name="retention")


def cmd_retention(args: Namespace, settings: Settings) -> int:
    from anpr.lake import make_lake
    from anpr.progress import step
    from anpr.spark import get_spark
    from anpr.stream_tables import OUT_OF_SCOPE, PASSAGES, QUARANTINE, STREAM_METRICS
    from jobs.retention import render, run_retention

    deletes_from = (QUARANTINE, PASSAGES, STREAM_METRICS, OUT_OF_SCOPE)
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
