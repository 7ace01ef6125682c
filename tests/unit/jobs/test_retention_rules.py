"""When each month of passages expires (pure rules of jobs/retention.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from anpr.settings import RetentionSettings
from jobs.retention import finally_released, month_final, month_ranges, passages_months_due


def test_a_month_is_final_the_day_after_its_lateness_window():
    assert month_final(date(2026, 9, 1), 7) == date(2026, 10, 8)
    assert month_final(date(2026, 12, 1), 7) == date(2027, 1, 8)
    assert month_final(date(2026, 2, 1), 0) == date(2026, 3, 1)


def test_passages_expire_a_set_period_after_their_month_is_final():
    r = RetentionSettings(passages_days_after_final=30)
    months = [date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)]
    # September is final on 8 October, so it expires on 7 November (+30 days), October on 8 December.
    assert passages_months_due(months, date(2026, 11, 6), r, 7) == [date(2026, 8, 1)]
    assert passages_months_due(months, date(2026, 11, 7), r, 7) == [date(2026, 8, 1), date(2026, 9, 1)]
    assert passages_months_due(months, date(2026, 12, 7), r, 7) == months[:2]
    assert passages_months_due(months, date(2026, 12, 8), r, 7) == months


def test_only_a_release_built_after_the_month_was_final_lets_its_passages_go():
    releases = {"2026-08": [datetime(2026, 9, 8, 23, 0, tzinfo=UTC)],  # built on the day August became final
                "2026-09": [datetime(2026, 10, 7, 12, 0, tzinfo=UTC)],  # provisional only
                "2026-10": [datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC)]}
    months = [date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1), date(2026, 7, 1)]
    assert finally_released(months, releases, 7) == [date(2026, 8, 1), date(2026, 10, 1)]


def test_months_become_whole_month_ranges_on_the_partition_column():
    assert month_ranges([date(2026, 8, 1), date(2026, 12, 1)]) == (
        "(event_date >= DATE'2026-08-01' AND event_date < DATE'2026-09-01') OR "
        "(event_date >= DATE'2026-12-01' AND event_date < DATE'2027-01-01')")


def test_retention_deletes_log_files_not_written_within_log_days(tmp_path):
    import os

    from jobs.expired_files import expired_logs
    from jobs.retention import expire_files

    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    for name, days_ago in (("anpr.log", 0), ("spark.log", 31), ("anpr.log.1", 45), ("spark-log4j2.properties", 60)):
        (tmp_path / name).write_text("x\n")
        os.utime(tmp_path / name, (now.timestamp() - days_ago * 86_400,) * 2)
    cutoff = datetime(2026, 11, 1, 12, tzinfo=UTC)  # 30 days
    dry = expire_files(tmp_path, "logs", expired_logs, cutoff, "not written for 30 d", dry_run=True)
    assert (dry.files_removed, len(list(tmp_path.iterdir()))) == (2, 4)
    assert expire_files(tmp_path, "logs", expired_logs, cutoff, "not written for 30 d").files_removed == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anpr.log", "spark-log4j2.properties"]
