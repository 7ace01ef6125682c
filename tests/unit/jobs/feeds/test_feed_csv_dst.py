"""Local times of the DST nights: each read at its UTC instant when the rows tell it, a named bad row when they do not.

Night of 25 October 2026: 02:00-02:59 happens twice, first as CEST (UTC+2), then as CET (UTC+1). Night of 29 March
2026: 02:00-02:59 does not happen.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.feeds import wall_clock
from jobs.feeds.csv_feed import CsvExport, read_export
from jobs.feeds.drop import process_drop
from jobs.feeds.wall_clock import BACKWARDS, Undecided, WallClocks
from tests.unit.jobs.feeds.test_feed_csv import MAPPING, export, row
from tests.unit.jobs.feeds.test_feed_csv_malformed import Keep

AUTUMN, SPRING = "25-10-2026", "29-03-2026"


def read(tmp_path: Path, rows: list[tuple[str, str]]) -> CsvExport:
    """(Locatie, local time of the autumn night) per row, Ids 1, 2, ... on lines 2, 3, ..."""
    lines = [row(i, f"{AUTUMN} {time}", locatie=where) for i, (where, time) in enumerate(rows, start=1)]
    return read_export(export(tmp_path, lines), MAPPING)


def instants(result: CsvExport) -> dict[int, str]:
    return {o["extensions"]["source_line"]: o["event_time"] for o in result.observations}


def undecided(result: CsvExport) -> dict[int, str]:
    return {b.line: b.reason for b in result.bad}


def test_a_camera_with_both_passes_reads_each_at_its_instant_whatever_the_gaps(tmp_path):
    # 02:40 comes before the go-back to 02:05, so it is summer time; 02:55 after it, winter time.
    result = read(tmp_path, [("Biltstraat", "01:58:00"), ("Biltstraat", "02:10:00"), ("Biltstraat", "02:40:00"),
                             ("Biltstraat", "02:05:00"), ("Biltstraat", "02:55:00"), ("Biltstraat", "03:01:00")])
    assert result.bad == [] and result.undecided_times == 0
    assert instants(result) == {2: "2026-10-24T23:58:00.000Z", 3: "2026-10-25T00:10:00.000Z",
                                4: "2026-10-25T00:40:00.000Z", 5: "2026-10-25T01:05:00.000Z",
                                6: "2026-10-25T01:55:00.000Z", 7: "2026-10-25T02:01:00.000Z"}


def test_a_camera_whose_rows_show_only_the_second_pass_is_not_read_as_summer_time(tmp_path):
    """The reported fault: 02:20 after 01:30 was read as 00:20Z (summer time), silently; as winter time it is
    01:20Z. Nothing in a file of this camera alone tells which: a named bad row, counted."""
    result = read(tmp_path, [("Nobelstraat", "01:30:00"), ("Nobelstraat", "02:20:00"), ("Nobelstraat", "03:10:00")])
    assert instants(result) == {2: "2026-10-24T23:30:00.000Z", 4: "2026-10-25T02:10:00.000Z"}
    assert undecided(result) == {3: "Tijd(CET) in the repeated autumn hour, but the rows of Locatie 'Nobelstraat' do "
                                    "not show which of its two passes this is, and the file holds no other location's "
                                    "rows: summer or winter time cannot be decided"}
    assert result.undecided_times == 1 and result.report()["undecided_times"] == 1


def test_a_camera_whose_rows_show_only_the_first_pass_is_not_guessed_either(tmp_path):
    result = read(tmp_path, [("Nobelstraat", "01:30:00"), ("Nobelstraat", "02:20:00"), ("Nobelstraat", "02:45:00")])
    assert list(undecided(result)) == [3, 4] and result.undecided_times == 2


def test_an_export_in_time_order_decides_a_quiet_camera_by_the_other_cameras(tmp_path):
    """Nobelstraat's only row of the hour comes after Biltstraat went back to 02:05 (winter time); Mariaplaats's only
    one before it, between two summer-time rows of Biltstraat."""
    result = read(tmp_path, [("Biltstraat", "01:50:00"),    # line 2
                             ("Nobelstraat", "01:55:00"),   # 3
                             ("Biltstraat", "02:20:00"),    # 4 first pass
                             ("Mariaplaats", "02:30:00"),   # 5 first pass, its camera's only row of the hour
                             ("Biltstraat", "02:50:00"),    # 6 first pass
                             ("Biltstraat", "02:05:00"),    # 7 second pass: the go-back
                             ("Nobelstraat", "02:15:00"),   # 8 second pass, its camera's only row of the hour
                             ("Biltstraat", "02:40:00"),    # 9 second pass
                             ("Nobelstraat", "03:05:00")])  # 10
    assert result.bad == [] and result.undecided_times == 0
    assert instants(result) == {2: "2026-10-24T23:50:00.000Z", 3: "2026-10-24T23:55:00.000Z",
                                4: "2026-10-25T00:20:00.000Z", 5: "2026-10-25T00:30:00.000Z",
                                6: "2026-10-25T00:50:00.000Z", 7: "2026-10-25T01:05:00.000Z",
                                8: "2026-10-25T01:15:00.000Z", 9: "2026-10-25T01:40:00.000Z",
                                10: "2026-10-25T02:05:00.000Z"}


def test_an_export_sorted_by_location_then_time_decides_only_the_cameras_that_show_the_go_back(tmp_path):
    result = read(tmp_path, [("Biltstraat", "01:30:00"), ("Biltstraat", "02:45:00"), ("Biltstraat", "02:10:00"),
                             ("Biltstraat", "03:05:00"),                                    # lines 2-5
                             ("Mariaplaats", "01:10:00"), ("Mariaplaats", "02:35:00"),      # 6-7: first pass only
                             ("Nobelstraat", "01:40:00"), ("Nobelstraat", "02:20:00"),      # 8-9: second pass only
                             ("Nobelstraat", "03:10:00")])                                  # 10
    assert instants(result) == {2: "2026-10-24T23:30:00.000Z", 3: "2026-10-25T00:45:00.000Z",
                                4: "2026-10-25T01:10:00.000Z", 5: "2026-10-25T02:05:00.000Z",
                                6: "2026-10-24T23:10:00.000Z", 8: "2026-10-24T23:40:00.000Z",
                                10: "2026-10-25T02:10:00.000Z"}
    reasons = undecided(result)
    assert list(reasons) == [7, 9] and result.undecided_times == 2
    assert "the rows of Locatie 'Mariaplaats' do not show which of its two passes" in reasons[7]
    assert reasons[9].endswith("and the file is not in time order near that night (line 6 goes back more than 10 "
                               "minutes before line 5): summer or winter time cannot be decided")


def test_an_export_grouped_by_location_is_not_taken_for_time_order_when_it_only_looks_in_order(tmp_path):
    """Biltstraat's rows end in the hour and Nobelstraat's start in it: in time order if Nobelstraat's 02:10 is winter
    time, but a file grouped by location need not be in time order, and 02:10 may as well be summer time."""
    result = read(tmp_path, [("Biltstraat", "01:30:00"), ("Biltstraat", "02:45:00"),
                             ("Nobelstraat", "02:10:00"), ("Nobelstraat", "03:05:00")])
    assert instants(result) == {2: "2026-10-24T23:30:00.000Z", 5: "2026-10-25T02:05:00.000Z"}
    reasons = undecided(result)
    assert list(reasons) == [3, 4] and all("the file's rows are grouped by location" in r for r in reasons.values())


def test_an_export_sorted_by_local_time_with_both_passes_merged_cannot_be_decided(tmp_path):
    """Sorted on the local time text, the two passes interleave and the clock never goes back: each row could be either
    pass. Before: all read as summer time."""
    result = read(tmp_path, [("Biltstraat", "02:10:00"), ("Biltstraat", "02:15:00"), ("Biltstraat", "02:45:00"),
                             ("Biltstraat", "02:50:00")])
    assert result.observations == [] and result.undecided_times == 4
    assert result.problem is not None and result.problem.startswith("no row could be read (first: line 2: Tijd(CET) "
                                                                    "in the repeated autumn hour")


def test_a_time_in_the_spring_gap_is_a_bad_row_never_shifted(tmp_path):
    """02:00:00-02:59:59 on 29 March does not exist (01:59:59 CET is followed by 03:00:00 CEST). Today and before:
    a bad row naming the time, counted as nonexistent_times; the rows around it at their instants."""
    lines = [row(1, f"{SPRING} 01:59:59"), row(2, f"{SPRING} 02:00:00"), row(3, f"{SPRING} 02:59:59"),
             row(4, f"{SPRING} 03:00:00")]
    result = read_export(export(tmp_path, lines), MAPPING)
    assert instants(result) == {2: "2026-03-29T00:59:59.000Z", 5: "2026-03-29T01:00:00.000Z"}
    assert undecided(result) == {
        3: "Tijd(CET) '29-03-2026 02:00:00': local time 2026-03-29 02:00:00 does not exist (clocks jumped forward)",
        4: "Tijd(CET) '29-03-2026 02:59:59': local time 2026-03-29 02:59:59 does not exist (clocks jumped forward)"}
    assert (result.nonexistent_times, result.undecided_times) == (2, 0)


def test_undecided_and_nonexistent_times_are_not_delivered_and_are_counted_in_the_report(tmp_path):
    lines = [row(1, f"{AUTUMN} 01:30:00", locatie="Nobelstraat"), row(2, f"{AUTUMN} 02:20:00", locatie="Nobelstraat"),
             row(3, f"{SPRING} 02:30:00"), row(4, f"{SPRING} 08:00:00")]
    export(tmp_path, lines, "week-44.csv")
    sink = Keep()
    process_drop([tmp_path], MAPPING, sink, say=lambda _: None, max_age_hours=22)
    report = json.loads((tmp_path / "processed" / "week-44.csv.report.json").read_text())
    assert (report["rows"], report["good"], report["bad"], report["delivered"]) == (4, 2, 2, 2)
    assert (report["undecided_times"], report["nonexistent_times"]) == (1, 1)
    assert [b["line"] for b in report["bad_rows"]] == [3, 4]
    assert [o["extensions"]["source_line"] for o in sink.items] == [2, 5]


AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def readings(times: list[tuple[datetime, datetime]]) -> tuple[list[int], list[int]]:
    """The rows of the hour (indexes) and every split of them into summer then winter time that keeps the rows in
    order, steps back of up to BACKWARDS allowed: s means the first s of them are summer time."""
    hour = [i for i, (first, second) in enumerate(times) if first != second]
    splits = []
    for s in range(len(hour) + 1):
        latest = None
        for i, (first, second) in enumerate(times):
            utc = first if first == second or i in hour[:s] else second
            if latest is not None and utc < latest - BACKWARDS:
                break
            latest = max(latest or utc, utc)
        else:
            splits.append(s)
    return hour, splits


def agreed(times: list[tuple[datetime, datetime]], i: int) -> bool | str | None:
    """Summer time (True) or winter time (False) when every reading agrees; None when they differ; "none": there is
    no reading in order."""
    hour, splits = readings(times)
    k = hour.index(i) + 1
    if not splits:
        return "none"
    return True if all(k <= s for s in splits) else False if all(k > s for s in splits) else None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABC"), st.integers(0, 200) | st.sampled_from([29, 30, 79, 80, 81, 90, 91])),
                min_size=1, max_size=10))
def test_a_time_of_the_hour_is_decided_exactly_when_every_reading_in_order_agrees(rows):
    """Brute force: a camera's own rows decide when all their order-keeping readings agree (none: out of order); else
    the file's, when its cameras interleave, by the same rule over all rows; else Undecided."""
    night = [(camera, datetime(2026, 10, 25, 1, 40) + timedelta(minutes=m)) for camera, m in rows]
    clocks = WallClocks(AMSTERDAM)
    for line, (camera, local) in enumerate(night, start=2):
        clocks.see(camera, local, line)
    times = [wall_clock.instants(AMSTERDAM, local) for _, local in night]
    cameras = [camera for camera, _ in night]
    runs = [c for n, c in enumerate(cameras) if n == 0 or cameras[n - 1] != c]
    interleaved = len(runs) != len(set(runs))
    for i, (camera, local) in enumerate(night):
        if times[i][0] == times[i][1]:
            continue
        own = [n for n, c in enumerate(cameras) if c == camera]
        expected = agreed([times[n] for n in own], own.index(i))
        if expected is None and interleaved:
            expected = agreed(times, i)
        try:
            got: bool | str | None = clocks.utc(camera, local, i + 2) == times[i][0]
        except Undecided:
            got = None
        assert got == (None if expected == "none" else expected), (i, night)


def test_a_backlog_row_of_another_day_appended_leaves_the_night_decided(tmp_path):
    """A review's case (stop 47): an export in time order with a Wednesday backlog row at its end made the autumn
    hour undecided ("the file is not in time order"), and a camera's own backlog row did so for all its hour."""
    lines = [row(1, f"{AUTUMN} 01:50:00"), row(2, f"{AUTUMN} 02:30:00", locatie="Nobelstraat"),
             row(3, f"{AUTUMN} 02:40:00"), row(4, f"{AUTUMN} 02:10:00"), row(5, f"{AUTUMN} 02:50:00"),
             row(6, f"{AUTUMN} 03:10:00", locatie="Nobelstraat"), row(7, "21-10-2026 09:00:00", locatie="Mariaplaats"),
             row(8, "21-10-2026 09:30:00")]
    result = read_export(export(tmp_path, lines, "week-44.csv"), MAPPING)
    assert undecided(result) == {}
    assert instants(result) == {2: "2026-10-24T23:50:00.000Z", 3: "2026-10-25T00:30:00.000Z",
                                4: "2026-10-25T00:40:00.000Z", 5: "2026-10-25T01:10:00.000Z",
                                6: "2026-10-25T01:50:00.000Z", 7: "2026-10-25T02:10:00.000Z",
                                8: "2026-10-21T07:00:00.000Z", 9: "2026-10-21T07:30:00.000Z"}



@pytest.mark.parametrize("backlog", [False, True])
def test_a_backlog_row_of_another_day_decides_nothing_about_the_night(backlog):
    """A review's case (stop 47): 01:50 and 02:10 of one camera do not show which pass 02:10 is; a row of the Sunday
    before, appended after them, was taken for a later row in time order and made 02:10 summer time."""
    clocks = WallClocks(ZoneInfo("Europe/Amsterdam"))
    rows = ["2024-10-27 01:50", "2024-10-27 02:10", *(["2024-10-20 09:00"] if backlog else [])]
    for line, text in enumerate(rows, start=2):
        clocks.see("c", datetime.fromisoformat(text), line)
    with pytest.raises(Undecided):
        clocks.utc("c", datetime.fromisoformat("2024-10-27 02:10"), 3)
