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
from typing import Any

from incidentctl.domain import ClockName, Status
from incidentctl.policy.clocks import Clock, IncidentFacts, LevelTargets, compute_clocks, deadline
from incidentctl.policy.lifecycle import derive_status
from incidentctl.policy.notices import NoticeFacts, Schedule, next_notice_at

__all__ = ["Derived", "derive"]


@dataclass(frozen=True)
class Derived:
    clocks: dict[ClockName, Clock]
    deadline_at: datetime | None  # earliest due among the running clocks; None once closed
    status: Status
    notices: NoticeFacts | None  # None: the incident's level notifies nobody
    notify_at: datetime | None

    def apply(self, incident: Any) -> None:
        """Write the derived columns onto a stored incident (or an import's row)."""
        for name, clock in self.clocks.items():
            setattr(incident, f"{name}_due_at", clock.due_at)
            setattr(incident, f"{name}_stopped_at", clock.stopped_at)
        incident.deadline_at = self.deadline_at
        incident.status = self.status
        incident.notify_at = self.notify_at


def derive(
    incident: Any,
    facts: IncidentFacts,
    *,
    levels: Mapping[int, LevelTargets],
    relevel: str,
    schedule: Schedule,
    now: datetime,
    sent: Collection[tuple[str, int]] = (),
) -> Derived:
    """The derived state of ``incident`` (its milestones, ``closed_at``,
    ``notices_handled``) whose clock facts are ``facts``, as of ``now``.

    ``sent``: the notices already produced for it (the outbox's keys).
    """
    clocks = compute_clocks(facts, levels=levels, relevel=relevel, now=now)
    notices = None
    notify_at = None
    if schedule.notify:
        last = facts.relevels[-1].at if facts.relevels else None
        notices = NoticeFacts(
            reported_at=incident.reported_at,
            relevels=len(facts.relevels),
            relevelled_at=last,
            recovered_at=incident.recovered_at,
            closed_at=incident.closed_at,
            clocks={name: (clock.due_at, clock.stopped_at) for name, clock in clocks.items()},
            handled=frozenset((name, seq) for name, seq in incident.notices_handled or ()),
        )
        notify_at = next_notice_at(notices, schedule, now=now, sent=sent)
    return Derived(
        clocks=clocks,
        deadline_at=None if incident.closed_at else deadline(clocks.values()),
        status=derive_status(incident),
        notices=notices,
        notify_at=notify_at,
    )
