"""Validity intervals: how a new register file merges into a table's history without rewriting it.

Pure functions on Arrow tables; they return the rows to upsert on (key, valid_from), so one Delta merge
applies a whole load atomically and loading the same file twice changes nothing.

- State files (vehicles, companies, regions) describe the register as of a date: a key whose attributes
  changed gets its open interval closed at that date and a new one opened; a new key starts at its
  own first date (e.g. first admission) if it was never seen, else at the as-of date; with
  close_missing, keys absent from the file (exported, deregistered) are closed.
- Dated files (owners) carry their own start and optional end per row: rows are inserted as given
  and each interval ends where the key's next one starts, unless it ended earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anpr.lake import conform, first_per_key
from anpr.register_tables import UTC_US, HistoryTable

FIRST_FROM = "first_from"  # optional incoming column: when a never-seen key's state began


@dataclass(frozen=True)
class Changes:
    rows: pa.Table  # full table schema; upsert on (key, valid_from)
    inserted: int = 0
    closed: int = 0
    updated: int = 0


class OutOfOrderLoadError(ValueError):
    """A load as of a date older than the state it would change."""


def same(a: pa.Array | pa.ChunkedArray, b: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Null-safe equality: two nulls are the same value."""
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.or_(pc.fill_null(pc.equal(a, b), False), both_null)


def _all_same(left: pa.Table, right: pa.Table, columns: Sequence[str]) -> pa.Array:
    result = pa.array(np.ones(left.num_rows, dtype=bool))
    for c in columns:
        result = pc.and_(result, same(left[c], right[c]))
    return result


def _suffixed(table: pa.Table, keep: Sequence[str], suffix: str) -> pa.Table:
    return table.rename_columns([c if c in keep else f"{c}{suffix}" for c in table.column_names])


def _constant(value: datetime, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, UTC_US), n)


def state_changes(current: pa.Table, incoming: pa.Table, spec: HistoryTable, as_of: datetime,
                  close_missing: bool = False) -> Changes:
    """Rows to upsert so that `incoming` (key, attributes[, first_from]) is the state from `as_of` on."""
    key, attrs, schema = spec.key, spec.attributes, spec.arrow_schema
    as_of_scalar = pa.scalar(as_of, UTC_US)
    incoming = first_per_key(incoming, [key])
    open_rows = current.filter(pc.is_null(current["valid_to"])).select([key, "valid_from", *attrs])
    joined = incoming.join(_suffixed(open_rows, [key], "__cur"), keys=key, join_type="left outer")
    matched = pc.is_valid(joined["valid_from__cur"])
    was = joined.select([f"{a}__cur" for a in attrs]).rename_columns(attrs)
    changed = pc.and_(matched, pc.invert(_all_same(joined.select(attrs), was, attrs)))
    if pc.any(pc.and_(changed, pc.less(as_of_scalar, joined["valid_from__cur"]))).as_py():
        raise OutOfOrderLoadError(f"a load as of {as_of.date()} would change {spec.name} rows valid from a later "
                                  "date; load register files in date order")
    in_place = pc.and_(changed, pc.equal(joined["valid_from__cur"], as_of_scalar))
    moved = pc.and_(changed, pc.invert(in_place))

    closing = joined.filter(moved).select([key, "valid_from__cur", *[f"{a}__cur" for a in attrs]])
    closing = closing.rename_columns([key, "valid_from", *attrs])
    closing = closing.append_column("valid_to", _constant(as_of, closing.num_rows))
    corrected = joined.filter(in_place).select([key, "valid_from__cur", *attrs])
    corrected = corrected.rename_columns([key, "valid_from", *attrs])
    reopened = joined.filter(moved).select([key, *attrs])
    reopened = reopened.append_column("valid_from", _constant(as_of, reopened.num_rows))
    fresh = joined.filter(pc.invert(matched))
    # A key seen before (closed, now back) resumes at the as-of date; a new one at its own first date.
    seen_before = pc.is_in(fresh[key], value_set=pc.unique(current[key]))
    start = fresh[FIRST_FROM] if FIRST_FROM in fresh.column_names else pa.nulls(fresh.num_rows, UTC_US)
    late = pc.fill_null(pc.greater(start, as_of_scalar), True)
    start = pc.if_else(pc.or_(seen_before, late), as_of_scalar, start)
    fresh = fresh.select([key, *attrs]).append_column("valid_from", pc.cast(start, UTC_US))
    gone = open_rows.slice(0, 0).append_column("valid_to", pa.nulls(0, UTC_US))
    if close_missing:
        gone = open_rows.filter(pc.invert(pc.is_in(open_rows[key], value_set=incoming[key])))
        gone = gone.append_column("valid_to", _constant(as_of, gone.num_rows))
    rows = pa.concat_tables([conform(p, schema) for p in (closing, gone, corrected, reopened, fresh)])
    return Changes(rows, inserted=reopened.num_rows + fresh.num_rows, closed=closing.num_rows + gone.num_rows,
                   updated=corrected.num_rows)


def dated_changes(existing: pa.Table, incoming: pa.Table, spec: HistoryTable) -> Changes:
    """Rows to upsert for dated rows (key, valid_from, valid_to or null, attributes)."""
    key, attrs, schema = spec.key, spec.attributes, spec.arrow_schema
    ids = [key, "valid_from"]
    incoming = first_per_key(conform(incoming, schema), ids)
    existing = existing.filter(pc.is_in(existing[key], value_set=pc.unique(incoming[key])))
    # An incoming row without an end leaves a known end in place: it does not know better.
    prior = existing.select([*ids, "valid_to"]).rename_columns([*ids, "__old_to"])
    incoming = incoming.join(prior, keys=ids, join_type="left outer")
    incoming = incoming.set_column(incoming.column_names.index("valid_to"), "valid_to",
                                   pc.coalesce(incoming["valid_to"], incoming["__old_to"])).drop_columns(["__old_to"])
    news = differing(incoming, existing, ids, ["valid_to", *attrs])
    if news.num_rows == 0:
        return Changes(schema.empty_table())
    kept = existing.filter(pc.is_in(existing[key], value_set=pc.unique(news[key])))
    kept = kept.join(news.select(ids), keys=ids, join_type="left anti")
    timeline = pa.concat_tables([conform(kept, schema), conform(news, schema)])
    timeline = _end_at_next_start(timeline.sort_by([(key, "ascending"), ("valid_from", "ascending")]), key)
    rows = conform(differing(timeline, existing, ids, ["valid_to", *attrs]), schema)
    inserted = rows.join(existing.select(ids), keys=ids, join_type="left anti").num_rows
    return Changes(rows, inserted=inserted, updated=rows.num_rows - inserted)


def _end_at_next_start(timeline: pa.Table, key: str) -> pa.Table:
    """valid_to = the earlier of the stated end and the start of the key's next interval."""
    n = timeline.num_rows
    if n < 2:
        return timeline
    keys = timeline[key].combine_chunks()
    same_next = np.append(np.asarray(pc.equal(keys.slice(0, n - 1), keys.slice(1))), False)
    starts = timeline["valid_from"].combine_chunks()
    next_start = pa.concat_arrays([starts.slice(1), pa.nulls(1, starts.type)])
    next_start = pc.if_else(pa.array(same_next), next_start, pa.scalar(None, starts.type))
    # min_element_wise has no kernel for zoned timestamps: compare the microseconds.
    as_int = [pc.cast(pc.cast(a, pa.timestamp("us")), pa.int64()) for a in (timeline["valid_to"], next_start)]
    end = pc.cast(pc.cast(pc.min_element_wise(*as_int, skip_nulls=True), pa.timestamp("us")), UTC_US)
    return timeline.set_column(timeline.column_names.index("valid_to"), "valid_to", end)


def differing(rows: pa.Table, existing: pa.Table, keys: Sequence[str], values: Sequence[str]) -> pa.Table:
    """Rows whose keys are new, or whose values differ from the existing row with the same keys."""
    old = _suffixed(existing.select([*keys, *values]), keys, "__old")
    old = old.append_column("__present", pa.repeat(pa.scalar(True), existing.num_rows))
    joined = rows.join(old, keys=list(keys), join_type="left outer")
    unchanged = pc.fill_null(joined["__present"], False)
    for v in values:
        unchanged = pc.and_(unchanged, same(joined[v], joined[f"{v}__old"]))
    return joined.filter(pc.invert(unchanged)).select(rows.column_names)
