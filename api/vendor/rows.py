"""Table rows for vendors: a query's rows selected, paged and serialized (JSON or CSV), with caches.

Releases never change, so a selection (release, table, vendor scope, filters, sort) and a page of it
are functions of their keys: both are kept in LRU caches bounded by their size in bytes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cachetools import LRUCache, cachedmethod
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from anpr.catalogue import COUNTS, TableSpec
from api.common.errors import ApiError
from api.releases import ReleaseStore, default_order
from api.vendor.http import DATA_EXPIRES, ROUNDED_TO, Body, forbid, json_bytes, make_body, respond
from api.vendor.index import TableIndex
from api.vendor.queries import (
    RESERVED,
    Cursor,
    RowsQuery,
    decode_cursor,
    encode_cursor,
    filter_params,
    find_release,
    find_spec,
    parse_filters,
    parse_sort,
    wanted_format,
)
from api.vendor.security import Principal
from api.vendor.tables import column_type, filterable

PAGES_MAX_BYTES = 128 * 1024 * 1024  # serialized pages (JSON or CSV, plus their gzip bytes)
SELECTIONS_MAX_BYTES = 256 * 1024 * 1024  # selected and sorted Arrow tables
DERIVED_MAX_ENTRIES = 256  # objects derived from selections (RowsService.derived)
PARSED_MAX_ENTRIES = 2048  # queries parsed from a request's inputs (RowsService.parsed); each a few KB at most
# Answers of at most this many rows are built on the event loop (RowsService.cheap): ~1 ms of work at most.
INLINE_ROWS = 200
T = TypeVar("T")


class RowsService:
    """Rows of the store's releases for vendors; `zone_municipality` maps, per field naming a zone, its
    values to GM codes (ZoneRegistry.zone_municipality: a zone filter is checked against the vendor's
    contract through it)."""

    def __init__(self, store: ReleaseStore, zone_municipality: dict[str, dict[str, str]]) -> None:
        self.store = store
        self.zone_municipality = zone_municipality
        # cachetools caches are not thread-safe: pages are looked up on the event loop and built in
        # worker threads, so one lock guards both caches (held for lookups and stores only).
        self._lock = threading.Lock()
        self.pages: LRUCache[tuple[object, ...], Body] = LRUCache(PAGES_MAX_BYTES, getsizeof=lambda b: b.size)
        # Sized by the selected rows times the table's bytes per row: Table.nbytes walks every buffer
        # of a taken table, which cost a first visit more than selecting its rows.
        self._selected: LRUCache[tuple[object, ...], tuple[pa.Table, str, int]] = LRUCache(
            SELECTIONS_MAX_BYTES, getsizeof=lambda s: s[2] + 256)
        # Python objects derived from a selection (e.g. the OGC camera features with their shapes).
        self._derived: LRUCache[tuple[object, ...], Any] = LRUCache(DERIVED_MAX_ENTRIES)
        # One per release table the store keeps in memory (its max_tables), built column by column as
        # queries filter on them or a series reads them: a few bytes per row and column.
        self._indexes: LRUCache[tuple[str, str], TableIndex] = LRUCache(store.max_tables)
        # (the store's list of releases they were parsed against, the query) by the request's inputs.
        self._parsed: LRUCache[tuple[object, ...], tuple[object, Any]] = LRUCache(PARSED_MAX_ENTRIES)

    def query(self, request: Request, who: Principal, table: str, release: str | None, month: str | None,
              limit: int, cursor: str | None, sort: str | None, fmt: str | None, names: str = "nl") -> RowsQuery:
        spec = who.readable(find_spec(table))
        offset, params = 0, list(request.query_params.multi_items())
        paged = decode_cursor(cursor) if cursor else None
        if paged is not None:
            if release and release != paged.release_id:
                raise ApiError(400, "the cursor belongs to another release", "drop release= or the cursor")
            release, offset = paged.release_id, paged.offset
            if sort is None and all(name in RESERVED for name, _ in params):  # a cursor alone: its own query
                params += paged.params()
                sort = ",".join(paged.sort) or None
        found = find_release(self.store, release, month, spec)
        q = RowsQuery(spec, found, tuple(sorted(who.municipalities)), parse_filters(spec, params),
                      parse_sort(spec, sort), offset, limit, wanted_format(request, fmt),
                      who.contract.expires_at(found["created_at"]), who.contract.round_to, names)
        if paged is not None and paged.fingerprint != q.fingerprint:
            raise ApiError(400, "the cursor belongs to another query",
                           "send it alone, or with the filters and sort of the first page")
        return q

    def select(self, q: RowsQuery) -> tuple[pa.Table, str]:
        """The query's rows in order, and the municipalities they cover (comma-separated GM codes);
        403 outside the contract, 400 for filter values of the wrong type."""
        selected, covered, _ = self._select(q)
        return selected, covered

    def cheap(self, q: RowsQuery, whole: bool = False) -> bool:
        """Whether the query's answer (its page; with `whole`, all its selected rows) is cheap enough to
        build on the event loop: at most INLINE_ROWS rows to select and serialize from a release table in
        memory. A thread hop costs a small first visit more than its build, and a worker thread holding
        the GIL delays every answer the event loop is sending; larger answers still go to a thread."""
        with self._lock:
            cached = self._selected.get(q.selection_key)
        if cached is not None:
            return cached[0].num_rows <= INLINE_ROWS or (not whole and q.limit <= INLINE_ROWS)
        table = self.store.held(q.release_id, q.spec)
        with self._lock:
            index = self._indexes.get((q.release_id, q.spec.name))
        if table is None or index is None or index.table is not table:  # made in a worker thread first
            return False
        try:
            return index.count(
                [("gemeenteCode", q.scope), *q.filters], INLINE_ROWS) <= INLINE_ROWS
        except ApiError:  # a bad filter value: the build answers it, after the contract check as always
            return False

    def has_derived(self, key: tuple[object, ...]) -> bool:
        with self._lock:
            return key in self._derived

    def derived(self, key: tuple[object, ...], make: Callable[[], Any]) -> Any:  # noqa: ANN401 - the caller's type
        """`make()`, kept under `key` (which must name the release it derives from)."""
        with self._lock:
            found = self._derived.get(key)
        if found is None:
            found = make()
            with self._lock:
                self._derived[key] = found
        return found

    def parsed(self, inputs: tuple[object, ...], make: Callable[[], T]) -> T:
        """`make()`, remembered under `inputs` (everything it reads of the request and the caller) while the
        store's list of releases is the one it read: a new release makes it parse anew. Parsing a series'
        query (its months' releases, filters, expiry dates) cost a cached answer more than the rest of it.
        Errors are not remembered."""
        releases = self.store.releases()  # replaced, never changed, when the store reads new releases
        with self._lock:
            found = self._parsed.get(inputs)
        if found is not None and found[0] is releases:
            return cast(T, found[1])
        made = make()
        with self._lock:
            self._parsed[inputs] = (releases, made)
        return made

    def parsed_request(self, kind: str, table: str, request: Request, who: Principal,
                       make: Callable[[], T]) -> T:
        """`parsed` for a table's rows or series query (`kind`): what it reads of the request is its query
        string and Accept header, and the caller."""
        return self.parsed((kind, table, request.scope["query_string"], request.headers.get("accept"), who), make)

    def picked(self, q: RowsQuery) -> tuple[TableIndex, np.ndarray, str]:
        """The index of the query's release table, the numbers of its selected rows (ascending, before any
        sort) and the municipalities they cover (as `select`); 403 outside the contract, 400 for filter
        values of the wrong type."""
        table = self.store.rows(q.release_id, q.spec)
        index = self.index(q.release_id, q.spec, table)
        scope = frozenset(q.scope)
        chosen = dict(q.filters)
        asked: set[str] = set(chosen.get("gemeenteCode", ()))
        # A zone by either of its ids is its municipality's: outside the contract it is 403, not an empty answer.
        for field, owners in self.zone_municipality.items():
            zones = chosen.get(field, ())
            asked |= {owners[zone] for zone in zones if zone in owners}
            if zones and field in index.names:
                asked |= {str(m) for m in index.distinct("gemeenteCode", [(field, zones)])}
        forbid(asked, scope)
        rows = index.select([("gemeenteCode", q.scope), *q.filters])
        covered = ",".join(sorted(asked & scope)) if asked else ",".join(q.scope)
        return index, rows, covered

    def values(self, index: TableIndex, rows: np.ndarray, columns: list[str], round_to: int) -> list[list[Any]]:
        """The values of these columns (of `index`'s table) in `rows`, as `python_values` of the rows the
        query selects gives them (counts rounded to `round_to`, as `round_counts`). No Arrow call per
        request: a first-visit series spent most of its time in `take` and Arrow's conversions of a few rows."""
        def rounded(name: str) -> Callable[[pa.Array], pa.Array | pa.ChunkedArray]:
            return lambda values: round_counts(pa.table({name: values}), round_to)[name]

        return [index.codes(c).values(rows, round_to, rounded(c)) if c in COUNTS and round_to != 1
                else index.codes(c).values(rows) for c in columns]

    @cachedmethod(lambda self: self._selected, key=lambda self, q: q.selection_key, lock=lambda self: self._lock)
    def _select(self, q: RowsQuery) -> tuple[pa.Table, str, int]:
        index, picked, covered = self.picked(q)
        table = index.table
        # Rounded before sorting, so the order of the rows tells no more than their values.
        selected = round_counts(table.take(picked), q.round_to)
        if q.sort:
            keys = [(f.removeprefix("-"), "descending" if f.startswith("-") else "ascending") for f in q.sort]
            named = {k for k, _ in keys}
            keys += [(c, "ascending") for c in default_order(q.spec) if c not in named and c in table.column_names]
            selected = selected.sort_by(keys)
        return selected, covered, len(picked) * index.row_bytes

    def index(self, release_id: str, spec: TableSpec, table: pa.Table) -> TableIndex:
        """The index of a release table the store holds (rebuilt if the store has read the table anew);
        a new one indexes every filterable column at once, in the worker thread that read the table."""
        key = (release_id, spec.name)
        with self._lock:
            found = self._indexes.get(key)
        if found is None or found.table is not table:
            found = TableIndex(table)
            found.prepare([c for c in filterable(spec) if c in table.column_names])
            with self._lock:
                self._indexes[key] = found
        return found

    def build(self, q: RowsQuery) -> Body:
        selected, covered = self.select(q)
        page = selected.slice(q.offset, q.limit)
        end = q.offset + page.num_rows
        cursor = encode_cursor(Cursor(q.release_id, q.fingerprint, end, q.filters, q.sort)) \
            if end < selected.num_rows else None
        params = filter_params(q.filters)
        params += [("sort", ",".join(q.sort))] if q.sort else []
        params += [("limit", str(q.limit)), ("format", q.fmt)] + ([("names", q.names)] if q.names != "nl" else [])
        next_link = f"/v1/tables/{q.spec.name}/rows?{urlencode([*params, ('cursor', cursor)])}" if cursor else None
        rows = json_rows(page, q.spec, q.names)
        audit = {"table": q.spec.name, "release": q.release_id, "municipalities": covered, "rows": len(rows),
                 "format": q.fmt, "filters": json.dumps({**{c: list(v) for c, v in q.filters},
                                                         **({"sort": list(q.sort)} if q.sort else {})})}
        headers = {"X-Release-Id": q.release_id, "X-Total-Count": str(selected.num_rows),
                   DATA_EXPIRES: q.expires_at, ROUNDED_TO: str(q.round_to)}
        if q.fmt == "csv":
            if cursor:
                headers.update({"X-Next-Cursor": cursor, "Link": f'<{next_link}>; rel="next"'})
            headers["Content-Disposition"] = f'inline; filename="{q.spec.name}-{q.release_id}-{q.offset}.csv"'
            return make_body(csv_bytes(rows, renamed(page.column_names, q.spec, q.names)),
                             "text/csv; charset=utf-8; header=present", headers, audit)
        payload = {"releaseId": q.release_id, "month": q.release["month"], "expiresAt": q.expires_at,
                   "table": q.spec.name, "roundedTo": q.round_to,
                   "total": selected.num_rows, "offset": q.offset, "limit": q.limit, "rows": rows,
                   "nextCursor": cursor, "links": {"next": next_link}}
        return make_body(json_bytes(payload), "application/json", headers, audit)

    async def respond(self, request: Request, q: RowsQuery) -> Response:
        """The query's page."""
        return await self.respond_cached(request, q.page_key, lambda: self.build(q), lambda: self.cheap(q))

    async def respond_cached(self, request: Request, key: tuple[object, ...], build: Callable[[], Body],
                             cheap: Callable[[], bool] = lambda: False) -> Response:
        """The answer cached under `key` with the pages (answers over immutable releases: rows pages,
        series): from the cache on the event loop, else `build()` (on the event loop when `cheap()`,
        else in a worker thread) and kept."""
        with self._lock:
            body = self.pages.get(key)
        if body is None:
            body = build() if cheap() else await run_in_threadpool(build)
            with self._lock, contextlib.suppress(ValueError):  # larger than the whole cache: served, not kept
                self.pages[key] = body
        return respond(request, body)


def round_counts(table: pa.Table, base: int) -> pa.Table:
    """`table` with its count measures (anpr.catalogue.COUNTS) rounded to the nearest multiple of `base`,
    halves up (base 10: 14 -> 10, 15 -> 20, 4 -> 0); null (suppressed) stays null, other columns as
    they are. The one place counts are rounded, so rows, series, JSON and CSV agree."""
    if base == 1:
        return table
    for i, name in enumerate(table.column_names):
        if name in COUNTS:
            column = table[name]
            # Integer division: counts are whole and never negative, so (n + base // 2) // base rounds halves up.
            rounded = pc.multiply(pc.divide(pc.add(column, base // 2), base), base).cast(column.type)
            table = table.set_column(i, name, rounded)
    return table


def renamed(columns: list[str], spec: TableSpec, names: str) -> list[str]:
    """The columns' names in the convention `names` (queries.NAMES)."""
    mapping = spec.names(names)
    return [mapping.get(c, c) for c in columns]


def json_rows(page: pa.Table, spec: TableSpec, names: str = "nl") -> list[dict[str, Any]]:
    """The page's rows as dicts with field names of the convention `names`; non-finite doubles as null."""
    return dict_rows(page.column_names, [python_values(c) for c in page.columns], spec, names, page.num_rows)


def dict_rows(fields: list[str], columns: list[list[Any]], spec: TableSpec, names: str, count: int
              ) -> list[dict[str, Any]]:
    """`count` rows as dicts of the `fields` (Dutch names, one list of `count` values each in `columns`)
    named in the convention `names`; non-finite doubles as null."""
    doubles = [c for c in fields if column_type(spec, c) == "double"]
    if names != "nl":
        doubles, fields = renamed(doubles, spec, names), renamed(fields, spec, names)
    rows = [dict(zip(fields, values, strict=True)) for values in zip(*columns, strict=True)] if columns else \
        [{} for _ in range(count)]
    for row in rows:
        for column in doubles:
            value = row[column]
            if value is not None and not math.isfinite(value):
                row[column] = None
    return rows


def python_values(column: pa.ChunkedArray) -> list[Any]:
    """The column's values as `column.to_pylist()` gives them. Through NumPy where that gives the same
    objects (integers, doubles and strings without nulls): Arrow's own conversion costs ~10 us a column
    even for a few rows, most of a small first visit's serialization."""
    array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    kind = array.type
    if array.null_count == 0 and (pa.types.is_integer(kind) or pa.types.is_float32(kind) or pa.types.is_float64(kind)
                                  or pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return list(array.to_numpy(zero_copy_only=False).tolist())
    return list(array.to_pylist())


def csv_bytes(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([["" if row[c] is None else row[c] for c in columns] for row in rows])
    return out.getvalue().encode()
