"""SLA clocks (SPEC §3): a pure function of an incident's facts, the policy and "now".

No I/O, no wall clock, no configuration imports. All datetimes must be tz-aware; they
are normalised to UTC so that due times are absolute and comparisons never depend on
a zone's wall-clock arithmetic.

A clock counts the open time of its calendar (24/7 unless the level names one, see
``policy.calendar``) from its start, less the pauses that stop it, until its level's
target is used up: that moment is its due time. A clock paused now has no due time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from incidentctl.domain import ClockName, ClockState, EventKind, RelevelMode, Team
from incidentctl.policy.calendar import ALWAYS, Calendar

# The clocks every incident has (``fix`` runs only where a level sets its target).
CLOCKS: tuple[ClockName, ...] = tuple(c for c in ClockName if c is not ClockName.FIX)
RELEVEL_MODES: tuple[str, ...] = tuple(RelevelMode)

__all__ = [
    "CLOCKS",
    "RELEVEL_MODES",
    "Clock",
    "ClockRules",
    "IncidentFacts",
    "LevelTargets",
    "Pause",
    "Relevel",
    "calendar_of",
    "clock_state",
    "compute_clocks",
    "current_level",
    "deadline",
    "down_again",
    "facts_of",
    "is_handover",
    "clock_start",
    "stored_clocks",
]


class LevelTargets(Protocol):
    """The SLA targets of one level (the config's Level model satisfies it). A level
    may also say which clocks a pause stops (``pausable``), the target of the
    developers' ``fix`` clock and its calendars (``calendar_name(clock)``); without
    them it runs 24/7, never paused, with no fix clock."""

    response: timedelta
    recovery: timedelta
    resolution: timedelta


@dataclass(frozen=True)
class Relevel:
    """A re-level of the incident to `level` at `at`."""

    at: datetime
    level: int


class Pause(NamedTuple):
    """A pause from ``start`` to ``end`` (None: still paused), and whom it waits for."""

    start: datetime
    end: datetime | None
    reason: str


@dataclass(frozen=True)
class IncidentFacts:
    """What the clocks depend on. Times are the FIRST time each thing happened."""

    level: int  # the level the incident was opened at
    reported_at: datetime
    occurred_at: datetime
    acknowledged_at: datetime | None = None
    transferred_at: datetime | None = None  # first transfer out to developers
    recovered_at: datetime | None = None
    resolved_at: datetime | None = None
    relevels: tuple[Relevel, ...] = ()  # in the order they happened
    cancelled_at: datetime | None = None  # stops every clock while it stands
    outages: int = 0  # times the service went down again (``reopen --down``)
    down_since: datetime | None = None  # the latest of them, when no recovery followed it
    # (for the notices) work handed to someone else: assign or transfer, not to oneself
    handovers: int = 0
    handed_over_at: datetime | None = None  # the latest of them
    resolutions: int = 0  # solutions provided (a reopened incident is resolved again)
    customer_updates: tuple[datetime, ...] = ()  # notes sent to the reporter (--send)
    pauses: tuple[Pause, ...] = ()  # in the order they happened; only the last may be open

    @property
    def paused(self) -> Pause | None:
        """The pause that stands now, if any."""
        return self.pauses[-1] if self.pauses and self.pauses[-1].end is None else None


class Clock(NamedTuple):
    """One SLA clock. Times are UTC; `started_at` is the original start; `due_at` is
    None while a pause stops it (its state is then ``paused``, or ``met`` if it stopped).

    A named tuple rather than a frozen dataclass: as immutable, and built several
    times faster (an import computes the clocks of every incident it reads)."""

    name: ClockName
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    state: ClockState
    # how the due time was reached (``sla explain``, the warnings): counted from
    # ``counted_from`` (the start, or a re-level under ``restart``), ``target`` of
    # ``calendar``'s open time, less ``pauses``
    counted_from: datetime | None = None
    target: timedelta | None = None
    calendar: Calendar = ALWAYS
    pauses: tuple[tuple[datetime, datetime | None], ...] = ()
    level: int | None = None  # the level whose target it is

    def moment(self, fraction: float) -> datetime | None:
        """When ``fraction`` of the target is used up (a warning at 75%); None while a
        pause stops it first."""
        assert self.counted_from is not None and self.target is not None
        return due_time(self.counted_from, self.target * fraction, self.calendar, self.pauses)


@dataclass(frozen=True)
class ClockRules:
    """The part of a policy the clocks follow: its levels, its re-level mode and its
    calendars by name. ``version``: the policy version it is (a content hash), if known.
    """

    levels: Mapping[int, LevelTargets]
    relevel: str = RelevelMode.KEEP_START
    calendars: Mapping[str, Calendar] = field(default_factory=dict)
    version: str | None = None

    def clocks(self, facts: IncidentFacts, now: datetime) -> dict[ClockName, Clock]:
        return compute_clocks(
            facts, levels=self.levels, relevel=self.relevel, now=now, calendars=self.calendars
        )

    def down_again(self, facts: IncidentFacts) -> tuple[datetime, datetime | None] | None:
        return down_again(facts, self.levels, self.calendars)


def stored_clocks(incident: Any) -> tuple[ClockName, ...]:
    """The clocks a stored incident has: the three, and ``fix`` once it started."""
    if getattr(incident, "fix_started_at", None) is None:
        return CLOCKS
    return _WITH_FIX


_WITH_FIX = (*CLOCKS, ClockName.FIX)


def clock_start(incident: Any, clock: str) -> datetime:
    """When a stored incident's ``clock`` started: the fault (recovery), the transfer to
    the developers (fix), else the report."""
    if clock == ClockName.RECOVERY:
        start: datetime = incident.occurred_at
    elif clock == ClockName.FIX:
        start = incident.fix_started_at
    else:
        start = incident.reported_at
    return start


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is UTC:  # the common case, and the cheap one
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _opt_utc(value: datetime | None, what: str) -> datetime | None:
    return None if value is None else _utc(value, what)


def _first(*times: datetime | None) -> datetime | None:
    first = None
    for t in times:
        if t is not None and (first is None or t < first):
            first = t
    return first


def clock_state(due_at: datetime | None, stopped_at: datetime | None, now: datetime) -> ClockState:
    """`met`: stopped at/before due; `breached`: stopped after due or running at/after due;
    `paused`: no due time (a pause stops it), not stopped."""
    stopped_at = _opt_utc(stopped_at, "stopped_at")
    if stopped_at is None:
        now = _utc(now, "now")  # only a running clock looks at "now"
    return _state(_opt_utc(due_at, "due_at"), stopped_at, now)


def _state(due_at: datetime | None, stopped_at: datetime | None, now: datetime) -> ClockState:
    """``clock_state`` of times already in UTC."""
    if due_at is None:  # paused: it stopped before its target was used up, if it stopped
        return ClockState.PAUSED if stopped_at is None else ClockState.MET
    if stopped_at is not None:
        return ClockState.MET if stopped_at <= due_at else ClockState.BREACHED
    return ClockState.BREACHED if now >= due_at else ClockState.RUNNING


def current_level(facts: IncidentFacts) -> int:
    """The incident's level after all re-levels."""
    return facts.relevels[-1].level if facts.relevels else facts.level


def level_at(facts: IncidentFacts, at: datetime) -> int:
    """The incident's level in force at ``at`` (re-levels at or before it applied)."""
    level = facts.level
    for relevel in facts.relevels:
        if relevel.at <= at:
            level = relevel.level
    return level


def target_of(level: LevelTargets, clock: str) -> timedelta | None:
    """The level's target for ``clock``; None: the level has no such clock (``fix``)."""
    target: timedelta | None = getattr(level, clock, None)
    return target


def calendar_of(level: LevelTargets, clock: str, calendars: Mapping[str, Calendar]) -> Calendar:
    """The calendar ``clock`` counts at ``level``: its own, the level's, else 24/7."""
    named = getattr(level, "calendar_name", None)
    name = named(clock) if named is not None else None
    if name is None:
        return ALWAYS
    try:
        return calendars[name]
    except KeyError:
        raise ValueError(f"unknown calendar {name!r}; known: {sorted(calendars)}") from None


def pausable(level: LevelTargets) -> Sequence[str]:
    """The clocks a pause stops at ``level`` (the seed's levels: none)."""
    stops: Sequence[str] = getattr(level, "pausable", ())
    return stops


def due_time(
    start: datetime,
    target: timedelta,
    calendar: Calendar,
    pauses: Sequence[tuple[datetime, datetime | None]] = (),
) -> datetime | None:
    """When ``target`` of ``calendar``'s open time, counted from ``start`` and less the
    ``pauses`` (in order, UTC), is used up; None if a pause still open stops it first."""
    if not pauses and calendar is ALWAYS:
        return start + target
    at, left = start, target
    for pause_start, pause_end in pauses:
        if pause_end is not None and pause_end <= at:
            continue
        counted = calendar.open_between(at, max(at, pause_start))
        if counted >= left:
            return calendar.advance(at, left)
        left -= counted
        if pause_end is None:
            return None
        at = pause_end
    return calendar.advance(at, left)


def _stopping(
    facts: IncidentFacts, levels: Mapping[int, LevelTargets]
) -> dict[str, list[tuple[datetime, datetime | None]]]:
    """Each clock's pauses (UTC): those begun at a level whose ``pausable`` names it."""
    stopping: dict[str, list[tuple[datetime, datetime | None]]] = {}
    for pause in facts.pauses:
        begun = _utc(pause.start, "pause start")
        for name in pausable(levels[level_at(facts, begun)]):
            stopping.setdefault(name, []).append((begun, _opt_utc(pause.end, "pause end")))
    return stopping


def compute_clocks(
    facts: IncidentFacts,
    *,
    levels: Mapping[int, LevelTargets],
    relevel: str,
    now: datetime,
    calendars: Mapping[str, Calendar] | None = None,
) -> dict[ClockName, Clock]:
    """Compute the SLA clocks as of `now`: the three of SPEC §3, and ``fix`` (from the
    transfer to the developers until the solution) when the level has a ``fix`` target.

    Facts are taken as given (a stop or re-level later than `now` still counts).
    Re-levels are applied in order; one to the level the incident is already at is a
    no-op. A clock stopped at or before the re-level, or already breached (running
    with due <= re-level time), keeps its due and verdict. Otherwise the new level's
    target is measured from the clock's start (`keep-start`) or from the re-level
    (`restart`); a due that has already passed means breached at once.

    Each clock counts the open time of its calendar (``calendar_of``), less the
    pauses that stop it: those begun at a level whose ``pausable`` names it. The time
    paused before a re-level stays excluded (`keep-start`).
    Raises ValueError for an unknown `relevel` mode, an unknown level or calendar, or a
    naive time.
    """
    if relevel not in RELEVEL_MODES:
        raise ValueError(
            f"unknown relevel mode {relevel!r}; expected one of {', '.join(RELEVEL_MODES)}"
        )
    opened = levels.get(facts.level)
    if opened is None or facts.relevels:
        for lv in (facts.level, *(r.level for r in facts.relevels)):
            if lv not in levels:
                raise ValueError(f"unknown level {lv!r}; known levels: {sorted(levels)}")
    assert opened is not None
    calendars = calendars or {}

    now = _utc(now, "now")
    reported = _utc(facts.reported_at, "reported_at")
    occurred = _utc(facts.occurred_at, "occurred_at")
    ack = _opt_utc(facts.acknowledged_at, "acknowledged_at")
    transfer = _opt_utc(facts.transferred_at, "transferred_at")
    recover = _opt_utc(facts.recovered_at, "recovered_at")
    resolve = _opt_utc(facts.resolved_at, "resolved_at")
    cancel = _opt_utc(facts.cancelled_at, "cancelled_at")
    relevels = [(_utc(r.at, "relevel time"), r.level) for r in facts.relevels]

    spans: list[tuple[ClockName, datetime, datetime | None]] = [
        (ClockName.RESPONSE, reported, _first(ack, transfer, recover, resolve, cancel)),
        (ClockName.RECOVERY, occurred, _first(recover, resolve, cancel)),
        (ClockName.RESOLUTION, reported, _first(resolve, transfer, cancel)),
    ]
    if transfer is not None:
        spans.append((ClockName.FIX, transfer, _first(resolve, cancel)))
    stopping = _stopping(facts, levels) if facts.pauses else {}

    clocks: dict[ClockName, Clock] = {}
    for name, start, stop in spans:
        level = counted_level = facts.level
        # (a pause begun once the clock had stopped does not touch it)
        pauses = tuple(p for p in stopping.get(name, ()) if stop is None or p[0] < stop)
        target = counted = target_of(opened, name)
        due = None
        base = start
        calendar = calendar_of(opened, name, calendars)
        if target is not None:
            due = due_time(start, target, calendar, pauses)
        counting = target is not None
        for at, new_level in relevels:
            if new_level == level:
                continue
            level = new_level
            targets = levels[new_level]
            target = target_of(targets, name)
            if target is None:
                continue  # (fix) a level without the clock keeps what there was
            if stop is not None and stop <= at and counting:
                continue  # already stopped: keeps its due and verdict
            if counting and due is not None and at >= due:
                continue  # already breached: stays breached with its old due
            base = start if relevel == RelevelMode.KEEP_START else max(start, at)
            calendar = calendar_of(targets, name, calendars)
            due = due_time(base, target, calendar, pauses)  # due <= at: breached at once
            counting, counted, counted_level = True, target, new_level
        if counting:
            state = _state(due, stop, now)
            clocks[name] = Clock(
                name, start, due, stop, state, base, counted, calendar, pauses, counted_level
            )
    return clocks


def facts_of(incident: Any, events: Sequence[Any]) -> IncidentFacts:
    """The clock facts of a stored incident (``opened_level``, ``reported_at``,
    ``occurred_at``, ``cancelled_at``: a cancellation stops the clocks until a reopen
    undoes it) and its events (``kind``, ``at``, ``id``, ``data``) in the order they
    were recorded: the first time each stopping event happened (a transfer: to the
    developers), and every re-level.

    The first one recorded: a clock keeps its first stop, even when a reopened incident
    is resolved again with an earlier ``--at``."""
    first: dict[str, datetime] = {}
    relevels = []
    outages = 0
    down_since = None
    handovers = resolutions = 0
    handed_over_at = None
    customer_updates = []
    pauses: list[Pause] = []
    for event in events:
        kind = event.kind
        if kind == _PAUSED:
            pauses.append(Pause(event.at, None, event.data.get("reason", "")))
            continue
        if kind in _UNPAUSE and pauses and pauses[-1].end is None:
            # a solution ends a pause too (never before it began: a backdated --at)
            pauses[-1] = pauses[-1]._replace(end=max(event.at, pauses[-1].start))
            if kind == _RESUMED:
                continue
        if kind == _NOTE:
            if event.data.get("send"):
                customer_updates.append(event.at)
            continue
        if kind in _HANDOVERS:
            if is_handover(event):
                handovers += 1
                handed_over_at = event.at
            if kind == _ASSIGNED:
                continue
        elif kind == _RESOLVED:
            resolutions += 1
        if kind == _RELEVELLED:
            relevels.append((event.at, event.id or 0, event.data["to"]))
            continue
        if kind == _REOPENED:
            if event.data.get("down"):
                outages += 1
                down_since = event.at
            continue
        if kind == _RECOVERED:
            down_since = None
        if kind in _STOPS and kind not in first:
            if kind == _TRANSFERRED and event.data.get("team") != _DEV:
                continue
            first[kind] = event.at
    relevels.sort()
    cancelled = incident.cancelled_at
    if cancelled is not None and pauses and pauses[-1].end is None:
        pauses[-1] = pauses[-1]._replace(end=max(cancelled, pauses[-1].start))
    return IncidentFacts(
        level=incident.opened_level,
        reported_at=incident.reported_at,
        occurred_at=incident.occurred_at,
        cancelled_at=incident.cancelled_at,
        acknowledged_at=first.get(_ACKNOWLEDGED),
        transferred_at=first.get(_TRANSFERRED),
        recovered_at=first.get(_RECOVERED),
        resolved_at=first.get(_RESOLVED),
        relevels=tuple(Relevel(at=at, level=level) for at, _, level in relevels),
        outages=outages,
        down_since=down_since,
        handovers=handovers,
        handed_over_at=handed_over_at,
        resolutions=resolutions,
        customer_updates=tuple(customer_updates),
        pauses=tuple(pauses),
    )


_RELEVELLED, _ACKNOWLEDGED, _TRANSFERRED = (
    EventKind.RELEVELLED,
    EventKind.ACKNOWLEDGED,
    EventKind.TRANSFERRED,
)
_RECOVERED, _RESOLVED, _DEV = EventKind.RECOVERED, EventKind.RESOLVED, Team.DEV
_REOPENED, _ASSIGNED, _NOTE = EventKind.REOPENED, EventKind.ASSIGNED, EventKind.NOTE
_PAUSED, _RESUMED = EventKind.PAUSED, EventKind.RESUMED
_UNPAUSE = frozenset((_RESUMED, _RESOLVED))
_HANDOVERS = frozenset((_ASSIGNED, _TRANSFERRED))
_STOPS = frozenset((_ACKNOWLEDGED, _TRANSFERRED, _RECOVERED, _RESOLVED))


def down_again(
    facts: IncidentFacts,
    levels: Mapping[int, LevelTargets],
    calendars: Mapping[str, Calendar] | None = None,
) -> tuple[datetime, datetime | None] | None:
    """Since when the service is down again (``reopen --down``, no recovery since) and
    when its recovery is due again: the level's recovery target from then, counted as
    the recovery clock counts (its calendar, its pauses; None while paused)."""
    if facts.down_since is None:
        return None
    since = _utc(facts.down_since, "down_since")
    level = levels[current_level(facts)]
    calendar = calendar_of(level, ClockName.RECOVERY, calendars or {})
    pauses = _stopping(facts, levels).get(ClockName.RECOVERY, ()) if facts.pauses else ()
    return since, due_time(since, level.recovery, calendar, pauses)


def is_handover(event: Any) -> bool:
    """An assign or transfer to someone other than its author (taking it oneself tells
    nobody)."""
    return event.kind in _HANDOVERS and event.data.get("to") != event.actor


def deadline(clocks: Mapping[str, Clock] | Iterable[Clock]) -> datetime | None:
    """The earliest due_at among clocks still running (not stopped nor paused), or None.

    A running clock that has breached still counts, so `deadline <= now` means overdue.
    """
    values = clocks.values() if isinstance(clocks, Mapping) else clocks
    dues = [c.due_at for c in values if c.stopped_at is None and c.due_at is not None]
    return min(dues) if dues else None
