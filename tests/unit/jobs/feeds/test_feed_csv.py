"""Supplier CSV exports: Dutch wall-clock times across both DST changes, broken rows reported by line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from anpr.settings import CONF_DIR
from jobs.feeds.csv_feed import Accepted, load_mapping, read_export
from jobs.feeds.drop import process_drop

MAPPING = load_mapping(CONF_DIR / "feeds" / "demo-supplier.toml")
HEADER = "Id;Tijd(CET);Hash;Land;Klasse;Locatie;Merk;Brandstof"
PLATES = ["GT-411-X", "VX-123-B", "B XY 1234", "41-KBD-7", "HN-228-G", "9-VHT-34", "ZB-17-73"]


def export(tmp_path: Path, rows: list[str], name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_text("\ufeff" + "\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def row(i: int, time: str, plate: str = "GT-411-X", land: str = "NL", klasse: str = "P",
        locatie: str = "Biltstraat") -> str:
    return f"{i};{time};{plate};{land};{klasse};{locatie};VOLKSWAGEN;Diesel"


def utc_times(path: Path) -> list[str]:
    result = read_export(path, MAPPING)
    assert result.bad == []
    return [o["event_time"] for o in result.observations]


def test_spring_forward_night_converts_around_the_missing_hour(tmp_path):
    path = export(tmp_path, [row(1, "29-03-2026 01:59:59"), row(2, "29-03-2026 03:00:00"),
                             row(3, "29-03-2026 02:30:00"), row(4, "28-03-2026 23:15:00")])
    result = read_export(path, MAPPING)
    assert [o["event_time"] for o in result.observations] == [
        "2026-03-29T00:59:59.000Z", "2026-03-29T01:00:00.000Z", "2026-03-28T22:15:00.000Z"]
    [bad] = result.bad
    assert (bad.file, bad.line) == ("export.csv", 4) and "does not exist" in bad.reason


def test_fall_back_night_tells_the_two_passes_of_the_repeated_hour_apart(tmp_path):
    path = export(tmp_path, [row(1, "25-10-2026 01:30:00"), row(2, "25-10-2026 02:15:00"),
                             row(3, "25-10-2026 02:45:00"), row(4, "25-10-2026 02:10:00"),
                             row(5, "25-10-2026 02:50:00"), row(6, "25-10-2026 03:05:00")])
    assert utc_times(path) == [
        "2026-10-24T23:30:00.000Z",  # CEST
        "2026-10-25T00:15:00.000Z", "2026-10-25T00:45:00.000Z",  # first pass, still CEST (+2)
        "2026-10-25T01:10:00.000Z", "2026-10-25T01:50:00.000Z",  # second pass, CET (+1)
        "2026-10-25T02:05:00.000Z"]


def test_an_export_sorted_by_location_decides_the_repeated_hour_per_camera(tmp_path):
    # Each camera runs through the night once; the second camera's first pass is summer time too.
    path = export(tmp_path, [row(1, "25-10-2026 01:30:00"), row(2, "25-10-2026 02:45:00"),
                             row(3, "25-10-2026 02:10:00"), row(4, "25-10-2026 03:05:00"),
                             row(5, "25-10-2026 01:40:00", locatie="Nobelstraat"),
                             row(6, "25-10-2026 02:20:00", locatie="Nobelstraat"),
                             row(7, "25-10-2026 02:05:00", locatie="Nobelstraat"),
                             row(8, "25-10-2026 03:10:00", locatie="Nobelstraat")])
    assert utc_times(path) == [
        "2026-10-24T23:30:00.000Z", "2026-10-25T00:45:00.000Z", "2026-10-25T01:10:00.000Z", "2026-10-25T02:05:00.000Z",
        "2026-10-24T23:40:00.000Z", "2026-10-25T00:20:00.000Z", "2026-10-25T01:05:00.000Z", "2026-10-25T02:10:00.000Z"]


def test_a_camera_whose_rows_are_out_of_order_has_each_repeated_hour_line_reported(tmp_path):
    path = export(tmp_path, [row(1, "25-10-2026 02:45:00"), row(2, "25-10-2026 02:10:00"),  # Biltstraat, in order
                             row(3, "25-10-2026 02:30:00", locatie="Mariaplaats"),  # Mariaplaats sorted by plate
                             row(4, "25-10-2026 01:50:00", locatie="Mariaplaats"),
                             row(5, "25-10-2026 02:10:00", locatie="Mariaplaats"),
                             row(6, "25-10-2026 03:20:00", locatie="Mariaplaats"),
                             row(7, "25-10-2026 02:20:00", locatie="Mariaplaats")])
    result = read_export(path, MAPPING)
    assert [b.line for b in result.bad] == [4, 6, 8]  # the Mariaplaats rows of 02:00-02:59 (header is line 1)
    assert all("'Mariaplaats' are not in time order (line 5 goes back" in b.reason for b in result.bad)
    assert [o["extensions"]["source_line"] for o in result.observations] == [2, 3, 5, 7]
    assert [o["event_time"] for o in result.observations] == [
        "2026-10-25T00:45:00.000Z", "2026-10-25T01:10:00.000Z", "2026-10-24T23:50:00.000Z", "2026-10-25T02:20:00.000Z"]


def test_a_late_row_of_the_repeated_hour_after_it_ended_cannot_be_decided(tmp_path):
    # 02:40 after 03:05 is 25 minutes late as winter time and 85 as summer time: neither is in order.
    result = read_export(export(tmp_path, [row(1, "25-10-2026 03:05:00"), row(2, "25-10-2026 02:40:00")]), MAPPING)
    assert [b.line for b in result.bad] == [3] and "cannot be decided" in result.bad[0].reason
    assert [o["event_time"] for o in result.observations] == ["2026-10-25T02:05:00.000Z"]


def test_a_slightly_late_row_of_the_repeated_hour_after_it_ended_is_winter_time(tmp_path):
    assert utc_times(export(tmp_path, [row(1, "25-10-2026 03:05:00"), row(2, "25-10-2026 02:58:00")])) == [
        "2026-10-25T02:05:00.000Z", "2026-10-25T01:58:00.000Z"]


def test_fixed_cet_exports_ignore_summer_time(tmp_path):
    fixed = MAPPING.model_copy(update={"timezone": "Etc/GMT-1"})
    result = read_export(export(tmp_path, [row(1, "01-07-2026 12:00:00")]), fixed)
    assert result.observations[0]["event_time"] == "2026-07-01T11:00:00.000Z"


def test_rows_become_contract_observations(tmp_path):
    result = read_export(export(tmp_path, [row(17, "10-03-2026 08:00:00", "B XY 1234", land="D", klasse="FOR")]),
                         MAPPING)
    [observation] = result.observations
    assert observation["camera_id"] == MAPPING.locations["Biltstraat"].camera_id
    assert observation["plate_country"] == "DE" and observation["plate_text"] == "B XY 1234"
    assert observation["extensions"] == {"klasse": "FOR", "source_file": "export.csv", "source_line": 2}
    again = read_export(export(tmp_path, [row(17, "10-03-2026 08:00:00")], name="resent.csv"), MAPPING)
    assert again.observations[0]["observation_id"] == observation["observation_id"]  # a resend keeps its id


BROKEN = [
    row(1, "10-03-2026 08:00:00", PLATES[0]),
    row(2, "10-03-2026 08:00:01", PLATES[1], locatie="Neude"),           # unknown location
    "3;10-03-2026 08:00:02;" + PLATES[2] + ";NL;P",                       # too few fields
    row(4, "2026-03-10 08:00:03", PLATES[3]),                              # wrong time format
    row(5, "10-03-2026 08:00:04", PLATES[4], klasse="XX"),                 # unknown class
    row(6, "10-03-2026 08:00:05", ""),                                     # no plate
    row(7, "10-03-2026 08:00:06", PLATES[5], land="Atlantis"),            # unknown country
    row(1, "10-03-2026 08:00:07", PLATES[6]),                              # repeated Id
    "",                                                                     # blank line: not a row
    row(9, "10-03-2026 08:00:08", PLATES[6], land="B", klasse="LB"),
    ";10-03-2026 08:00:09;" + PLATES[0] + ";NL;P;Biltstraat;;",           # no Id
]


def test_broken_rows_are_reported_with_file_line_and_reason_never_the_plate(tmp_path):
    result = read_export(export(tmp_path, BROKEN, name="week-11.csv"), MAPPING)
    assert result.rows == 10 and len(result.observations) == 2
    assert [(b.file, b.line) for b in result.bad] == [("week-11.csv", n) for n in (3, 4, 5, 6, 7, 8, 9, 12)]
    reasons = [b.reason for b in result.bad]
    assert "unknown Locatie 'Neude'" in reasons[0] and reasons[1] == "5 fields where the header has 8"
    assert "does not match" in reasons[2] and reasons[3] == "unknown Klasse 'XX'"
    assert reasons[4:] == ["empty Hash", "unknown Land 'Atlantis'", "Id repeats the row on line 2", "empty Id"]
    report = json.dumps(result.report())
    assert not any(p in report or p.replace("-", "") in report for p in PLATES)


def test_a_land_of_the_right_shape_that_iso_never_assigned_is_a_bad_row(tmp_path):
    """The shape alone passed ZZ and YU (the stream then quarantined every such row as BAD_PLATE_COUNTRY)."""
    result = read_export(export(tmp_path, [row(1, "10-03-2026 08:00:00", PLATES[0], land="ZZ"),
                                           row(2, "10-03-2026 08:00:01", PLATES[1], land="YU"),
                                           row(3, "10-03-2026 08:00:02", PLATES[2], land="D")]), MAPPING)
    assert [b.reason for b in result.bad] == ["unknown Land 'ZZ'", "unknown Land 'YU'"]
    assert [o["plate_country"] for o in result.observations] == ["DE"]


def test_a_mapping_to_a_code_iso_never_assigned_is_refused_on_load(tmp_path):
    text = (CONF_DIR / "feeds" / "demo-supplier.toml").read_text().replace('D = "DE"', 'D = "DD"')
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ValueError, match="countries D = 'DD': each must map to a country code: ISO 3166-1"):
        load_mapping(tmp_path / "bad.toml")


def test_a_file_without_the_export_columns_is_rejected_whole(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a;b;c\n1;2;3\n")
    result = read_export(path, MAPPING)
    assert result.observations == [] and "missing columns Id, Tijd(CET), Hash" in str(result.problem)


def test_a_quote_running_past_the_field_limit_is_a_bad_row_and_the_lines_after_it_are_read(tmp_path):
    rows = [row(1, "10-03-2026 08:00:00"), '"2;' + row(2, "10-03-2026 08:00:01")]
    rows += [row(i, "10-03-2026 08:00:02") for i in range(3, 3000)]
    result = read_export(export(tmp_path, rows), MAPPING)
    assert result.problem is None and (result.rows, len(result.observations)) == (2999, 2998)
    [bad] = result.bad
    assert bad.line == 3 and bad.reason == ("field larger than field limit (131072) (an unbalanced quote?); the lines "
                                            "after it are read as rows")


class Collect:
    def __init__(self) -> None:
        self.batches: list[tuple[str, int]] = []

    def send(self, items, request_id, filename=None):  # noqa: ANN001, ANN201
        self.batches.append((request_id, len(items)))
        return len(items)


def test_the_drop_deletes_delivered_and_rejected_files_and_keeps_their_reports(tmp_path):
    """An export holds raw plates, gone within 24 hours by the ingest contract: deleted once read."""
    export(tmp_path, BROKEN, name="week-11.csv")
    (tmp_path / "notes.csv").write_text("x;y\n1;2\n")
    sink, lines = Collect(), list[str]()
    outcome = process_drop([tmp_path], MAPPING, sink, batch=1, say=lines.append, max_age_hours=22)
    assert outcome.delivered == 2 and [n for _, n in sink.batches] == [1, 1]
    assert sink.batches[0][0].startswith("csv-") and sink.batches[0][0] != sink.batches[1][0]
    assert not (tmp_path / "processed" / "week-11.csv").exists() and not (tmp_path / "week-11.csv").exists()
    report = json.loads((tmp_path / "processed" / "week-11.csv.report.json").read_text())
    assert (report["good"], report["bad"], report["delivered"]) == (2, 8, 2)
    assert (tmp_path / "rejected" / "notes.csv.report.json").exists()
    assert sorted(p.name for p in tmp_path.rglob("*.csv")) == []
    assert any("week-11.csv:3: unknown Locatie" in line for line in lines)
    assert not any(p in "\n".join(lines) for p in PLATES)


def test_a_corrected_redelivery_gets_new_keys_for_its_changed_batches_and_an_identical_one_none(tmp_path):
    rows = [row(1, "10-03-2026 08:00:00"), row(2, "10-03-2026 08:00:01"),
            row(3, "10-03-2026 08:00:02", locatie="Neude"), row(4, "10-03-2026 08:00:03")]
    fixed = MAPPING.model_copy(update={"locations": {**MAPPING.locations, "Neude": MAPPING.locations["Biltstraat"]}})
    first, again, renamed, corrected = Collect(), Collect(), Collect(), Collect()
    process_drop([export(tmp_path, rows, "week-11.csv")], MAPPING, first, delete=False, batch=2, say=print,
                 max_age_hours=22)
    process_drop([export(tmp_path, rows, "week-11.csv")], MAPPING, again, delete=False, batch=2, say=print,
                 max_age_hours=22)
    process_drop([export(tmp_path, rows, "week-11-resent.csv")], MAPPING, renamed, delete=False, batch=2, say=print,
                 max_age_hours=22)
    process_drop([export(tmp_path, rows, "week-11.csv")], fixed, corrected, delete=False, batch=2, say=print,
                 max_age_hours=22)
    assert [n for _, n in first.batches] == [2, 1] and again.batches == first.batches == renamed.batches
    # The mapping now knows Neude: line 4 is sent, the second batch (lines 4, 5) is new, the first a replay.
    assert [n for _, n in corrected.batches] == [2, 2]
    assert corrected.batches[0][0] == first.batches[0][0]
    assert corrected.batches[1][0] not in {key for key, _ in first.batches}


@pytest.mark.parametrize("name", ["demo-supplier.toml"])
def test_shipped_mappings_name_configured_cameras(name):
    from anpr.zones import load_municipalities

    cameras = {c.camera_id for m in load_municipalities() for c in m.cameras}
    mapping = load_mapping(CONF_DIR / "feeds" / name)
    assert {loc.camera_id for loc in mapping.locations.values()} <= cameras


def test_a_weekly_exports_rows_beyond_the_lateness_window_are_bad_rows_not_silent_quarantine(tmp_path):
    """A review's case: a Monday-Sunday export delivered the next Monday at 08:00 carries rows more than 7 days
    old, which the stream quarantines as EVENT_TOO_LATE while the report counted them delivered."""
    delivered = datetime(2026, 3, 16, 7, 0, tzinfo=UTC)  # Monday 16 March, 08:00 CET
    path = export(tmp_path, [row(1, "09-03-2026 07:59:00"), row(2, "09-03-2026 08:01:00"),
                             row(3, "15-03-2026 23:59:00"), row(4, "16-03-2026 08:06:00")])
    result = read_export(path, MAPPING, Accepted(delivered))
    assert [o["extensions"]["source_line"] for o in result.observations] == [3, 4]
    assert [(b.line, b.reason) for b in result.bad] == [
        (2, "Tijd(CET) '09-03-2026 07:59:00': more than 7 days before its delivery (the stream accepts events up "
            "to 7 days late)"),
        (5, "Tijd(CET) '16-03-2026 08:06:00': more than 5 minutes after its delivery (a camera clock ahead?)")]
    assert len(read_export(path, MAPPING).observations) == 4  # unchecked without a delivery time
