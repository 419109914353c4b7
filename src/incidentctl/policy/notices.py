"""Due notices (SPEC §4): a pure function of an incident's facts, the schedule and "now".

No I/O, no wall clock, no configuration imports. A notice is identified by its name
and a sequence number; the outbox records which ones were produced, and this module
is told that set (``sent``) so that it never produces the same notice twice.

The rules, for an incident whose current level notifies:

- ``initial`` #k: due when the incident was reported (k = 0) or at its k-th re-level
  (a re-level into a notifying level starts over). Only the latest one is ever due.
- ``progress`` #n: due at ``reported_at + n * every`` (n >= 1) while the service is not
  recovered, for marks after the latest re-level. After a gap only the latest missed
  mark is due, never a burst.
- ``rectification`` #k: due when the service was recovered, k the number of times it
  went down again (``reopen --down``) before.
- ``overdue-response|recovery|resolution`` #0: due when that clock breaches, while it
  is still running (a clock that has stopped no longer needs an escalation).

A closed incident gets nothing but ``rectification``; a cancelled one nothing (its
schedule does not notify); a level with ``notify = false``
gets nothing at all. A notice in ``handled`` is never due: the incident had it where
it came from (``import --no-past-notices``: the notices due at the import).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from incidentctl.domain import ClockName, EventKind, NoticeName, NoticeRuleName

__all__ = [
    "Notice",
    "NoticeFacts",
    "Schedule",
    "due_notices",
    "next_notice_at",
    "notice_facts",
    "retry_delay",
]

_OVERDUE = {clock: NoticeName.overdue(clock) for clock in ClockName}


@dataclass(frozen=True)
class NoticeFacts:
    """What the due notices depend on; times are aware and in UTC."""

    reported_at: datetime
    relevels: int = 0  # how many times the level was changed
    relevelled_at: datetime | None = None  # when it last was
    recovered_at: datetime | None = None
    closed_at: datetime | None = None
    outages: int = 0  # how many times the service went down again after a recovery
    # clock name -> (due_at, stopped_at), as stored on the incident
    clocks: Mapping[str, tuple[datetime, datetime | None]] = field(default_factory=dict)
    handled: frozenset[tuple[str, int]] = frozenset()  # notices it had elsewhere


@dataclass(frozen=True)
class Schedule:
    """The policy as far as one incident's notices are concerned."""

    notify: bool  # the incident's current level notifies
    every: timedelta | None = None  # progress interval
    # rule names with at least one recipient: initial, progress, rectification, overdue
    enabled: frozenset[str] = frozenset(NoticeRuleName)


class Notice(NamedTuple):
    """One notice of one incident: ``initial`` #0, ``progress`` #3, ...

    Ordered by due time, then name and sequence (a named tuple: cheap to build)."""

    due_at: datetime
    name: str
    sequence: int = 0

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.sequence)


def notice_facts(incident: Any, events: Iterable[Any]) -> NoticeFacts:
    """The facts the due notices depend on: the incident's row, its re-levels and its
    ``reopened --down`` events."""
    relevels = []
    outages = 0
    for e in events:
        if e.kind == EventKind.RELEVELLED:
            relevels.append((e.at, e.id or 0))
        elif e.kind == EventKind.REOPENED and e.data.get("down"):
            outages += 1
    relevels.sort()
    return NoticeFacts(
        reported_at=incident.reported_at,
        relevels=len(relevels),
        relevelled_at=relevels[-1][0] if relevels else None,
        recovered_at=incident.recovered_at,
        closed_at=incident.closed_at,
        outages=outages,
        clocks={
            clock: (getattr(incident, f"{clock}_due_at"), getattr(incident, f"{clock}_stopped_at"))
            for clock in ClockName
        },
        handled=frozenset((name, seq) for name, seq in incident.notices_handled or ()),
    )


def _candidates(facts: NoticeFacts, schedule: Schedule, now: datetime) -> list[Notice]:
    """``_triggered``, less the notices the incident had elsewhere."""
    found = _triggered(facts, schedule, now)
    handled = facts.handled
    return [n for n in found if n.key not in handled] if handled else found


def _triggered(facts: NoticeFacts, schedule: Schedule, now: datetime) -> list[Notice]:
    """Every notice whose trigger is present at ``now``, due or not yet due.

    For progress this is the latest mark at or before ``now`` and the next mark after it.
    """
    if not schedule.notify:
        return []
    found: list[Notice] = []
    enabled = schedule.enabled
    if facts.recovered_at is not None and NoticeRuleName.RECTIFICATION in enabled:
        found.append(Notice(facts.recovered_at, NoticeName.RECTIFICATION, facts.outages))
    if facts.closed_at is not None:
        return found
    start = facts.relevelled_at if facts.relevels else facts.reported_at
    assert start is not None
    if NoticeRuleName.INITIAL in enabled:
        found.append(Notice(start, NoticeName.INITIAL, facts.relevels))
    every = schedule.every
    if facts.recovered_at is None and every is not None and NoticeRuleName.PROGRESS in enabled:
        elapsed = now - facts.reported_at
        latest = max(0, elapsed // every)
        first_after_start = (start - facts.reported_at) // every + 1  # marks after `start`
        for n in (latest, latest + 1):
            if n >= 1 and n >= first_after_start:
                found.append(Notice(facts.reported_at + n * every, NoticeName.PROGRESS, n))
    if NoticeRuleName.OVERDUE in enabled:
        for clock, (due_at, stopped_at) in facts.clocks.items():
            if stopped_at is None:
                found.append(Notice(due_at, _OVERDUE[ClockName(clock)]))
    return found


def due_notices(
    facts: NoticeFacts, schedule: Schedule, *, now: datetime, sent: Collection[tuple[str, int]]
) -> list[Notice]:
    """The notices due at ``now`` that were not produced before, oldest first."""
    return sorted(
        n for n in _candidates(facts, schedule, now) if n.due_at <= now and n.key not in sent
    )


def next_notice_at(
    facts: NoticeFacts, schedule: Schedule, *, now: datetime, sent: Collection[tuple[str, int]]
) -> datetime | None:
    """When the next notice falls due (at or before ``now`` if one is due already), or None.

    Given the facts as of ``now``: a later change to the incident calls this again.
    """
    times = [n.due_at for n in _candidates(facts, schedule, now) if n.key not in sent]
    return min(times) if times else None


def retry_delay(retry: Any, attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1`` of a delivery (``retry``: the policy's
    ``[retry]``): ``first``, times ``factor`` each time, capped at ``max_delay``."""
    delay: timedelta = retry.first * (retry.factor ** max(0, attempts - 1))
    cap: timedelta = retry.max_delay
    return min(delay, cap)
