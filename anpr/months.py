"""Calendar months of local dates (event_date, partitions, releases): one home for the month arithmetic
that statistics, retention and privacy requests share, so they agree on where a month ends."""

from __future__ import annotations

from datetime import date, timedelta


def month_start(day: date) -> date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


def next_month(first: date) -> date:
    """The first day of the month after `first`'s (any day of the month gives the same answer)."""
    return (month_start(first) + timedelta(days=32)).replace(day=1)


def month_bounds(jaar: int, maand: int) -> tuple[date, date]:
    """[first day, first day of the next month) of month jaar-maand (maand 1-12)."""
    first = date(jaar, maand, 1)
    return first, next_month(first)
