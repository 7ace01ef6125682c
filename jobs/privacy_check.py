"""`anpr privacy check`: the periodic compliance check of the data protection officer (seed 001,
section 4: periodic audits; issue 13).

Three parts, one report:
- expired: what `anpr retention run` would delete now, by retention's own rules (jobs/retention.py,
  run as a dry run): every dataset with rows past its period is an item. None after a retention run.
  Then what is left on disk past its period (jobs/expired_files.py): Delta files of deleted rows not
  yet vacuumed, closed Kafka segments older than the topic's retention, old stream checkpoint batches,
  old log files, and rotated-out peppers no kept passage needs (`anpr keys destroy`).
- credentials: the pepper and the vendor and admin keys of the settings, by name (never the value),
  with their age where the platform can know it: a pepper file's modification time, the first
  register load made with this pepper (its `pepper_id`), a vendor key's last use in the API's log.
- activity: operator commands (operator_audit) and vendor API requests (the access log) since the
  last successful check, which the audit trail itself records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from anpr.delta_reader import TableReader
from anpr.keyring import KeyringError, Pepper, RekeyInProgress, pepper_id
from anpr.lake import Lake
from anpr.register_tables import LOADS
from anpr.settings import INGEST_DIGEST_KEY, Settings
from jobs import expired_files as ef
from jobs.keys import passages_by_pepper
from jobs.register import current_loads
from jobs.retention import VACUUMED, Outcome, run_retention

CHECK_COMMAND = "privacy check"  # how the audit trail names this command (cli/audit.py command_name)


def expired_items(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """Retention's dry-run outcomes that would delete rows: [{"dataset", "rule", "rows"}]."""
    return [{"dataset": o.dataset, "rule": o.rule, "rows": o.rows_deleted} for o in outcomes if o.rows_deleted]


def expired(lake: Lake, settings: Settings, now: datetime | None = None) -> list[dict[str, Any]]:
    """What retention would delete at `now` (default the clock), changing nothing."""
    return expired_items(run_retention(lake, settings, now=now, dry_run=True))


def on_disk(lake: Lake, settings: Settings, now: datetime | None = None) -> list[dict[str, Any]]:
    """What is left on disk past its period (expired_files items, `where` relative to the data dir).

    Delta files count by the wall clock, as VACUUM does; the rest from `now` (default the clock), as
    run_retention(now=...) does.
    """
    now, r, data = now or datetime.now(UTC), settings.retention, settings.data_dir
    items = []
    for table in VACUUMED:
        table_dir = Path(lake.path(table))
        files, live, removed = ef.delta_listing(table_dir)
        due = ef.unvacuumed(files, live, removed, datetime.now(UTC) - timedelta(hours=r.time_travel_hours))
        if due:
            items.append(ef.item(f"files of deleted rows of {table}, past the {r.time_travel_hours} h time travel",
                                 _where(table_dir, data), due, "anpr retention run"))
    kafka = data / KAFKA_LOG_DIR
    topic = settings.kafka.observations_topic
    # The broker looks for due segments every 5 minutes (log.retention.check.interval.ms): ones due for less
    # than 10 are on their way out, not left behind.
    due = ef.expired_segments(ef.list_files(kafka), topic, now - timedelta(hours=r.kafka_hours, minutes=10))
    if due:
        items.append(ef.item(f"closed {topic} segments older than {r.kafka_hours} h", _where(kafka, data), due,
                             "the broker, by the topic's retention.ms (set by anpr retention run): start it "
                             "with anpr broker"))
    due = ef.expired_batches(ef.list_files(settings.checkpoint_dir), now - timedelta(hours=r.kafka_hours))
    if due:
        items.append(ef.item(f"stream checkpoint batches before the newest {ef.MIN_BATCHES_TO_RETAIN}, older than "
                             f"{r.kafka_hours} h", _where(settings.checkpoint_dir, data), due, "anpr retention run"))
    due = ef.expired_logs(ef.list_files(settings.log_dir), now - timedelta(days=r.log_days))
    if due:
        items.append(ef.item(f"log files not written for {r.log_days} d", _where(settings.log_dir, data), due,
                             "anpr retention run"))
    return items + peppers_to_destroy(lake, settings)


KAFKA_LOG_DIR = Path("broker") / "kraft"  # the embedded broker's log.dirs (anpr.broker.server_properties)


def _where(path: Path, data_dir: Path) -> str:
    return str(path.relative_to(data_dir)) if path.is_relative_to(data_dir) else str(path)


def unneeded_peppers(peppers: Sequence[Pepper], active: str | None, kept: Mapping[str | None, int]) -> list[Pepper]:
    """Rotated-out peppers (keyring files, not the configured one, not the register's) that made no kept
    passage: `anpr keys destroy` would remove them (anpr.keyring.Keyring.destroy)."""
    return [p for p in peppers if not p.configured and p.id != active and not kept.get(p.id, 0)]


def peppers_to_destroy(lake: Lake, settings: Settings) -> list[dict[str, Any]]:
    """unneeded_peppers as items; none while a re-key is under way (which pepper stays is not settled)."""
    keyring = settings.keyring()
    try:
        active: str | None = keyring.active(current_loads(lake)).id
    except RekeyInProgress:
        return []
    except KeyringError:  # no pepper configured and an empty register: none is in use
        active = None
    items = []
    for p in unneeded_peppers(list(keyring.peppers().values()), active, passages_by_pepper(lake)):
        path = Path(p.path)
        items.append(ef.item(f"rotated-out pepper {p.id}, no kept passage made with it", _where(path.parent,
                             settings.data_dir), [ef.FileEntry(path.name, path.stat().st_size, datetime.fromtimestamp(
                                 path.stat().st_mtime, UTC))], f"anpr keys destroy {p.id}"))
    return items


def last_check(audit_rows: Sequence[Mapping[str, Any]]) -> datetime | None:
    """When the last successful check started, from operator_audit rows (anpr.operator_audit.read_audit)."""
    done = [r["started_at"] for r in audit_rows if r["command"] == CHECK_COMMAND and r["exit_code"] == 0]
    return max(done) if done else None


def activity(audit_rows: Sequence[Mapping[str, Any]], access: pa.Table, since: datetime | None) -> dict[str, Any]:
    """Who did what since `since` (everything when None): operator runs per user and command, failed
    runs, and API requests per vendor and table. `access` has the access log's ts, vendor, table_name."""
    runs = [r for r in audit_rows if since is None or r["started_at"] >= since]
    requests = [r for r in access.select(["ts", "vendor", "table_name"]).to_pylist()
                if since is None or r["ts"] >= since]
    return {
        "since": since.isoformat() if since else None,
        "operator_runs": [{"user": u, "command": c, "runs": n}
                          for (u, c), n in sorted(Counter((r["user"], r["command"]) for r in runs).items())],
        "failed_runs": sum(1 for r in runs if r["exit_code"] != 0),
        "api_requests": [{"vendor": v, "table": t, "requests": n} for (v, t), n in sorted(
            Counter((r["vendor"] or "-", r["table_name"] or "-") for r in requests).items())],
    }


def credentials(settings: Settings, loads: pa.Table, access: pa.Table, now: datetime) -> list[dict[str, Any]]:
    """Every credential of the settings by name: kind, where its age comes from, age in days (None when
    unknown) and last use (vendor keys, from the access log). `loads` is register/loads (pepper_id,
    loaded_at); `access` the access log (ts, vendor)."""
    out: list[dict[str, Any]] = []
    if settings.pepper is not None:
        pid = pepper_id(settings.pepper_bytes)
        used = [r["loaded_at"] for r in loads.select(["pepper_id", "loaded_at"]).to_pylist() if r["pepper_id"] == pid]
        if settings.pepper_file is not None and settings.pepper_file.exists():
            since, source = datetime.fromtimestamp(settings.pepper_file.stat().st_mtime, UTC), "pepper file written"
        elif used:
            since, source = min(used), "first register load with this pepper"
        else:
            since, source = None, "unknown: given as a value and no register load made with it"
        out.append({"name": "pepper", "kind": "pepper", "pepper_id": pid, "since": since, "age_source": source,
                    "last_used": max(used) if used else None})
    for pepper in settings.keyring().peppers().values():
        if pepper.configured:
            continue
        used = [r["loaded_at"] for r in loads.select(["pepper_id", "loaded_at"]).to_pylist()
                if r["pepper_id"] == pepper.id]
        out.append({"name": f"pepper {pepper.id}", "kind": "pepper (rotated, keyring)", "pepper_id": pepper.id,
                    "since": datetime.fromtimestamp(Path(pepper.path).stat().st_mtime, UTC),
                    "age_source": "keyring file written (anpr keys rotate)", "last_used": max(used) if used else None})
    last_use: dict[str, datetime] = {}
    for r in access.select(["ts", "vendor"]).to_pylist():
        if r["vendor"] and (r["vendor"] not in last_use or r["ts"] > last_use[r["vendor"]]):
            last_use[r["vendor"]] = r["ts"]
    for vendor in sorted(settings.vendor_keys):
        out.append({"name": vendor, "kind": "vendor API key", "since": None,
                    "age_source": "unknown: keys come from settings, which record no issue date",
                    "last_used": last_use.get(vendor)})
    if settings.admin_key is not None:
        out.append({"name": "admin", "kind": "admin API key", "since": None,
                    "age_source": "unknown: keys come from settings, which record no issue date", "last_used": None})
    digest_key = settings.data_dir / INGEST_DIGEST_KEY
    if digest_key.exists():
        out.append({"name": "ingest digest key", "kind": "ingest digest key (HMAC of idempotency keys and file names)",
                    "since": datetime.fromtimestamp(digest_key.stat().st_mtime, UTC),
                    "age_source": "key file written on the ingest service's first use", "last_used": None})
    for c in out:
        c["age_days"] = (now - c["since"]).days if c["since"] else None
    return out


def table_or_empty(lake: TableReader, name: str, columns: Mapping[str, pa.DataType]) -> pa.Table:
    """The table's `columns`, or an empty table of them when the table does not exist yet."""
    if lake.exists(name):
        return lake.read_arrow(name, columns=list(columns))
    return pa.table({c: pa.array([], t) for c, t in columns.items()})


def register_loads(lake: TableReader) -> pa.Table:
    return table_or_empty(lake, LOADS, {"pepper_id": pa.string(), "loaded_at": pa.timestamp("us", "UTC")})


def check_report(now: datetime, expired_now: list[dict[str, Any]], creds: list[dict[str, Any]],
                 did: dict[str, Any], left_on_disk: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The report file's content; `left_on_disk` are on_disk's items."""
    return {"checked_at": now.isoformat(), "expired": expired_now, "expired_files": left_on_disk or [],
            "credentials": creds, "activity": did}


def render_check(r: Mapping[str, Any]) -> str:
    """The report for a terminal: expired items (or none), credentials, activity since the last check."""
    lines = [f"privacy check at {r['checked_at']}"]
    if r["expired"]:
        lines.append(f"EXPIRED, not yet deleted ({len(r['expired'])}): run `anpr retention run`")
        lines += [f"  {e['dataset']:<26} {e['rows']:>10,} rows ({e['rule']})" for e in r["expired"]]
    else:
        lines.append("expired: none (retention is up to date)")
    if r["expired_files"]:
        lines.append(f"EXPIRED, still on disk ({len(r['expired_files'])}):")
        for e in r["expired_files"]:
            lines += [f"  {e['what']}: {e['files']:,} files, {e['bytes']:,} bytes in {e['where']} "
                      f"since {e['since']:%Y-%m-%d}", f"    remove: {e['remove']}"]
    else:
        lines.append("expired files: none")
    lines.append("credentials:")
    for c in r["credentials"]:
        age = f"{c['age_days']} d" if c["age_days"] is not None else "age unknown"
        used = f", last used {c['last_used']:%Y-%m-%d}" if c["last_used"] else ""
        lines.append(f"  {c['kind']:<15} {c['name']:<16} {age} ({c['age_source']}){used}")
    a = r["activity"]
    lines.append(f"activity since {a['since'] or 'the start of the audit trail'}: "
                 f"{sum(x['runs'] for x in a['operator_runs'])} operator runs ({a['failed_runs']} failed), "
                 f"{sum(x['requests'] for x in a['api_requests'])} API requests")
    lines += [f"  {x['user']:<16} {x['command']:<20} {x['runs']:>5}" for x in a["operator_runs"]]
    lines += [f"  vendor {x['vendor']:<16} {x['table']:<20} {x['requests']:>5}" for x in a["api_requests"]]
    return "\n".join(lines)
