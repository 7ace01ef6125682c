"""Supplier CSV exports (`Id;Tijd(CET);Hash;Land;Klasse;Locatie[;register columns...]`) to observations.

A per-supplier mapping file (conf/feeds/<supplier>.toml) names the columns, the time format and zone,
the country codes, the known Klasse codes and which camera (and detection direction) each Locatie is.
Every row becomes an observation or a bad row with its file, line and reason; a bad row's report
never quotes the plate (`Hash`) column.

Tijd(CET) is the Dutch wall clock (CET in winter, CEST in summer) unless the mapping says otherwise.
In the spring gap (02:00-03:00 does not exist) a time is a bad row. In the autumn overlap
(02:00-03:00 happens twice) the file's order decides: exports are written in time order, so the
first pass through the hour is summer time and, once the clock is seen to go back (or a time after
03:00 has been seen), the hour is winter time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from anpr.feeds.messages import derived_observation_id, iso_ms

_ISO2 = re.compile(r"^[A-Z]{2}$")
_BACKWARDS = timedelta(minutes=10)  # a step back this large inside the repeated hour is the clock going back


class Location(BaseModel):
    camera_id: str
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


def load_mapping(path: Path) -> CsvMapping:
    try:
        return CsvMapping.model_validate(tomllib.loads(path.read_text()))
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


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


class WallClock:
    """Local wall-clock times of one file to UTC, across daylight-saving changes (see module doc)."""

    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)
        self._repeated_hour_pass: dict[datetime, int] = {}  # start of a repeated hour -> fold in use
        self._last_in_repeat: dict[datetime, datetime] = {}
        self._latest: datetime | None = None

    def to_utc(self, naive: datetime) -> datetime:
        first = naive.replace(tzinfo=self.zone, fold=0)
        second = naive.replace(tzinfo=self.zone, fold=1)
        moment = first
        if first.utcoffset() != second.utcoffset():
            if first.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != naive:
                raise ValueError(f"local time {naive:%Y-%m-%d %H:%M:%S} does not exist (clocks jumped forward)")
            moment = second if self._second_pass(naive) else first
        utc = moment.astimezone(UTC)
        self._latest = utc if self._latest is None else max(self._latest, utc)
        return utc

    def _second_pass(self, naive: datetime) -> bool:
        """Whether a time of the repeated hour is its second (winter time) occurrence."""
        hour = naive.replace(minute=0, second=0, microsecond=0)
        if not self._repeated_hour_pass.get(hour):
            end = hour.replace(tzinfo=self.zone, fold=1).astimezone(UTC) + timedelta(hours=1)
            previous = self._last_in_repeat.get(hour)
            went_back = previous is not None and naive < previous - _BACKWARDS
            if went_back or (self._latest is not None and self._latest >= end):
                self._repeated_hour_pass[hour] = 1
        self._last_in_repeat[hour] = naive
        return bool(self._repeated_hour_pass.get(hour))


def _observation_id(mapping: CsvMapping, raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return derived_observation_id(mapping.supplier, raw)


def read_export(path: Path, mapping: CsvMapping) -> CsvExport:
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
    clock = WallClock(mapping.timezone)
    first_line_of: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        export.rows += 1
        problem, item = _row(row, header, at, mapping, clock, path.name, line)
        if problem is None and item is not None:
            seen = first_line_of.setdefault(item["observation_id"], line)
            if seen != line:
                problem = f"Id repeats the row on line {seen}"
        if problem is not None:
            export.bad.append(BadRow(path.name, line, problem))
        elif item is not None:
            export.observations.append(item)
    return export


def _row(row: list[str], header: list[str], at: dict[str, int], mapping: CsvMapping, clock: WallClock,
         file: str, line: int) -> tuple[str | None, dict[str, Any] | None]:
    cols = mapping.columns
    if len(row) != len(header):
        return f"{len(row)} fields where the header has {len(header)}", None
    value = {name: row[i].strip() for name, i in at.items()}
    if not value[cols.id]:
        return f"empty {cols.id}", None
    if not value[cols.plate]:
        return f"empty {cols.plate}", None
    try:
        utc = clock.to_utc(datetime.strptime(value[cols.time], mapping.time_format))
    except ValueError as exc:
        text = str(exc) if "does not exist" in str(exc) else f"does not match {mapping.time_format}"
        return f"{cols.time} {value[cols.time]!r}: {text}", None
    land = value[cols.country].upper()
    country = mapping.countries.get(land, land)
    if not _ISO2.match(country):
        return f"unknown {cols.country} {value[cols.country]!r}", None
    klasse = value[cols.vehicle_class].upper()
    if mapping.classes and klasse not in mapping.classes:
        return f"unknown {cols.vehicle_class} {value[cols.vehicle_class]!r}", None
    location = mapping.locations.get(value[cols.location])
    if location is None:
        return f"unknown {cols.location} {value[cols.location]!r}: add it to the mapping file", None
    item: dict[str, Any] = {
        "observation_id": _observation_id(mapping, value[cols.id]), "camera_id": location.camera_id,
        "event_time": iso_ms(utc), "plate_country": country, "plate_text": value[cols.plate],
        "extensions": {"klasse": klasse, "source_file": file, "source_line": line},
    }
    if location.detection_direction:
        item["detection_direction"] = location.detection_direction
    return None, item
