"""A file whose delivery fails holds raw plates: refused ones are rejected at once, others at the deadline."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from jobs.feeds.csv_feed import read_export
from jobs.feeds.drop import batch_key, process_drop
from jobs.feeds.sinks import DeliveryFailed, Refused
from tests.privacy import find_plates
from tests.unit.jobs.feeds.test_feed_csv import MAPPING, PLATES, export, row

HOURS = 22
ROWS = [row(i, f"10-03-2026 08:00:0{i}", PLATES[i]) for i in range(1, 6)]


class FailAfter:
    """Delivers `good` batches, then raises `failure` for every batch."""

    def __init__(self, good: int, failure: Exception) -> None:
        self.good, self.failure, self.batches = good, failure, 0

    def send(self, items, request_id, filename=None):  # noqa: ANN001, ANN201
        if self.batches >= self.good:
            raise self.failure
        self.batches += 1
        return len(items)


def drop(tmp_path: Path, sink: FailAfter, age_hours: float) -> tuple[Path, list[str], list[tuple[str, str]]]:
    path = export(tmp_path, ROWS, "week-11.csv")
    arrived = time.time() - age_hours * 3600
    os.utime(path, (arrived, arrived))
    lines: list[str] = []
    outcome = process_drop([tmp_path], MAPPING, sink, batch=2, say=lines.append, max_age_hours=HOURS)
    return path, lines, outcome.failed


def nothing_holds_a_plate(tmp_path: Path, lines: list[str]) -> bool:
    """No plate, in any normalisation, left in the drop folder (reports included) or in the lines said."""
    (tmp_path / "said.txt").write_text("\n".join(lines))
    return find_plates(tmp_path, PLATES) == []


def test_a_refused_file_is_rejected_at_once_with_the_refusal_and_what_was_delivered_before(tmp_path):
    refused = Refused("ingest endpoint http://127.0.0.1:8081/ answered 403 camera_not_owned: 1 camera(s) of this "
                      "message belong to another supplier or municipality: cam-9; nothing of the message was "
                      "published", 403, "camera_not_owned")
    path, lines, failed = drop(tmp_path, FailAfter(1, refused), age_hours=0)
    assert not path.exists() and [name for name, _ in failed] == ["week-11.csv"]
    report = json.loads((tmp_path / "rejected" / "week-11.csv.report.json").read_text())
    assert report["refusal"] == {"status": 403, "code": "camera_not_owned"}
    assert (report["delivered"], report["batches_delivered"], report["good"]) == (2, 1, 5)
    assert report["problem"].startswith("the ingest endpoint refused it") and "camera_not_owned" in report["failure"]
    assert "rejected: the ingest endpoint refused it" in lines[-1] and "2 rows in 1 batches" in lines[-1]
    assert nothing_holds_a_plate(tmp_path, lines)
    assert not (tmp_path / "processed").exists()


def test_a_young_file_whose_delivery_failed_stays_for_the_next_run(tmp_path):
    path, lines, failed = drop(tmp_path, FailAfter(1, DeliveryFailed("gave up after 8 attempts")), age_hours=21.9)
    assert path.exists() and failed == [("week-11.csv", "gave up after 8 attempts")]
    assert not (tmp_path / "rejected").exists() and not (tmp_path / "processed").exists()
    assert "file left in place for the next run (rejected once 22 hours old)" in lines[-1]


def test_a_file_whose_delivery_failed_past_the_deadline_is_rejected(tmp_path):
    path, lines, failed = drop(tmp_path, FailAfter(2, DeliveryFailed("gave up after 8 attempts")), age_hours=22.1)
    assert not path.exists() and [name for name, _ in failed] == ["week-11.csv"]
    report = json.loads((tmp_path / "rejected" / "week-11.csv.report.json").read_text())
    assert report["problem"] == "not delivered within 22 hours; send it again" and report["refusal"] is None
    assert (report["failure"], report["delivered"], report["batches_delivered"]) == ("gave up after 8 attempts", 4, 2)
    assert "rejected: not delivered within 22 hours" in lines[-1] and nothing_holds_a_plate(tmp_path, lines)


def test_the_deadline_is_judged_by_the_injected_clock(tmp_path):
    path = export(tmp_path, ROWS, "week-11.csv")
    later = time.time() + (HOURS + 1) * 3600
    process_drop([path], MAPPING, FailAfter(0, DeliveryFailed("unreachable")), say=print, max_age_hours=HOURS,
                 now=lambda: later)
    assert not path.exists() and (tmp_path / "rejected" / "week-11.csv.report.json").exists()


def test_a_modification_time_set_ahead_does_not_keep_the_file(tmp_path):
    path = export(tmp_path, ROWS, "week-11.csv")
    ahead = time.time() + 365 * 24 * 3600
    os.utime(path, (ahead, ahead))  # the inode change time is now: the file arrived now
    later = time.time() + (HOURS + 1) * 3600
    process_drop([path], MAPPING, FailAfter(0, DeliveryFailed("unreachable")), say=print, max_age_hours=HOURS,
                 now=lambda: later)
    assert not path.exists()


def test_kept_files_are_neither_reported_nor_deleted_when_refused(tmp_path):
    path = export(tmp_path, ROWS, "week-11.csv")
    failed = process_drop([path], MAPPING, FailAfter(0, Refused("answered 422", 422, "invalid_payload")), delete=False,
                          say=print, max_age_hours=HOURS).failed
    assert path.exists() and failed == [("week-11.csv", "answered 422")] and not (tmp_path / "rejected").exists()


def test_another_exception_is_named_by_its_type_in_the_report(tmp_path):
    path = export(tmp_path, ROWS, "week-11.csv")
    os.utime(path, (0, 0))
    process_drop([path], MAPPING, FailAfter(0, ValueError(f"bad value {PLATES[1]}")), say=lambda _: None,
                 max_age_hours=HOURS)
    report = json.loads((tmp_path / "rejected" / "week-11.csv.report.json").read_text())
    assert report["failure"] == "ValueError"


class HeldBefore:
    """The ingest endpoint after a copy of the file under another name: every key it has seen answers 422
    idempotency_key_reused (the bodies name another file), a new key is published."""

    def __init__(self, seen: set[str]) -> None:
        self.seen, self.published = seen, 0

    def send(self, items, request_id, filename=None):  # noqa: ANN001, ANN201
        if request_id in self.seen:
            raise Refused("ingest endpoint answered 422 idempotency_key_reused: this key was used with another "
                          "body", 422, "idempotency_key_reused")
        self.published += len(items)
        return len(items)


def test_rows_sent_again_under_another_name_are_taken_as_delivered_before_not_refused(tmp_path):
    """A fresh reader's case: the batch key leaves out file and line, the endpoint's body comparison does not, so
    a renamed re-send met 422 idempotency_key_reused at its first batch and was rejected as refused."""
    endpoint = HeldBefore(set())
    first = process_drop([export(tmp_path, ROWS[:2], "week-11.csv")], MAPPING, endpoint, batch=2, say=print,
                         max_age_hours=HOURS)
    assert (first.delivered, endpoint.published) == (2, 2)
    (tmp_path / "copy").mkdir()
    endpoint.seen.add(batch_key(read_export(export(tmp_path / "copy", ROWS[:2], "x.csv"), MAPPING).observations))
    endpoint.published = 0
    again = process_drop([export(tmp_path, ROWS, "week-11-resent.csv")], MAPPING, endpoint, batch=2, say=print,
                         max_age_hours=HOURS)
    assert (again.failed, again.delivered, again.replayed, endpoint.published) == ([], 5, 1, 3)
    assert (tmp_path / "processed" / "week-11-resent.csv.report.json").exists()
