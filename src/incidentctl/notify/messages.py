"""What a notice says, and to whom: the deliveries of one notice of one incident.

Plain text that reads well on a phone: incident id, level, service, title, what is
due or overdue and by how long. Recipients come from the policy's notification rule:
roles (``service_owner``, ``om_team``, ``rd_leader``, ``incident_managers``), the
incident's ``assignee`` and ``reporter``, or contact names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from incidentctl.config import CHANNELS, Policy
from incidentctl.policy.notices import Notice, Schedule, rule_name
from incidentctl.times import format_duration

# Control characters would break a header or a terminal: each becomes a space.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{2,}")


@dataclass(frozen=True)
class PlannedDelivery:
    """One row of the outbox, before it is recorded."""

    channel: str
    recipient: str  # contact name(s): part of the delivery's key
    address: str | None  # None: nowhere to send it (recorded as failed)
    cc: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Note:
    at: datetime
    text: str


@dataclass(frozen=True)
class Draft:
    subject: str
    text: str
    deliveries: list[PlannedDelivery] = field(default_factory=list)


def one_line(text: object) -> str:
    return " ".join(_CONTROL.sub(" ", str(text)).split())


def stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _names(policy: Policy, token: str, incident: Any) -> list[str]:
    if token == "assignee":
        return [incident.assignee] if incident.assignee else []
    if token == "reporter":
        return [incident.reporter] if incident.reporter else []
    return policy.resolve(token, incident.service)


def _address(policy: Policy, name: str, channel: str, incident: Any) -> str | None:
    address = policy.address(name, channel)  # type: ignore[arg-type]
    if address is None and name == incident.reporter and incident.contact:
        # A reporter who is not a contact is reached the way they left with the incident.
        contact = incident.contact.strip()
        pattern = _EMAIL if channel == "email" else _PHONE
        if pattern.fullmatch(contact):
            return contact
    return address


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def recipients(policy: Policy, notice: str, incident: Any) -> list[PlannedDelivery]:
    """The deliveries of ``notice``: one email (To + Cc) and one per sms / phone recipient."""
    rule = policy.notifications.rule(notice)
    planned: list[PlannedDelivery] = []
    for channel in CHANNELS:
        if channel == "email":
            to = _unique([n for t in rule.email.to for n in _names(policy, t, incident)])
            cc = _unique([n for t in rule.email.cc for n in _names(policy, t, incident)])
            if not to:
                to, cc = cc, []
            cc = [n for n in cc if n not in to]
            if not to:
                continue
            to_addresses = [_address(policy, n, "email", incident) for n in to]
            missing = [n for n, a in zip(to, to_addresses, strict=True) if a is None]
            cc_addresses = [a for n in cc if (a := _address(policy, n, "email", incident))]
            planned.append(
                PlannedDelivery(
                    channel="email",
                    recipient=",".join(to),
                    address=None if missing else ", ".join(a for a in to_addresses if a),
                    cc=tuple(_unique(cc_addresses)),
                    error=f"no email address for {', '.join(missing)}" if missing else None,
                )
            )
            continue
        tokens = rule.sms if channel == "sms" else rule.phone
        for name in _unique([n for t in tokens for n in _names(policy, t, incident)]):
            address = _address(policy, name, channel, incident)
            planned.append(
                PlannedDelivery(
                    channel=channel,
                    recipient=name,
                    address=address,
                    error=None if address else f"no phone number for {name}",
                )
            )
    return planned


_TITLES = {
    "initial": "NEW",
    "progress": "PROGRESS",
    "rectification": "RECOVERED",
    "overdue-response": "OVERDUE response",
    "overdue-recovery": "OVERDUE recovery",
    "overdue-resolution": "OVERDUE resolution",
}


def draft(
    policy: Policy,
    incident: Any,
    notice: Notice,
    *,
    now: datetime,
    notes: Sequence[Note] = (),
) -> Draft:
    """Subject, text and deliveries of one notice."""
    level = incident.level
    level_name = policy.levels[level].name if level in policy.levels else f"Level {level}"
    title = one_line(incident.title)
    service = one_line(incident.service)
    head = f"[{_TITLES[notice.name]}] Incident #{incident.id} L{level} {level_name} · {service}"
    lines = [head, title]
    name = notice.name
    if name == "initial":
        if notice.sequence:
            lines.append(f"Re-levelled to Level {level} at {stamp(notice.due_at)}.")
        else:
            lines.append(f"Reported {stamp(incident.reported_at)}.")
        within = policy.notifications.initial.within
        late = now - notice.due_at
        if within is not None and late > within:
            lines.append(f"This notice is late by {format_duration(late - within)}.")
        lines.append(_clock_line(incident, now))
    elif name == "progress":
        since = format_duration(notice.due_at - incident.reported_at)
        lines.append(f"Update {notice.sequence}: {since} since reported, not recovered yet.")
        lines.append(_clock_line(incident, now))
        if notes:
            lines.append("Progress since the last update:")
            lines.extend(f"- {stamp(n.at)[11:]} {one_line(n.text)}" for n in notes)
        else:
            lines.append("No progress recorded since the last update.")
    elif name == "rectification":
        recovered = incident.recovered_at
        took = format_duration(recovered - incident.occurred_at)
        lines.append(f"Service recovered {stamp(recovered)}, {took} after the fault began.")
    else:
        clock = name.removeprefix("overdue-")
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
        deliveries=recipients(policy, rule_name(name), incident),
    )


def _clock_line(incident: Any, now: datetime) -> str:
    """The nearest running clock: what is due next, or what is overdue and by how long."""
    running = [
        (getattr(incident, f"{c}_due_at"), c)
        for c in ("response", "recovery", "resolution")
        if getattr(incident, f"{c}_stopped_at") is None
    ]
    if not running:
        return "No SLA clock is running."
    due, clock = min(running)
    if due <= now:
        return f"{clock.capitalize()} overdue by {format_duration(now - due)} (due {stamp(due)})."
    return f"{clock.capitalize()} due in {format_duration(due - now)} ({stamp(due)})."


RULES = ("initial", "progress", "rectification", "overdue")


def schedule_of(policy: Policy, incident: Any) -> Schedule:
    """The policy for this incident: does its level notify, and which rules reach anyone."""
    level = policy.levels.get(incident.level)
    if level is None or not level.notify:
        return Schedule(notify=False)
    enabled = frozenset(rule for rule in RULES if recipients(policy, rule, incident))
    return Schedule(notify=True, every=policy.notifications.progress.every, enabled=enabled)
