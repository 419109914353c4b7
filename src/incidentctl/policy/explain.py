"""Why a clock says what it says (``sla explain``): its due time as arithmetic a person
can check, built from the same pieces ``clocks.due_time`` counts.

Pure: a ``Clock`` and the incident's facts in, steps out; no I/O, no wall clock.

From the clock's start, the time up to its due is cut into steps: ``counted`` (open
time of the clock's calendar: it uses up the target), ``closed`` (the calendar's
closures, with their ``why``) and ``paused`` (the pauses that stop this clock). Their
counted time adds up to the target at the due. Re-levels are placed where they
happened; the stop and the verdict follow the due.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from incidentctl.domain import ClockName, ClockState, RelevelMode, StepKind
from incidentctl.policy.calendar import Calendar
from incidentctl.policy.clocks import Clock, IncidentFacts

__all__ = ["Explanation", "Step", "Verdict", "counted_between", "explain"]

_ZERO = timedelta(0)


class Step(NamedTuple):
    """One step: ``start``..``end`` (the same moment for an instant; ``end`` None for a
    pause still open), the time it counted and the running total counted so far."""

    kind: StepKind
    start: datetime
    end: datetime | None
    counted: timedelta = _ZERO
    total: timedelta = _ZERO
    note: str = ""  # a closure's why, a pause's reason, "level 2 → 1", what stopped it


class Verdict(NamedTuple):
    """Where the clock stands: ``amount`` is the counted time to spare (met), left
    (running, paused) or, past the due, the time since it (breached); None: cancelled."""

    state: ClockState
    amount: timedelta | None


class Explanation(NamedTuple):
    clock: Clock
    steps: tuple[Step, ...]
    verdict: Verdict
    counted: timedelta  # counted up to the due (the target), or up to an open pause
    mode: str  # the policy's re-level mode


def counted_between(clock: Clock, start: datetime, end: datetime) -> timedelta:
    """The time ``clock`` counts in ``[start, end)``: its calendar's open time, less the
    open time of the pauses that stop it."""
    if end <= start:
        return _ZERO
    calendar = clock.calendar
    total = calendar.open_between(start, end)
    for pause_start, pause_end in clock.pauses:
        low = max(start, pause_start)
        high = end if pause_end is None else min(end, pause_end)
        if high > low:
            total -= calendar.open_between(low, high)
    return total


# What starts each clock, and what may stop it (in compute_clocks' order).
_STARTED_BY = {
    ClockName.RESPONSE: "reported",
    ClockName.RECOVERY: "the fault began",
    ClockName.RESOLUTION: "reported",
    ClockName.FIX: "transferred to the developers",
}
_STOPPED_BY: dict[ClockName, tuple[tuple[str, str], ...]] = {
    ClockName.RESPONSE: (
        ("acknowledged_at", "acknowledged"),
        ("transferred_at", "transferred to the developers"),
        ("recovered_at", "recovered"),
        ("resolved_at", "resolved"),
        ("cancelled_at", "cancelled"),
    ),
    ClockName.RECOVERY: (
        ("recovered_at", "recovered"),
        ("resolved_at", "resolved"),
        ("cancelled_at", "cancelled"),
    ),
    ClockName.RESOLUTION: (
        ("resolved_at", "resolved"),
        ("transferred_at", "transferred to the developers"),
        ("cancelled_at", "cancelled"),
    ),
    ClockName.FIX: (("resolved_at", "resolved"), ("cancelled_at", "cancelled")),
}


def explain(clock: Clock, facts: IncidentFacts, now: datetime, mode: str) -> Explanation:
    """The steps that reach ``clock``'s due time and its verdict at ``now``. ``facts``
    are those the clock was computed from (its re-levels, pauses' reasons, what stopped
    it); ``mode`` the policy's re-level mode. Raises ValueError for a clock computed
    without its counting fields."""
    if clock.counted_from is None or clock.target is None:
        raise ValueError(f"the {clock.name} clock does not say how its due was reached")
    counted_from, target, due = clock.counted_from, clock.target, clock.due_at
    steps = [Step(StepKind.START, clock.started_at, clock.started_at, note=_STARTED_BY[clock.name])]
    steps += _walk(clock, counted_from, due, facts)
    if due is not None:
        steps.append(Step(StepKind.DUE, due, due))
    for relevel_step in _relevels(clock, facts, mode):
        steps = _insert(steps, relevel_step, clock.calendar)
    steps = _totals(steps)
    counted = steps[-1].total
    if clock.stopped_at is not None:
        steps.append(
            Step(
                StepKind.STOPPED,
                clock.stopped_at,
                clock.stopped_at,
                total=counted,
                note=_stopped_by(clock, facts),
            )
        )
    verdict = _verdict(clock, facts, now, target, counted)
    moment = clock.stopped_at or now
    steps.append(Step(StepKind.VERDICT, moment, moment, total=counted, note=verdict.state))
    return Explanation(clock, tuple(steps), verdict, counted, mode)


def _walk(clock: Clock, at: datetime, due: datetime | None, facts: IncidentFacts) -> list[Step]:
    """``due_time``'s walk, written down: the open and closed time from ``at``, and the
    pauses, up to the due (or an open pause when there is none)."""
    steps: list[Step] = []
    reasons = {pause.start: pause.reason for pause in facts.pauses}
    for pause_start, pause_end in clock.pauses:
        if pause_end is not None and pause_end <= at:
            continue
        begun = max(at, pause_start)
        if due is not None and due <= begun:
            break
        steps += _span(clock.calendar, at, begun)
        reason = reasons.get(pause_start, "")
        steps.append(Step(StepKind.PAUSED, begun, pause_end, note=reason))
        if pause_end is None:
            return steps
        at = pause_end
    if due is not None:
        steps += _span(clock.calendar, at, due)
    return steps


def _span(calendar: Calendar, start: datetime, end: datetime) -> list[Step]:
    """``[start, end)`` as counted and closed steps."""
    steps: list[Step] = []
    at = start
    for closure in calendar.closures(start, end):
        if closure.start > at:
            steps.append(_counted(calendar, at, closure.start))
        steps.append(Step(StepKind.CLOSED, closure.start, closure.end, note=closure.why))
        at = closure.end
    if at < end:
        steps.append(_counted(calendar, at, end))
    return steps


def _counted(calendar: Calendar, start: datetime, end: datetime) -> Step:
    return Step(StepKind.COUNTED, start, end, calendar.open_between(start, end))


def _relevels(clock: Clock, facts: IncidentFacts, mode: str) -> list[Step]:
    """The re-levels since the clock started (those that changed the level)."""
    found = []
    level = facts.level
    for relevel in facts.relevels:
        if relevel.level == level:
            continue
        before, level = level, relevel.level
        if relevel.at < clock.started_at:
            continue
        notes = [f"level {before} → {relevel.level}"]
        if clock.stopped_at is not None and relevel.at >= clock.stopped_at:
            notes.append("after the stop: the verdict stands")
        elif mode == RelevelMode.RESTART and relevel.at == clock.counted_from:
            notes.append("the target counts again from here")
        found.append(Step(StepKind.RELEVEL, relevel.at, relevel.at, note="; ".join(notes)))
    return found


def _insert(steps: list[Step], step: Step, calendar: Calendar) -> list[Step]:
    """``steps`` with the instant ``step`` in its place: after the instants at its
    moment, before the spans that begin then, splitting a span it falls inside."""
    at = step.start
    for i, other in enumerate(steps):
        instant = other.end == other.start
        if other.start > at or (other.start == at and not instant):
            return [*steps[:i], step, *steps[i:]]
        if other.start < at and (other.end is None or at < other.end):
            first = other._replace(end=at)
            rest = other._replace(start=at)
            if other.kind is StepKind.COUNTED:
                first = first._replace(counted=calendar.open_between(other.start, at))
                rest = rest._replace(counted=other.counted - first.counted)
            return [*steps[:i], first, step, rest, *steps[i + 1 :]]
    return [*steps, step]


def _totals(steps: Sequence[Step]) -> list[Step]:
    total = _ZERO
    out = []
    for step in steps:
        total += step.counted
        out.append(step._replace(total=total))
    return out


def _stopped_by(clock: Clock, facts: IncidentFacts) -> str:
    for attribute, words in _STOPPED_BY[clock.name]:
        moment = getattr(facts, attribute)
        if moment is not None and moment == clock.stopped_at:
            return words
    return ""


def _verdict(
    clock: Clock, facts: IncidentFacts, now: datetime, target: timedelta, counted: timedelta
) -> Verdict:
    """The clock's state (a clock the cancellation stopped: cancelled, as ``sla_of``
    shows it) and its amount. Before the due, the amount is counted time (what of the
    target is left); past it, the time since the due."""
    stopped, due = clock.stopped_at, clock.due_at
    if stopped is not None and stopped == facts.cancelled_at:
        return Verdict(ClockState.CANCELLED, None)
    moment = stopped if stopped is not None else now
    if due is None:  # an open pause: counted up to it, the rest is left
        return Verdict(clock.state, target - counted)
    if clock.state is ClockState.BREACHED:
        return Verdict(clock.state, moment - due)
    used = counted_between(clock, clock.counted_from or clock.started_at, moment)
    return Verdict(clock.state, max(target - used, _ZERO))
