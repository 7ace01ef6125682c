"""Local wall-clock times of one camera's rows in file order to UTC, across daylight-saving changes.

In the spring gap (02:00-03:00 Europe/Amsterdam does not exist) a time is refused. In the autumn
overlap (02:00-03:00 happens twice) the order of the camera's rows decides: an export lists each
camera's rows in time order, so the first pass through the hour is summer time and, once the clock
is seen to go back (or a time after the hour has been seen), winter time. The decision is per camera
because an export sorted by location runs through the night once per camera.

Steps back of up to BACKWARDS are tolerated as jitter of the camera's clock. A larger step back that
the autumn change does not explain means the camera's rows are not in time order: then no time of its
repeated hour can be decided, and `undecidable` says why.

A time in year 1 or 9999 is refused as well: those are the stand-ins some programs write for no date
(.NET's DateTime.MinValue is 01-01-0001 00:00:00), and their instant may lie outside what a datetime holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import MAXYEAR, MINYEAR, UTC, datetime, timedelta
from zoneinfo import ZoneInfo

BACKWARDS = timedelta(minutes=10)


class NonexistentTime(ValueError):
    """A local time in the spring gap."""


class OutOfRange(ValueError):
    """A local time in year 1 or 9999."""


@dataclass
class WallClock:
    """One camera's rows, fed in file order with their line numbers."""

    zone: ZoneInfo
    repeated_lines: list[int] = field(default_factory=list)  # lines whose time fell in a repeated hour
    undecidable: str | None = None  # why the repeated-hour times cannot be decided, once found out of order
    _winter: set[datetime] = field(default_factory=set)  # repeated hours (local start) now in their second pass
    _latest: datetime | None = None  # latest UTC moment seen
    _latest_line: int = 0

    def to_utc(self, naive: datetime, line: int) -> datetime:
        """UTC of a local time; NonexistentTime in the spring gap, OutOfRange in year 1 or 9999. A
        repeated-hour time may later turn out undecidable (see `undecidable`), so the caller keeps
        `repeated_lines` until the end."""
        if naive.year in (MINYEAR, MAXYEAR):
            raise OutOfRange(f"local time {naive.isoformat(sep=' ')} is out of range (year {naive.year}: a missing "
                             "date?)")
        first = naive.replace(tzinfo=self.zone, fold=0)
        second = naive.replace(tzinfo=self.zone, fold=1)
        if first.utcoffset() == second.utcoffset():
            utc = first.astimezone(UTC)
        elif first.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != naive:
            raise NonexistentTime(f"local time {naive:%Y-%m-%d %H:%M:%S} does not exist (clocks jumped forward)")
        else:
            utc = self._repeated(naive, first.astimezone(UTC), second.astimezone(UTC))
            self.repeated_lines.append(line)
        self._see(utc, line)
        return utc

    def _repeated(self, naive: datetime, summer: datetime, winter: datetime) -> datetime:
        hour = naive.replace(minute=0, second=0, microsecond=0)
        if hour not in self._winter and self._latest is not None and summer < self._latest - BACKWARDS:
            self._winter.add(hour)  # the clock went back, or the hour had already ended
        return winter if hour in self._winter else summer

    def _see(self, utc: datetime, line: int) -> None:
        if self._latest is not None and utc < self._latest - BACKWARDS and self.undecidable is None:
            self.undecidable = (f"line {line} goes back more than {BACKWARDS.seconds // 60} minutes before "
                                f"line {self._latest_line}")
        if self._latest is None or utc > self._latest:
            self._latest, self._latest_line = utc, line
