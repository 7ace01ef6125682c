from datetime import date

from anpr.months import month_bounds, month_start, next_month


def test_next_month_from_any_day_and_across_the_year() -> None:
    assert next_month(date(2026, 1, 31)) == date(2026, 2, 1)
    assert next_month(date(2026, 2, 1)) == date(2026, 3, 1)
    assert next_month(date(2026, 12, 15)) == date(2027, 1, 1)
    assert month_start(date(2024, 2, 29)) == date(2024, 2, 1)


def test_month_bounds_cover_the_month_half_open() -> None:
    assert month_bounds(2026, 2) == (date(2026, 2, 1), date(2026, 3, 1))
    assert month_bounds(2026, 12) == (date(2026, 12, 1), date(2027, 1, 1))
