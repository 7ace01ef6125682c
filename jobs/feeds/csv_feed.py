"""Supplier CSV exports (`Id;Tijd(CET);Hash;Land;Klasse;Locatie[;register columns...]`) to observations.

A per-supplier mapping file (conf/feeds/<supplier>.toml) names the columns, the time format and zone,
the country codes, the known Klasse codes and which camera (and detection direction) each Locatie is.
Every row becomes an observation or a bad row with its file, the line it starts on and a reason; a bad
row's report never quotes the plate (`Hash`) column, nor a cell that may hold a plate. A file none of
whose rows could be read, or that is not an export at all (not text in the mapping's encoding, a
header without the mapping's columns), is unusable as a whole: `CsvExport.problem` says why in one line.

A quoted field may hold line breaks (such a row is reported and delivered under its first line). When
a quote opens and is never closed, or the record it runs on into has another field count than the
header's or takes in a line holding a row's worth of delimiters, it was a stray quote that swallowed the
rows after it: its row is a bad row on the line the quote opens on, and the lines after that one are
read as rows of their own, so nothing it swallowed goes unreported.

Tijd(CET) is the Dutch wall clock (CET in winter, CEST in summer) unless the mapping says otherwise.
In the spring gap (02:00-03:00 does not exist) a time is a bad row. In the autumn overlap
(02:00-03:00 happens twice) the order of each camera's rows decides (jobs/feeds/wall_clock.py); when a
camera's rows are not in time order, each of its rows in the repeated hour is a bad row.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator

from anpr.contract import COUNTRY_RULE, is_country
from anpr.feeds.messages import derived_observation_id, iso_ms
from jobs.feeds.wall_clock import NonexistentTime, OutOfRange, WallClock


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


@dataclass(frozen=True)
class BadRow:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class CsvExport:
    file: str
    sha256: str
    rows: int = 0
    observations: list[dict[str, Any]] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    problem: str | None = None  # the whole file is unusable (e.g. missing columns)

    def report(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "rows": self.rows, "good": len(self.observations),
                "bad": len(self.bad), "problem": self.problem,
                "bad_rows": [{"line": b.line, "reason": b.reason} for b in self.bad]}


def _observation_id(mapping: CsvMapping, raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return derived_observation_id(mapping.supplier, raw)


class _Unusable(Exception):
    """The file is not an export as the mapping describes it; the message is the export's problem."""


def read_export(path: Path, mapping: CsvMapping, accepted: Accepted | None = None) -> CsvExport:
    """The rows of one export, each an observation or a bad row under the line it starts on; accepted: the
    event times a delivery now may carry (None: not checked). rows = good + bad. `problem` is set, and
    nothing is an observation, when the file is not text in the mapping's encoding or its header lacks
    the mapping's columns (rows 0), or when no row could be read (its bad rows kept)."""
    data = path.read_bytes()
    export = CsvExport(file=path.name, sha256=hashlib.sha256(data).hexdigest())
    try:
        lines = _Lines(_decoded(data, mapping.encoding))
        reader = csv.reader(lines, delimiter=mapping.delimiter)
        at, width = _columns(_header(reader, lines), mapping)
    except _Unusable as exc:
        export.problem = str(exc)
        return export
    clocks: dict[str, WallClock] = {}  # camera_id -> the clock of its rows
    first_line_of: dict[str, int] = {}
    while (record := _record(reader, lines)) is not None:
        problem, item = _broken(record, width, mapping.delimiter), None
        if problem is not None:
            lines.at = record.first  # the lines the stray quote swallowed are read again, as rows
        elif not any(cell.strip() for cell in record.cells):
            continue
        else:
            problem, item = _row(record.cells, width, at, mapping, clocks, path.name, record.first, accepted)
        export.rows += 1
        _take(export, record.first, problem, item, first_line_of)
    _drop_undecidable(export, clocks, mapping)
    if export.bad and not export.observations:
        first = export.bad[0]
        export.problem = f"no row could be read (first: line {first.line}: {first.reason})"
    return export


def _take(export: CsvExport, line: int, problem: str | None, item: dict[str, Any] | None,
          first_line_of: dict[str, int]) -> None:
    """The row on `line` as an observation, or as a bad row: `problem`, or an Id an earlier row has."""
    if item is not None:
        seen = first_line_of.setdefault(item["observation_id"], line)
        if seen != line:
            problem = f"Id repeats the row on line {seen}"
    if problem is not None:
        export.bad.append(BadRow(export.file, line, problem))
    elif item is not None:
        export.observations.append(item)


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _decoded(data: bytes, encoding: str) -> str:
    """The text of an export; _Unusable says where it is not `encoding` text and what the supplier can do."""
    # UTF-32's little-endian mark starts as UTF-16's does.
    if data[:2] in _UTF16_BOMS and not codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        raise _Unusable(f"UTF-16 text (it starts with a UTF-16 byte-order mark, as Excel's \"Unicode Text\" "
                        f"writes), not {encoding}: save it as \"CSV UTF-8\", or set encoding = \"utf-16\" in "
                        "the mapping")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = _line_of(data[:exc.start].decode(encoding, "replace"))
        raise _Unusable(f"line {line}: not {encoding} text (byte {exc.start} of the file); save it as UTF-8 "
                        "(Excel: \"CSV UTF-8\"), or set the mapping's encoding to the file's (encoding = "
                        "\"cp1252\" for a Windows export)") from None


def _line_of(before: str) -> int:
    """The line (1-based) that the end of `before` is on, line breaks counted as csv does."""
    return before.count("\n") + before.count("\r") - before.count("\r\n") + 1


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class _Lines:
    """The lines of a text for csv.reader, which takes a record's lines one by one: `at` before and after
    a record tells its lines, and setting `at` reads from another line on. `ended`: the reader asked for
    a line past the last, which within a record only a quote never closed does."""

    def __init__(self, text: str) -> None:
        self.lines: list[str] = _LINE.findall(text)
        self.at = 0  # index of the next line to give
        self.ended = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.at >= len(self.lines):
            self.ended = True
            raise StopIteration
        self.at += 1
        return self.lines[self.at - 1]


@dataclass(frozen=True)
class _Record:
    first: int  # the line it starts on (1-based), where a quote that runs on opens
    last: int  # the line it ends on
    cells: list[str]
    error: str | None = None  # why it cannot be a row, whatever its cells
    taken: tuple[str, ...] = ()  # the lines after its first that a quoted field took in


def _record(reader: Iterator[list[str]], lines: _Lines) -> _Record | None:
    """The next record (None at the end of the text)."""
    first, lines.ended = lines.at + 1, False
    try:
        cells = next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:  # a field past csv's size limit: most likely a quote running on
        return _Record(first, lines.at, [], f"{exc} (an unbalanced quote?)")
    never_closed = "a quote opens on this line and is never closed: it runs on to the end of the file"
    return _Record(first, lines.at, cells, never_closed if lines.ended else None,
                   tuple(lines.lines[first:lines.at]))


def _broken(record: _Record, width: int, delimiter: str) -> str | None:
    """Why the record is not a row but a stray quote that took in the rows after it (None: a row, on one
    line or with a quoted field holding line breaks): the quote never closes, the record does not have the
    header's field count, or a line it took in holds a row's worth of delimiters."""
    why = record.error
    if why is None and record.taken:
        if len(record.cells) != width:
            why = (f"a quote opens on this line and runs on to line {record.last}, leaving {len(record.cells)} "
                   f"fields where the header has {width}")
        elif (row := _row_line(record, width, delimiter)) is not None:
            why = f"a quote opens on this line and runs on to line {record.last}, taking in the row on line {row}"
    if why is not None and record.last > record.first:
        why += "; the lines after it are read as rows"
    return why


def _row_line(record: _Record, width: int, delimiter: str) -> int | None:
    """The first line the record took in that holds as many delimiters as a row: a line break in a field
    leaves only the row's remaining delimiters to the next line, a swallowed row brings all of its own
    (whether or not a stray quote of its own regroups them)."""
    for n, text in enumerate(record.taken, start=record.first + 1):
        if text.count(delimiter) >= width - 1:
            return n
    return None


def _header(reader: Iterator[list[str]], lines: _Lines) -> list[str] | None:
    """Line 1's cells (None: an empty file); _Unusable when a quote in it runs on past the line."""
    record = _record(reader, lines)
    if record is None:
        return None
    if record.error is not None or record.last > record.first:
        raise _Unusable("line 1: a quote in the header is not closed on its line (an unbalanced quote?)")
    return record.cells


def _name(cell: str) -> str:
    return cell.replace("\ufeff", "").strip().casefold()


def _columns(header: list[str] | None, mapping: CsvMapping) -> tuple[dict[str, int], int]:
    """Where each of the mapping's columns is in the header, matched trimmed and in any case, and how many
    cells the header has; _Unusable names the missing columns and what line 1 holds instead."""
    cols = mapping.columns
    wanted = [cols.id, cols.time, cols.plate, cols.country, cols.vehicle_class, cols.location]
    names = [_name(cell) for cell in header or []]
    missing = [c for c in wanted if _name(c) not in names]
    if missing:
        raise _Unusable(f"missing columns {', '.join(missing)} in the header{_found(header, mapping.delimiter)}")
    return {c: names.index(_name(c)) for c in wanted}, len(names)


_SHOWN = 12  # header cells a rejection names
_DELIMITERS = ",;\t|"


def _found(header: list[str] | None, delimiter: str) -> str:
    """What line 1 holds instead: the delimiter it seems to use when it is one column, else its cells."""
    if header is None or not any(cell.strip() for cell in header):
        return " (line 1 is empty)"
    other = next((d for d in _DELIMITERS if d != delimiter and d in header[0]), None)
    if len(header) == 1 and other is not None:
        return (f" (line 1 is one column holding {other!r}: the file looks separated by {other!r} where the "
                f"mapping says {delimiter!r}; export it with {delimiter!r}, or set delimiter = {json.dumps(other)} "
                "in the mapping)")
    more = f", ... ({len(header)} in all)" if len(header) > _SHOWN else ""
    return f" (line 1 has {', '.join(_header_cell(cell) for cell in header[:_SHOWN])}{more})"


def _header_cell(cell: str) -> str:
    """A header cell cut to 40 characters, unless it may hold a plate: line 1 of an export written without
    its header is a row."""
    runs = re.findall(r"[0-9A-Z]+", re.sub(r"[\s._\-]", "", cell.upper()))
    if any(len(run) >= 4 and not run.isdigit() and not run.isalpha() for run in runs):
        return "(may hold a plate; not shown)"
    return repr(cell.strip()[:40])


def _drop_undecidable(export: CsvExport, clocks: dict[str, WallClock], mapping: CsvMapping) -> None:
    """Rows of the repeated autumn hour of a camera whose rows are out of order become bad rows."""
    names = {loc.camera_id: name for name, loc in mapping.locations.items()}
    delivered = {o["extensions"]["source_line"] for o in export.observations}
    undecided: dict[int, str] = {}
    for camera, clock in clocks.items():
        if clock.undecidable is not None:
            for line in (n for n in clock.repeated_lines if n in delivered):
                undecided[line] = (f"{mapping.columns.time} in the repeated autumn hour, but the rows of "
                                   f"{mapping.columns.location} {names[camera]!r} are not in time order "
                                   f"({clock.undecidable}): summer or winter time cannot be decided")
    if undecided:
        export.observations = [o for o in export.observations if o["extensions"]["source_line"] not in undecided]
        export.bad = sorted([*export.bad, *(BadRow(export.file, n, why) for n, why in undecided.items())],
                            key=lambda b: b.line)


# Letters and digits mixed, 4 to 8 of them once separators are gone: the shape of a European plate.
_PLATE_SHAPED = re.compile(r"^(?=.*[A-Z])(?=.*[0-9])[0-9A-Z]{4,8}$")


def _quote(text: str, plate: str) -> str:
    """A cell for a bad row's reason, unless it may hold a plate: the row's own (columns mislabelled), or
    any plate-shaped value, since a quote or separator inside a cell can shift the real plate into another
    column while the plate column holds something else, or a cell running over lines, which may hold the
    rows a stray quote swallowed. The reason's line number finds the cell."""
    if "\n" in text or "\r" in text:
        return "(runs over several lines; not shown)"
    letters, cell = (re.sub(r"[^0-9A-Z]", "", value.upper()) for value in (plate, text))
    if (len(letters) >= 4 and letters in cell) or _PLATE_SHAPED.match(cell):
        return "(may hold a plate; not shown)"
    return repr(text)


def _row(row: list[str], width: int, at: dict[str, int], mapping: CsvMapping, clocks: dict[str, WallClock],
         file: str, line: int, accepted: Accepted | None) -> tuple[str | None, dict[str, Any] | None]:
    """(why it is a bad row, None) or (None, its observation)."""
    cols = mapping.columns
    if len(row) != width:
        return f"{len(row)} fields where the header has {width}", None
    value = {name: row[i].strip() for name, i in at.items()}
    quoted = {name: _quote(text, value[cols.plate]) for name, text in value.items()}
    if not value[cols.id]:
        return f"empty {cols.id}", None
    if not value[cols.plate]:
        return f"empty {cols.plate}", None
    location = mapping.locations.get(value[cols.location])
    if location is None:
        return f"unknown {cols.location} {quoted[cols.location]}: add it to the mapping file", None
    try:
        local = datetime.strptime(value[cols.time], mapping.time_format)
    except ValueError:
        return f"{cols.time} {quoted[cols.time]}: does not match {mapping.time_format}", None
    clock = clocks.setdefault(location.camera_id, WallClock(ZoneInfo(mapping.timezone)))
    try:
        utc = clock.to_utc(local, line)
    except (NonexistentTime, OutOfRange) as exc:
        return f"{cols.time} {quoted[cols.time]}: {exc}", None
    late = accepted.problem(utc) if accepted is not None else None
    if late is not None:
        return f"{cols.time} {quoted[cols.time]}: {late}", None
    land = value[cols.country].upper()
    country = mapping.countries.get(land, land)
    if not is_country(country):
        return f"unknown {cols.country} {quoted[cols.country]}", None
    klasse = value[cols.vehicle_class].upper()
    if mapping.classes and klasse not in mapping.classes:
        return f"unknown {cols.vehicle_class} {quoted[cols.vehicle_class]}", None
    item: dict[str, Any] = {
        "observation_id": _observation_id(mapping, value[cols.id]), "camera_id": location.camera_id,
        "event_time": iso_ms(utc), "plate_country": country, "plate_text": value[cols.plate],
        "extensions": {"klasse": klasse, "source_file": file, "source_line": line},
    }
    if location.detection_direction:
        item["detection_direction"] = location.detection_direction
    return None, item
