"""Row numbers per value of a release table's columns, so a new query selects rows without scanning the table.

Release tables never change, so each column a query filters on is dictionary-encoded once and its rows
grouped by value; a selection then starts from the rows of its narrowest filter and checks only those
against the other filters. On the benchmark's 44k-row table a first visit spent ~1.3 ms in full-table
`is_in` scans before; now it costs in proportion to the rows it selects. Answers are the same as the scan's:
rows in the table's order, a filter value matching the stored values equal to it after a cast to the
column's type (a value that cannot be cast is a 400, as before).
"""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from api.common.errors import ApiError

# Filter texts remembered per column (each a cast to the column's type once); beyond it they are cast per query.
MAX_TEXTS = 10_000


class _Column:
    """One column's values: codes (one per row, 0 for null), their rows grouped by code in table order."""

    def __init__(self, column: pa.ChunkedArray) -> None:
        encoded = pc.dictionary_encode(column.combine_chunks())
        self.type = column.type
        self.codes = np.asarray(pc.fill_null(pc.add(encoded.indices.cast(pa.int32()), 1), 0), dtype=np.int32)
        self.keys = {value: code + 1 for code, value in enumerate(encoded.dictionary.to_pylist())}
        order = np.argsort(self.codes, kind="stable")  # stable: each value's rows stay in table order
        bounds = np.searchsorted(self.codes[order], np.arange(len(self.keys) + 2))
        # Code c's rows are order[bounds[c]:bounds[c + 1]]: 12 bytes a row whatever the number of values.
        self._order, self._bounds = order, bounds
        self._texts: dict[str, int] = {}
        self._lock = threading.Lock()

    def code_of(self, name: str, text: str, texts: tuple[str, ...]) -> int:
        """The code of the stored value equal to `text` (one of the filter's `texts`) cast to the column's
        type; 0 when none is."""
        with self._lock:
            code = self._texts.get(text)
        if code is not None:
            return code
        try:
            value = pa.array([text]).cast(self.type).to_pylist()[0]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise ApiError(400, f"{texts} are not values of {name}", "see /v1/tables") from None
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
        self.row_bytes = table.nbytes // max(table.num_rows, 1) + 1  # to size selections by
        self._columns: dict[str, _Column] = {}
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

    def select(self, filters: list[tuple[str, tuple[str, ...]]]) -> np.ndarray:
        """Ascending row numbers matching every filter (column, alternative values as text); 400 for a
        value that is not of its column's type."""
        with self._lock:
            counted = self._counted
        if counted is not None and counted[0] == tuple(filters):  # its values were checked by that count
            return counted[1]
        wanted = [(column, sorted({column.code_of(name, t, texts) for t in texts}))
                  for name, texts in filters for column in (self._column(name),)]
        if not wanted:
            return np.arange(self.table.num_rows)
        wanted.sort(key=lambda w: sum(w[0].size(c) for c in w[1] if c))  # narrowest first
        first, codes = wanted[0]
        rows = first.rows(codes)
        for column, codes in wanted[1:]:
            member = np.zeros(len(column.keys) + 1, dtype=bool)
            member[[c for c in codes if c]] = True
            rows = rows[member[column.codes[rows]]]
        return rows

    def count(self, filters: list[tuple[str, tuple[str, ...]]], limit: int) -> int:
        """How many rows `select(filters)` gives; any number above `limit` when the narrowest filter alone
        allows more than a hundred times `limit` rows (not worth counting exactly)."""
        narrowest = min((sum(column.size(c) for t in set(texts) if (c := column.code_of(n, t, texts)))
                         for n, texts in filters for column in (self._column(n),)), default=self.table.num_rows)
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
