"""What is kept derived on an incident after any change: its clocks, the board's
deadline, its status and when its next notice falls due.

One function, ``derive``, for every write: the lifecycle commands (``services.handling``)
and the import both call it, so the rules are applied the same way however the facts
arrived. Pure: the facts, the policy, the notices already produced and "now" are given.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from incidentctl.domain import ClockName, EventKind, Status, Team
from incidentctl.policy.clocks import Clock, ClockRules, IncidentFacts, Pause, deadline
from incidentctl.policy.lifecycle import derive_status
from incidentctl.policy.notices import NoticeFacts, Schedule, next_notice_at, notice_facts

__all__ = ["Derived", "TimelineEvent", "derive", "timeline_of"]


@dataclass(frozen=True)
class Derived:
    clocks: dict[ClockName, Clock]
    # earliest due among the running clocks; None once closed or cancelled
    deadline_at: datetime | None
    status: Status
    notices: NoticeFacts | None  # None: the incident's level notifies nobody
    notify_at: datetime | None
    # down again: since, recovery due (None while paused)
    down: tuple[datetime, datetime | None] | None = None
    paused: Pause | None = None  # the pause that stands now
    paused_seconds: int = 0  # the incident's ended pauses, in all
    version: str | None = None  # the policy version its clocks follow

    def apply(self, incident: Any) -> None:
        """Write the derived columns onto a stored incident (or an import's row)."""
        for name in ClockName:
            clock = self.clocks.get(name)
            setattr(incident, f"{name}_due_at", clock.due_at if clock else None)
            setattr(incident, f"{name}_stopped_at", clock.stopped_at if clock else None)
        fix = self.clocks.get(ClockName.FIX)
        incident.fix_started_at = fix.started_at if fix else None
        incident.down_again_at, incident.down_due_at = self.down or (None, None)
        incident.paused_at = self.paused.start if self.paused else None
        incident.pause_reason = self.paused.reason if self.paused else None
        incident.paused_seconds = self.paused_seconds
        if self.version is not None:
            incident.policy_version = self.version
        incident.deadline_at = self.deadline_at
        incident.status = self.status
        incident.notify_at = self.notify_at


def derive(
    incident: Any,
    facts: IncidentFacts,
    *,
    rules: ClockRules,
    schedule: Schedule,
    now: datetime,
    sent: Collection[tuple[str, int]] = (),
) -> Derived:
    """The derived state of ``incident`` (its milestones, ``closed_at``,
    ``notices_handled``) whose clock facts are ``facts``, as of ``now``, its clocks
    following ``rules``.

    ``sent``: the notices already produced for it (the outbox's keys).
    """
    clocks = rules.clocks(facts, now)
    live = incident.recovered_at is None and incident.cancelled_at is None
    down = rules.down_again(facts) if live else None
    notices = None
    notify_at = None
    if schedule.active:
        notices = notice_facts(incident, facts, clocks, down_due=down[1] if down else None)
        notify_at = next_notice_at(notices, schedule, now=now, sent=sent)
    nearest = deadline(clocks.values())
    if down is not None and down[1] is not None:
        # Down again: the clocks keep their first verdicts, and the board counts down to
        # the level's recovery target from the moment it went down again.
        nearest = down[1] if nearest is None else min(nearest, down[1])
    paused = facts.paused
    ended = sum(((p.end - p.start).total_seconds() for p in facts.pauses if p.end is not None), 0.0)
    return Derived(
        clocks=clocks,
        deadline_at=None if incident.closed_at or incident.cancelled_at else nearest,
        status=derive_status(incident),
        notices=notices,
        notify_at=notify_at,
        down=down,
        paused=None if incident.closed_at or incident.cancelled_at else paused,
        paused_seconds=int(ended),
        version=rules.version,
    )


class TimelineEvent(NamedTuple):
    """An event as the clocks and the store read it (``facts_of`` takes these too)."""

    kind: EventKind
    at: datetime
    actor: str
    data: dict[str, Any]
    id: int | None = None
    recorded_at: datetime | None = None


def timeline_of(incident: Mapping[str, Any], *, actor: str) -> list[TimelineEvent]:
    """The events the lifecycle commands would have written for an incident known only by
    its milestones (an imported line without events), in the order they happened.

    Each event's data is what its command records (None values left out; times in
    ``data`` are datetimes); ``opened`` says it was ``imported``. A solution without a
    recovery implies one (``resolve`` stops the recovery clock too), and ``problem``
    happens at the latest milestone. Ties keep the lifecycle order.
    """
    assignee = incident["assignee"]
    resolved = incident["resolved_at"]
    recovered = incident["recovered_at"] or resolved

    def event(kind: EventKind, at: datetime, data: dict[str, Any], who: str = actor) -> None:
        events.append(TimelineEvent(kind, at, who, data))

    opened: dict[str, Any] = {
        "level": incident["level"],
        "service": incident["service"],
        "channel": incident["channel"],
        "occurred_at": incident["occurred_at"],
    }
    if assignee is not None:
        opened["assignee"] = assignee
    opened["imported"] = True
    events: list[TimelineEvent] = []
    event(_OPENED, incident["reported_at"], opened)
    if incident["acknowledged_at"]:
        event(_ACKNOWLEDGED, incident["acknowledged_at"], _given(assignee=assignee))
    if incident["transferred_at"]:
        to = assignee if incident["team"] == Team.DEV else None
        event(_TRANSFERRED, incident["transferred_at"], {**_given(to=to), "team": _DEV})
    if recovered:
        implied = {} if incident["recovered_at"] else {"implied_by": "resolve"}
        event(_RECOVERED, recovered, implied)
    if resolved:
        event(_RESOLVED, resolved, _given(solution=incident["solution"]))
    if incident["approved_at"]:
        event(_APPROVED, incident["approved_at"], {}, incident["approved_by"] or actor)
    if incident["closed_at"]:
        event(_CLOSED, incident["closed_at"], _given(confirmed_by=incident["confirmed_by"]))
    if incident["problem_ref"]:
        latest = max(e.at for e in events)
        event(
            _PROBLEM, latest, {"ref": incident["problem_ref"], "reason": incident["problem_reason"]}
        )
    if incident.get("cancelled_at"):
        data = _given(reason=incident["cancel_reason"], duplicate_of=incident["duplicate_of"])
        event(_CANCELLED, incident["cancelled_at"], data)
    events.sort(key=_AT)
    return events


def _given(**data: Any) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _at(event: TimelineEvent) -> datetime:
    return event.at


_AT = _at  # (a named function: sorting by time, ties keep the lifecycle order)
# Looked up once: an import derives the timeline of every line it reads.
_OPENED, _ACKNOWLEDGED, _TRANSFERRED = (
    EventKind.OPENED,
    EventKind.ACKNOWLEDGED,
    EventKind.TRANSFERRED,
)
_RECOVERED, _RESOLVED, _APPROVED = EventKind.RECOVERED, EventKind.RESOLVED, EventKind.APPROVED
_CLOSED, _PROBLEM, _DEV = EventKind.CLOSED, EventKind.PROBLEM, Team.DEV
_CANCELLED = EventKind.CANCELLED
