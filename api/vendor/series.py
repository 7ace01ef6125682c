"""Series over months: one measure of one table for a range of months, each month from its current release.

A month's current release is its latest (`ReleaseStore.latest_per_month`), as for `rows?month=`. The
rows of each month are the rows endpoint's selection (vendor scope, filters, 403 outside the contract)
with the other measures left out; a month without a release, or whose release lacks the table or one
of its fields, is listed as missing with the reason, never skipped. Releases never change, so an
answer is a function of its key (the release ids included) and is cached with the rows pages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from fastapi import Request, Response

from anpr.catalogue import TableSpec
from api.common.errors import ApiError
from api.releases import LegacyRelease
from api.vendor.http import DATA_EXPIRES, ROUNDED_TO, Body, json_bytes, make_body
from api.vendor.queries import (
    RESERVED,
    Filters,
    RowsQuery,
    find_spec,
    given_once,
    is_month,
    names_of,
    parse_filters,
    refuse,
    wanted_format,
)
from api.vendor.rows import RowsService, csv_bytes, dict_rows, renamed
from api.vendor.security import Principal

MAX_MONTHS = 36  # three years of monthly releases in one answer
SERIES_PARAMETERS = frozenset({"measure", "from", "to", "format", "names"})
RELEASE_IDS, MISSING_MONTHS = "X-Release-Ids", "X-Missing-Months"


def month_range(start: str | None, end: str | None) -> list[str]:
    """The months `start`..`end` inclusive ("YYYY-MM"); 400 when absent, malformed, reversed or longer
    than MAX_MONTHS."""
    first, last = _index("from", start), _index("to", end)
    if last < first:
        raise ApiError(400, f"from {start} is after to {end}", "give the earlier month as from")
    if last - first + 1 > MAX_MONTHS:
        raise ApiError(400, f"{start}..{end} spans {last - first + 1} months, more than {MAX_MONTHS}",
                       f"ask for at most {MAX_MONTHS} months at a time")
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(first, last + 1)]


def _index(name: str, month: str | None) -> int:
    """Months since year 0 of the parameter `name`; 400 when absent or not YYYY-MM."""
    if month is None:
        raise ApiError(400, f"{name} is required", "e.g. from=2026-01&to=2026-12")
    if not is_month(month):
        raise ApiError(400, f"{name} {month!r} is not a month YYYY-MM", f"e.g. {name}=2026-10")
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def series_columns(spec: TableSpec, measure: str) -> list[str]:
    """The table's columns with `measure` as the only measure; 400 for a field that is not a measure."""
    if measure not in spec.measures:
        raise ApiError(400, f"{measure!r} is not a measure of {spec.name}", f"measure={' or '.join(spec.measures)}")
    return [c for c in spec.columns if c not in spec.measures or c == measure]


@dataclass(frozen=True)
class Month:
    month: str
    release: dict[str, Any] | None  # its current release; None when it has none
    expires_at: str | None  # of that release for this vendor
    missing: str | None = None  # why the month has no rows, if so


@dataclass(frozen=True)
class SeriesQuery:
    spec: TableSpec
    measure: str
    months: tuple[Month, ...]
    scope: tuple[str, ...]
    filters: Filters
    fmt: str
    round_to: int = 1  # as RowsQuery.round_to
    names: str = "nl"  # as RowsQuery.names

    def of_month(self, release: dict[str, Any]) -> RowsQuery:
        """The rows query of one month's release: its selection, unsorted."""
        return RowsQuery(self.spec, release, self.scope, self.filters, (), round_to=self.round_to)

    @cached_property  # looked up on every request of a parsed query (RowsService.parsed)
    def key(self) -> tuple[object, ...]:
        used = tuple((m.month, m.release["release_id"] if m.release else None, m.expires_at, m.missing)
                     for m in self.months)
        return ("series", self.spec.name, self.measure, self.scope, self.filters, self.fmt, self.round_to, used,
                self.names)


def _month(m: str, release: dict[str, Any] | None, spec: TableSpec, who: Principal) -> Month:
    if release is None:
        return Month(m, None, None, "no release")
    if spec.name not in release["tables"]:
        return Month(m, None, None, f"release {release['release_id']} has no table {spec.name}")
    return Month(m, release, who.contract.expires_at(release["created_at"]))


def series_query(service: RowsService, request: Request, who: Principal, table: str) -> SeriesQuery:
    """The request's series; 404 for an unknown table or a range without any release of it, 400 for bad
    parameters (a release, month, cursor, sort or limit included: each month uses its current release).
    Parsed once per query string, Accept header and caller while the store's releases stay the same."""
    return service.parsed_request("series", table, request, who, lambda: _series_query(service, request, who, table))


def _series_query(service: RowsService, request: Request, who: Principal, table: str) -> SeriesQuery:
    spec = who.readable(find_spec(table))
    params = request.query_params
    given_once(params, SERIES_PARAMETERS, 422)
    refuse(params, RESERVED - SERIES_PARAMETERS, "a series",
           "each month uses its latest release and all its rows; use /rows for one release")
    fmt = params.get("format")
    if fmt not in (None, "json", "csv"):
        raise ApiError(400, f"format {fmt!r} is not json or csv", "format=json or format=csv")
    names = names_of(params.get("names"), 400)
    months = month_range(params.get("from"), params.get("to"))
    measure = params.get("measure")
    if measure is None:
        raise ApiError(400, "measure is required", f"measure={' or '.join(spec.measures)}")
    series_columns(spec, measure)
    filters = parse_filters(spec, list(params.multi_items()), RESERVED | SERIES_PARAMETERS)
    current = {r["month"]: r for r in service.store.latest_per_month()}
    found = tuple(_month(m, current.get(m), spec, who) for m in months)
    if all(m.release is None for m in found):
        raise ApiError(404, f"no release of {spec.name} in {months[0]}..{months[-1]}",
                       "list the releases at /v1/releases")
    return SeriesQuery(spec, measure, found, tuple(sorted(who.municipalities)), filters, wanted_format(request, fmt),
                       who.contract.round_to, names)


def _month_rows(service: RowsService, q: SeriesQuery, m: Month, columns: list[str]
                ) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """A month's entry of `months`, its rows and the municipalities they cover (none when missing)."""
    entry = {"month": m.month, "releaseId": None, "expiresAt": None, "rows": 0, "missing": m.missing}
    if m.release is None:
        return entry, [], []
    try:
        # The selection's row numbers, not its Arrow table: a series is cached whole, with the pages.
        index, picked, scope = service.picked(q.of_month(m.release))
    except LegacyRelease as exc:  # published before the field spec: missing, as a release lacking a field is
        return {**entry, "missing": exc.message}, [], []
    lacking = [c for c in columns if c not in index.names]
    if lacking:  # published before a catalogue change: better missing than a null read as suppressed
        return {**entry, "missing": f"release {m.release['release_id']} lacks {', '.join(lacking)}"}, [], []
    found = dict_rows(columns, service.values(index, picked, columns, q.round_to), q.spec, q.names, len(picked))
    entry.update(releaseId=m.release["release_id"], expiresAt=m.expires_at, rows=len(found))
    return entry, found, scope.split(",")


def build_series(service: RowsService, q: SeriesQuery) -> Body:
    """The series as JSON or CSV bytes: rows of every month in month order, the measure only."""
    columns = series_columns(q.spec, q.measure)
    rows: list[dict[str, Any]] = []
    months: list[dict[str, Any]] = []
    covered: set[str] = set()
    for m in q.months:
        entry, found, scope = _month_rows(service, q, m, columns)
        months.append(entry)
        rows += found
        covered.update(scope)
    served = [m for m in months if m["releaseId"] is not None]
    if not served:
        raise ApiError(404, f"no release of {q.spec.name} with {q.measure} in {q.months[0].month}.."
                            f"{q.months[-1].month}", "list the releases at /v1/releases")
    expires = min((m["expiresAt"] for m in served), key=datetime.fromisoformat)
    ids = ",".join(m["releaseId"] for m in served)
    headers = {RELEASE_IDS: ",".join(f"{m['month']}={m['releaseId']}" for m in served),
               "X-Total-Count": str(len(rows)), DATA_EXPIRES: expires, ROUNDED_TO: str(q.round_to)}
    absent = [m["month"] for m in months if m["releaseId"] is None]
    if absent:
        headers[MISSING_MONTHS] = ",".join(absent)
    audit = {"table": q.spec.name, "release": ids, "municipalities": ",".join(sorted(covered)), "rows": len(rows),
             "format": q.fmt, "filters": json.dumps({**{c: list(v) for c, v in q.filters}, "measure": [q.measure],
                                                     "from": [q.months[0].month], "to": [q.months[-1].month]})}
    if q.fmt == "csv":
        headers["Content-Disposition"] = (f'inline; filename="{q.spec.name}-{q.measure}-{q.months[0].month}-'
                                          f'{q.months[-1].month}.csv"')
        return make_body(csv_bytes(rows, renamed(columns, q.spec, q.names)), "text/csv; charset=utf-8; header=present",
                         headers, audit)
    payload = {"table": q.spec.name, "measure": q.measure, "from": q.months[0].month, "to": q.months[-1].month,
               "expiresAt": expires, "roundedTo": q.round_to, "months": months, "total": len(rows), "rows": rows}
    return make_body(json_bytes(payload), "application/json", headers, audit)


async def serve_series(service: RowsService, request: Request, who: Principal, table: str) -> Response:
    q = series_query(service, request, who, table)

    def cheap() -> bool:  # every month's selection small enough to build on the event loop (RowsService.cheap)
        return all(service.cheap(q.of_month(m.release), whole=True) for m in q.months if m.release is not None)

    return await service.respond_cached(request, q.key, lambda: build_series(service, q), cheap)
