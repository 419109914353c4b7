"""SLA clocks (SPEC §3): a pure function of an incident's facts, the policy and "now".

No I/O, no wall clock, no configuration imports. All datetimes must be tz-aware; they
are normalised to UTC so that due times are absolute (clocks run 24/7, DST-proof) and
comparisons never depend on a zone's wall-clock arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from incidentctl.domain import ClockName, ClockState, EventKind, RelevelMode, Team

CLOCKS: tuple[ClockName, ...] = tuple(ClockName)
RELEVEL_MODES: tuple[str, ...] = tuple(RelevelMode)

__all__ = [
    "CLOCKS",
    "RELEVEL_MODES",
    "Clock",
    "IncidentFacts",
    "LevelTargets",
    "Relevel",
    "clock_state",
    "compute_clocks",
    "current_level",
    "deadline",
    "down_again",
    "facts_of",
    "is_handover",
]


class LevelTargets(Protocol):
    """The SLA targets of one level (the config's Level model satisfies it)."""

    response: timedelta
    recovery: timedelta
    resolution: timedelta


@dataclass(frozen=True)
class Relevel:
    """A re-level of the incident to `level` at `at`."""

    at: datetime
    level: int


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


class Clock(NamedTuple):
    """One SLA clock. Times are UTC; `started_at` is the original start.

    A named tuple rather than a frozen dataclass: as immutable, and built several
    times faster (an import computes the clocks of every incident it reads)."""

    name: ClockName
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    state: ClockState


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


def clock_state(due_at: datetime, stopped_at: datetime | None, now: datetime) -> ClockState:
    """`met`: stopped at/before due; `breached`: stopped after due or running at/after due."""
    stopped_at = _opt_utc(stopped_at, "stopped_at")
    if stopped_at is None:
        now = _utc(now, "now")  # only a running clock looks at "now"
    return _state(_utc(due_at, "due_at"), stopped_at, now)


def _state(due_at: datetime, stopped_at: datetime | None, now: datetime) -> ClockState:
    """``clock_state`` of times already in UTC."""
    if stopped_at is not None:
        return ClockState.MET if stopped_at <= due_at else ClockState.BREACHED
    return ClockState.BREACHED if now >= due_at else ClockState.RUNNING


def current_level(facts: IncidentFacts) -> int:
    """The incident's level after all re-levels."""
    return facts.relevels[-1].level if facts.relevels else facts.level


def compute_clocks(
    facts: IncidentFacts,
    *,
    levels: Mapping[int, LevelTargets],
    relevel: str,
    now: datetime,
) -> dict[ClockName, Clock]:
    """Compute the three SLA clocks as of `now`.

    Facts are taken as given (a stop or re-level later than `now` still counts).
    Re-levels are applied in order; one to the level the incident is already at is a
    no-op. A clock stopped at or before the re-level, or already breached (running
    with due <= re-level time), keeps its due and verdict. Otherwise the new level's
    target is measured from the clock's start (`keep-start`) or from the re-level
    (`restart`); a due that has already passed means breached at once.
    Raises ValueError for an unknown `relevel` mode, an unknown level or a naive time.
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

    now = _utc(now, "now")
    reported = _utc(facts.reported_at, "reported_at")
    occurred = _utc(facts.occurred_at, "occurred_at")
    ack = _opt_utc(facts.acknowledged_at, "acknowledged_at")
    transfer = _opt_utc(facts.transferred_at, "transferred_at")
    recover = _opt_utc(facts.recovered_at, "recovered_at")
    resolve = _opt_utc(facts.resolved_at, "resolved_at")
    cancel = _opt_utc(facts.cancelled_at, "cancelled_at")
    relevels = [(_utc(r.at, "relevel time"), r.level) for r in facts.relevels]

    spans: tuple[tuple[ClockName, datetime, datetime | None], ...] = (
        (ClockName.RESPONSE, reported, _first(ack, transfer, recover, resolve, cancel)),
        (ClockName.RECOVERY, occurred, _first(recover, resolve, cancel)),
        (ClockName.RESOLUTION, reported, _first(resolve, transfer, cancel)),
    )

    clocks: dict[ClockName, Clock] = {}
    for name, start, stop in spans:
        level = facts.level
        due = start + getattr(opened, name)
        for at, new_level in relevels:
            if new_level == level:
                continue
            level = new_level
            if stop is not None and stop <= at:
                continue  # already stopped: keeps its due and verdict
            if at >= due:
                continue  # already breached: stays breached with its old due
            base = start if relevel == RelevelMode.KEEP_START else max(start, at)
            due = base + getattr(levels[new_level], name)  # due <= at: breached at once
        clocks[name] = Clock(name, start, due, stop, _state(due, stop, now))
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
    for event in events:
        kind = event.kind
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
    )


_RELEVELLED, _ACKNOWLEDGED, _TRANSFERRED = (
    EventKind.RELEVELLED,
    EventKind.ACKNOWLEDGED,
    EventKind.TRANSFERRED,
)
_RECOVERED, _RESOLVED, _DEV = EventKind.RECOVERED, EventKind.RESOLVED, Team.DEV
_REOPENED, _ASSIGNED, _NOTE = EventKind.REOPENED, EventKind.ASSIGNED, EventKind.NOTE
_HANDOVERS = frozenset((_ASSIGNED, _TRANSFERRED))
_STOPS = frozenset((_ACKNOWLEDGED, _TRANSFERRED, _RECOVERED, _RESOLVED))


def down_again(
    facts: IncidentFacts, levels: Mapping[int, LevelTargets]
) -> tuple[datetime, datetime] | None:
    """Since when the service is down again (``reopen --down``, no recovery since) and
    when its recovery is due again: the level's recovery target from then."""
    if facts.down_since is None:
        return None
    return facts.down_since, facts.down_since + levels[current_level(facts)].recovery


def is_handover(event: Any) -> bool:
    """An assign or transfer to someone other than its author (taking it oneself tells
    nobody)."""
    return event.kind in _HANDOVERS and event.data.get("to") != event.actor


def deadline(clocks: Mapping[str, Clock] | Iterable[Clock]) -> datetime | None:
    """The earliest due_at among clocks still running (not stopped), or None.

    A running clock that has breached still counts, so `deadline <= now` means overdue.
    """
    values = clocks.values() if isinstance(clocks, Mapping) else clocks
    dues = [c.due_at for c in values if c.stopped_at is None]
    return min(dues) if dues else None
