"""Local wall-clock times of an export's rows to UTC across daylight-saving changes, decided from the whole file.

In the spring gap (02:00-03:00 Europe/Amsterdam does not exist) a time is refused (NonexistentTime). In the autumn
overlap (02:00-03:00 happens twice) a time names two instants an hour apart, and only the order of the rows can tell
which. The file is read twice: the first reading shows every row to `see`, the second asks `utc` for each, so a row
can be decided by rows after it.

An export lists each camera's rows in time order, steps back of up to BACKWARDS tolerated as clock jitter. In that
order a camera's rows of the hour are a first pass (summer time) followed by a second (winter time). Every split of
them into a summer prefix and a winter suffix that keeps the rows in order is possible, and the possible splits form
a range: the latest is found by reading summer time until a row would step back more than BACKWARDS (its clock went
back); the earliest is after the last row whose winter instant lies more than BACKWARDS beyond a later row's latest
possible instant (as winter time it would be out of order, so it is summer time). A row up to the earliest split is
summer time and one from the latest on winter time; a row in between could be either. That happens when the rows
show one pass only, or no go-back between the two (a quiet camera: 02:10 and 02:40 are 30 minutes apart as either).

Such a row is decided by the file's order when the file is in time order across cameras: the same analysis over all
its rows finds no step back beyond the go-back and the cameras' rows interleave. An export grouped by camera can look
in order by chance (one camera's rows ending in the first pass, the next camera's starting in the second), so there
the file tells nothing. Otherwise `utc` raises Undecided rather than guess. A camera whose rows step back more than
BACKWARDS where the autumn change does not explain it, by a row within a day of the night, is not in time order
there: none of its hour can be decided. A step back by a row of another day (a backlog row appended to an export in
time order) says nothing about the night.

What is kept: per camera and for the file, its latest instant and, per autumn night, two lines and a stack of winter
instants (decreasing, pruned once passed; at most one per distinct time of the hour); never the rows.

A time in year 1 or 9999 is refused as well (OutOfRange): those are the stand-ins some programs write for no date
(.NET's DateTime.MinValue is 01-01-0001 00:00:00), and their instant may lie outside what a datetime holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

BACKWARDS = timedelta(minutes=10)


class NonexistentTime(ValueError):
    """A local time in the spring gap."""


class OutOfRange(ValueError):
    """A local time in year 1 or 9999."""


class Undecided(ValueError):
    """A time of the repeated hour that cannot be decided. `out_of_order`: why its camera's rows decide nothing (they
    step back); None when they are in order but do not show the pass, and `file` says why the file's order did not."""

    def __init__(self, out_of_order: str | None, file: str | None) -> None:
        super().__init__(out_of_order or file)
        self.out_of_order, self.file = out_of_order, file


def instants(zone: ZoneInfo, naive: datetime) -> tuple[datetime, datetime]:
    """The UTC instants a local time names: the first pass's and the second's, the same one outside the overlap."""
    if naive.year in (MINYEAR, MAXYEAR):
        raise OutOfRange(f"local time {naive.isoformat(sep=' ')} is out of range (year {naive.year}: a missing "
                         "date?)")
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        utc = first.astimezone(UTC)
        return utc, utc
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise NonexistentTime(f"local time {naive:%Y-%m-%d %H:%M:%S} does not exist (clocks jumped forward)")
    return first.astimezone(UTC), second.astimezone(UTC)


@dataclass
class _Night:
    """The rows of one autumn overlap in one sequence."""

    switch: int | None = None  # line of the first row that cannot be summer time: the latest split
    summer_to: int = 0  # rows of the hour up to this line must be summer time: the earliest split
    winters: list[tuple[datetime, int]] = field(default_factory=list)  # (winter instant, line), instants decreasing

    def later_row(self, latest_possible: datetime) -> None:
        """A later row of the sequence, at `latest_possible` at the latest: a row of the hour whose winter instant lies
        more than BACKWARDS beyond it must be summer time."""
        for winter, line in reversed(self.winters):
            if winter > latest_possible + BACKWARDS:
                self.summer_to = max(self.summer_to, line)
                return

    def add(self, winter: datetime, line: int) -> None:
        # An entry with an instant no later than this one's is never again the last one beyond a later row's.
        while self.winters and self.winters[-1][0] <= winter:
            self.winters.pop()
        self.winters.append((winter, line))

    def passed(self, latest: datetime) -> None:
        # A later row in order lies at most BACKWARDS before `latest`: no instant up to it lies beyond that row's.
        while self.winters and self.winters[-1][0] <= latest:
            self.winters.pop()


def _autumn_nights(zone: ZoneInfo, day: date) -> list[date]:
    """The days from `day` - 1 to `day` + 1 on which the zone's clocks go back: a row that steps back there may be
    a row of the repeated hour out of place, or be taken for one."""
    def offset(d: date) -> timedelta | None:
        return datetime(d.year, d.month, d.day, tzinfo=zone).utcoffset()

    out = []
    for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
        if d.year in (MINYEAR, MAXYEAR) or (d + timedelta(days=1)).year == MAXYEAR:
            continue
        before, after = offset(d), offset(d + timedelta(days=1))
        if before is not None and after is not None and after < before:
            out.append(d)
    return out


@dataclass
class _Order:
    """One sequence of rows in file order: a camera's, or the whole file's."""

    zone: ZoneInfo
    latest: datetime | None = None  # latest instant, each time read as summer time while the order allows
    latest_line: int = 0
    # per autumn night, the first step back that no split explains by a row within a day of it; a backlog row of
    # another day (an export in time order with a late row appended) decides nothing about the night
    spoiled: dict[date, str] = field(default_factory=dict)
    nights: dict[date, _Night] = field(default_factory=dict)

    def see(self, night: date, first: datetime, second: datetime, line: int) -> None:
        # A row before the latest in every reading (a backlog row) is out of the order the nights reason on: it
        # would force the hour's earlier rows to summer time (a review's case, stop 47).
        if self.latest is None or second >= self.latest - BACKWARDS:
            for other in self.nights.values():
                other.later_row(second)
        utc = first
        if first != second:
            repeated = self.nights.setdefault(night, _Night())
            if repeated.switch is None and self.latest is not None and first < self.latest - BACKWARDS:
                repeated.switch = line  # the clock went back, or the hour had already ended
            if repeated.switch is not None:
                utc = second
            repeated.add(second, line)
        if self.latest is not None and utc < self.latest - BACKWARDS:
            for autumn in _autumn_nights(self.zone, night):
                self.spoiled.setdefault(autumn, f"line {line} goes back more than {BACKWARDS.seconds // 60} minutes "
                                                f"before line {self.latest_line}")
        if self.latest is None or utc > self.latest:
            self.latest, self.latest_line = utc, line
            for each in self.nights.values():
                each.passed(utc)

    def summer(self, night: date, line: int) -> bool | None:
        """Whether the row of the hour on `line` is summer time; None when this sequence does not tell."""
        repeated = self.nights.get(night)
        if night in self.spoiled or repeated is None:
            return None
        if line <= repeated.summer_to:
            return True
        if repeated.switch is not None and line >= repeated.switch:
            return False
        return None


class WallClocks:
    """The local times of one export: every row with its camera and line to `see` in file order, then each to `utc`
    with the same camera and line."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._cameras: dict[str, _Order] = {}
        self._file = _Order(zone)
        self._last: str | None = None  # the camera of the last row seen
        self._left: set[str] = set()  # cameras another camera's rows followed
        self._interleaved = False

    def see(self, camera: str, naive: datetime, line: int) -> None:
        try:
            first, second = instants(self.zone, naive)
        except (NonexistentTime, OutOfRange):
            return  # no instant: nothing to learn
        if camera != self._last:
            if self._last is not None:
                self._left.add(self._last)
            self._interleaved = self._interleaved or camera in self._left
            self._last = camera
        self._cameras.setdefault(camera, _Order(self.zone)).see(naive.date(), first, second, line)
        self._file.see(naive.date(), first, second, line)

    def utc(self, camera: str, naive: datetime, line: int) -> datetime:
        """The instant of the row; NonexistentTime, OutOfRange, or Undecided for a time of the repeated hour neither
        its camera's rows nor the file's order decide."""
        first, second = instants(self.zone, naive)
        if first == second:
            return first
        night = naive.date()
        own = self._cameras.get(camera, _Order(self.zone))
        if night in own.spoiled:
            raise Undecided(own.spoiled[night], None)
        summer = own.summer(night, line)
        if summer is None and self._interleaved:
            summer = self._file.summer(night, line)
        if summer is None:
            raise Undecided(None, self._why_not_the_file(night))
        return first if summer else second

    def _why_not_the_file(self, night: date) -> str:
        """Why the file's order did not decide, to follow "..., and"."""
        if night in self._file.spoiled:
            return f"the file is not in time order near that night ({self._file.spoiled[night]})"
        if not self._interleaved:
            return ("the file holds no other location's rows" if len(self._cameras) == 1 else
                    "the file's rows are grouped by location")
        return "the file's other rows, in time order, do not show it either"
