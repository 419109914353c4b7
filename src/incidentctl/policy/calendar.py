"""When an SLA clock counts: a calendar's open time (SPEC §3 runs 24/7 by default).

Pure: a calendar is built from data the policy file gave (zone, weekly hours, holiday
dates); no file, no clock. Every method takes and returns tz-aware datetimes.

``ALWAYS`` is the seed's 24/7 calendar; ``BusinessCalendar`` follows weekly hours in a
time zone, closed on holidays.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from typing import NamedTuple, Protocol

__all__ = [
    "ALWAYS",
    "DAY_MINUTES",
    "Always",
    "BusinessCalendar",
    "Calendar",
    "CalendarSpec",
    "Closure",
    "OpenRange",
    "build_calendar",
    "build_calendars",
]


class Closure(NamedTuple):
    """A span in which a calendar does not count: ``why`` says it in words a person can
    check (``"Saturday"``, ``"closed 18:00-09:00"``, ``"holiday: Christmas Day"``)."""

    start: datetime
    end: datetime
    why: str


class Calendar(Protocol):
    """What the clocks ask of a calendar."""

    name: str

    def open_between(self, start: datetime, end: datetime) -> timedelta:
        """The open time in ``[start, end)`` (zero when ``end <= start``)."""
        ...

    def advance(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest moment ``t >= start`` with ``open_between(start, t) == amount``;
        ``amount`` zero: the next opening at or after ``start``."""
        ...

    def closures(self, start: datetime, end: datetime) -> list[Closure]:
        """The closed spans within ``[start, end)``, in order, clipped to it."""
        ...


class Always:
    """Open all the time: the seed's clocks run 24/7."""

    name = "24/7"

    def open_between(self, start: datetime, end: datetime) -> timedelta:
        return max(end - start, timedelta(0))

    def advance(self, start: datetime, amount: timedelta) -> datetime:
        return (start + amount).astimezone(UTC)

    def closures(self, start: datetime, end: datetime) -> list[Closure]:
        return []


ALWAYS: Calendar = Always()


# --------------------------------------------------------------------------- business hours

# Minutes since local midnight: a day's open range is ``(start, end)`` with
# ``0 <= start < end <= 1440``; 1440 is "24:00", the next day's midnight.
DAY_MINUTES = 24 * 60
OpenRange = tuple[int, int]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SECOND_US = 1_000_000
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# An advance that finds no open time in this many years gives up (a calendar closed
# every day, e.g. by a holiday list that covers everything, would otherwise never end).
SEARCH_YEARS = 10


class CalendarSpec(Protocol):
    """The plain data a business calendar is built from (the config's
    ``CalendarConfig.spec()`` gives one): no file, no path."""

    @property
    def zone(self) -> tzinfo: ...

    @property
    def hours(self) -> Mapping[int, Sequence[OpenRange]]: ...

    @property
    def holidays(self) -> Container[date]: ...

    def holiday_name(self, day: date) -> str | None: ...


def build_calendars(specs: Mapping[str, CalendarSpec]) -> dict[str, Calendar]:
    """A policy's calendars by name (``specs``: the data of its ``[calendars.NAME]``)."""
    return {name: build_calendar(name, spec) for name, spec in specs.items()}


def build_calendar(name: str, spec: CalendarSpec) -> BusinessCalendar:
    """The business calendar ``name`` of a policy's ``[calendars.NAME]`` data."""
    return BusinessCalendar(
        name,
        spec.zone,
        spec.hours,
        holidays=spec.holidays,
        holiday_name=spec.holiday_name,
    )


class _Year(NamedTuple):
    """The open intervals of one UTC year, as microseconds since the epoch: sorted,
    disjoint, half-open ``[starts[i], ends[i])``; ``before[i]`` is the open time of the
    year before interval i, ``through[i]`` that up to its end; ``total`` the year's."""

    starts: list[int]
    ends: list[int]
    before: list[int]
    through: list[int]
    total: int

    def open_until(self, t: int) -> int:
        """The year's open time before ``t``."""
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0
        return self.before[i] + min(t, self.ends[i]) - self.starts[i]


class BusinessCalendar:
    """Open during weekly hours in a time zone, closed on holidays.

    ``hours`` maps a weekday (0 Monday .. 6 Sunday) to its open ranges in local wall
    time, minutes since midnight (``(540, 1080)`` is 09:00-18:00, ``(0, 1440)`` the
    whole day); a weekday left out is closed, as is every date in ``holidays``. Each day
    counts its real hours: 00:00-24:00 is 23 h on a spring-forward day. A wall time the
    clock skips is the moment it jumps to; a repeated one, its first occurrence.

    The open time is kept as sorted UTC intervals with running totals, built once per
    UTC year when first asked for: every call is a few binary searches.
    """

    def __init__(
        self,
        name: str,
        zone: tzinfo,
        hours: Mapping[int, Sequence[OpenRange]],
        *,
        holidays: Container[date] = frozenset(),
        holiday_name: Callable[[date], str | None] | None = None,
    ) -> None:
        self.name = name
        self.zone = zone
        self.hours = {day: _checked_ranges(day, ranges) for day, ranges in hours.items()}
        self.holidays = holidays
        self._holiday_name = holiday_name
        self._years: dict[int, _Year] = {}

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name!r}, {self.zone})"

    # -- the Calendar protocol

    def open_between(self, start: datetime, end: datetime) -> timedelta:
        a, b = _us(start), _us(end)
        if b <= a:
            return timedelta(0)
        first, last = _year_of(a), _year_of(b)
        if first == last:
            year = self._year(first)
            return (year.open_until(b) - year.open_until(a)) * _US
        year = self._year(first)
        total = year.total - year.open_until(a)
        for y in range(first + 1, last):
            total += self._year(y).total
        total += self._year(last).open_until(b)
        return total * _US

    def advance(self, start: datetime, amount: timedelta) -> datetime:
        if amount < timedelta(0):
            raise ValueError(f"cannot advance by a negative amount ({amount})")
        a = _us(start)
        y = _year_of(a)
        if not amount:
            return _datetime(self._next_opening(a, y))
        year = self._year(y)
        target = year.open_until(a) + amount // _US
        empty = 0
        while target > year.total:
            target -= year.total
            empty = empty + 1 if not year.total else 0
            if empty > SEARCH_YEARS:
                raise ValueError(f"calendar {self.name!r}: no open time in {SEARCH_YEARS} years")
            y += 1
            year = self._year(y)
        # The earliest moment with that much open time: inside an interval or at its end.
        i = bisect_left(year.through, target)
        return _datetime(year.starts[i] + target - year.before[i])

    def closures(self, start: datetime, end: datetime) -> list[Closure]:
        a, b = _us(start), _us(end)
        found: list[Closure] = []
        if b <= a:
            return found
        closed_from = self._last_close_at_or_before(a)  # None: no opening for years
        for opens, closes in self._open_intervals(a):
            if closed_from is None or closed_from < opens:
                run_start = a if closed_from is None else closed_from
                if run_start < b:
                    found.append(self._closure(run_start, opens, a, b))
            if opens >= b:
                break
            closed_from = closes
        else:  # no opening for years after the last close
            run_start = a if closed_from is None else closed_from
            if run_start < b:
                found.append(self._closure(run_start, None, a, b))
        return found

    # -- the intervals

    def _year(self, y: int) -> _Year:
        year = self._years.get(y)
        if year is None:
            year = self._years[y] = self._build_year(y)
        return year

    def _build_year(self, y: int) -> _Year:
        low, high = _year_start(y), _year_start(y + 1)
        starts: list[int] = []
        ends: list[int] = []
        # Local dates around the UTC year: a zone is at most a day from UTC.
        day = date(y, 1, 1) - timedelta(days=1)
        last = date(y, 12, 31) + timedelta(days=1)
        while day <= last:
            for opens, closes in self._day_intervals(day):
                opens, closes = max(opens, low), min(closes, high)
                if opens >= closes:
                    continue
                if ends and opens <= ends[-1]:  # touching (22:00-24:00, 00:00-06:00)
                    ends[-1] = max(ends[-1], closes)
                else:
                    starts.append(opens)
                    ends.append(closes)
            day += timedelta(days=1)
        before: list[int] = []
        through: list[int] = []
        total = 0
        for opens, closes in zip(starts, ends, strict=True):
            before.append(total)
            total += closes - opens
            through.append(total)
        return _Year(starts, ends, before, through, total)

    def _day_intervals(self, day: date) -> list[tuple[int, int]]:
        ranges = self.hours.get(day.weekday())
        if not ranges or day in self.holidays:
            return []
        return [
            (_instant(day, opens, self.zone), _instant(day, closes, self.zone))
            for opens, closes in ranges
        ]

    def _open_intervals(self, after: int) -> Iterator[tuple[int, int]]:
        """The open intervals that end after ``after``, merged where they touch (also
        across years), in order; stops after ``SEARCH_YEARS`` without one."""
        y = _year_of(after)
        pending: tuple[int, int] | None = None
        empty = 0
        while empty <= SEARCH_YEARS:
            year = self._year(y)
            empty = 0 if year.total else empty + 1
            for i in range(bisect_right(year.ends, after), len(year.starts)):
                opens, closes = year.starts[i], year.ends[i]
                if pending is not None and opens <= pending[1]:
                    pending = (pending[0], closes)
                    continue
                if pending is not None:
                    yield pending
                pending = (opens, closes)
            y += 1
        if pending is not None:
            yield pending

    def _last_close_at_or_before(self, t: int) -> int | None:
        """The end of the open time last before ``t`` (``t`` itself when open then)."""
        y = _year_of(t)
        for _ in range(SEARCH_YEARS + 1):
            year = self._year(y)
            i = bisect_right(year.starts, t) - 1
            if i >= 0:
                if t < year.ends[i]:
                    return t
                # the interval may go on in the next year's first (split at New Year)
                return year.ends[i]
            t = _year_start(y) - 1
            y -= 1
        return None

    def _next_opening(self, t: int, y: int) -> int:
        for _ in range(SEARCH_YEARS + 1):
            year = self._year(y)
            i = bisect_right(year.starts, t) - 1
            if i >= 0 and t < year.ends[i]:
                return t
            if i + 1 < len(year.starts):
                return year.starts[i + 1]
            y += 1
            t = _year_start(y)
        raise ValueError(f"calendar {self.name!r}: no open time in {SEARCH_YEARS} years")

    # -- the closures' words

    def _closure(self, run_start: int, run_end: int | None, a: int, b: int) -> Closure:
        end = b if run_end is None else run_end
        return Closure(
            _datetime(max(run_start, a)), _datetime(min(end, b)), self._why(run_start, end)
        )

    def _why(self, run_start: int, run_end: int) -> str:
        """Why ``[run_start, run_end)`` is closed: the holidays on days that would be
        open, the weekdays that are closed, else the overnight gap's wall times."""
        first = _datetime(run_start).astimezone(self.zone)
        last = _datetime(run_end).astimezone(self.zone)
        holidays: list[str] = []
        weekdays: list[str] = []
        day = first.date()
        while day <= last.date():
            if not self.hours.get(day.weekday()):
                weekdays.append(_WEEKDAYS[day.weekday()])
            elif day in self.holidays:
                holidays.append(self._name_of(day))
            day += timedelta(days=1)
        holidays = list(dict.fromkeys(holidays))
        weekdays = list(dict.fromkeys(weekdays))
        parts = []
        if holidays:
            parts.append(f"holiday{'s' if len(holidays) > 1 else ''}: {', '.join(holidays)}")
        if weekdays:
            parts.append(", ".join(weekdays).replace("Saturday, Sunday", "weekend"))
        if not parts:
            return f"closed {first:%H:%M}-{last:%H:%M}"
        return "; ".join(parts)

    def _name_of(self, day: date) -> str:
        name = self._holiday_name(day) if self._holiday_name is not None else None
        return name or day.isoformat()


def _checked_ranges(day: int, ranges: Sequence[OpenRange]) -> tuple[OpenRange, ...]:
    if day not in range(7):
        raise ValueError(f"weekday {day!r}: expected 0 (Monday) to 6 (Sunday)")
    previous_end = 0
    for opens, closes in ranges:
        if not 0 <= opens < closes <= DAY_MINUTES or opens < previous_end:
            raise ValueError(
                f"{_WEEKDAYS[day]}: open ranges must be increasing, non-overlapping minutes "
                f"within 0-{DAY_MINUTES}, got {list(ranges)}"
            )
        previous_end = closes
    return tuple((opens, closes) for opens, closes in ranges)


def _us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"a calendar needs tz-aware datetimes, got {moment.isoformat()}")
    return (moment - _EPOCH) // _US


def _datetime(us: int) -> datetime:
    return _EPOCH + us * _US


def _year_of(us: int) -> int:
    return _datetime(us).year


@cache
def _year_start(y: int) -> int:
    return _us(datetime(y, 1, 1, tzinfo=UTC))


def _instant(day: date, minute: int, zone: tzinfo) -> int:
    """The moment the wall clock of ``zone`` shows ``minute`` on ``day`` (first
    occurrence when repeated; when skipped, the moment the clock jumps past it)."""
    if minute == DAY_MINUTES:
        day, minute = day + timedelta(days=1), 0
    wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    moment = _us(wall)  # fold=0: the first occurrence of a repeated time
    shown = _datetime(moment).astimezone(zone).replace(tzinfo=None)
    if shown == wall.replace(tzinfo=None):
        return moment
    # Skipped (spring forward): fold=0 read it with the offset before the jump, fold=1
    # with the one after, so the jump lies between; find it to the second.
    low = _us(wall.replace(fold=1)) // _SECOND_US  # before the jump
    high = moment // _SECOND_US  # after it
    offset_after = _datetime(high * _SECOND_US).astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if _datetime(middle * _SECOND_US).astimezone(zone).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return high * _SECOND_US
