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
- ``progress`` marks that fall in a pause are not due (unless the policy's
  ``progress.while_paused`` says otherwise): nobody is working on it then.
- ``warning-<clock>`` #i: due when the i-th of ``[notifications.warning] at`` (75%) of
  the clock's target is used up, while it runs and has not breached.
- ``overdue-response|recovery|resolution|fix`` #0: due when that clock breaches, while
  it is still running (a clock that has stopped no longer needs an escalation);
  ``overdue-recovery`` #k when the service, down again for the k-th time, is not
  recovered by the level's recovery target from then.
- ``handover`` #k: due at the (k+1)-th handover (an assign or transfer to someone
  other than the one who made it). Only the latest one is ever due: it goes to
  whoever holds the incident now.
- ``approval`` #k and ``approval-reminder`` #k: due when the (k+1)-th solution of an
  incident whose level asks for approval was provided, and ``remind_after`` later,
  while it is not approved.

A closed incident gets nothing but ``rectification``; a cancelled one nothing (its
schedule is inactive); a level with ``notify = false`` gets only the notices addressed
to someone who must act (``handover``, ``approval``). A notice in ``handled`` is never
due: the incident had it where it came from (``import --no-past-notices``: the notices
due at the import).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from incidentctl.domain import ClockName, NoticeName, NoticeRuleName
from incidentctl.policy.clocks import Clock, IncidentFacts

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
_WARNING = {clock: NoticeName.warning(clock) for clock in ClockName}
# An overdue notice's sequence: outage * STEP_BASE + n, n the step (then the repeats
# after the last step), the outage 0 for the clock itself and k for the k-th time the
# service went down again.
STEP_BASE = 1000
_ONE_STEP: tuple[tuple[timedelta, ...], timedelta | None] = ((timedelta(0),), None)


@dataclass(frozen=True)
class NoticeFacts:
    """What the due notices depend on; times are aware and in UTC."""

    reported_at: datetime
    relevels: int = 0  # how many times the level was changed
    relevelled_at: datetime | None = None  # when it last was
    recovered_at: datetime | None = None
    closed_at: datetime | None = None
    outages: int = 0  # how many times the service went down again after a recovery
    handovers: int = 0  # assigns and transfers to someone else
    handed_over_at: datetime | None = None  # the latest of them
    resolutions: int = 0  # solutions provided
    resolved_at: datetime | None = None  # the current solution's time (None: unresolved)
    approved_at: datetime | None = None
    acknowledged_at: datetime | None = None  # (ends an escalation's repeats)
    customer_updates: tuple[datetime, ...] = ()  # notes sent to the reporter
    down_due: datetime | None = None  # down again: when its recovery is due again
    clocks: Mapping[ClockName, Clock] = field(default_factory=dict)
    pauses: tuple[tuple[datetime, datetime | None], ...] = ()  # the incident's pauses
    handled: frozenset[tuple[str, int]] = frozenset()  # notices it had elsewhere


@dataclass(frozen=True)
class Schedule:
    """The policy as far as one incident's notices are concerned."""

    notify: bool  # the incident's current level notifies
    every: timedelta | None = None  # progress interval
    # rule names with at least one recipient: initial, progress, rectification, overdue,
    # handover, approval
    enabled: frozenset[str] = frozenset(NoticeRuleName)
    approval: bool = False  # the current level asks for approval of the solution
    remind_after: timedelta | None = None  # the approval reminder
    customer_every: timedelta | None = None  # a customer update at least this often
    progress_while_paused: bool = False  # progress notices go on during a pause
    warnings: tuple[float, ...] = ()  # fractions of a clock's target: a warning at each
    # overdue notice -> (when each step falls due after the breach, how often the last
    # repeats); an overdue notice not here reaches nobody
    escalations: Mapping[str, tuple[tuple[timedelta, ...], timedelta | None]] = field(
        default_factory=lambda: dict.fromkeys(_OVERDUE.values(), _ONE_STEP)
    )

    @property
    def active(self) -> bool:
        """Some notice may fall due (the level notifies, or someone must act)."""
        return self.notify or bool(self.enabled & _PERSONAL)


class Notice(NamedTuple):
    """One notice of one incident: ``initial`` #0, ``progress`` #3, ...

    Ordered by due time, then name and sequence (a named tuple: cheap to build)."""

    due_at: datetime
    name: str
    sequence: int = 0

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.sequence)


def notice_facts(
    incident: Any,
    facts: IncidentFacts,
    clocks: Mapping[ClockName, Clock],
    down_due: datetime | None = None,
) -> NoticeFacts:
    """The facts the due notices depend on: the incident's row, the facts of its events
    (``clocks.facts_of``), its clocks and its down-again deadline."""
    return NoticeFacts(
        reported_at=incident.reported_at,
        relevels=len(facts.relevels),
        relevelled_at=facts.relevels[-1].at if facts.relevels else None,
        recovered_at=incident.recovered_at,
        closed_at=incident.closed_at,
        outages=facts.outages,
        handovers=facts.handovers,
        handed_over_at=facts.handed_over_at,
        resolutions=facts.resolutions,
        resolved_at=incident.resolved_at,
        approved_at=incident.approved_at,
        acknowledged_at=incident.acknowledged_at,
        customer_updates=facts.customer_updates,
        down_due=down_due,
        clocks=clocks,
        pauses=tuple((p.start, p.end) for p in facts.pauses),
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
    found: list[Notice] = []
    enabled = schedule.enabled
    found.extend(_personal(facts, schedule))
    if not schedule.notify:
        return found
    if facts.recovered_at is not None and NoticeRuleName.RECTIFICATION in enabled:
        found.append(Notice(facts.recovered_at, NoticeName.RECTIFICATION, facts.outages))
    if facts.closed_at is not None:
        return found
    start = facts.relevelled_at if facts.relevels else facts.reported_at
    assert start is not None
    if NoticeRuleName.INITIAL in enabled:
        found.append(Notice(start, NoticeName.INITIAL, facts.relevels))
    if (
        facts.resolved_at is None
        and schedule.customer_every is not None
        and NoticeRuleName.CUSTOMER_REMINDER in enabled
    ):
        # the owner reminded when no customer update went out for customer_every
        since = max(facts.customer_updates, default=facts.reported_at)
        found.append(
            Notice(
                since + schedule.customer_every,
                NoticeName.CUSTOMER_REMINDER,
                len(facts.customer_updates),
            )
        )
    every = schedule.every
    if facts.recovered_at is None and every is not None and NoticeRuleName.PROGRESS in enabled:
        elapsed = now - facts.reported_at
        latest = max(0, elapsed // every)
        first_after_start = (start - facts.reported_at) // every + 1  # marks after `start`
        for n in (latest, latest + 1):
            mark = facts.reported_at + n * every
            if n >= 1 and n >= first_after_start and not _held(mark, facts, schedule):
                found.append(Notice(mark, NoticeName.PROGRESS, n))
    for name, clock in facts.clocks.items():
        if clock.stopped_at is not None or clock.due_at is None:
            continue  # stopped, or paused: nothing to escalate while it waits
        if NoticeRuleName.WARNING in enabled:
            for k, fraction in enumerate(schedule.warnings):
                at = clock.moment(fraction)
                if at is not None and at < clock.due_at and now < clock.due_at:
                    found.append(Notice(at, _WARNING[ClockName(name)], k))
        found.extend(_escalation(_OVERDUE[ClockName(name)], clock.due_at, 0, facts, schedule, now))
    if facts.down_due is not None and facts.recovered_at is None:
        # down again (the k-th time): its recovery escalated again, as #k * STEP_BASE + n
        found.extend(
            _escalation(
                NoticeName.OVERDUE_RECOVERY, facts.down_due, facts.outages, facts, schedule, now
            )
        )
    return found


def _held(mark: datetime, facts: NoticeFacts, schedule: Schedule) -> bool:
    """A progress mark that falls in a pause, while progress waits for the resume."""
    if schedule.progress_while_paused:
        return False
    return any(start <= mark and (end is None or mark < end) for start, end in facts.pauses)


def _escalation(
    name: str,
    breach: datetime,
    outage: int,
    facts: NoticeFacts,
    schedule: Schedule,
    now: datetime,
) -> list[Notice]:
    """The steps of one overdue clock, each once when its time comes, then the last one
    again every ``repeat`` while nobody acknowledged the incident (after a gap only the
    latest repeat, never a burst)."""
    if name not in schedule.escalations:
        return []
    afters, repeat = schedule.escalations[name]
    base = outage * STEP_BASE
    found = [Notice(breach + after, name, base + n) for n, after in enumerate(afters)]
    if repeat is not None and facts.acknowledged_at is None:
        last, steps = breach + afters[-1], len(afters)
        latest = max(0, (now - last) // repeat) if now > last else 0
        for k in (latest, latest + 1):
            # (at most STEP_BASE - steps repeats: the next outage's keys start there)
            if 1 <= k <= STEP_BASE - steps:
                found.append(Notice(last + k * repeat, name, base + steps - 1 + k))
    return found


def _personal(facts: NoticeFacts, schedule: Schedule) -> list[Notice]:
    """The notices addressed to someone who must act (a new owner, the approvers) or to
    the customer. A customer update queued before the close still goes."""
    found: list[Notice] = []
    if NoticeRuleName.CUSTOMER_UPDATE in schedule.enabled:
        found.extend(
            Notice(at, NoticeName.CUSTOMER_UPDATE, k) for k, at in enumerate(facts.customer_updates)
        )
    if facts.closed_at is not None:
        return found
    if facts.handovers and facts.handed_over_at and NoticeRuleName.HANDOVER in schedule.enabled:
        found.append(Notice(facts.handed_over_at, NoticeName.HANDOVER, facts.handovers - 1))
    if facts.resolved_at is not None and NoticeRuleName.CONFIRMATION in schedule.enabled:
        # the reporter is asked once the solution stands: approved, where that is asked
        ready = facts.approved_at if schedule.approval else facts.resolved_at
        if ready is not None:
            found.append(Notice(ready, NoticeName.CONFIRMATION, max(0, facts.resolutions - 1)))
    waiting = facts.resolved_at is not None and facts.approved_at is None
    if schedule.approval and waiting and NoticeRuleName.APPROVAL in schedule.enabled:
        assert facts.resolved_at is not None
        k = max(0, facts.resolutions - 1)
        found.append(Notice(facts.resolved_at, NoticeName.APPROVAL, k))
        if schedule.remind_after is not None:
            reminder_at = facts.resolved_at + schedule.remind_after
            found.append(Notice(reminder_at, NoticeName.APPROVAL_REMINDER, k))
    return found


_PERSONAL = frozenset(
    (
        NoticeRuleName.HANDOVER,
        NoticeRuleName.APPROVAL,
        NoticeRuleName.CUSTOMER_UPDATE,
        NoticeRuleName.CONFIRMATION,
    )
)


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
    cap: timedelta = retry.max_delay
    try:
        delay: timedelta = retry.first * (retry.factor ** max(0, attempts - 1))
    except OverflowError:  # (a factor of 1e300, or inf: past any timedelta, so the cap)
        return cap
    return min(delay, cap)
