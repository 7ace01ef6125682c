"""The `anpr privacy` subcommands: data-subject requests (jobs/privacy.py) and the compliance check
(jobs/privacy_check.py)."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer

from anpr import operator_audit
from anpr.commands import call, group
from anpr.progress import say
from anpr.settings import Settings


def add_commands(app: typer.Typer) -> None:
    privacy = group("Privacy operations of the data protection officer (docs/privacy.md).",
                    short_help="data-subject requests (GDPR articles 15 and 17)")

    # The audit trail masks --plate by its full name (anpr/operator_audit.py); typer takes no abbreviations.
    @privacy.command("request",
                     short_help="report (and with --erase delete) one vehicle's passages and register rows",
                     help="Derives the vehicle's pseudonyms in memory from --plate and --country, reports its "
                          "passages per day, zone and camera in [--from, --to] and the releases they went into; "
                          "--erase deletes those passages and the vehicle's register rows. The plate is never "
                          "written or logged; the audit trail holds the request with the plate masked.")
    def request(ctx: typer.Context,
                plate: Annotated[str, typer.Option("--plate", help="the plate as written (separators and case do "
                                                                   "not matter); - reads it from standard input, "
                                                                   "so it is in no process list or shell history")],
                country: Annotated[str, typer.Option("--country", help="ISO 3166-1 alpha-2 code of the plate, "
                                                                       "e.g. NL")],
                start: Annotated[date, typer.Option("--from", parser=date.fromisoformat, metavar="YYYY-MM-DD",
                                                    help="first local day of passages")],
                end: Annotated[date, typer.Option("--to", parser=date.fromisoformat, metavar="YYYY-MM-DD",
                                                  help="last local day of passages (included)")],
                erase: Annotated[bool, typer.Option("--erase", help="delete the passages in the range and all "
                                                                    "register rows of the vehicle (article 17)")]
                = False,
                report: Annotated[Path | None, typer.Option("--report", help="also write the report (JSON, without "
                                                                             "the plate) to this file")] = None
                ) -> Namespace:
        return call(ctx, cmd_request, plate=plate, country=country, start=start, end=end, erase=erase, report=report)

    @privacy.command("check", short_help="the data protection officer's periodic check, as a report file",
                     help="Reports what retention should have deleted and has not (retention's own rules, as a dry "
                          "run) and files left on disk past their period (unvacuumed Delta files, Kafka segments, "
                          "checkpoint batches, logs, rotated-out peppers), every credential with its age and last "
                          "use where known, and operator and API activity since the last check.")
    def check(ctx: typer.Context,
              report: Annotated[Path | None, typer.Option(
                  "--report", help="report file (JSON; default <data_dir>/reports/privacy-check-<UTC time>.json)")]
              = None) -> Namespace:
        return call(ctx, cmd_check, report=report)

    app.add_typer(privacy, name="privacy")


def cmd_request(args: Namespace, settings: Settings) -> int:
    from jobs import privacy

    if args.plate == "-":  # argv is readable by every user of the host (ps, /proc); standard input is not
        args.plate = sys.stdin.readline().strip()
    try:
        peppers = [p.read() for p in settings.keyring().peppers().values()]
        subject = privacy.subject(peppers, args.plate, args.country, args.start, args.end)
    except privacy.RequestError as exc:
        say(f"anpr privacy request: {exc}")
        return 2
    args.plate = None  # nothing after this point can pass it on
    now = datetime.now(UTC)
    if args.erase:
        from anpr.lake import make_lake
        from anpr.spark import get_spark

        spark = get_spark(settings)
        try:
            lake = make_lake(settings, spark)
            passages, releases = privacy.find(lake, subject)
            deleted, removed = privacy.erase(lake, subject, settings.retention.time_travel_hours)
            written = {t: lake.version(t) for t in deleted}
        finally:
            spark.stop()
        notes = privacy.erasure_notes(now, settings.retention.time_travel_hours, settings.kafka.observations_topic,
                                      settings.retention.kafka_hours)
        result = privacy.report(subject, passages, releases, now, deleted, removed, notes)
        operator_audit.record(rows_deleted=deleted, files_removed=removed, written=written)
    else:
        from anpr.delta_reader import make_reader

        # A report reads with delta-rs: no JVM.
        result = privacy.report(subject, *privacy.find(make_reader(settings), subject), now)
    operator_audit.record(country=subject.country, passages_found=result["passages"]["total"],
                          releases_found=len(result["releases"]))
    print(privacy.render(result))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


def cmd_check(args: Namespace, settings: Settings) -> int:
    from anpr.delta_reader import make_reader
    from anpr.lake import make_lake
    from anpr.operator_audit import read_audit
    from anpr.spark import get_spark
    from api.access_log import ACCESS_LOG
    from jobs import privacy_check as pc

    now = datetime.now(UTC)
    spark = get_spark(settings)
    try:
        lake = make_lake(settings, spark)
        expired = pc.expired(lake, settings, now)
        left = pc.on_disk(lake, settings, now)
    finally:
        spark.stop()
    reader = make_reader(settings)
    audit = read_audit(reader)
    access = pc.table_or_empty(reader, ACCESS_LOG, {"ts": pa.timestamp("us", "UTC"), "vendor": pa.string(),
                                                    "table_name": pa.string()})
    result = pc.check_report(now, expired, pc.credentials(settings, pc.register_loads(reader), access, now),
                             pc.activity(audit, access, pc.last_check(audit)), left)
    out = args.report or settings.data_dir / "reports" / f"privacy-check-{now:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    operator_audit.record(expired={e["dataset"]: e["rows"] for e in expired},
                          expired_files={e["where"]: e["files"] for e in left}, report=str(out))
    print(pc.render_check(result))
    print(f"report written to {out}")
    return 0
