"""Row numbers per value of a release table's columns, so a new query selects rows without scanning the table.

Release tables never change, so each column a query filters on is dictionary-encoded once and its rows
grouped by value; a selection then starts from the rows of its narrowest filter and checks only those
against the other filters. On the benchmark's 44k-row table a first visit spent ~1.3 ms in full-table
`is_in` scans before; now it costs in proportion to the rows it selects. Answers are the same as the scan's:
rows in the table's order, a filter value matching the stored values equal to it after a cast to the
column's type (a value that cannot be cast is a 400, as before). The same codes give a few selected rows'
values as Python objects (`codes`) without Arrow calls, which cost a small first-visit series most of its time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Filter texts remembered per column (each a cast to the column's type once); beyond it they are cast per query.
MAX_TEXTS = 10_000


class _Codes:
    """One column's values as codes: one per row (0 for null) into its distinct values, which `values` gives
    as Python objects once per conversion, so a few rows' values cost one NumPy take instead of Arrow calls."""

    def __init__(self, column: pa.ChunkedArray) -> None:
        encoded = pc.dictionary_encode(column.combine_chunks())
        self.type = column.type
        self.dictionary: pa.Array = encoded.dictionary  # code c is dictionary[c - 1]
        self.codes = np.asarray(pc.fill_null(pc.add(encoded.indices.cast(pa.int32()), 1), 0), dtype=np.int32)
        self._values: dict[object, np.ndarray] = {}
        self._lock = threading.Lock()

    def values(self, rows: np.ndarray, key: object = None,
               convert: Callable[[pa.Array], pa.Array | pa.ChunkedArray] = lambda d: d) -> list[Any]:
        """The values of `rows` as `to_pylist()` gives them after `convert` (an element-wise Arrow function
        of the distinct values, remembered under `key`); None for null."""
        with self._lock:
            found = self._values.get(key)
        if found is None:
            found = np.empty(len(self.dictionary) + 1, dtype=object)
            found[1:] = convert(self.dictionary).to_pylist()  # slice assignment keeps each object as it is
            with self._lock:
                self._values[key] = found
        return list(found[self.codes[rows]].tolist())


class _Column(_Codes):
    """A filtered column: its codes, and its rows grouped by code in table order."""

    def __init__(self, column: pa.ChunkedArray) -> None:
        super().__init__(column)
        self.keys = {value: code + 1 for code, value in enumerate(self.dictionary.to_pylist())}
        order = np.argsort(self.codes, kind="stable")  # stable: each value's rows stay in table order
        bounds = np.searchsorted(self.codes[order], np.arange(len(self.keys) + 2))
        # Code c's rows are order[bounds[c]:bounds[c + 1]]: 12 bytes a row whatever the number of values.
        self._order, self._bounds = order, bounds
        self._texts: dict[str, int] = {}

    def code_of(self, text: str) -> int:
        """The code of the stored value equal to `text` cast to the column's type; 0 when none is."""
        with self._lock:
            code = self._texts.get(text)
        if code is not None:
            return code
        try:
            value = pa.array([text]).cast(self.type).to_pylist()[0]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # The filter's syntax was checked (queries._canonical): beyond the column's range, so no row holds it.
            value = None
        code = self.keys.get(value, 0) if value is not None else 0
        with self._lock:
            if len(self._texts) < MAX_TEXTS:
                self._texts[text] = code
        return code

    def rows_of(self, code: int) -> np.ndarray:
        return self._order[self._bounds[code]:self._bounds[code + 1]]

    def size(self, code: int) -> int:
        return int(self._bounds[code + 1] - self._bounds[code])

    def rows(self, codes: list[int]) -> np.ndarray:
        wanted = [self.rows_of(c) for c in codes if c]
        return np.sort(np.concatenate(wanted)) if len(wanted) > 1 else wanted[0] if wanted else np.empty(0, np.int64)


class TableIndex:
    """Lazily built per column of `table`; safe to share between threads."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.names = frozenset(table.column_names)
        self.row_bytes = table.nbytes // max(table.num_rows, 1) + 1  # to size selections by
        self._columns: dict[str, _Column] = {}
        self._unfiltered: dict[str, _Codes] = {}  # columns read by `codes` but never filtered on
        # Filter (column, texts) -> its column, the codes of its values and their rows' count: a first visit
        # resolved each filter twice (count, then select), casting and locking per text each time.
        self._filters: dict[tuple[str, tuple[str, ...]], tuple[_Column, list[int], int]] = {}
        self._distinct: dict[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], frozenset[object]] = {}
        self._counted: tuple[tuple[tuple[str, tuple[str, ...]], ...], np.ndarray] | None = None
        self._lock = threading.Lock()

    def prepare(self, names: list[str]) -> None:
        """Index these columns now rather than on their first filter."""
        for name in names:
            self._column(name)

    def _column(self, name: str) -> _Column:
        with self._lock:
            found = self._columns.get(name)
            if found is None:
                found = self._columns[name] = _Column(self.table[name])
            return found

    def codes(self, name: str) -> _Codes:
        """Column `name` dictionary-encoded (its filter index if it has one), to read rows' values from."""
        with self._lock:
            found = self._columns.get(name) or self._unfiltered.get(name)
            if found is None:
                found = self._unfiltered[name] = _Codes(self.table[name])
            return found

    def _resolve(self, name: str, texts: tuple[str, ...]) -> tuple[_Column, list[int], int]:
        """The column of a filter, the codes of its values (ascending, none for values not stored) and how
        many rows hold them."""
        key = (name, texts)
        with self._lock:
            found = self._filters.get(key)
        if found is None:
            column = self._column(name)
            codes = sorted({code for t in texts if (code := column.code_of(t))})
            found = (column, codes, sum(column.size(c) for c in codes))
            with self._lock:
                if len(self._filters) < MAX_TEXTS:
                    self._filters[key] = found
        return found

    def select(self, filters: list[tuple[str, tuple[str, ...]]]) -> np.ndarray:
        """Ascending row numbers matching every filter (column, alternative values as text, their syntax
        checked by queries.parse_filters)."""
        with self._lock:
            counted = self._counted
        if counted is not None and counted[0] == tuple(filters):  # its values were checked by that count
            return counted[1]
        wanted = sorted((self._resolve(name, texts) for name, texts in filters), key=lambda w: w[2])  # narrowest first
        if not wanted:
            return np.arange(self.table.num_rows)
        first, codes, _ = wanted[0]
        rows = first.rows(codes)
        for column, codes, _ in wanted[1:]:
            member = np.zeros(len(column.keys) + 1, dtype=bool)
            member[codes] = True
            rows = rows[member[column.codes[rows]]]
        return rows

    def count(self, filters: list[tuple[str, tuple[str, ...]]], limit: int) -> int:
        """How many rows `select(filters)` gives; any number above `limit` when the narrowest filter alone
        allows more than a hundred times `limit` rows (not worth counting exactly)."""
        narrowest = min((self._resolve(name, texts)[2] for name, texts in filters), default=self.table.num_rows)
        if narrowest > 100 * limit:
            return narrowest
        rows = self.select(filters)
        with self._lock:  # the selection that usually follows a count asks for the same rows
            self._counted = (tuple(filters), rows)
        return len(rows)

    def distinct(self, name: str, filters: list[tuple[str, tuple[str, ...]]]) -> frozenset[object]:
        """The non-null values of column `name` in the rows matching `filters` (as `select`), remembered
        (up to MAX_TEXTS filters): e.g. the municipalities of the zones a query asks for."""
        key = (name, tuple(filters))
        with self._lock:
            found = self._distinct.get(key)
        if found is None:
            column = self._column(name)
            values = list(column.keys)
            found = frozenset(values[c - 1] for c in np.unique(column.codes[self.select(filters)]).tolist() if c)
            with self._lock:
                if len(self._distinct) < MAX_TEXTS:
                    self._distinct[key] = found
        return found
