"""The compliance check's pure parts (jobs/privacy_check.py) on inline rows."""

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from anpr.keyring import Pepper, pepper_id
from anpr.settings import Settings
from jobs.expired_files import (
    FileEntry,
    delta_listing,
    expired_batches,
    expired_logs,
    expired_segments,
    item,
    removed_at,
    unvacuumed,
)
from jobs.privacy_check import (
    activity,
    check_report,
    credentials,
    expired_items,
    last_check,
    render_check,
    unneeded_peppers,
)
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


def test_the_ingest_services_digest_key_is_listed_once_it_exists(tmp_path):
    from api.ingest.digests import Digests

    settings = Settings(data_dir=tmp_path)
    empty = pa.table({"pepper_id": pa.array([], pa.string()), "loaded_at": pa.array([], pa.timestamp("us", "UTC"))})
    assert "ingest digest key" not in {c["name"] for c in credentials(settings, empty, access([]), NOW)}
    Digests.of_data_dir(tmp_path)  # made on the ingest service's first use
    [key] = [c for c in credentials(settings, empty, access([]), datetime.now(UTC)) if c["name"] == "ingest digest key"]
    assert (key["age_days"], key["age_source"]) == (0, "key file written on the ingest service's first use")


def test_a_pepper_file_dates_the_pepper(tmp_path):
    path = tmp_path / "pepper"
    path.write_text("a-test-pepper-value\n")
    settings = Settings(data_dir=tmp_path, pepper_file=path)
    [pepper] = [c for c in credentials(settings, pa.table({"pepper_id": pa.array([], pa.string()),
                                               "loaded_at": pa.array([], pa.timestamp("us", "UTC"))}),
                           access([]), datetime.now(UTC)) if c["name"] == "pepper"]
    assert (pepper["age_days"], pepper["age_source"], pepper["last_used"]) == (0, "pepper file written", None)


# -- files left on disk past their period (jobs/expired_files.py) --------------------------------------

def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def f(path: str, day: int, size: int = 10) -> FileEntry:
    return FileEntry(path, size, at(day))


def test_delta_files_removed_before_the_time_travel_window_are_unvacuumed():
    log = ['{"commitInfo": {}}', '{"add": {"path": "event_date=2026-08-14/part-1.parquet"}}',
           '{"remove": {"path": "event_date=2026-08-14/part-0.parquet", "deletionTimestamp": 1793577600000}}',
           '{"remove": {"path": "k=a%2520b/part-2.parquet", "deletionTimestamp": 1795392000000}}', ""]
    removed = removed_at(log)
    assert removed == {"event_date=2026-08-14/part-0.parquet": datetime(2026, 11, 2, tzinfo=UTC),
                       "k=a%20b/part-2.parquet": datetime(2026, 11, 23, tzinfo=UTC)}
    files = [f("event_date=2026-08-14/part-0.parquet", 1), f("event_date=2026-08-14/part-1.parquet", 1),
             f("k=a%20b/part-2.parquet", 1), f("orphan.parquet", 3), f("fresh-orphan.parquet", 25),
             f("_delta_log/00000000000000000000.json", 1), f("event_date=2026-08-14/.part-1.parquet.crc", 1)]
    cutoff = at(24) - timedelta(hours=168)  # 17 November
    assert unvacuumed(files, {"event_date=2026-08-14/part-1.parquet"}, removed, cutoff) == [
        f("event_date=2026-08-14/part-0.parquet", 1), f("orphan.parquet", 3)]


def test_a_table_whose_first_commit_is_still_being_written_lists_nothing_to_remove(tmp_path):
    table = tmp_path / "passages"
    (table / "_delta_log").mkdir(parents=True)
    (table / "part-00000.parquet").write_bytes(b"PAR1")  # a writer's data file before its commit lands
    assert delta_listing(table) == ([], set(), {})


def test_closed_segments_of_the_topic_older_than_its_retention():
    def seg(partition: str, offset: int, day: int, ext: str = "log") -> FileEntry:
        return f(f"{partition}/{offset:020d}.{ext}", day)

    files = [seg("anpr.observations-0", 0, 1), seg("anpr.observations-0", 0, 1, "index"),
             seg("anpr.observations-0", 120, 2), seg("anpr.observations-0", 300, 2),
             seg("anpr.observations-1", 0, 1), seg("anpr.cameras-0", 0, 1), seg("anpr.cameras-0", 50, 1),
             seg("__cluster_metadata-0", 0, 1), f("anpr.observations-0/leader-epoch-checkpoint", 1)]
    # Partition 1's only segment is the active one; other topics have retention of their own.
    assert expired_segments(files, "anpr.observations", at(10)) == [
        seg("anpr.observations-0", 0, 1), seg("anpr.observations-0", 120, 2)]


def test_checkpoint_batches_before_the_newest_kept_and_older_than_retention():
    files = [f(f"q/{kind}/{b}", day) for kind in ("offsets", "commits") for b, day in ((0, 1), (1, 2), (2, 3), (3, 20))]
    files += [f("q/offsets/.0.crc", 1), f("q/metadata", 1), f("q/sources/0/0", 1), f("other/commits/7", 1)]
    assert expired_batches(files, at(3), keep=2) == [f("q/commits/0", 1), f("q/commits/1", 2),
                                                     f("q/offsets/.0.crc", 1), f("q/offsets/0", 1),
                                                     f("q/offsets/1", 2)]
    assert expired_batches(files, at(2), keep=2) == [f("q/commits/0", 1), f("q/offsets/.0.crc", 1),
                                                     f("q/offsets/0", 1)]


def test_log_files_not_written_within_the_period():
    files = [f("anpr.log", 30), f("anpr.log.2026-10-01", 1), f("spark.log", 2), f("spark-log4j2.properties", 1)]
    assert expired_logs(files, at(10)) == [f("anpr.log.2026-10-01", 1), f("spark.log", 2)]


def test_rotated_out_peppers_no_passage_needs_are_to_destroy():
    peppers = [Pepper("configured01", "/s/pepper", configured=True)]
    peppers += [Pepper(pid, f"/k/{pid}.pepper", configured=False) for pid in ("active0001", "old0000001", "old0000002")]
    kept = {"old0000002": 4, None: 7, "configured01": 1}
    assert [p.id for p in unneeded_peppers(peppers, "active0001", kept)] == ["old0000001"]


def test_an_expired_file_item_says_what_where_since_and_how_to_remove_never_a_file_name():
    due = [f("event_date=2026-08-14/part-0.parquet", 2, size=100), f("orphan.parquet", 1, size=5)]
    found = item("files of deleted rows of passages", "lake/passages", due, "anpr retention run")
    assert found == {"what": "files of deleted rows of passages", "where": "lake/passages", "since": at(1),
                     "files": 2, "bytes": 105, "remove": "anpr retention run"}
    text = render_check(check_report(NOW, [], [], activity([], access([]), None), [found]))
    assert "EXPIRED, still on disk (1):" in text
    assert "files of deleted rows of passages: 2 files, 105 bytes in lake/passages since 2026-11-01" in text
    assert "remove: anpr retention run" in text and "part-0" not in text and "event_date" not in text
    assert "expired files: none" in render_check(check_report(NOW, [], [], activity([], access([]), None)))
