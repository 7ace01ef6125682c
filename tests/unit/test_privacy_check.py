"""The compliance check's pure parts (jobs/privacy_check.py) on inline rows."""

from datetime import UTC, datetime

import pyarrow as pa

from anpr.keyring import pepper_id
from anpr.settings import Settings
from jobs.privacy_check import activity, check_report, credentials, expired_items, last_check, render_check
from jobs.retention import Outcome

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def run(command: str, user: str, day: int, code: int = 0) -> dict:
    return {"command": command, "user": user, "exit_code": code, "started_at": datetime(2026, 11, day, tzinfo=UTC)}


def access(rows: list[tuple]) -> pa.Table:
    return pa.Table.from_pylist([{"ts": datetime(2026, 11, d, tzinfo=UTC), "vendor": v, "table_name": t}
                                 for d, v, t in rows], schema=pa.schema([("ts", pa.timestamp("us", "UTC")),
                                                                         ("vendor", pa.string()),
                                                                         ("table_name", pa.string())]))


def test_only_datasets_with_rows_past_their_period_are_expired_items():
    outcomes = [Outcome("quarantine", "ingest_date < 2026-11-01", rows_deleted=1), Outcome("passages", "x"),
                Outcome("stream_metrics", "finished_at < 2025-10-31 12:00:00", rows_deleted=4)]
    assert expired_items(outcomes) == [
        {"dataset": "quarantine", "rule": "ingest_date < 2026-11-01", "rows": 1},
        {"dataset": "stream_metrics", "rule": "finished_at < 2025-10-31 12:00:00", "rows": 4}]


def test_activity_since_the_last_successful_check():
    rows = [run("privacy check", "dpo", 3), run("privacy check", "dpo", 10, code=1), run("stats", "ops", 2),
            run("stats", "ops", 5), run("retention run", "svc", 6, code=1), run("stats", "ops", 7)]
    since = last_check(rows)
    assert since == datetime(2026, 11, 3, tzinfo=UTC)  # the failed check of the 10th does not count
    did = activity(rows, access([(1, "esri", "4.1"), (4, "esri", "4.1"), (4, "esri", "4.1"), (5, None, None)]),
                   since)
    assert did["operator_runs"] == [{"user": "dpo", "command": "privacy check", "runs": 2},
                                    {"user": "ops", "command": "stats", "runs": 2},
                                    {"user": "svc", "command": "retention run", "runs": 1}]
    assert did["failed_runs"] == 2
    assert did["api_requests"] == [{"vendor": "-", "table": "-", "requests": 1},
                                   {"vendor": "esri", "table": "4.1", "requests": 2}]
    assert last_check([]) is None and activity([], access([]), None)["operator_runs"] == []


def test_credentials_by_name_with_age_and_last_use_never_their_values(tmp_path):
    settings = Settings(data_dir=tmp_path, pepper="a-test-pepper-value", vendor_keys={"esri": "k-esri-0001"},
                        admin_key="k-admin-0001")
    loads = pa.Table.from_pylist([
        {"pepper_id": pepper_id(b"a-test-pepper-value"), "loaded_at": datetime(2026, 9, 1, tzinfo=UTC)},
        {"pepper_id": pepper_id(b"a-test-pepper-value"), "loaded_at": datetime(2026, 11, 1, tzinfo=UTC)},
        {"pepper_id": "an-old-pepper", "loaded_at": datetime(2025, 1, 1, tzinfo=UTC)}])
    found = {c["name"]: c for c in credentials(settings, loads, access([(4, "esri", "4.1"), (9, "esri", "4.2")]), NOW)}
    assert (found["pepper"]["age_days"], found["pepper"]["age_source"]) == (91, "first register load with this pepper")
    assert found["pepper"]["last_used"] == datetime(2026, 11, 1, tzinfo=UTC)
    assert found["esri"]["last_used"] == datetime(2026, 11, 9, tzinfo=UTC) and found["esri"]["age_days"] is None
    assert found["admin"]["kind"] == "admin API key"
    text = render_check(check_report(NOW, [], list(found.values()), activity([], access([]), None)))
    assert "expired: none" in text and "pepper" in text
    for secret in ("a-test-pepper-value", "k-esri-0001", "k-admin-0001"):
        assert secret not in text


def test_a_pepper_file_dates_the_pepper(tmp_path):
    path = tmp_path / "pepper"
    path.write_text("a-test-pepper-value\n")
    settings = Settings(data_dir=tmp_path, pepper_file=path)
    [pepper] = [c for c in credentials(settings, pa.table({"pepper_id": pa.array([], pa.string()),
                                               "loaded_at": pa.array([], pa.timestamp("us", "UTC"))}),
                           access([]), datetime.now(UTC)) if c["name"] == "pepper"]
    assert (pepper["age_days"], pepper["age_source"], pepper["last_used"]) == (0, "pepper file written", None)
