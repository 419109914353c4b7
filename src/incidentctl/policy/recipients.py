"""Who a notice reaches: the deliveries of one notice of one incident, and the schedule
of an incident's notices (which of the policy's rules reach anyone at all).

Recipients come from the policy's notification rule: roles (``service_owner``,
``om_team``, ``rd_leader``, ``incident_managers``), the incident's ``assignee`` and
``reporter``, or contact names. Pure: the policy and the incident are given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from incidentctl.domain import ClockName, ContactChannel, NoticeName, NoticeRuleName, Team
from incidentctl.policy.notices import STEP_BASE, Schedule

if TYPE_CHECKING:
    from incidentctl.config import Policy

__all__ = ["PlannedDelivery", "recipients", "schedule_of"]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{2,}")


@dataclass(frozen=True)
class PlannedDelivery:
    """One row of the outbox, before it is recorded."""

    channel: ContactChannel
    recipient: str  # contact name(s): part of the delivery's key
    address: str | None  # None: nowhere to send it (recorded as failed)
    cc: tuple[str, ...] = ()
    error: str | None = None


def _names(policy: Policy, token: str, incident: Any) -> list[str]:
    if token == "assignee":
        return [incident.assignee] if incident.assignee else []
    if token == "reporter":
        return [incident.reporter] if incident.reporter else []
    if token == "dev_team" and incident.team != Team.DEV:
        return []  # the developers' team hears of incidents that are theirs
    return policy.resolve(token, incident.service)


def _address(policy: Policy, name: str, channel: ContactChannel, incident: Any) -> str | None:
    address = policy.address(name, channel)
    if address is None and name == incident.reporter and incident.contact:
        # A reporter who is not a contact is reached the way they left with the incident.
        contact = incident.contact.strip()
        pattern = _EMAIL if channel == ContactChannel.EMAIL else _PHONE
        if pattern.fullmatch(contact):
            return str(contact)
    return address


def _reached_otherwise(policy: Policy, name: str, channel: ContactChannel, incident: Any) -> bool:
    """A reporter who left only a contact of the other form (a phone number, for email):
    they are reached that way, and this channel is not a failure."""
    if name != incident.reporter or policy.address(name, channel) is not None:
        return False
    contact = (incident.contact or "").strip()
    other = _PHONE if channel == ContactChannel.EMAIL else _EMAIL
    return bool(other.fullmatch(contact))


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def recipients(
    policy: Policy, rule_name: str, incident: Any, sequence: int = 0
) -> list[PlannedDelivery]:
    """The deliveries of a notice (or of the rule ``rule_name``): one email (To + Cc) and
    one per sms / phone recipient. An overdue notice's step is in its ``sequence``."""
    rule = policy.notifications.rule(rule_name).step(sequence % STEP_BASE)
    planned = _planned(policy, rule, incident, by_form=rule_name in _BY_FORM)
    if rule_name in _ONLY_REACHABLE:
        # a reminder to whoever holds the incident: nobody reachable, nobody reminded
        # (assign and ack already said when the owner is not a contact)
        return [d for d in planned if d.address is not None]
    return planned


_ONLY_REACHABLE = frozenset((NoticeName.CUSTOMER_REMINDER,))
# To the customer: by the form of the contact they left, the other channel no failure.
_BY_FORM = frozenset((NoticeName.CUSTOMER_UPDATE, NoticeName.CONFIRMATION))


def _planned(
    policy: Policy, rule: Any, incident: Any, *, by_form: bool = False
) -> list[PlannedDelivery]:
    planned: list[PlannedDelivery] = []
    for channel in ContactChannel:
        if channel == ContactChannel.EMAIL:
            to = _unique([n for t in rule.email.to for n in _names(policy, t, incident)])
            cc = _unique([n for t in rule.email.cc for n in _names(policy, t, incident)])
            if by_form:
                to = [n for n in to if not _reached_otherwise(policy, n, channel, incident)]
            if not to:
                to, cc = cc, []
            cc = [n for n in cc if n not in to]
            if not to:
                continue
            to_addresses = [_address(policy, n, channel, incident) for n in to]
            missing = [n for n, a in zip(to, to_addresses, strict=True) if a is None]
            cc_addresses = [a for n in cc if (a := _address(policy, n, channel, incident))]
            planned.append(
                PlannedDelivery(
                    channel=channel,
                    recipient=",".join(to),
                    address=None if missing else ", ".join(a for a in to_addresses if a),
                    cc=tuple(_unique(cc_addresses)),
                    error=f"no email address for {', '.join(missing)}" if missing else None,
                )
            )
            continue
        tokens = rule.sms if channel == ContactChannel.SMS else rule.phone
        for name in _unique([n for t in tokens for n in _names(policy, t, incident)]):
            if by_form and _reached_otherwise(policy, name, channel, incident):
                continue
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


def schedule_of(policy: Policy, incident: Any) -> Schedule:
    """The policy for this incident: does its level notify, does it ask for approval,
    and which rules reach anyone. A cancelled incident gets nothing."""
    level = policy.levels.get(incident.level)
    if level is None or incident.cancelled_at is not None:
        return Schedule(notify=False, enabled=frozenset())
    enabled = frozenset(rule for rule in NoticeRuleName if recipients(policy, rule, incident))
    if not any(d.address for d in recipients(policy, NoticeRuleName.CUSTOMER_UPDATE, incident)):
        # nobody to send a customer update to: nobody reminded to send one
        enabled -= {NoticeRuleName.CUSTOMER_REMINDER}
    escalations: dict[str, tuple[tuple[timedelta, ...], timedelta | None]] = {}
    for clock in ClockName:
        name = NoticeName.overdue(clock)
        rule = policy.notifications.rule(name)
        if any(recipients(policy, name, incident, n) for n in range(len(rule.afters))):
            escalations[name] = (rule.afters, rule.repeat)
    return Schedule(
        escalations=escalations,
        notify=level.notify,
        every=policy.notifications.progress.every,
        enabled=enabled,
        approval=level.approval,
        remind_after=policy.notifications.approval.remind_after,
        customer_every=policy.notifications.rule(NoticeRuleName.CUSTOMER_UPDATE).every,
        progress_while_paused=policy.notifications.progress.while_paused,
        warnings=tuple(sorted(set(policy.notifications.warning.at))),
    )
