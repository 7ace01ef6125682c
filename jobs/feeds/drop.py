"""The file-drop adapter: CSV exports in a directory are read, delivered, reported and deleted.

An export holds raw plates, which the ingest contract has gone within 24 hours, so a file is deleted once
read: one whose good rows were all delivered leaves its report in `processed/` (`<name>.report.json`:
rows, good, bad, and each bad row's line and reason, never a plate); one that cannot be read as an export
(not text in the mapping's encoding, a header without its columns) or none of whose rows could be read
("no row could be read (first: line 2: ...)", its bad rows kept in the report) leaves its report in
`rejected/`, and the supplier sends it again once the export or the mapping is fixed. So does one the
ingest endpoint refuses for what it holds (sinks.Refused: 403 `camera_not_owned` when the mapping places a
location at another supplier's camera; 400, 413, 422), which every later try would meet again. A file
whose delivery failed otherwise (the endpoint or broker away, a wrong key), or whose reading raised (a bug
of the reader on some input, the file out of reach), stays where it is, to be picked up again, until it
is `max_age_hours` old (the caller passes the observations topic's retention, 22): then it is rejected
too, "not delivered within 22 hours; send it again". Its age runs from the earlier of its modification
time and its inode change time, so an upload that sets the modification time ahead cannot keep it
longer. The report of a file rejected after a failed delivery or reading adds the failure (our own
delivery failure's one line, else only the exception's type: another message may quote the input), the
refusal's status and code, and the rows and batches delivered before it.

A file is read as a stream (csv_feed.ExportReader): its rows go out in batches as they are read and its bad rows
to the report, so its size costs time, not memory. That it is an export (its encoding and header) is known before
the first batch; its fate only at its end, when its report is written. A file none of whose rows could be read has
delivered nothing. A file whose delivery fails midway is read on to its end without delivering, so that its counts
and report are the whole file's.

A file tried again, or sent again after a rejection, has the same rows as the same observation ids and its
batches the same idempotency keys, so through the ingest endpoint nothing is published twice. A batch's
idempotency key is a digest of the observations it sends, without where they came from (file name, line):
the same rows dropped again, even renamed, are recognised, while a file corrected after a mapping or export
error, whose rows now read differently, gets new keys for the batches that changed. The file's digest would
call such a corrected re-delivery a replay and publish nothing. The endpoint compares whole bodies, which name
file and line (`extensions`): for a key it holds with another body it answers 422 `idempotency_key_reused`, and
as the key is the observations' digest, that batch's rows are the ones it published before (`deliver_export`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anpr.feeds.messages import encode
from jobs.feeds.csv_feed import Accepted, CsvMapping, ExportReader, FileChanged, identity
from jobs.feeds.sinks import DeliveryFailed, Refused, Sink
from jobs.feeds.spools import BadRow

BATCH = 5_000
REUSED = "idempotency_key_reused"  # the ingest endpoint's code for a key it holds with another body


@dataclass
class DropOutcome:
    exports: list[ExportReader]  # read: their counts and (sized) bad rows
    delivered: int
    failed: list[tuple[str, str]]  # (file, why): rejected, or left for the next run
    replayed: int = 0  # batches the endpoint held from an earlier delivery of the same rows


@dataclass
class Sent:
    """Rows and batches of one export delivered so far."""

    rows: int = 0
    batches: int = 0
    replayed: int = 0  # of the batches, those the endpoint held from a copy under another name or at other lines


def csv_files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv"))
        else:
            found.append(path)
    return found


def _report_and_delete(path: Path, folder: Path, fields: dict[str, object], bad: Iterable[BadRow],
                       read_as: tuple[int, int, int, int, int] | None = None) -> bool:
    """The report (`fields`, then each bad row, written as they are read back: there may be a million) beside the
    folder's other reports, and the file deleted, unless it is no longer the file read (`read_as`, csv_feed.identity):
    a re-upload renamed over it during the last batch's delivery would be deleted unread (a review's case, stop
    47). Returns whether it was deleted."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{path.name}.report.json").open("w", encoding="utf-8") as report:
        report.write(json.dumps(fields, indent=2)[:-2] + ',\n  "bad_rows": [')
        comma = ""
        for row in bad:
            report.write(f"{comma}\n    {json.dumps({'line': row.line, 'reason': row.reason})}")
            comma = ","
        report.write("\n  ]\n}\n" if comma else "]\n}\n")
    if read_as is not None and identity(path.stat()) != read_as:
        return False
    path.unlink()
    return True


def batch_key(items: list[dict[str, Any]]) -> str:
    """`csv-<sha256 of the observations as sent, less source_file and source_line>` (36 characters)."""
    digest = hashlib.sha256()
    for item in items:
        extensions = {k: v for k, v in item.get("extensions", {}).items() if k not in ("source_file", "source_line")}
        digest.update(encode({**item, "extensions": extensions}) + b"\n")
    return f"csv-{digest.hexdigest()[:32]}"


class _ReadFailed(Exception):
    """The reader raised `cause` (a bug on some input, the file out of reach or changed)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _reading(export: ExportReader) -> Iterator[dict[str, Any] | BadRow]:
    """The reader's outcomes, its exceptions told from the sink's. Not `yield from`: closing this generator, when
    the sink raised, must not close the reader, which `finish` reads on."""
    try:
        for outcome in export:  # noqa: UP028 - see above
            yield outcome
    except Exception as exc:  # noqa: BLE001 - whatever it is, the file was not read
        raise _ReadFailed(exc) from exc


def deliver_export(export: ExportReader, sink: Sink, batch: int = BATCH,
                   progress: Callable[[int], None] | None = None, sent: Sent | None = None,
                   say: Callable[[str], None] | None = None) -> int:
    """The export's observations delivered in batches of `batch` as they are read, the bad rows to `say`; the rows
    delivered. `sent` is counted batch by batch, so after the sink raised (DeliveryFailed, Refused) it holds what was
    delivered before; the reader's own exception comes as _ReadFailed. A file found unusable delivers nothing, and
    one none of whose rows could be read has nothing to deliver."""
    sent = Sent() if sent is None else sent
    items: list[dict[str, Any]] = []
    for outcome in _reading(export):
        if isinstance(outcome, BadRow):
            if say is not None:
                say(f"  bad row {outcome}")
            continue
        items.append(outcome)
        if len(items) == batch:
            _send(items, sink, export, progress, sent)
            items = []
    if items:
        _send(items, sink, export, progress, sent)
    return sent.rows


def _send(items: list[dict[str, Any]], sink: Sink, export: ExportReader, progress: Callable[[int], None] | None,
          sent: Sent) -> None:
    """One batch, once the file is found unchanged (ExportReader.check_unchanged, raised as _ReadFailed)."""
    try:
        export.check_unchanged()
    except Exception as exc:
        raise _ReadFailed(exc) from exc
    try:
        sent.rows += sink.send(items, batch_key(items), filename=export.file)
    except Refused as exc:
        if exc.code != REUSED:
            raise
        # The key is these observations' digest (batch_key): the endpoint published these rows from a copy
        # of the file that named them by another file or line, and publishes nothing again.
        sent.rows += len(items)
        sent.replayed += 1
    sent.batches += 1
    if progress is not None:
        progress(len(items))


def _rejection(exc: Exception, path: Path, max_age_hours: float, now: float) -> str | None:
    """Why a file whose delivery failed is rejected now; None while it may be tried again."""
    if isinstance(exc, Refused):
        return "the ingest endpoint refused it, as it would every time; correct it (or the mapping) and send it again"
    try:
        stat = path.stat()
    except OSError:  # gone, or out of reach: nothing to reject, and nothing left to delete
        return None
    # The earlier of the two: an upload can set the modification time ahead, not the inode change time.
    if now - min(stat.st_mtime, stat.st_ctime) > max_age_hours * 3600:
        return f"not delivered within {max_age_hours:g} hours; send it again"
    return None


def _failure(exc: Exception) -> str:
    # Said and reported, both outliving the plates: only our own failures' messages are known to quote none.
    if isinstance(exc, FileChanged):
        return "the file changed while it was read; it is read again at the next run"
    return str(exc) if isinstance(exc, DeliveryFailed) else type(exc).__name__


def _failure_report(export: ExportReader, why: str, exc: Exception, sent: Sent) -> dict[str, object]:
    refusal = {"status": exc.status, "code": exc.code} if isinstance(exc, Refused) else None
    return {**export.summary(), "problem": why, "failure": _failure(exc), "refusal": refusal, "delivered": sent.rows,
            "batches_delivered": sent.batches}


def _digest(path: Path) -> str:
    """The sha256 of a file whose reading failed before it was taken (empty when its bytes are out of reach)."""
    try:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError:
        return ""


@dataclass
class _Drop:
    """One run over the drop folder: what process_drop was given, and its outcome so far."""

    mapping: CsvMapping
    sink: Sink
    delete: bool
    batch: int
    progress: Callable[[int], None] | None
    say: Callable[[str], None]
    accepted: Callable[[Path], Accepted] | None
    max_age_hours: float
    now: Callable[[], float]
    outcome: DropOutcome

    def file(self, path: Path) -> None:
        started = time.monotonic()
        export, sent = ExportReader(path, self.mapping), Sent()
        self.outcome.exports.append(export)
        try:
            self.deliver(path, export, sent, started)
        finally:
            export.bad.close()

    def deliver(self, path: Path, export: ExportReader, sent: Sent, started: float) -> None:
        try:
            export.accepted = self.accepted(path) if self.accepted is not None else None
        except Exception as exc:  # noqa: BLE001 - it takes the file's inode change time: the file is out of reach
            export.sha256 = _digest(path)
            self.failed(path, export, exc, sent, "could not be read")
            return
        try:
            delivered = deliver_export(export, self.sink, self.batch, self.progress, sent, self.say)
        except _ReadFailed as failed:
            export.sha256 = export.sha256 or _digest(path)
            self.failed(path, export, failed.cause, sent, "could not be read")
            return
        except Exception as exc:  # noqa: BLE001 - one file's failure must not stop the others
            self.finish(export)
            self.failed(path, export, exc, sent, "delivery failed")
            return
        if export.problem is not None:
            self.say(f"{path.name}: rejected: {export.problem}")
            self.outcome.failed.append((path.name, export.problem))
            if self.delete and not _report_and_delete(path, path.parent / "rejected", export.summary(), export.bad,
                                                      export.read_as):
                self.say(f"{path.name}: changed after it was read: the new file is left for the next run")
            return
        self.outcome.delivered += delivered
        self.outcome.replayed += sent.replayed
        self.say(f"{path.name}: {export.rows:,} rows, {delivered:,} delivered, {len(export.bad):,} bad "
                 f"({time.monotonic() - started:.1f}s)")
        if self.delete and not _report_and_delete(path, path.parent / "processed",
                                                  {**export.summary(), "delivered": delivered}, export.bad,
                                                  export.read_as):
            self.say(f"{path.name}: changed after it was read: the new file is left for the next run")

    def finish(self, export: ExportReader) -> None:
        """The rest of a file whose delivery failed read without delivering, so that its report and counts are the
        whole file's; a reader failing now leaves them at what was read."""
        try:
            for outcome in _reading(export):
                if isinstance(outcome, BadRow):
                    self.say(f"  bad row {outcome}")
        except _ReadFailed:
            pass

    def failed(self, path: Path, export: ExportReader, exc: Exception, sent: Sent, what: str) -> None:
        """A file that could not be read or delivered: left for the next run, or rejected now."""
        self.outcome.failed.append((path.name, _failure(exc)))
        why = _rejection(exc, path, self.max_age_hours, self.now())
        if why is None:
            self.say(f"{path.name}: {what}, file left in place for the next run (rejected once "
                     f"{self.max_age_hours:g} hours old): {_failure(exc)}")
            return
        self.say(f"{path.name}: rejected: {why} ({sent.rows:,} rows in {sent.batches:,} batches delivered "
                 f"before): {_failure(exc)}")
        if self.delete:
            _report_and_delete(path, path.parent / "rejected", _failure_report(export, why, exc, sent), export.bad)


def process_drop(paths: Iterable[Path], mapping: CsvMapping, sink: Sink, delete: bool = True, batch: int = BATCH,
                 progress: Callable[[int], None] | None = None, say: Callable[[str], None] = print,
                 accepted: Callable[[Path], Accepted] | None = None, *, max_age_hours: float,
                 now: Callable[[], float] = time.time) -> DropOutcome:
    """Each CSV file of `paths` (files, or directories' *.csv) read, delivered and, when `delete`, deleted
    with its report in processed/ or rejected/ beside it; a line per file to `say`, and one per bad row.

    accepted: the event times each file's delivery may carry (None: not checked). max_age_hours: how long
    after it arrived a file whose delivery failed is kept for another run; now: the clock that is judged
    by (epoch seconds). A file whose reading raised (a bug, or the file out of reach) is treated as one
    whose delivery failed, its exception named by type only. A file rejected or left in place is in the
    outcome's `failed`; a failure of one file raises nothing, and the next file is still tried."""
    run = _Drop(mapping, sink, delete, batch, progress, say, accepted, max_age_hours, now, DropOutcome([], 0, []))
    for path in csv_files(paths):
        run.file(path)
    return run.outcome
