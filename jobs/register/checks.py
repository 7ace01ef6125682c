"""Checks of register rows as read: placeholders, values that do not parse, and duplicate keys.

Every rejected row is counted under its reason with its line in the file (jobs.register.csv_reader.Read);
no message quotes a value, since a plate or KvK number may be in any column. A key that occurs on
more than one line (typical of a paged download that repeated a page, and so missed another) is
reported: identical rows are kept once, rows that disagree are all rejected (the file does not say
which is right), and a complete load (--complete) refuses a file holding any, since the key its
duplicate displaced would be closed as if the vehicle had gone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

# RDW and KvK exports write these where a value is unknown or does not apply: missing values, not categories.
PLACEHOLDERS = ("niet geregistreerd", "n.v.t.", "n.v.t", "nvt", "niet van toepassing")
LINE = "_line"  # the row's line in its file (the header is line 1)
SBI_CODE = re.compile(r"\d{2}(?:\.?\d){0,3}")  # SBI 2008: division, group, class, subclass ("49", "49.41", "49410")
MAX_MASS_KG = 250_000  # above the heaviest registered (special transport) vehicles: a unit error, not a mass


def null_placeholders(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Text with the PLACEHOLDERS (any case, surrounding spaces) as null."""
    flat = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(flat))
    return pc.if_else(pc.is_in(lowered, value_set=pa.array(PLACEHOLDERS)), pa.scalar(None, flat.type), flat)


def unparsed(raw: pa.Array | pa.ChunkedArray, parsed: pa.Array | pa.ChunkedArray) -> pa.Array:
    """True where a value was given (not empty) but did not parse: a row to reject, not a missing value."""
    given = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(raw), ""), False)
    return pc.and_(given, pc.is_null(parsed))


def sbi_code(text: object) -> str | None:
    """The digits of an SBI 2008 code written as 2-5 digits, dots allowed ("49.41"); None otherwise."""
    s = str(text).strip() if text is not None else ""
    return s.replace(".", "") if SBI_CODE.fullmatch(s) else None


def mass_kg(value: int | None) -> int | None:
    """A mass in kg, None when negative or above MAX_MASS_KG."""
    return value if value is not None and 0 <= value <= MAX_MASS_KG else None


@dataclass
class Duplicates:
    """Keys on more than one line: how many keys, and the lines of their rows."""

    keys: int = 0
    lines: list[int] = field(default_factory=list)
    conflicting: int = 0  # of the keys, those whose rows disagree

    def describe(self, file: str, key: str) -> str:
        shown = ", ".join(map(str, self.lines[:20])) + (f" and {len(self.lines) - 20} more" if len(self.lines) > 20
                                                        else "")
        return (f"{file}: {self.keys:,} {key} value(s) occur on more than one line ({self.conflicting:,} with "
                f"differing values), lines {shown}")


def duplicate_rows(table: pa.Table, keys: Sequence[str]) -> tuple[pa.Array, pa.Array, Duplicates]:
    """(keep, conflicting, duplicates) for a table with a LINE column: keep is False for repeats of an
    identical row; conflicting is True for every row of a key whose rows disagree."""
    values = [c for c in table.column_names if c != LINE]
    index = pa.array(range(table.num_rows), pa.int64())
    counted = table.select(list(keys)).append_column("__i", index)
    groups = counted.group_by(list(keys), use_threads=False).aggregate([("__i", "count"), ("__i", "list")])
    repeated = groups.filter(pc.greater(groups["__i_count"], 1))
    if repeated.num_rows == 0:
        return pa.repeat(pa.scalar(True), table.num_rows), pa.repeat(pa.scalar(False), table.num_rows), Duplicates()
    rows = pc.list_flatten(repeated["__i_list"])
    distinct = table.select(values).take(rows).append_column("__i", rows)
    distinct = distinct.append_column("__g", pc.list_parent_indices(repeated["__i_list"]))
    shapes = distinct.group_by(["__g", *values], use_threads=False).aggregate([("__i", "min")])
    per_group = shapes.group_by("__g", use_threads=False).aggregate([("__i_min", "count")])
    bad_groups = per_group.filter(pc.greater(per_group["__i_min_count"], 1))["__g"]
    in_bad = pc.is_in(distinct["__g"], value_set=bad_groups)
    conflict = pc.is_in(index, value_set=distinct.filter(in_bad)["__i"])
    keep = pc.or_(pc.invert(pc.is_in(index, value_set=rows)), pc.is_in(index, value_set=shapes["__i_min"]))
    lines = sorted(table[LINE].take(rows).to_pylist())
    return keep, conflict, Duplicates(repeated.num_rows, lines, len(bad_groups))
