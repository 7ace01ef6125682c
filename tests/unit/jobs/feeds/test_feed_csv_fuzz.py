"""The CSV export reader on arbitrary input: it never raises; every row is an observation or one bad line, and
the counts add up."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jobs.feeds.csv_feed import CsvExport, read_export
from tests.unit.jobs.feeds.test_feed_csv import HEADER, MAPPING, PLATES, row

CELLS = st.one_of(
    st.sampled_from(["", "1", "P", "NL", "D", "Biltstraat", "Nobelstraat", "Neude", *PLATES, '"', ";",
                     "25-10-2026 02:30:00", "29-03-2026 02:30:00", "25-10-2026 03:05:00", "10-03-2026 08:00:00",
                     "31-02-2026 10:00:00", "\ufeff", "\x00", "0b6f4bd4-3c2e-4f62-a7a5-3d0c7c3f1c11"]),
    st.text(max_size=12),
)
ROWS = st.lists(st.lists(CELLS, min_size=0, max_size=10).map(";".join), max_size=30)
LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])


def check(data: bytes) -> CsvExport:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.csv"
        path.write_bytes(data)
        export = read_export(path, MAPPING)
    assert export.rows == len(export.observations) + len(export.bad)
    if export.problem is not None:  # not an export (nothing read), or no row of it could be read
        assert "\n" not in export.problem and "\r" not in export.problem and export.observations == []
        first = export.bad[0] if export.bad else None
        assert first is None or export.problem == f"no row could be read (first: line {first.line}: {first.reason})"
    lines = [b.line for b in export.bad] + [o["extensions"]["source_line"] for o in export.observations]
    assert len(set(lines)) == len(lines)  # one outcome per row
    assert all(b.reason and "\n" not in b.reason and "\r" not in b.reason for b in export.bad)
    assert all(o["event_time"].endswith("Z") and len(o["plate_country"]) == 2 for o in export.observations)
    return export


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_reader(data):
    check(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ROWS, LINE_ENDS, st.booleans())
def test_arbitrary_rows_under_the_export_header_are_each_delivered_or_reported(rows, end, bom):
    check((("\ufeff" if bom else "") + end.join([HEADER, *rows]) + end).encode("utf-8", "surrogatepass"))


SHIFTED = st.sampled_from(["GT-411-X", "gt411x", " GT 411 X "])  # the row's plate, as another column may hold it


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.one_of(CELLS, SHIFTED), min_size=5, max_size=5), max_size=20))
# found by the fuzzing: quotes shift the plate into Locatie while Hash holds a quote, and the unknown
# Locatie was quoted with the plate in it
@example([["", "", "", "", ""], [";0", '"', "", "", ""], ['"', "", '"', "", ""]])
def test_a_bad_row_never_shows_its_plate_even_from_another_column(rows):
    lines = [";".join([str(i), *cells[:1], "GT-411-X", *cells[1:], "x"]) for i, cells in enumerate(rows)]
    export = check(("\n".join([HEADER, *lines]) + "\n").encode("utf-8", "surrogatepass"))
    reasons = "".join(ch for b in export.bad for ch in b.reason.upper() if ch.isalnum())
    assert "GT411X" not in reasons


@st.composite
def stray_quotes(draw: st.DrawFn) -> tuple[int, dict[int, int]]:
    """A number of rows, and for some of them the field a stray quote opens."""
    n = draw(st.integers(1, 12))
    return n, draw(st.dictionaries(st.integers(0, n - 1), st.integers(0, 7)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stray_quotes(), LINE_ENDS)
# a review's case: the rows after an unclosed quote were neither delivered nor reported
@example((5, {2: 5}), "\n")
# every row of a Locatie with the stray quote: each one's quote closed by the next, with the header's field count
@example((6, {1: 5, 2: 5, 3: 5, 4: 5}), "\r\n")
def test_a_stray_quote_makes_its_own_row_bad_and_loses_no_other(strays, end):
    n, opened = strays
    lines = []
    for i in range(n):
        cells = row(i + 1, f"10-03-2026 08:00:{i:02d}", PLATES[i % len(PLATES)]).split(";")
        if i in opened:
            cells[opened[i]] = '"' + cells[opened[i]]
        lines.append(";".join(cells))
    export = check(("\ufeff" + end.join([HEADER, *lines]) + end).encode())
    assert export.rows == n
    assert [b.line for b in export.bad] == [i + 2 for i in sorted(opened)]
    assert [o["extensions"]["source_line"] for o in export.observations] == [i + 2 for i in range(n) if i not in opened]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(CELLS, SHIFTED), min_size=1, max_size=9), st.sampled_from([";", ",", "\t", "|", " "]))
def test_a_rejection_never_shows_a_plate_of_line_1(cells, separator):
    """An export written without its header has a row on line 1, whose cells a rejection would name."""
    export = check((separator.join(cells) + "\n" + row(1, "10-03-2026 08:00:00") + "\n").encode())
    shown = "".join(ch for ch in str(export.problem).upper() if ch.isalnum())
    assert not any("".join(ch for ch in plate.upper() if ch.isalnum()) in shown for plate in [*PLATES, "GT-411-X"])
