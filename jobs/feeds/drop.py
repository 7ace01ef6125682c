"""The file-drop adapter: CSV exports in a directory are read, delivered, reported and deleted.

An export holds raw plates, which the ingest contract has gone within 24 hours, so a file is deleted once
read: one whose good rows were all delivered leaves its report in `processed/` (`<name>.report.json`:
rows, good, bad, and each bad row's line and reason, never a plate); one that cannot be read as an export
leaves its report in `rejected/`, and the supplier sends it again once the export or the mapping is fixed.
A file whose delivery failed stays where it is, to be picked up again: its batches carry the same
idempotency keys (through the ingest endpoint a retry publishes nothing twice) and its rows the same
observation ids.

A batch's idempotency key is a digest of the observations it sends, without where they came from
(file name, line): the same rows dropped again, even renamed, are recognised, while a file corrected
after a mapping or export error, whose rows now read differently, gets new keys for the batches that
changed. The file's digest would call such a corrected re-delivery a replay and publish nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anpr.feeds.messages import encode
from jobs.feeds.csv_feed import Accepted, CsvExport, CsvMapping, read_export
from jobs.feeds.sinks import Sink

BATCH = 5_000


@dataclass
class DropOutcome:
    exports: list[CsvExport]
    delivered: int
    failed: list[tuple[str, str]]  # (file, why)


def csv_files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv"))
        else:
            found.append(path)
    return found


def _report_and_delete(path: Path, folder: Path, report: dict[str, object]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{path.name}.report.json").write_text(json.dumps(report, indent=2) + "\n")
    path.unlink()


def batch_key(items: list[dict[str, Any]]) -> str:
    """`csv-<sha256 of the observations as sent, less source_file and source_line>` (36 characters)."""
    digest = hashlib.sha256()
    for item in items:
        extensions = {k: v for k, v in item.get("extensions", {}).items() if k not in ("source_file", "source_line")}
        digest.update(encode({**item, "extensions": extensions}) + b"\n")
    return f"csv-{digest.hexdigest()[:32]}"


def deliver_export(export: CsvExport, sink: Sink, batch: int = BATCH,
                   progress: Callable[[int], None] | None = None) -> int:
    sent = 0
    for start in range(0, len(export.observations), batch):
        items = export.observations[start:start + batch]
        sent += sink.send(items, batch_key(items), filename=export.file)
        if progress is not None:
            progress(len(items))
    return sent


def process_drop(paths: Iterable[Path], mapping: CsvMapping, sink: Sink, delete: bool = True, batch: int = BATCH,
                 progress: Callable[[int], None] | None = None, say: Callable[[str], None] = print,
                 accepted: Callable[[Path], Accepted] | None = None) -> DropOutcome:
    """accepted: the event times each file's delivery may carry (None: not checked)."""
    outcome = DropOutcome([], 0, [])
    for path in csv_files(paths):
        started = time.monotonic()
        export = read_export(path, mapping, accepted(path) if accepted is not None else None)
        outcome.exports.append(export)
        if export.problem is not None:
            say(f"{path.name}: rejected: {export.problem}")
            outcome.failed.append((path.name, export.problem))
            if delete:
                _report_and_delete(path, path.parent / "rejected", export.report())
            continue
        for bad in export.bad:
            say(f"  bad row {bad}")
        try:
            delivered = deliver_export(export, sink, batch, progress)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the file for the next run
            say(f"{path.name}: delivery failed, file left in place: {exc}")
            outcome.failed.append((path.name, str(exc)))
            continue
        outcome.delivered += delivered
        say(f"{path.name}: {export.rows:,} rows, {delivered:,} delivered, {len(export.bad):,} bad "
            f"({time.monotonic() - started:.1f}s)")
        if delete:
            _report_and_delete(path, path.parent / "processed", {**export.report(), "delivered": delivered})
    return outcome
