"""When an SLA clock counts: a calendar's open time (SPEC §3 runs 24/7 by default).

Pure: a calendar is built from data the policy file gave (zone, weekly hours, holiday
dates); no file, no clock. Every method takes and returns tz-aware datetimes.

``ALWAYS`` is the seed's 24/7 calendar; ``BusinessCalendar`` follows weekly hours in a
time zone, closed on holidays.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

__all__ = ["ALWAYS", "Always", "Calendar", "Closure"]


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


def build_calendars(specs: Mapping[str, Any]) -> dict[str, Calendar]:
    """The calendars of a policy, by name (``specs``: its ``[calendars.NAME]``)."""
    return {name: build_calendar(name, spec) for name, spec in specs.items()}


def build_calendar(name: str, spec: Any) -> Calendar:  # (the business calendars: to come)
    raise ValueError(f"calendar {name!r}: business calendars are not built yet")
