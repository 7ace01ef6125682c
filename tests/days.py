"""The fixed day of the integration tests that run the monthly statistics on a synthetic feed.

Their feed once came from cli/demo.py default_day() (two days back), so its passages, and with them the
month's disclosure control, changed with the date a test ran on: a pass one day said nothing of the next
(stop 56 found a day whose quiet hour refused the month; that day is this one). A fixed day keeps each run
comparable; the stream accepts it with a lateness window stretched to reach it (LATENESS_DAYS)."""

from __future__ import annotations

from datetime import UTC, date, datetime

DAY = date(2026, 12, 5)


def lateness_days() -> int:
    """A stream.max_lateness_days that accepts DAY's events today, with the default week to spare."""
    return (datetime.now(UTC).date() - DAY).days + 7
