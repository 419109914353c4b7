"""What a notice says: subject and text of one notice of one incident, with the
deliveries the policy names for it (``policy.recipients``).

Plain text that reads well on a phone: incident id, level, service, title, what is
due or overdue and by how long.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from incidentctl.config import Policy
from incidentctl.domain import ClockName, NoticeName, Team
from incidentctl.policy.notices import Notice
from incidentctl.policy.recipients import PlannedDelivery, recipients
from incidentctl.text import one_line
from incidentctl.times import format_duration


@dataclass(frozen=True)
class Note:
    at: datetime
    text: str


@dataclass(frozen=True)
class Draft:
    subject: str
    text: str
    deliveries: list[PlannedDelivery] = field(default_factory=list)


def stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


_TITLES: dict[str, str] = {
    NoticeName.INITIAL: "NEW",
    NoticeName.PROGRESS: "PROGRESS",
    NoticeName.RECTIFICATION: "RECOVERED",
    NoticeName.OVERDUE_RESPONSE: "OVERDUE response",
    NoticeName.OVERDUE_RECOVERY: "OVERDUE recovery",
    NoticeName.OVERDUE_RESOLUTION: "OVERDUE resolution",
    NoticeName.HANDOVER: "HANDED OVER",
    NoticeName.APPROVAL: "APPROVAL NEEDED",
    NoticeName.APPROVAL_REMINDER: "APPROVAL REMINDER",
}


def draft(
    policy: Policy,
    incident: Any,
    notice: Notice,
    *,
    now: datetime,
    notes: Sequence[Note] = (),
    handover: Any = None,
) -> Draft:
    """Subject, text and deliveries of one notice (``handover``: the assign or transfer
    event a ``handover`` notice tells of)."""
    level = incident.level
    level_name = policy.levels[level].name if level in policy.levels else f"Level {level}"
    title = one_line(incident.title)
    service = one_line(incident.service)
    head = f"[{_TITLES[notice.name]}] Incident #{incident.id} L{level} {level_name} · {service}"
    lines = [head, title]
    name = NoticeName(notice.name)
    if name == NoticeName.INITIAL:
        if notice.sequence:
            lines.append(f"Re-levelled to Level {level} at {stamp(notice.due_at)}.")
        else:
            lines.append(f"Reported {stamp(incident.reported_at)}.")
        within = policy.notifications.initial.within
        late = now - notice.due_at
        if within is not None and late > within:
            lines.append(f"This notice is late by {format_duration(late - within)}.")
        lines.append(_clock_line(incident, now))
    elif name == NoticeName.PROGRESS:
        since = format_duration(notice.due_at - incident.reported_at)
        lines.append(f"Update {notice.sequence}: {since} since reported, not recovered yet.")
        lines.append(_clock_line(incident, now))
        if notes:
            lines.append("Progress since the last update:")
            lines.extend(f"- {stamp(n.at)[11:]} {one_line(n.text)}" for n in notes)
        else:
            lines.append("No progress recorded since the last update.")
    elif name == NoticeName.HANDOVER:
        lines.extend(_handover_lines(incident, handover))
        lines.append(_clock_line(incident, now))
        lines.append(
            f"Details: incidentctl show {incident.id}"
            if incident.acknowledged_at
            else f"To acknowledge: incidentctl ack {incident.id}"
        )
    elif name in (NoticeName.APPROVAL, NoticeName.APPROVAL_REMINDER):
        resolved = incident.resolved_at
        if name == NoticeName.APPROVAL_REMINDER:
            waited = format_duration(now - resolved)
            lines.append(f"Still not approved, {waited} after the solution.")
        lines.append(f"Solution provided {stamp(resolved)}: {one_line(incident.solution or '')}")
        lines.append(f"Level {level} asks an incident manager's approval before it is closed.")
        lines.append(f"To approve: incidentctl --as NAME approve {incident.id}")
    elif name == NoticeName.RECTIFICATION:
        recovered = incident.recovered_at
        took = format_duration(recovered - incident.occurred_at)
        lines.append(f"Service recovered {stamp(recovered)}, {took} after the fault began.")
    else:
        clock = name.clock
        assert clock is not None
        due = getattr(incident, f"{clock}_due_at")
        target = getattr(policy.levels.get(level), clock, None)
        target_text = f" ({format_duration(target)} target)" if target else ""
        lines.append(
            f"{clock.capitalize()} overdue by {format_duration(now - due)}: "
            f"was due {stamp(due)}{target_text}."
        )
    lines.append(f"Status: {incident.status}; owner: {one_line(incident.assignee or 'nobody')}.")
    subject = f"[incidentctl] #{incident.id} L{level} {service}: {_TITLES[name]} - {title}"
    return Draft(
        subject=subject[:200],
        text="\n".join(lines),
        deliveries=recipients(policy, name.rule, incident),
    )


def _handover_lines(incident: Any, event: Any) -> list[str]:
    """Who handed it over, to whom, when and why."""
    if event is None:  # (the event is always there; the notice still says what it can)
        return [f"Now held by {one_line(incident.assignee or 'the developers')}."]
    to = event.data.get("to") or "the developers"
    team = " (developers)" if event.data.get("team") == Team.DEV else ""
    why = event.data.get("reason")
    line = f"Handed over to {one_line(to)}{team} by {one_line(event.actor)} at {stamp(event.at)}"
    return [f"{line}: {one_line(why)}." if why else f"{line}."]


def _clock_line(incident: Any, now: datetime) -> str:
    """The nearest running clock: what is due next, or what is overdue and by how long."""
    running = [
        (getattr(incident, f"{c}_due_at"), c)
        for c in ClockName
        if getattr(incident, f"{c}_stopped_at") is None
    ]
    if not running:
        return "No SLA clock is running."
    due, clock = min(running)
    if due <= now:
        return f"{clock.capitalize()} overdue by {format_duration(now - due)} (due {stamp(due)})."
    return f"{clock.capitalize()} due in {format_duration(due - now)} ({stamp(due)})."
