"""Table rows for vendors: filters on every dimension, sorting, cursor pagination, JSON or CSV.

A cursor names the release, the query it belongs to and an offset into one total order (the
requested sort, then the cell's key), and releases never change: paging therefore neither skips nor
repeats a row, even when a newer release is published halfway.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from anpr.catalogue import TABLES, TableSpec
from api.auth import Principal
from api.errors import ApiError
from api.releases import ReleaseStore, default_order
from api.vendor_http import Body, LruCache, forbid, make_body, make_etag, respond
from api.vendor_tables import column_type, filterable

RESERVED = frozenset({"release", "month", "limit", "cursor", "sort", "format"})
DEFAULT_PAGE, MAX_PAGE = 100, 10_000
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
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

    @property
    def release_id(self) -> str:
        return str(self.release["release_id"])

    @property
    def selection_key(self) -> tuple[object, ...]:
        return (self.release_id, self.spec.name, self.scope, self.filters, self.sort)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(repr((self.spec.name, self.filters, self.sort)).encode()).hexdigest()[:16]


def find_spec(name: str) -> TableSpec:
    spec = TABLES.get(name)
    if spec is None:
        raise ApiError(404, f"unknown table {name!r}", "list the tables at /v1/tables")
    return spec


def find_release(store: ReleaseStore, release_id: str | None, month: str | None,
                 spec: TableSpec | None = None) -> dict[str, Any]:
    found = store.find(release_id, month)
    if found is None:
        what = f"release {release_id!r}" if release_id else f"release for month {month}" if month else "release"
        raise ApiError(404, f"no {what}", "list the releases at /v1/releases")
    if spec is not None and spec.name not in found["tables"]:
        raise ApiError(404, f"release {found['release_id']} has no table {spec.name}",
                       f"it holds {', '.join(found['tables'])}")
    return found


def _canonical(spec: TableSpec, column: str, value: str) -> str:
    kind = column_type(spec, column)
    try:
        if kind == "int":
            return str(int(value))
        if kind == "double":
            return repr(float(value))
    except ValueError:
        raise ApiError(400, f"{column} is a number, not {value!r}", f"filter as {column}=<{kind}>") from None
    return value


def parse_filters(spec: TableSpec, params: list[tuple[str, str]]) -> Filters:
    """Repeated parameters are alternatives (uur=7&uur=8); different fields must all hold."""
    allowed = filterable(spec)
    chosen: dict[str, set[str]] = {}
    for name, value in params:
        if name in RESERVED:
            continue
        if name not in allowed:
            hint = "measures cannot be filtered" if name in spec.measures else f"filter on {', '.join(allowed)}"
            raise ApiError(400, f"cannot filter {spec.name} on {name!r}", hint)
        chosen.setdefault(name, set()).add(_canonical(spec, name, value))
    return tuple((name, tuple(sorted(values))) for name, values in sorted(chosen.items()))


def parse_sort(spec: TableSpec, text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    fields = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in fields if f.removeprefix("-") not in spec.columns]
    if unknown:
        raise ApiError(400, f"cannot sort on {unknown}", f"sort on fields of {spec.name}, '-' for descending")
    return fields


def encode_cursor(release_id: str, fingerprint: str, offset: int) -> str:
    raw = json.dumps([release_id, fingerprint, offset], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str, int]:
    try:
        release_id, fingerprint, offset = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(release_id, str) or not isinstance(fingerprint, str) or not isinstance(offset, int) \
                or offset < 0:
            raise ValueError(cursor)
        return release_id, fingerprint, offset
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "invalid cursor", "pass the nextCursor of the previous page unchanged") from None


PAGE_PARAMETERS: list[dict[str, Any]] = [
    {"name": "release", "in": "query", "schema": {"type": "string"},
     "description": "a release id from /v1/releases (default: the latest release of the newest month)"},
    {"name": "month", "in": "query", "schema": {"type": "string", "pattern": MONTH},
     "description": "YYYY-MM: the latest release of that month"},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                                                "default": DEFAULT_PAGE}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "nextCursor of the previous page"},
    {"name": "sort", "in": "query", "schema": {"type": "string"},
     "description": "fields, comma-separated; -field descends; ties keep the default order"},
    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]},
     "description": "default json, or csv when Accept asks for text/csv"},
]


def page_params(request: Request) -> tuple[str | None, str | None, int, str | None, str | None, str | None]:
    """release, month, limit, cursor, sort and format, checked as FastAPI would (422) but without its
    per-request parameter machinery, which costs more than serving a cached page."""
    params = request.query_params

    def one(name: str) -> str | None:
        values = params.getlist(name)
        if len(values) > 1:
            raise ApiError(422, f"invalid request: {name} given {len(values)} times", "give it once")
        return values[0] if values else None

    release, month, limit, cursor, sort, fmt = (one(n) for n in ("release", "month", "limit", "cursor", "sort",
                                                                  "format"))
    if month is not None and not re.match(MONTH, month):
        raise ApiError(422, f"invalid request: month {month!r} is not YYYY-MM", "e.g. month=2026-10")
    if fmt not in (None, "json", "csv"):
        raise ApiError(422, f"invalid request: format {fmt!r}", "format=json or format=csv")
    try:
        size = DEFAULT_PAGE if limit is None else int(limit)
        if not 1 <= size <= MAX_PAGE:
            raise ValueError(limit)
    except ValueError:
        raise ApiError(422, f"invalid request: limit must be 1..{MAX_PAGE}", f"e.g. limit={DEFAULT_PAGE}") from None
    return release, month, size, cursor, sort, fmt


def wanted_format(request: Request, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    accept = request.headers.get("accept", "")
    return "csv" if "text/csv" in accept and "application/json" not in accept else "json"


class RowsService:
    def __init__(self, store: ReleaseStore, zone_municipality: dict[str, str]) -> None:
        self.store = store
        self.zone_municipality = zone_municipality
        self.pages: LruCache[Body] = LruCache(lambda b: b.size)
        self._selected: LruCache[tuple[pa.Table, str]] = LruCache(lambda s: s[0].nbytes + 256, 256 * 1024 * 1024)

    def query(self, request: Request, who: Principal, table: str, release: str | None, month: str | None,
              limit: int, cursor: str | None, sort: str | None, fmt: str | None) -> RowsQuery:
        spec = find_spec(table)
        offset = 0
        if cursor:
            pinned, fingerprint, offset = decode_cursor(cursor)
            if release and release != pinned:
                raise ApiError(400, "the cursor belongs to another release", "drop release= or the cursor")
            release = pinned
        found = find_release(self.store, release, month, spec)
        q = RowsQuery(spec, found, tuple(sorted(who.municipalities)),
                      parse_filters(spec, list(request.query_params.multi_items())), parse_sort(spec, sort),
                      offset, limit, wanted_format(request, fmt))
        if cursor and fingerprint != q.fingerprint:
            raise ApiError(400, "the cursor belongs to another query", "keep the filters and sort of the first page")
        return q

    def select(self, q: RowsQuery) -> tuple[pa.Table, str]:
        """The query's rows in order, and the municipalities they cover; 403 outside the contract."""
        hit = self._selected.get(q.selection_key)
        if hit is not None:
            return hit
        table = self.store.rows(q.release_id, q.spec)
        scope = frozenset(q.scope)
        chosen = dict(q.filters)
        asked: set[str] = set(chosen.get("gemeenteCode", ()))
        for zone in chosen.get("zoneId", ()):
            if zone in self.zone_municipality:
                asked.add(self.zone_municipality[zone])
        if "zoneId" in chosen:
            zones = table.filter(pc.is_in(table["zoneId"], value_set=pa.array(chosen["zoneId"])))
            asked |= set(pc.unique(zones["gemeenteCode"]).to_pylist())
        forbid(asked, scope)
        mask = pc.is_in(table["gemeenteCode"], value_set=pa.array(q.scope, pa.string()))
        for column, values in q.filters:
            try:
                wanted = pa.array(values).cast(table[column].type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise ApiError(400, f"{values} are not values of {column}", "see /v1/tables") from None
            mask = pc.and_(mask, pc.is_in(table[column], value_set=wanted))
        selected = table.filter(mask)
        if q.sort:
            keys = [(f.removeprefix("-"), "descending" if f.startswith("-") else "ascending") for f in q.sort]
            named = {k for k, _ in keys}
            keys += [(c, "ascending") for c in default_order(q.spec) if c not in named and c in table.column_names]
            selected = selected.sort_by(keys)
        covered = ",".join(sorted(asked & scope)) if asked else ",".join(q.scope)
        return self._selected.put(q.selection_key, (selected, covered))

    def build(self, q: RowsQuery, etag: str) -> Body:
        selected, covered = self.select(q)
        page = selected.slice(q.offset, q.limit)
        end = q.offset + page.num_rows
        cursor = encode_cursor(q.release_id, q.fingerprint, end) if end < selected.num_rows else None
        params: list[tuple[str, str]] = [(c, v) for c, values in q.filters for v in values]
        params += [("sort", ",".join(q.sort))] if q.sort else []
        params += [("limit", str(q.limit)), ("format", q.fmt)]
        next_link = f"/v1/tables/{q.spec.name}/rows?{urlencode([*params, ('cursor', cursor)])}" if cursor else None
        rows = _json_rows(page, q.spec)
        audit = {"table": q.spec.name, "release": q.release_id, "municipalities": covered, "rows": len(rows),
                 "format": q.fmt, "filters": json.dumps({**{c: list(v) for c, v in q.filters},
                                                         **({"sort": list(q.sort)} if q.sort else {})})}
        headers = {"X-Release-Id": q.release_id, "X-Total-Count": str(selected.num_rows)}
        if q.fmt == "csv":
            if cursor:
                headers.update({"X-Next-Cursor": cursor, "Link": f'<{next_link}>; rel="next"'})
            headers["Content-Disposition"] = f'inline; filename="{q.spec.name}-{q.release_id}-{q.offset}.csv"'
            return make_body(_csv(rows, page.column_names), "text/csv; charset=utf-8; header=present", etag,
                             headers, audit)
        payload = {"releaseId": q.release_id, "month": q.release["month"], "table": q.spec.name,
                   "total": selected.num_rows, "offset": q.offset, "limit": q.limit, "rows": rows,
                   "nextCursor": cursor, "links": {"next": next_link}}
        content = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        return make_body(content, "application/json", etag, headers, audit)

    async def respond(self, request: Request, q: RowsQuery) -> Response:
        key = (*q.selection_key, q.offset, q.limit, q.fmt)
        body = self.pages.get(key)
        if body is None:
            etag = make_etag("rows", *key)
            body = self.pages.put(key, await run_in_threadpool(self.build, q, etag))
        return respond(request, body)


def _json_rows(page: pa.Table, spec: TableSpec) -> list[dict[str, Any]]:
    rows = page.to_pylist()
    doubles = [c for c in page.column_names if column_type(spec, c) == "double"]
    for row in rows:
        for column in doubles:
            value = row[column]
            if value is not None and not math.isfinite(value):
                row[column] = None
    return rows


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([["" if row[c] is None else row[c] for c in columns] for row in rows])
    return out.getvalue().encode()
