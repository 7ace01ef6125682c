"""Data-subject requests (GDPR articles 15 and 17): which passages of one vehicle the lake holds, which
releases they went into, and, on request, their erasure.

Seed 001 (section 4) and issue 13: a request names a plate, its country and a date range. The plate
is turned into the vehicle's pseudonyms in memory, exactly as the stream and the register loads make
them (anpr/pseudonym.py: vehicle_key over the normalized plate; one period_token per local month), and
is then dropped: it is never written, logged, put in an exception, in the report or in the operator
audit row (cli/audit.py masks `--plate`). The report does not hold the pseudonyms either, so that an
erased vehicle's tokens are nowhere on disk once the table files are vacuumed.

Erasure deletes the vehicle's passages in the range and its register rows (vehicles, owners,
exemptions: every validity interval) with `Lake.delete_matching`, a MERGE that keeps the tokens out of
the Delta history, then VACUUMs those tables with the retention's time-travel window
(`[retention] time_travel_hours`). Published releases are not recomputed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa

from anpr.contract import COUNTRY_PATTERN, NL_PLATE_PATTERN, OTHER_PLATE_PATTERN
from anpr.delta_reader import TableReader
from anpr.lake import Filters, Lake
from anpr.months import month_start, next_month
from anpr.pseudonym import (
    SEPARATOR,
    is_ambiguous_plate,
    keys_ever,
    normalize_country,
    normalize_plate,
    period_token,
)
from anpr.register_tables import KEYED_BY_VEHICLE
from anpr.stream_tables import PASSAGES
from jobs.stats.release import RELEASES

PASSAGE_COLUMNS = ["event_date", "zone_id", "camera_id", "jaar", "maand", "ingested_at"]


class RequestError(ValueError):
    """A request that cannot be served as given. Messages never hold the plate."""


@dataclass(frozen=True)
class Subject:
    """One vehicle in one date range, by its pseudonyms. repr shows neither key nor tokens."""

    country: str
    start: date  # local (Europe/Amsterdam) dates, both inclusive, as passages' event_date
    end: date
    # Per pepper held (anpr/keyring.py; passages made before a key rotation carry the old pepper's tokens, and
    # the register holds the keys of the pepper in use), each key the stream ever derived (pseudonym.keys_ever).
    vehicle_keys: tuple[str, ...] = field(repr=False)
    tokens: dict[str, tuple[str, ...]] = field(repr=False)  # "YYYY-MM" -> period_token per key

    def all_tokens(self) -> list[str]:
        return sorted(t for month in self.tokens.values() for t in month)


def months(start: date, end: date) -> list[str]:
    """The calendar months ("YYYY-MM") from start's to end's, both included."""
    out, month = [], month_start(start)
    while month <= end:
        out.append(f"{month:%Y-%m}")
        month = next_month(month)
    return out


def subject(peppers: Sequence[bytes], plate: str, country: str, start: date, end: date) -> Subject:
    """The vehicle's key and its month tokens over [start, end], under each of `peppers` (in that order).

    Raises RequestError for an empty plate, a country that is not ISO 3166-1 alpha-2, a plate without
    the contract's format for its country (anpr/contract.py), a German plate without the separator
    after its district code (two vehicles could be meant, docs/privacy.md), or start after end.
    """
    code = normalize_country(country)
    # the shape, not is_country: a request must reach passages stored under any code the stream once took
    # (any two capital letters, before it checked them against ISO 3166-1)
    if not re.fullmatch(COUNTRY_PATTERN, code):
        raise RequestError(f"--country {country!r} is not an ISO 3166-1 alpha-2 code such as NL or DE")
    if start > end:
        raise RequestError(f"--from {start} is after --to {end}")
    text = normalize_plate(plate, code)
    if not text:
        raise RequestError("--plate is empty: it has no letters or digits")
    pattern = NL_PLATE_PATTERN if code == "NL" else OTHER_PLATE_PATTERN
    if not re.fullmatch(pattern, text.replace(SEPARATOR, "")):
        raise RequestError(f"--plate does not have the format of a {code} plate "
                           f"(letters and digits matching {pattern}, separators ignored)")
    if is_ambiguous_plate(text, code):
        raise RequestError(f"--plate of a {code} vehicle needs the separator after its district code "
                           "(e.g. B-NO 1234): without it, more than one vehicle may be meant")
    keys = [(p, k) for p in peppers for k in keys_ever(p, plate, code)]
    return Subject(code, start, end, tuple(k for _, k in keys),
                   {m: tuple(period_token(p, m, k) for p, k in keys) for m in months(start, end)})


def passage_filters(s: Subject) -> Filters:
    """The subject's passages: event_date in the range, period_token one of its month tokens."""
    return [("event_date", ">=", s.start), ("event_date", "<=", s.end),
            ("period_token", "in", s.all_tokens())]


def passage_counts(passages: pa.Table) -> list[dict[str, Any]]:
    """Passages per (day, zone_id, camera_id), sorted: [{"day": "2026-10-02", "zone_id": ..., "camera_id":
    ..., "passages": n}]. Expects event_date, zone_id and camera_id columns."""
    grouped = passages.group_by(["event_date", "zone_id", "camera_id"]).aggregate([([], "count_all")])
    rows = [{"day": r["event_date"].isoformat(), "zone_id": r["zone_id"], "camera_id": r["camera_id"],
             "passages": r["count_all"]} for r in grouped.to_pylist()]
    return sorted(rows, key=lambda r: (r["day"], r["zone_id"], r["camera_id"]))


def first_stored(passages: pa.Table) -> dict[str, datetime | None]:
    """Per local month ("YYYY-MM", from jaar and maand) the earliest ingested_at of its passages; None
    when a passage of that month has no ingest time (it may be older than any release)."""
    out: dict[str, datetime | None] = {}
    for r in passages.select(["jaar", "maand", "ingested_at"]).to_pylist():
        month, at = f"{r['jaar']:04d}-{r['maand']:02d}", r["ingested_at"]
        if month not in out:
            out[month] = at
        elif out[month] is not None:
            out[month] = None if at is None else min(out[month], at)
    return out


def contributed_releases(releases: pa.Table, stored: Mapping[str, datetime | None]) -> list[dict[str, Any]]:
    """The releases of the months in `stored` built after the month's first passage was stored (any
    release of the month when that time is unknown), oldest first: release_id, month, created_at."""
    out = []
    for r in releases.select(["release_id", "month", "created_at"]).to_pylist():
        if r["month"] in stored and (stored[r["month"]] is None or r["created_at"] >= stored[r["month"]]):
            out.append({"release_id": r["release_id"], "month": r["month"], "created_at": r["created_at"].isoformat()})
    return sorted(out, key=lambda r: (r["created_at"], r["release_id"]))


def erasure_notes(erased_at: datetime, time_travel_hours: int, kafka_topic: str, kafka_hours: int) -> list[str]:
    """What an erasure leaves, for the report (the rules: docs/privacy.md, data-subject requests)."""
    until = erased_at + timedelta(hours=time_travel_hours)
    return [
        "already-published protected tables are not recomputed: the releases listed above keep counts that "
        "include these passages, under their disclosure control",
        f"the erased rows stay readable through Delta time travel until {until:%Y-%m-%d %H:%M}Z; the first VACUUM "
        f"after that removes their files (`anpr retention run` vacuums passages and the register tables; this "
        f"command vacuumed files older than {time_travel_hours} h)",
        f"raw observations stay in the Kafka topic {kafka_topic} until its retention drops them ({kafka_hours} h "
        f"past an hourly segment: within {kafka_hours + 1} h 5 min)",
        "a later register load from a source that still lists the vehicle adds its register rows again",
    ]


def report(s: Subject, passages: pa.Table, releases: pa.Table, now: datetime,
           erased: Mapping[str, int] | None = None, files_removed: Mapping[str, int] | None = None,
           notes: Sequence[str] = ()) -> dict[str, Any]:
    """The request's report as JSON-ready data, without the plate or any pseudonym."""
    counts = passage_counts(passages)
    return {
        "request": {"country": s.country, "from": s.start.isoformat(), "to": s.end.isoformat(),
                    "erase": erased is not None, "at": now.isoformat()},
        "passages": {"total": passages.num_rows, "by_day_zone_camera": counts},
        "releases": contributed_releases(releases, first_stored(passages)),
        "erased": dict(erased) if erased is not None else None,
        "files_removed": dict(files_removed or {}),
        "notes": list(notes),
    }


def render(r: Mapping[str, Any]) -> str:
    """The report for a terminal: counts per day, zone and camera, releases, what was erased, notes."""
    q = r["request"]
    lines = [f"vehicle ({q['country']}) from {q['from']} to {q['to']}: {r['passages']['total']:,} passages"]
    lines += [f"  {c['day']}  {c['zone_id']:<14} {c['camera_id']:<20} {c['passages']:>6,}"
              for c in r["passages"]["by_day_zone_camera"]]
    lines.append(f"releases they went into: {len(r['releases'])}")
    lines += [f"  {x['month']}  {x['release_id']}  created {x['created_at']}" for x in r["releases"]]
    if r["erased"] is not None:
        lines.append("erased: " + ", ".join(f"{t} {n:,} rows" for t, n in r["erased"].items()))
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)


# -- I/O -------------------------------------------------------------------------------------------


def find(lake: TableReader, s: Subject) -> tuple[pa.Table, pa.Table]:
    """The subject's passages (PASSAGE_COLUMNS) and the releases table (or empty ones)."""
    passages = (lake.read_arrow(PASSAGES, columns=PASSAGE_COLUMNS, filters=passage_filters(s))
                if lake.exists(PASSAGES) else pa.table({c: pa.array([], pa.null()) for c in PASSAGE_COLUMNS}))
    releases = (lake.read_arrow(RELEASES, columns=["release_id", "month", "created_at"]) if lake.exists(RELEASES)
                else pa.table({"release_id": pa.array([], pa.string()), "month": pa.array([], pa.string()),
                               "created_at": pa.array([], pa.timestamp("us", "UTC"))}))
    return passages, releases


def erase(lake: Lake, s: Subject, time_travel_hours: int) -> tuple[dict[str, int], dict[str, int]]:
    """Delete the subject's passages in its range and its register rows, then VACUUM those tables;
    returns (rows deleted, files removed) per table."""
    from pyspark.sql import functions as F

    in_range = F.col("t.event_date").between(F.lit(s.start), F.lit(s.end))  # partition pruning
    deleted: dict[str, int] = {}
    if lake.exists(PASSAGES):
        deleted[PASSAGES] = lake.delete_matching(PASSAGES, pa.table({"period_token": s.all_tokens()}),
                                                 in_range)
    for name in KEYED_BY_VEHICLE:  # companies are keyed by the owning company, not the vehicle, and stay
        if lake.exists(name):
            deleted[name] = lake.delete_matching(name, pa.table({"vehicle_key": list(s.vehicle_keys)}))
    removed = {name: len(lake.vacuum(name, retention_hours=time_travel_hours)) for name in deleted}
    return deleted, removed
