"""Supplier CSV exports (`Id;Tijd(CET);Hash;Land;Klasse;Locatie[;register columns...]`) to observations.

A per-supplier mapping file (conf/feeds/<supplier>.toml) names the columns, the time format and zone,
the country codes, the known Klasse codes and which camera (and detection direction) each Locatie is.
Every row becomes an observation or a bad row with its file, line and reason; a bad row's report
never quotes the plate (`Hash`) column.

Tijd(CET) is the Dutch wall clock (CET in winter, CEST in summer) unless the mapping says otherwise.
In the spring gap (02:00-03:00 does not exist) a time is a bad row. In the autumn overlap
(02:00-03:00 happens twice) the order of each camera's rows decides (jobs/feeds/wall_clock.py); when a
camera's rows are not in time order, each of its rows in the repeated hour is a bad row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, StringConstraints, field_validator

from anpr.contract import COUNTRY_RULE, is_country
from anpr.feeds.messages import derived_observation_id, iso_ms
from jobs.feeds.wall_clock import NonexistentTime, WallClock


class Location(BaseModel):
    camera_id: Annotated[str, StringConstraints(to_lower=True)]  # a uuid: compared in lower case
    detection_direction: str | None = Field(default=None, pattern="^(obverse|reverse)$")


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


def load_mapping(path: Path) -> CsvMapping:
    try:
        return CsvMapping.model_validate(tomllib.loads(path.read_text()))
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


def read_export(path: Path, mapping: CsvMapping, accepted: Accepted | None = None) -> CsvExport:
    """The rows of one export, each an observation or a bad row; accepted: the event times a delivery now
    may carry (None: not checked)."""
    data = path.read_bytes()
    export = CsvExport(file=path.name, sha256=hashlib.sha256(data).hexdigest())
    try:
        text = data.decode(mapping.encoding)
    except UnicodeDecodeError as exc:
        export.problem = f"not {mapping.encoding} text (byte {exc.start})"
        return export
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter)
    header = next(reader, None)
    cols = mapping.columns
    wanted = [cols.id, cols.time, cols.plate, cols.country, cols.vehicle_class, cols.location]
    if header is None or any(c not in header for c in wanted):
        missing = [c for c in wanted if header is None or c not in header]
        export.problem = f"missing columns {', '.join(missing)} in the header"
        return export
    at = {name: header.index(name) for name in wanted}
    clocks: dict[str, WallClock] = {}  # camera_id -> the clock of its rows
    first_line_of: dict[str, int] = {}
    rows = iter(reader)
    while True:
        started = reader.line_num + 1
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. an unbalanced quote running on: the rows after it cannot be told apart
            export.problem = f"line {started}: {exc} (an unbalanced quote?); nothing of the file was delivered"
            export.observations, export.bad = [], []
            return export
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        export.rows += 1
        problem, item = _row(row, header, at, mapping, clocks, path.name, line, accepted)
        if problem is None and item is not None:
            seen = first_line_of.setdefault(item["observation_id"], line)
            if seen != line:
                problem = f"Id repeats the row on line {seen}"
        if problem is not None:
            export.bad.append(BadRow(path.name, line, problem))
        elif item is not None:
            export.observations.append(item)
    _drop_undecidable(export, clocks, mapping)
    return export


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
    column while the plate column holds something else. The reason's line number finds the cell."""
    letters, cell = (re.sub(r"[^0-9A-Z]", "", value.upper()) for value in (plate, text))
    if (len(letters) >= 4 and letters in cell) or _PLATE_SHAPED.match(cell):
        return "(may hold a plate; not shown)"
    return repr(text)


def _row(row: list[str], header: list[str], at: dict[str, int], mapping: CsvMapping, clocks: dict[str, WallClock],
         file: str, line: int, accepted: Accepted | None) -> tuple[str | None, dict[str, Any] | None]:
    cols = mapping.columns
    if len(row) != len(header):
        return f"{len(row)} fields where the header has {len(header)}", None
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
    except NonexistentTime as exc:
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
