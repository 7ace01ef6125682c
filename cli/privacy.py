"""The `anpr privacy` subcommands: data-subject requests (jobs/privacy.py) and the compliance check
(jobs/privacy_check.py)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from anpr import operator_audit
from anpr.progress import say
from anpr.settings import Settings


def add_commands(sub: Any) -> None:  # argparse's _SubParsersAction is private
    p = sub.add_parser("privacy", help="data-subject requests (GDPR articles 15 and 17)",
                       description="Privacy operations of the data protection officer (docs/privacy.md).")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    # No abbreviated options: the audit trail masks --plate by its full name (anpr/operator_audit.py).
    r = actions.add_parser("request", allow_abbrev=False,
                           help="report (and with --erase delete) one vehicle's passages and register rows",
                           description="Derives the vehicle's pseudonyms in memory from --plate and --country, "
                                       "reports its passages per day, zone and camera in [--from, --to] and the "
                                       "releases they went into; --erase deletes those passages and the "
                                       "vehicle's register rows. The plate is never written or logged; the "
                                       "audit trail holds the request with the plate masked.")
    r.add_argument("--plate", required=True, help="the plate as written (separators and case do not matter)")
    r.add_argument("--country", required=True, help="ISO 3166-1 alpha-2 code of the plate, e.g. NL")
    r.add_argument("--from", dest="start", required=True, type=date.fromisoformat, metavar="YYYY-MM-DD",
                   help="first local day of passages")
    r.add_argument("--to", dest="end", required=True, type=date.fromisoformat, metavar="YYYY-MM-DD",
                   help="last local day of passages (included)")
    r.add_argument("--erase", action="store_true",
                   help="delete the passages in the range and all register rows of the vehicle (article 17)")
    r.add_argument("--report", type=Path, help="also write the report (JSON, without the plate) to this file")
    r.set_defaults(func=cmd_request)
    c = actions.add_parser("check", help="the data protection officer's periodic check, as a report file",
                           description="Reports what retention should have deleted and has not (retention's "
                                       "own rules, as a dry run) and files left on disk past their period "
                                       "(unvacuumed Delta files, Kafka segments, checkpoint batches, logs, "
                                       "rotated-out peppers), every credential with its age and last use "
                                       "where known, and operator and API activity since the last check.")
    c.add_argument("--report", type=Path,
                   help="report file (JSON; default <data_dir>/reports/privacy-check-<UTC time>.json)")
    c.set_defaults(func=cmd_check)


def cmd_request(args: argparse.Namespace, settings: Settings) -> int:
    from jobs import privacy

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
                                      settings.retention.kafka_days)
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


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
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
