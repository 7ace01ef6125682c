"""A vendor's query of table rows: filters on every dimension, sorting, paging, the cursor, the format.

A cursor names the release, the query it belongs to and an offset into one total order (the
requested sort, then the cell's key), and releases never change: paging therefore neither skips nor
repeats a row, even when a newer release is published halfway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import QueryParams

from anpr.catalogue import TABLES, TableSpec
from api.common.errors import ApiError
from api.releases import ReleaseStore
from api.vendor.http import preferred_media, refuse_empty, whole_number
from api.vendor.tables import column_type, filterable

RESERVED = frozenset({"release", "month", "limit", "cursor", "sort", "format", "names"})
# Field name conventions of the answers: the working group's (default) or the data dictionary's English ones.
NAMES = ("nl", "en")
DEFAULT_PAGE, MAX_PAGE = 100, 10_000
# [0-9], not \d, which takes any script's digits; anchored, as JSON Schema patterns (the OpenAPI document,
# FastAPI's checks) are not. Python code tests it with `is_month`.
MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
Filters = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class RowsQuery:
    spec: TableSpec
    release: dict[str, Any]
    scope: tuple[str, ...]  # the vendor's municipalities
    filters: Filters
    sort: tuple[str, ...]
    offset: int = 0
    limit: int = DEFAULT_PAGE
    fmt: str = "json"
    expires_at: str = ""  # when the vendor must destroy the rows (its contract's export_days after release)
    round_to: int = 1  # counts rounded to a multiple of this (the open layer), 1: exact
    names: str = "nl"  # the answer's field names (NAMES); filters and sort always use the Dutch ones

    @property
    def release_id(self) -> str:
        return str(self.release["release_id"])

    @property
    def selection_key(self) -> tuple[object, ...]:
        return (self.release_id, self.spec.name, self.scope, self.filters, self.sort, self.round_to)

    @property
    def page_key(self) -> tuple[object, ...]:
        return (*self.selection_key, self.offset, self.limit, self.fmt, self.expires_at, self.names)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(repr((self.spec.name, self.filters, self.sort)).encode()).hexdigest()[:16]


def is_month(text: str) -> bool:
    """Whether `text` is a whole YYYY-MM. fullmatch: re.match's `$` also matches before a final newline."""
    return re.fullmatch(MONTH, text) is not None


def check_month(month: str | None) -> None:
    """422 for a `month` parameter given but not a whole YYYY-MM (an empty one included: never the latest)."""
    if month is not None and not is_month(month):
        raise ApiError(422, f"invalid request: month {month!r} is not YYYY-MM", "e.g. month=2026-10")


def refuse(params: Iterable[str], refused: Iterable[str], operation: str, hint: str) -> None:
    """400 naming the parameters of `refused` that `params` holds: ones the operation does not read,
    which it would otherwise ignore (or take for filters) without saying so."""
    given = sorted(set(refused).intersection(params))
    if given:
        raise ApiError(400, f"{operation} takes no {', '.join(given)}", hint)


def given_once(params: QueryParams, names: Iterable[str], status: int = 400) -> None:
    """`status` naming the first of `names` that `params` holds more than once: a framework would take one
    of the values (FastAPI the last) without saying so."""
    for name in names:
        count = len(params.getlist(name))
        if count > 1:
            raise ApiError(status, f"invalid request: {name} given {count} times", "give it once")


def find_spec(name: str) -> TableSpec:
    spec = TABLES.get(name)
    if spec is None:
        raise ApiError(404, f"unknown table {name!r}", "list the tables at /v1/tables")
    return spec


def find_release(store: ReleaseStore, release_id: str | None, month: str | None,
                 spec: TableSpec | None = None) -> dict[str, Any]:
    refuse_empty("release", release_id)
    found = store.find(release_id, month)
    if found is None:
        what = f"release {release_id!r}" if release_id else f"release for month {month}" if month else "release"
        raise ApiError(404, f"no {what}", "list the releases at /v1/releases")
    if month and found["month"] != month:  # a release id (or a cursor's) names its month: another is a contradiction
        raise ApiError(400, f"release {found['release_id']} is of month {found['month']}, not {month}",
                       "drop month=: a release or cursor already names its month")
    if spec is not None and spec.name not in found["tables"]:
        raise ApiError(404, f"release {found['release_id']} has no table {spec.name}",
                       f"it holds {', '.join(found['tables'])}")
    return found


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _canonical(spec: TableSpec, column: str, value: str) -> str:
    kind = column_type(spec, column)
    try:
        if kind == "int":
            number = whole_number(value)
            if not -(2**31) <= number < 2**31:  # Arrow int32 in every release (api/vendor/table_docs.py)
                raise ApiError(400, f"{column} is a 32-bit integer, {-(2**31)} to {2**31 - 1}",
                               f"filter as {column}=<{kind}>")
            return str(number)
        if kind == "double":
            if _DECIMAL.fullmatch(value) is None:  # float() also takes other scripts' digits and 1_0
                raise ValueError(value)
            return repr(float(value))
    except ValueError:
        raise ApiError(400, f"{column} is a number, not {value[:40]!r}", f"filter as {column}=<{kind}>") from None
    return value


def parse_filters(spec: TableSpec, params: list[tuple[str, str]], reserved: frozenset[str] = RESERVED) -> Filters:
    """Repeated parameters are alternatives (uur=7&uur=8); different fields must all hold. Parameters
    named in `reserved` are the operation's own, not filters."""
    allowed = filterable(spec)
    chosen: dict[str, set[str]] = {}
    for name, value in params:
        if name in reserved:
            continue
        if name not in allowed:
            hint = "measures cannot be filtered" if name in spec.measures else f"filter on {', '.join(allowed)}"
            raise ApiError(400, f"cannot filter {spec.name} on {name!r}", hint)
        chosen.setdefault(name, set()).add(_canonical(spec, name, value))
    return tuple((name, tuple(sorted(values))) for name, values in sorted(chosen.items()))


def filter_params(filters: Filters) -> list[tuple[str, str]]:
    """parse_filters's result back as query parameters, one per value (uur=7&uur=8)."""
    return [(name, value) for name, values in filters for value in values]


def parse_sort(spec: TableSpec, text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    fields = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in fields if f.removeprefix("-") not in spec.columns]
    if unknown:
        raise ApiError(400, f"cannot sort on {unknown}", f"sort on fields of {spec.name}, '-' for descending")
    return fields


# Characters: a cursor holds its query's filters, and a URL of some 8 KB is what servers and proxies take;
# a longer or deeply nested one is not ours and must not reach the JSON parser's recursion limit (a 500).
MAX_CURSOR = 8192


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts, and the query it pages: a client may send it alone (generated clients
    pass nextCursor only) or with the first page's filters and sort (links.next does)."""
    release_id: str
    fingerprint: str  # RowsQuery.fingerprint: filters and sort sent with the cursor must give it
    offset: int
    filters: Filters = ()
    sort: tuple[str, ...] = ()

    def params(self) -> list[tuple[str, str]]:
        """The query's filters as the request's query parameters would give them."""
        return filter_params(self.filters)


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.release_id, cursor.fingerprint, cursor.offset,
                      [[name, list(values)] for name, values in cursor.filters], list(cursor.sort)],
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("not a list of strings")
    return tuple(value)


def decode_cursor(text: str) -> Cursor:
    """The cursor of `text`; 400 when it is not one this API made (cursors before stop 62 held the first
    three fields only, and still page with their filters sent again)."""
    try:
        if len(text) > MAX_CURSOR:
            raise ValueError("too long")
        fields = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(fields, list) or len(fields) not in (3, 5):
            raise ValueError("not a cursor")
        release_id, fingerprint, offset = fields[:3]
        if not isinstance(release_id, str) or not isinstance(fingerprint, str) or type(offset) is not int \
                or offset < 0:
            raise ValueError("not a cursor")
        if len(fields) == 3:
            return Cursor(release_id, fingerprint, offset)
        filters = []
        for item in fields[3]:
            if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):
                raise ValueError("not a filter")
            filters.append((item[0], _strings(item[1])))
        return Cursor(release_id, fingerprint, offset, tuple(filters), _strings(fields[4]))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "invalid cursor", "pass the nextCursor of the previous page unchanged") from None


NAMES_PARAMETER: dict[str, Any] = {
    "name": "names", "in": "query", "schema": {"type": "string", "enum": list(NAMES), "default": "nl"},
    "description": "field names of the answer: nl, the working group's camelCase (default), or en, the data "
                   "dictionary's English snake_case (see /v1/tables columns[].nameEn); values are the same, and "
                   "filters and sort take the nl names either way"}
PAGE_PARAMETERS: list[dict[str, Any]] = [
    {"name": "release", "in": "query", "schema": {"type": "string", "minLength": 1},
     "description": "a release id from /v1/releases (default: the latest release of the newest month)"},
    {"name": "month", "in": "query", "schema": {"type": "string", "pattern": MONTH},
     "description": "YYYY-MM: the latest release of that month"},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                                                "default": DEFAULT_PAGE}},
    {"name": "cursor", "in": "query", "schema": {"type": "string", "minLength": 1},
     "description": "nextCursor of the previous page"},
    {"name": "sort", "in": "query", "schema": {"type": "string"},
     "description": "fields, comma-separated; -field descends; ties keep the default order"},
    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]},
     "description": "default json, or csv when Accept asks for text/csv"},
    NAMES_PARAMETER,
]


def names_of(value: str | None, status: int = 422) -> str:
    """The names= parameter: nl (default) or en; `status` for anything else."""
    if value is None:
        return "nl"
    if value not in NAMES:
        raise ApiError(status, f"invalid request: names {value!r}", "names=nl (default) or names=en")
    return value


def page_params(request: Request) -> tuple[str | None, str | None, int, str | None, str | None, str | None, str]:
    """release, month, limit, cursor, sort, format and names, checked as FastAPI would (422) but without its
    per-request parameter machinery, which costs more than serving a cached page."""
    params = request.query_params
    wanted = ("release", "month", "limit", "cursor", "sort", "format", "names")
    given_once(params, wanted, 422)
    release, month, limit, cursor, sort, fmt, names = (params.get(n) for n in wanted)
    check_month(month)
    refuse_empty("release", release)  # before a cursor takes its place (find_release checks it too)
    refuse_empty("cursor", cursor)
    if fmt not in (None, "json", "csv"):
        raise ApiError(422, f"invalid request: format {fmt!r}", "format=json or format=csv")
    try:
        size = DEFAULT_PAGE if limit is None else whole_number(limit)
        if not 1 <= size <= MAX_PAGE:
            raise ValueError(limit)
    except ValueError:
        raise ApiError(422, f"invalid request: limit must be 1..{MAX_PAGE}", f"e.g. limit={DEFAULT_PAGE}") from None
    return release, month, size, cursor, sort, fmt, names_of(names)


def wanted_format(request: Request, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    return "csv" if preferred_media(request.headers.get("accept", "")) == "text/csv" else "json"


