"""Malformed exports as a review found them: what the supplier sees of each (counts, reasons with line numbers,
the file's fate), with nothing lost unreported and no plate in a report, a reason or a line said."""

from __future__ import annotations

import json
import os
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from anpr.settings import CONF_DIR
from jobs.feeds import drop as drop_module
from jobs.feeds.csv_feed import CsvMapping, load_mapping, read_export
from jobs.feeds.csv_records import shown
from jobs.feeds.drop import process_drop
from tests.privacy import find_plates
from tests.unit.jobs.feeds.test_feed_csv import HEADER, MAPPING, PLATES, export, row

HOURS = 22
STRAY = ';"Weerdsingel OZ;'  # a Locatie whose quote is never closed


class Keep:
    """A sink that delivers everything and keeps what it was sent."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def send(self, items, request_id, filename=None):  # noqa: ANN001, ANN201
        self.items.extend(items)
        return len(items)


def rows_of(n: int) -> list[str]:
    return [row(i, f"10-03-2026 08:{i // 60:02d}:{i % 60:02d}", PLATES[i % len(PLATES)]) for i in range(1, n + 1)]


def write(tmp_path: Path, lines: list[str], name: str = "week-11.csv", encoding: str = "utf-8-sig") -> Path:
    path = tmp_path / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def drop(tmp_path: Path, mapping: CsvMapping = MAPPING) -> tuple[dict[str, Any], str, Keep, list[str]]:
    """The drop run over tmp_path holding one file: its report, its fate (processed or rejected), what was
    delivered and what was said; every check first that no plate is left in the folder or was said."""
    [path] = list(tmp_path.glob("*.csv"))
    sink, said = Keep(), list[str]()
    process_drop([tmp_path], mapping, sink, say=said.append, max_age_hours=HOURS)
    assert not path.exists()
    [report_path] = list(tmp_path.glob("*/*.report.json"))
    (tmp_path / "said.txt").write_text("\n".join(said))
    assert find_plates(tmp_path, PLATES) == []
    report = json.loads(report_path.read_text())
    assert report["rows"] == report["good"] + report["bad"]
    return report, report_path.parent.name, sink, said


def lines_delivered(sink: Keep) -> list[int]:
    return [o["extensions"]["source_line"] for o in sink.items]


# 1. An unclosed quote: its row is a bad row, and the rows it swallowed are read.

def test_an_unclosed_quote_near_the_end_is_one_bad_row_and_the_rows_after_it_are_delivered(tmp_path):
    """Before: rows=3 good=2 bad=1 ("line 6: 6 fields where the header has 8"); rows 4 and 5 were neither
    delivered nor reported and the file went to processed/."""
    rows = rows_of(5)
    rows[2] = rows[2].replace(";Biltstraat;", STRAY)
    export(tmp_path, rows, "week-11.csv")
    report, fate, sink, said = drop(tmp_path)
    assert (fate, report["rows"], report["good"], report["bad"], report["delivered"]) == ("processed", 5, 4, 1, 4)
    assert report["bad_rows"] == [{"line": 4, "reason": "a quote opens on this line and is never closed: it runs on "
                                                        "to the end of the file; the lines after it are read as rows"}]
    assert lines_delivered(sink) == [2, 3, 5, 6]
    assert "  bad row week-11.csv:4: a quote opens on this line and is never closed" in said[0]


def test_a_quote_never_closed_in_the_last_column_does_not_swallow_the_rows_after_it(tmp_path):
    """Before: the quoted Brandstof took in rows 4 and 5 with the header's field count: row 3 was delivered,
    rows 4 and 5 vanished, rows=3 good=3."""
    rows = rows_of(5)
    rows[2] = rows[2].replace(";Diesel", ';"Diesel')
    export(tmp_path, rows, "week-11.csv")
    report, fate, sink, _ = drop(tmp_path)
    assert (fate, report["rows"], report["good"], report["bad"]) == ("processed", 5, 4, 1)
    assert report["bad_rows"][0]["line"] == 4 and "is never closed" in report["bad_rows"][0]["reason"]
    assert lines_delivered(sink) == [2, 3, 5, 6]


def test_a_stray_quote_closed_by_another_rows_stray_quote_reports_both_and_delivers_the_row_between(tmp_path):
    """Before: the two quotes made one record of lines 4-6 with the header's field count: one bad row
    (unknown Locatie, quoting the swallowed row's plate), the row on line 5 lost."""
    rows = rows_of(5)
    rows[2] = rows[2].replace(";Biltstraat;", STRAY)
    rows[4] = rows[4].replace(";Biltstraat;", ';Biltstraat";')
    export(tmp_path, rows, "week-11.csv")
    report, fate, sink, _ = drop(tmp_path)
    assert (fate, report["rows"], report["good"], report["bad"]) == ("processed", 5, 3, 2)
    assert report["bad_rows"] == [
        {"line": 4, "reason": "a quote opens on this line and runs on to line 6, taking in the row on line 5; the "
                              "lines after it are read as rows"},
        {"line": 6, "reason": "unknown Locatie 'Biltstraat\"': add it to the mapping file"}]
    assert lines_delivered(sink) == [2, 3, 5]


def test_a_stray_quote_leaving_a_wrong_field_count_names_the_line_it_runs_to(tmp_path):
    rows = rows_of(5)
    rows[1] = rows[1].replace(";Biltstraat;", STRAY)
    rows[2] = rows[2].replace(";Biltstraat;", ';Biltstraat";')
    rows[2] = rows[2].replace(";Diesel", "")
    result = read_export(export(tmp_path, rows), MAPPING)
    assert [(b.line, b.reason) for b in result.bad][0] == (
        3, "a quote opens on this line and runs on to line 4, leaving 7 fields where the header has 8; the lines after "
           "it are read as rows")
    assert result.rows == len(result.observations) + len(result.bad) == 5


# 2. Counts stay consistent.

def test_a_stray_quote_in_a_large_file_leaves_consistent_counts(tmp_path):
    """Before: rejected with rows=2 good=0 bad=0 (the row count was not reset with good and bad)."""
    rows = [row(i, "10-03-2026 08:00:00", PLATES[i % len(PLATES)]) for i in range(1, 4001)]
    rows[2] = rows[2].replace(";Biltstraat;", ';"Biltstraat;')  # line 4
    export(tmp_path, rows, "week-11.csv")
    report, fate, sink, _ = drop(tmp_path)
    assert (fate, report["problem"]) == ("processed", None)
    assert (report["rows"], report["good"], report["bad"]) == (4000, 3999, 1)
    assert report["bad_rows"] == [{"line": 4, "reason": "field larger than field limit (131072) (an unbalanced "
                                                        "quote?); the lines after it are read as rows"}]
    assert len(sink.items) == 3999


# 3. A .NET "no date", and a reader failing on one file.

@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "Etc/GMT+12", "Etc/GMT-14"])
def test_a_dotnet_no_date_is_a_bad_time_row(tmp_path, zone):
    """Before: OverflowError out of read_export and process_drop: the run stopped, the file (raw plates) stayed."""
    export(tmp_path, [row(1, "01-01-0001 00:00:00", PLATES[1]), row(2, "10-03-2026 08:00:00", PLATES[2]),
                      row(3, "31-12-9999 23:59:59", PLATES[3])], "week-11.csv")
    report, fate, sink, _ = drop(tmp_path, MAPPING.model_copy(update={"timezone": zone}))
    assert (fate, report["rows"], report["good"], report["bad"]) == ("processed", 3, 1, 2)
    assert report["bad_rows"] == [
        {"line": 2, "reason": "Tijd(CET) '01-01-0001 00:00:00': local time 0001-01-01 00:00:00 is out of range "
                              "(year 1: a missing date?)"},
        {"line": 4, "reason": "Tijd(CET) '31-12-9999 23:59:59': local time 9999-12-31 23:59:59 is out of range "
                              "(year 9999: a missing date?)"}]


def failing_reader(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The export reader raising, with a plate in its message, for the file called `name`."""

    class Failing(drop_module.ExportReader):
        def __iter__(self):  # noqa: ANN204
            if self.file == name:
                raise OverflowError(f"date value out of range near {PLATES[0]}")
            return super().__iter__()

    monkeypatch.setattr(drop_module, "ExportReader", Failing)


def test_a_file_the_reader_fails_on_is_left_for_the_next_run_and_the_others_are_processed(tmp_path, monkeypatch):
    """Before: the exception stopped the run: b.csv was never read and a.csv stayed unreported."""
    failing_reader(monkeypatch, "a.csv")
    first, second = export(tmp_path, rows_of(2), "a.csv"), export(tmp_path, rows_of(3), "b.csv")
    said: list[str] = []
    outcome = process_drop([tmp_path], MAPPING, Keep(), say=said.append, max_age_hours=HOURS)
    assert first.exists() and not second.exists() and outcome.failed == [("a.csv", "OverflowError")]
    assert said[0] == ("a.csv: could not be read, file left in place for the next run (rejected once 22 hours old): "
                       "OverflowError")
    report = json.loads((tmp_path / "processed" / "b.csv.report.json").read_text())
    assert (report["rows"], report["delivered"]) == (3, 3) and not (tmp_path / "rejected").exists()
    (tmp_path / "processed" / "said.txt").write_text("\n".join(said))
    assert find_plates(tmp_path / "processed", PLATES) == []


def test_a_file_the_reader_fails_on_is_rejected_at_the_deadline_with_the_exceptions_type_only(tmp_path, monkeypatch):
    failing_reader(monkeypatch, "week-11.csv")
    path = export(tmp_path, rows_of(2), "week-11.csv")
    arrived = time.time() - (HOURS + 0.1) * 3600
    os.utime(path, (arrived, arrived))
    report, fate, _, said = drop(tmp_path)
    assert fate == "rejected" and report["problem"] == "not delivered within 22 hours; send it again"
    assert (report["failure"], report["rows"], report["good"], report["bad"], report["delivered"]) == (
        "OverflowError", 0, 0, 0, 0)
    assert said[-1].endswith("rejected: not delivered within 22 hours; send it again (0 rows in 0 batches delivered "
                             "before): OverflowError")


# 4. Mapping errors found when the mapping loads.

SHIPPED = (CONF_DIR / "feeds" / "demo-supplier.toml").read_text()


@pytest.mark.parametrize(("setting", "wrong", "error"), [
    ('timezone = "Europe/Amsterdam"', 'timezone = "Europe/Amsterdm"',
     "timezone: unknown time zone 'Europe/Amsterdm': an IANA name such as 'Europe/Amsterdam'"),
    ('timezone = "Europe/Amsterdam"', 'timezone = "Europe"', "timezone: unknown time zone 'Europe'"),
    ('encoding = "utf-8-sig"', 'encoding = "nope"',
     "encoding: 'nope' is not a text encoding Python knows, such as 'utf-8-sig' or 'cp1252'"),
    ('encoding = "utf-8-sig"', 'encoding = "rot13"', "encoding: 'rot13' is not a text encoding"),
    ('encoding = "utf-8-sig"', 'encoding = "idna"', "encoding: 'idna' is not a text encoding"),
    ('delimiter = ";"', 'delimiter = ";;"', "delimiter: ';;': one character other than a quote or line break"),
    ('delimiter = ";"', 'delimiter = ""', "delimiter: '': one character other than a quote or line break"),
    ('camera_id = "bbfee791-71aa-57d8-b4b9-d6f0b5588753"', 'camera_id = "cam-weerdsingel"',
     "locations.Weerdsingel OZ.camera_id: 'cam-weerdsingel' is not a uuid"),
])
def test_a_wrong_mapping_setting_is_refused_on_load_in_one_line_naming_file_and_field(tmp_path, setting, wrong, error):
    """Before: each loaded, and the run crashed on the first file (or sent every row to an unknown camera)."""
    assert setting in SHIPPED
    path = tmp_path / "bad.toml"
    path.write_text(SHIPPED.replace(setting, wrong))
    with pytest.raises(ValueError) as raised:
        load_mapping(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {error}") and "\n" not in message


def test_a_mapping_camera_id_is_kept_in_the_canonical_form(tmp_path):
    path = tmp_path / "upper.toml"
    path.write_text(SHIPPED.replace("bbfee791-71aa-57d8-b4b9-d6f0b5588753", "{BBFEE791-71AA-57D8-B4B9-D6F0B5588753}"))
    assert load_mapping(path).locations["Weerdsingel OZ"].camera_id == "bbfee791-71aa-57d8-b4b9-d6f0b5588753"


# 5. Header names: trimmed, any case; what line 1 holds when columns are missing.

def test_header_names_match_trimmed_and_in_any_case(tmp_path):
    """Before: rejected with "missing columns Id, Hash in the header"."""
    write(tmp_path, ["id;Tijd(CET);Hash ;LAND; Klasse;Locatie;Merk;Brandstof", *rows_of(2)])
    report, fate, sink, _ = drop(tmp_path)
    assert (fate, report["rows"], report["good"], report["problem"]) == ("processed", 2, 2, None)


def test_missing_columns_name_the_header_cells_found_each_cut_to_40_characters(tmp_path):
    """Before: "missing columns Id, Hash in the header", without what the header held."""
    write(tmp_path, ["Nr;Tijd(CET);Kenteken;Land;Klasse;Locatie;" + "Opmerking " * 6, *rows_of(2)])
    report, fate, _, _ = drop(tmp_path)
    assert (fate, report["rows"], report["good"], report["bad"]) == ("rejected", 0, 0, 0)
    assert report["problem"] == ("missing columns Id, Hash in the header (line 1 has 'Nr', 'Tijd(CET)', 'Kenteken', "
                                 "'Land', 'Klasse', 'Locatie', 'Opmerking Opmerking Opmerking Opmerking ')")


def test_an_export_without_its_header_is_rejected_without_showing_a_plate_of_line_1(tmp_path):
    write(tmp_path, rows_of(3))
    report, fate, _, _ = drop(tmp_path)
    assert fate == "rejected" and report["problem"].startswith(
        "missing columns Id, Tijd(CET), Hash, Land, Klasse, Locatie in the header (line 1 has (not shown: it could "
        "hold a plate), '10-03-2026 08:00:01', (not shown: it could hold a plate), 'NL', 'P', 'Biltstraat', "
        "'VOLKSWAGEN', 'Diesel')")


def test_a_quote_in_the_header_not_closed_on_its_line_rejects_the_file(tmp_path):
    write(tmp_path, [HEADER.replace(";Hash;", ';"Hash;'), *rows_of(2)])
    report, fate, _, _ = drop(tmp_path)
    assert (fate, report["rows"], report["problem"]) == (
        "rejected", 0, "line 1: a quote in the header is not closed on its line (an unbalanced quote?)")


# 6. Encodings and delimiters: where, and what to do about it.

def rejected_then_read(tmp_path, rows: list[str], encoding: str) -> str:
    """The problem of an export in `encoding` under the shipped mapping (utf-8-sig); asserts the same export is
    read whole once the mapping names its encoding."""
    write(tmp_path, [HEADER, *rows], encoding=encoding)
    report, fate, _, _ = drop(tmp_path)
    assert (fate, report["rows"]) == ("rejected", 0)
    (tmp_path / "again").mkdir()
    write(tmp_path / "again", [HEADER, *rows], encoding=encoding)
    again, fate, _, _ = drop(tmp_path / "again", MAPPING.model_copy(update={"encoding": encoding}))
    assert (fate, again["rows"], again["good"]) == ("processed", len(rows), len(rows))
    return str(report["problem"])


def test_a_windows_1252_export_is_rejected_with_the_line_and_a_hint_and_read_with_cp1252(tmp_path):
    """Before: "not utf-8-sig text (byte 173)": no line, no hint."""
    rows = rows_of(3)
    rows[1] = rows[1].replace("VOLKSWAGEN", "CITROËN")
    assert rejected_then_read(tmp_path, rows, "cp1252") == (
        'line 3: not utf-8-sig text (byte 173 of the file); save it as UTF-8 (Excel: "CSV UTF-8"), or set the '
        'mapping\'s encoding to the file\'s (encoding = "cp1252" for a Windows export)')


def test_a_utf16_export_is_named_as_such_and_read_with_utf16(tmp_path):
    """Before: "not utf-8-sig text (byte 0)"."""
    assert rejected_then_read(tmp_path, rows_of(2), "utf-16") == (
        'UTF-16 text (it starts with a UTF-16 byte-order mark, as Excel\'s "Unicode Text" writes), not utf-8-sig: '
        'save it as "CSV UTF-8", or set encoding = "utf-16" in the mapping')


@pytest.mark.parametrize(("separator", "setting"), [(",", '","'), ("\t", '"\\t"')])
def test_an_export_with_another_delimiter_is_said_to_look_separated_by_it(tmp_path, separator, setting):
    """Before: "missing columns Id, Tijd(CET), Hash, Land, Klasse, Locatie in the header"."""
    write(tmp_path, [line.replace(";", separator) for line in [HEADER, *rows_of(2)]])
    report, fate, _, _ = drop(tmp_path)
    assert (fate, report["rows"]) == ("rejected", 0)
    assert report["problem"] == (f"missing columns Id, Tijd(CET), Hash, Land, Klasse, Locatie in the header (line 1 is "
                                 f"one column holding {separator!r}: the file looks separated by {separator!r} where "
                                 f"the mapping says ';'; export it with ';', or set delimiter = {setting} in the "
                                 f"mapping)")


# 7. Rows over several lines, and files none of whose rows can be read.

def test_a_row_with_a_line_break_in_a_quoted_field_is_reported_and_delivered_under_its_first_line(tmp_path):
    """Before: reported (and stored as source_line) under its last line: 4, and 6 for the delivered one."""
    rows = rows_of(3)
    rows[1] = rows[1].replace(";Biltstraat;", ';"Bilt\nstraat";')
    rows[2] = rows[2].replace(";VOLKSWAGEN;", ';"VOLKS\nWAGEN";')
    export(tmp_path, rows, "week-11.csv")
    report, fate, sink, _ = drop(tmp_path)
    assert (fate, report["rows"], report["good"], report["bad"]) == ("processed", 3, 2, 1)
    assert report["bad_rows"] == [{"line": 3, "reason": "unknown Locatie (runs over several lines; not shown): add it "
                                                        "to the mapping file"}]
    assert lines_delivered(sink) == [2, 5]


@pytest.mark.parametrize(("broken", "first"), [
    (lambda line: line + ";", "9 fields where the header has 8"),
    (lambda line: line.replace("10-03-2026", "2026-03-10"), "Tijd(CET) '2026-03-10 08:00:01': does not match "
                                                            "%d-%m-%Y %H:%M:%S"),
])
def test_a_file_none_of_whose_rows_can_be_read_is_rejected_with_its_row_report(tmp_path, broken, first):
    """Before: it went to processed/ with good=0, as if delivered."""
    export(tmp_path, [broken(line) for line in rows_of(3)], "week-11.csv")
    report, fate, sink, said = drop(tmp_path)
    assert (fate, report["rows"], report["good"], report["bad"]) == ("rejected", 3, 0, 3)
    assert report["problem"] == f"no row could be read (first: line 2: {first})"
    assert [b["line"] for b in report["bad_rows"]] == [2, 3, 4] and sink.items == []
    assert said[-1] == f"week-11.csv: rejected: no row could be read (first: line 2: {first})"
    assert said[0].startswith("  bad row week-11.csv:2: ")


# 6. A cell that could hold a plate is never quoted, whatever its shape (stop 47 review: the shape rule printed
# a plate longer than 8 characters, one with other text in its cell, a fullwidth one, and one with en dashes).

SHIFTED = ["HH-QZ 9876E", "QQ-999-Z 17:00", "bij QQ-998-Z", "ＱＱ-９９７-Ｚ", "QQ–996–Z"]


@pytest.mark.parametrize("cell", SHIFTED)
@pytest.mark.parametrize("column", ["time", "land", "klasse", "locatie"])
def test_a_cell_that_could_hold_a_plate_is_not_quoted_in_a_reason_or_a_line_said(tmp_path, cell, column):
    rows = rows_of(2)
    fields = {"time": "10-03-2026 08:00:02", "land": "NL", "klasse": "P", "locatie": "Biltstraat"}
    fields[column] = cell
    rows[1] = row(2, fields["time"], PLATES[2], fields["land"], fields["klasse"], fields["locatie"])
    export(tmp_path, rows, "week-11.csv")
    report, fate, _, said = drop(tmp_path)
    assert (fate, report["good"], report["bad"]) == ("processed", 1, 1)
    [bad] = report["bad_rows"]
    # an unknown location is named with its digits masked (the operator adds it to the mapping), no plate whole
    hidden = "'" + "".join("#" if c.isdigit() else c for c in unicodedata.normalize("NFKC", cell)) + "'"
    expected = hidden if column == "locatie" else "(not shown: it could hold a plate)"
    assert bad["line"] == 3 and expected in bad["reason"]
    written = json.dumps(report, ensure_ascii=False) + "\n".join(said)
    assert cell not in written and cell.split()[-1] not in written
    assert find_plates(tmp_path, ["HH-QZ-9876-E", "QQ-999-Z", "QQ-998-Z", "QQ-997-Z", "QQ-996-Z"]) == []


def test_a_headerless_export_shows_no_cell_of_line_1_that_could_hold_a_plate(tmp_path):
    write(tmp_path, [row(1, "10-03-2026 08:00:01", "QQ–996–Z"), *rows_of(2)])
    report, fate, _, said = drop(tmp_path)
    assert fate == "rejected" and "QQ–996–Z" not in report["problem"] and "'NL'" in report["problem"]
    assert find_plates(tmp_path, ["QQ-996-Z"]) == []


@pytest.mark.parametrize("cell, quoted", [
    ("Weerdsingel OZ", "'Weerdsingel OZ'"), ("10-03-2026 8.00 uur", "(not shown: it could hold a plate)"),
    ("31-02-2026 08:00:00", "'31-02-2026 08:00:00'"), ("GT411X", "(not shown: it could hold a plate)"),
    ("ONBEKEND", "'ONBEKEND'"), ("line\nbreak", "(runs over several lines; not shown)")])
def test_what_a_reason_may_quote(cell, quoted):
    assert shown(cell) == quoted
    assert shown("VX 123 B", plate="vx-123-b") == "(not shown: it could hold a plate)"
    # an unknown location: its name, digits masked, for the operator to add to the mapping (a review's case)
    assert shown("N230 hmp 12.3", digits_masked=True) == "'N### hmp ##.#'"
    assert shown("Kruising ＱＱ-９９７-Ｚ", digits_masked=True) == "'Kruising QQ-###-Z'"
    assert shown("VX 123 B", plate="vx-123-b", digits_masked=True) == "(not shown: it could hold a plate)"
