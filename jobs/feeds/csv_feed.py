"""Supplier CSV exports (`Id;Tijd(CET);Hash;Land;Klasse;Locatie[;register columns...]`) to observations.

A per-supplier mapping file (conf/feeds/<supplier>.toml) names the columns, the time format and zone,
the country codes, the known Klasse codes and which camera (and detection direction) each Locatie is.
Every row becomes an observation or a bad row with its file, the line it starts on and a reason; a bad
row's report never quotes the plate (`Hash`) column, nor a cell that may hold a plate. A file none of
whose rows could be read, or that is not an export at all (not text in the mapping's encoding, a
header without the mapping's columns), is unusable as a whole: `problem` says why in one line.

An export is read as a stream (ExportReader), so a file of a million rows takes no more memory than one of a
thousand: it is read twice, a record at a time (jobs/feeds/csv_records.py, which also finds stray quotes). The
first reading checks the encoding and the header, so an unusable file yields nothing, and shows every time to the
wall clocks; the second judges each row and yields it. What spans the whole file is kept small or off the heap:
counters, the wall clocks' few instants per camera, the bad rows and the ids seen (jobs/feeds/spools.py).

Tijd(CET) is the Dutch wall clock (CET in winter, CEST in summer) unless the mapping says otherwise.
In the spring gap (02:00-03:00 does not exist) a time is a bad row. In the autumn overlap
(02:00-03:00 happens twice) the order of the camera's rows, or else of the file, decides
(jobs/feeds/wall_clock.py); a time neither decides is a bad row, counted as `undecided_times`.
"""

from __future__ import annotations

import hashlib
import io
import os
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator

from anpr.contract import COUNTRY_RULE, is_country
from anpr.feeds.messages import derived_observation_id, iso_ms
from jobs.feeds.csv_records import Record, Records, Unusable, check_start, shown, undecodable
from jobs.feeds.spools import BadRow, BadRows, FirstLines
from jobs.feeds.wall_clock import NonexistentTime, OutOfRange, Undecided, WallClocks

__all__ = ["Accepted", "BadRow", "CsvExport", "CsvMapping", "ExportReader", "FileChanged", "load_mapping",
           "read_export"]


class Location(BaseModel):
    camera_id: str
    detection_direction: str | None = Field(default=None, pattern="^(obverse|reverse)$")

    @field_validator("camera_id")
    @classmethod
    def _uuid(cls, camera_id: str) -> str:
        try:
            # The canonical form, as the cameras table and the stream compare it.
            return str(uuid.UUID(camera_id))
        except ValueError:
            raise ValueError(f"{camera_id!r} is not a uuid") from None


class Columns(BaseModel):
    id: str = "Id"
    time: str = "Tijd(CET)"
    plate: str = "Hash"
    country: str = "Land"
    vehicle_class: str = "Klasse"
    location: str = "Locatie"


class CsvMapping(BaseModel):
    supplier: str
    municipality: str
    delimiter: str = ";"
    encoding: str = "utf-8-sig"
    time_format: str = "%d-%m-%Y %H:%M:%S"
    timezone: str = "Europe/Amsterdam"
    columns: Columns = Field(default_factory=Columns)
    countries: dict[str, str] = Field(default_factory=dict)
    classes: dict[str, str] = Field(default_factory=dict)
    locations: dict[str, Location] = Field(min_length=1)

    @field_validator("countries")
    @classmethod
    def _assigned(cls, countries: dict[str, str]) -> dict[str, str]:
        wrong = sorted(f"{land} = {code!r}" for land, code in countries.items() if not is_country(code))
        if wrong:
            raise ValueError(f"countries {', '.join(wrong)}: each must map to a country code: {COUNTRY_RULE}")
        return countries

    @field_validator("timezone")
    @classmethod
    def _zone(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones, such as "Europe"
            raise ValueError(f"unknown time zone {timezone!r}: an IANA name such as 'Europe/Amsterdam'") from None
        return timezone

    @field_validator("encoding")
    @classmethod
    def _codec(cls, encoding: str) -> str:
        try:
            b"\n".decode(encoding, "replace")  # empty bytes would decode under any name
        except (LookupError, UnicodeError):  # UnicodeError: one that cannot replace what it cannot read (idna)
            raise ValueError(f"{encoding!r} is not a text encoding Python knows, such as 'utf-8-sig' or "
                             "'cp1252'") from None
        return encoding

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, delimiter: str) -> str:
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise ValueError(f"{delimiter!r}: one character other than a quote or line break, such as ';'")
        return delimiter


def load_mapping(path: Path) -> CsvMapping:
    """The mapping in `path`; a ValueError of one line naming the file and each wrong field (e.g.
    `conf/feeds/x.toml: timezone: unknown time zone 'Europe/Amsterdm': ...`), so a mapping that would
    fail half-way through a run is refused before any file is read."""
    try:
        return CsvMapping.model_validate(tomllib.loads(path.read_text()))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise ValueError(f"{path}: {problems}") from None
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class Accepted:
    """The event times the stream accepts from a delivery at `at` (UTC): at most late_days before it and
    future_minutes after it (anpr/settings.py StreamSettings; the contract's 7 days late, 5 minutes ahead).
    Rows outside become bad rows of the export's report instead of deliveries the stream quarantines."""

    at: datetime
    late_days: int = 7
    future_minutes: int = 5

    def problem(self, utc: datetime) -> str | None:
        if utc < self.at - timedelta(days=self.late_days):
            days = self.late_days
            return f"more than {days} days before its delivery (the stream accepts events up to {days} days late)"
        if utc > self.at + timedelta(minutes=self.future_minutes):
            return f"more than {self.future_minutes} minutes after its delivery (a camera clock ahead?)"
        return None


class FileChanged(RuntimeError):
    """The file changed while it was read: its readings may not agree. Read it again."""


def identity(stat: os.stat_result) -> tuple[int, int, int, int, int]:
    """A file as found on disk: another file under its name (a re-upload by rename) or a rewrite differs. A
    rewrite in place moves the modification time, and a write that set it back still moves the change time."""
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _observation_id(mapping: CsvMapping, raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return derived_observation_id(mapping.supplier, raw)


class ExportReader:
    """One export, its rows' outcomes yielded in file order as they are read: an observation (a dict) or a BadRow.
    rows = good + bad at any point; the bad rows are kept for the report (`bad`, sized, iterable until closed).

    Nothing is yielded when the file is not text in the mapping's encoding or its header lacks the mapping's
    columns (`problem`; rows 0), both found by the first reading, before any row. When no row could be read,
    `problem` is set once the iteration ends (its bad rows were yielded, nothing else). An observation whose id an
    earlier observation has is a bad row: a file may repeat a row, and the stream would drop it as a duplicate
    while the report counted it delivered. FileChanged, at the end, when the file changed while it was read, and
    from `check_unchanged`, which a consumer calls before it delivers what it was yielded."""

    def __init__(self, path: Path, mapping: CsvMapping, accepted: Accepted | None = None) -> None:
        self.path, self.mapping, self.accepted = path, mapping, accepted
        self.file = path.name
        self.sha256 = ""
        self.rows = self.good = 0
        self.bad = BadRows(path.name)
        self.problem: str | None = None
        self.undecided_times = 0  # rows of the repeated autumn hour whose summer or winter time cannot be decided
        self.nonexistent_times = 0  # rows in the spring gap
        self._outcomes: Iterator[dict[str, Any] | BadRow] | None = None
        self._file: BinaryIO | None = None  # while it is read
        self.read_as: tuple[int, int, int, int, int] | None = None  # `identity` of the file read, once opened
        cols = mapping.columns
        self._wanted = [cols.id, cols.time, cols.plate, cols.country, cols.vehicle_class, cols.location]

    def summary(self) -> dict[str, Any]:
        """The report's fields but its bad rows."""
        return {"file": self.file, "sha256": self.sha256, "rows": self.rows, "good": self.good, "bad": len(self.bad),
                "problem": self.problem, "undecided_times": self.undecided_times,
                "nonexistent_times": self.nonexistent_times}

    def __iter__(self) -> ExportReader:
        return self

    def __next__(self) -> dict[str, Any] | BadRow:
        # One iteration, kept: a consumer that stops (a delivery failed) can read on to the end.
        if self._outcomes is None:
            self._outcomes = self._read()
        return next(self._outcomes)

    def check_unchanged(self) -> None:
        """FileChanged when the file is no longer as the first reading found it. The second reading applies the
        first one's decisions (the autumn hour's) by line: rows read after a rewrite in place would be delivered
        with another file's decisions, and a re-run sends them in other batches, so the wrong ones would stay
        (a review's case, stop 47). So a consumer checks before it delivers what it was yielded."""
        if self._file is not None and identity(os.fstat(self._file.fileno())) != self.read_as:
            raise FileChanged(f"{self.file} changed while it was read")

    def _read(self) -> Iterator[dict[str, Any] | BadRow]:
        with self.path.open("rb") as file:
            self._file, self.read_as = file, identity(os.fstat(file.fileno()))
            try:
                self.sha256 = _digest(file)
                try:
                    clocks = self._clocks(file)
                except Unusable as exc:
                    self.problem = str(exc)
                    return
                yield from self._judged(file, clocks)
                self.check_unchanged()
            finally:
                self._file = None
        if self.bad.first is not None and not self.good:
            first = self.bad.first
            self.problem = f"no row could be read (first: line {first.line}: {first.reason})"

    def _records(self, file: BinaryIO) -> tuple[io.TextIOWrapper, Records]:
        file.seek(0)
        check_start(file, self.mapping.encoding)
        file.seek(0)
        text = io.TextIOWrapper(file, encoding=self.mapping.encoding, newline="")
        try:
            return text, Records(text, self.mapping.delimiter, self._wanted)
        except BaseException:
            text.detach()  # the file is the caller's to close
            raise

    def _clocks(self, file: BinaryIO) -> WallClocks:
        """The first reading: Unusable when the file is not an export; else every time shown to the wall clocks."""
        clocks = WallClocks(ZoneInfo(self.mapping.timezone))
        try:
            text, records = self._records(file)
            try:
                for record in records:
                    found = self._when(record, records)
                    if not isinstance(found, str):
                        clocks.see(found[0].camera_id, found[1], record.line)
            finally:
                text.detach()
        except UnicodeError:  # UnicodeDecodeError, or UTF-16 without its byte-order mark
            raise Unusable(undecodable(file, self.mapping.encoding)) from None
        return clocks

    def _judged(self, file: BinaryIO, clocks: WallClocks) -> Iterator[dict[str, Any] | BadRow]:
        """The second reading: each row's outcome."""
        seen = FirstLines()
        try:
            text, records = self._records(file)
            try:
                for record in records:
                    self.rows += 1
                    problem, item = self._row(record, records, clocks)
                    if item is not None and (first := seen.first(item["observation_id"], record.line)) != record.line:
                        problem = f"Id repeats the row on line {first}"
                    if problem is not None:
                        bad = BadRow(self.file, record.line, problem)
                        self.bad.append(bad)
                        yield bad
                    elif item is not None:
                        self.good += 1
                        yield item
            finally:
                text.detach()
        except (UnicodeError, Unusable):  # the first reading found neither
            raise FileChanged(f"{self.file} changed while it was read") from None
        finally:
            seen.close()

    def _when(self, record: Record, records: Records) -> str | tuple[Location, datetime]:
        """Why the record has no time of a known camera (a bad row's reason), or its camera and local time: the
        checks both readings make, so that the rows the clocks see are the ones asked about."""
        cols, row = self.mapping.columns, record.cells
        if record.broken is not None:
            return record.broken
        if len(row) != records.width:
            return f"{len(row)} fields where the header has {records.width}"
        at = records.at
        if not row[at[cols.id]].strip():
            return f"empty {cols.id}"
        plate = row[at[cols.plate]].strip()
        if not plate:
            return f"empty {cols.plate}"
        where = row[at[cols.location]].strip()
        location = self.mapping.locations.get(where)
        if location is None:
            # the name the mapping lacks, with its digits masked: an operator needs it, and the file is gone
            return f"unknown {cols.location} {shown(where, plate, digits_masked=True)}: add it to the mapping file"
        time = row[at[cols.time]].strip()
        try:
            return location, datetime.strptime(time, self.mapping.time_format)
        except ValueError:
            return f"{cols.time} {_quote(time, plate)}: does not match {self.mapping.time_format}"

    def _row(self, record: Record, records: Records,
             clocks: WallClocks) -> tuple[str | None, dict[str, Any] | None]:
        """(why it is a bad row, None) or (None, its observation)."""
        found = self._when(record, records)
        if isinstance(found, str):
            return found, None
        location, local = found
        mapping, cols = self.mapping, self.mapping.columns
        value = {name: record.cells[i].strip() for name, i in records.at.items()}
        plate = value[cols.plate]
        try:
            utc = clocks.utc(location.camera_id, local, record.line)
        except (NonexistentTime, OutOfRange) as exc:
            if isinstance(exc, NonexistentTime):
                self.nonexistent_times += 1
            return f"{cols.time} {_quote(value[cols.time], plate)}: {exc}", None
        except Undecided as exc:
            self.undecided_times += 1
            return _undecided(exc, cols, value[cols.location]), None
        late = self.accepted.problem(utc) if self.accepted is not None else None
        if late is not None:
            return f"{cols.time} {_quote(value[cols.time], plate)}: {late}", None
        land = value[cols.country].upper()
        country = mapping.countries.get(land, land)
        if not is_country(country):
            return f"unknown {cols.country} {_quote(value[cols.country], plate)}", None
        klasse = value[cols.vehicle_class].upper()
        if mapping.classes and klasse not in mapping.classes:
            return f"unknown {cols.vehicle_class} {_quote(value[cols.vehicle_class], plate)}", None
        item: dict[str, Any] = {
            "observation_id": _observation_id(mapping, value[cols.id]), "camera_id": location.camera_id,
            "event_time": iso_ms(utc), "plate_country": country, "plate_text": plate,
            "extensions": {"klasse": klasse, "source_file": self.file, "source_line": record.line},
        }
        if location.detection_direction:
            item["detection_direction"] = location.detection_direction
        return None, item


def _digest(file: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := file.read(1 << 16):  # hashlib.file_digest would take a buffer four times as large
        digest.update(chunk)
    return digest.hexdigest()


def _undecided(exc: Undecided, cols: Columns, where: str) -> str:
    if exc.out_of_order is not None:
        return (f"{cols.time} in the repeated autumn hour, but the rows of {cols.location} {where!r} are not in time "
                f"order ({exc.out_of_order}): summer or winter time cannot be decided")
    return (f"{cols.time} in the repeated autumn hour, but the rows of {cols.location} {where!r} do not show which "
            f"of its two passes this is, and {exc.file}: summer or winter time cannot be decided")


@dataclass
class CsvExport:
    """An export read whole into lists, for small files and tests; the drop streams (ExportReader)."""

    file: str
    sha256: str
    rows: int = 0
    observations: list[dict[str, Any]] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    problem: str | None = None
    undecided_times: int = 0
    nonexistent_times: int = 0

    def report(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "rows": self.rows, "good": len(self.observations),
                "bad": len(self.bad), "problem": self.problem, "undecided_times": self.undecided_times,
                "nonexistent_times": self.nonexistent_times,
                "bad_rows": [{"line": b.line, "reason": b.reason} for b in self.bad]}


def read_export(path: Path, mapping: CsvMapping, accepted: Accepted | None = None) -> CsvExport:
    """All of an ExportReader's outcomes in lists (accepted: the event times a delivery now may carry; None: not
    checked). Holds the whole file's rows: not for a drop folder's exports."""
    reader = ExportReader(path, mapping, accepted)
    export = CsvExport(file=path.name, sha256="")
    try:
        for outcome in reader:
            if isinstance(outcome, BadRow):
                export.bad.append(outcome)
            else:
                export.observations.append(outcome)
    finally:
        reader.bad.close()
    export.sha256, export.rows, export.problem = reader.sha256, reader.rows, reader.problem
    export.undecided_times, export.nonexistent_times = reader.undecided_times, reader.nonexistent_times
    return export


def _quote(text: str, plate: str) -> str:
    """A cell for a bad row's reason (csv_records.shown): a quote or separator inside a cell can shift the real
    plate into another column while the plate column holds something else. The reason's line number finds
    the cell."""
    return shown(text, plate)
