"""What a notice says: subject and text of one notice of one incident, with the
deliveries the policy names for it (``policy.recipients``).

Plain text that reads well on a phone: incident id, level, service, title, what is
due or overdue and by how long, the details and who reported it, and the command to
run. Times are in the policy's ``timezone`` (default UTC) with the zone named;
durations are rounded to what matters (``late by 5h46m``).

An SMS (and the text a phone call reads) is the short form: one GSM-7 message of at
most 160 characters; the email carries the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from incidentctl.config import Policy
from incidentctl.domain import ClockName, ContactChannel, NoticeName, Team
from incidentctl.policy.clocks import stored_clocks
from incidentctl.policy.notices import STEP_BASE, Notice
from incidentctl.policy.recipients import PlannedDelivery, recipients
from incidentctl.text import one_line
from incidentctl.times import policy_zone, rough_duration, zoned_time

SMS_LIMIT = 160  # one GSM-7 message
DETAILS_LIMIT = 500  # characters of the details an email quotes

# GSM 03.38: the basic set (one septet each) and the extension table (two: an escape
# and the character). Anything else would turn the SMS into UCS-2 (70 characters).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


PROGRESS_NOTES = 20  # the latest notes a progress notice lists (the rest: `show`)
NOTE_LINE = 300  # characters of a note on its line in a notice


def gsm7_length(text: str) -> int | None:
    """The length of ``text`` in GSM-7 septets, or None when it is not GSM-7."""
    length = 0
    for char in text:
        if char in _GSM_BASIC:
            length += 1
        elif char in _GSM_EXTENDED:
            length += 2
        else:
            return None
    return length


# Typography with a plain GSM-7 equivalent.
_PLAIN = str.maketrans({"·": "-", "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"'})


def gsm7(text: str) -> str:
    """``text`` in GSM-7: typography made plain, anything else it cannot carry becomes
    ``?`` (a title in another script keeps its numbers and Latin words; the email has
    it whole)."""
    text = text.translate(_PLAIN).replace("…", "...")
    return "".join(c if c in _GSM_BASIC or c in _GSM_EXTENDED else "?" for c in text)


@dataclass(frozen=True)
class Note:
    at: datetime
    text: str


@dataclass(frozen=True)
class Draft:
    subject: str
    text: str  # the email
    deliveries: list[PlannedDelivery] = field(default_factory=list)
    short: str = ""  # SMS and phone: one GSM-7 message

    def text_for(self, channel: str) -> str:
        return self.text if channel == ContactChannel.EMAIL else self.short


_TITLES: dict[str, str] = {
    NoticeName.INITIAL: "NEW",
    NoticeName.PROGRESS: "PROGRESS",
    NoticeName.RECTIFICATION: "RECOVERED",
    NoticeName.OVERDUE_RESPONSE: "OVERDUE response",
    NoticeName.OVERDUE_RECOVERY: "OVERDUE recovery",
    NoticeName.OVERDUE_RESOLUTION: "OVERDUE resolution",
    NoticeName.OVERDUE_FIX: "OVERDUE fix",
    NoticeName.WARNING_RESPONSE: "WARNING response",
    NoticeName.WARNING_RECOVERY: "WARNING recovery",
    NoticeName.WARNING_RESOLUTION: "WARNING resolution",
    NoticeName.WARNING_FIX: "WARNING fix",
    NoticeName.HANDOVER: "HANDED OVER",
    NoticeName.APPROVAL: "APPROVAL NEEDED",
    NoticeName.APPROVAL_REMINDER: "APPROVAL REMINDER",
    NoticeName.CUSTOMER_UPDATE: "UPDATE",
    NoticeName.CUSTOMER_REMINDER: "CUSTOMER UPDATE DUE",
    NoticeName.CONFIRMATION: "RESOLVED",
}
# Sent to the customer: their words, none of the team's internals (owner, commands).
_TO_THE_CUSTOMER = frozenset((NoticeName.CUSTOMER_UPDATE, NoticeName.CONFIRMATION))


@dataclass(frozen=True)
class _Context:
    """What every line of one draft needs: the incident, the zone and "now"."""

    incident: Any
    zone: tzinfo
    now: datetime

    def stamp(self, value: datetime) -> str:
        return zoned_time(value, self.zone)

    def clock(self) -> tuple[str, datetime] | None:
        """The nearest running clock and its due time."""
        incident = self.incident
        running = [
            (getattr(incident, f"{c}_due_at"), c)
            for c in stored_clocks(incident)
            if getattr(incident, f"{c}_stopped_at") is None
            and getattr(incident, f"{c}_due_at") is not None  # (paused: not due)
        ]
        if incident.down_due_at is not None:  # down again: its recovery is due again
            running.append((incident.down_due_at, ClockName.RECOVERY))
        if not running:
            return None
        due, name = min(running)
        return name, due

    def clock_line(self) -> str:
        """What is due next, or what is overdue and by how long."""
        nearest = self.clock()
        if nearest is None:
            return "No SLA clock is running."
        clock, due = nearest
        if due <= self.now:
            late = rough_duration(self.now - due)
            return f"{clock.capitalize()} overdue by {late} (due {self.stamp(due)})."
        return f"{clock.capitalize()} due in {rough_duration(due - self.now)} ({self.stamp(due)})."

    def clock_short(self) -> str:
        nearest = self.clock()
        if nearest is None:
            return ""
        clock, due = nearest
        if due <= self.now:
            return f"{clock.capitalize()} overdue {rough_duration(self.now - due)}."
        return f"{clock.capitalize()} due in {rough_duration(due - self.now)}."

    def action(self) -> str:
        """The command the recipient runs next."""
        incident = self.incident
        if incident.acknowledged_at is None and incident.resolved_at is None:
            return f"incidentctl ack {incident.id}"
        return f"incidentctl show {incident.id}"


def draft(
    policy: Policy,
    incident: Any,
    notice: Notice,
    *,
    now: datetime,
    notes: Sequence[Note] = (),
    handover: Any = None,
    update: int | None = None,
) -> Draft:
    """Subject, text and deliveries of one notice (``handover``: the assign or transfer
    event a ``handover`` notice tells of; ``update``: the number a progress notice
    carries, the count of the incident's progress notices so far)."""
    context = _Context(incident, policy_zone(policy.timezone), now)
    if notice.name in _TO_THE_CUSTOMER:
        return _to_the_customer(policy, context, notice, notes)
    level = incident.level
    level_name = policy.levels[level].name if level in policy.levels else f"Level {level}"
    title = one_line(incident.title)
    service = one_line(incident.service)
    name = NoticeName(notice.name)
    head = f"[{_TITLES[name]}] Incident #{incident.id} L{level} {level_name} · {service}"
    body, short = _body(policy, context, name, notice, notes, handover, update)
    lines = [head, title, *body]
    action = context.action()
    if name not in (NoticeName.APPROVAL, NoticeName.APPROVAL_REMINDER):
        lines.append(f"Next: {action}")
    lines.append(f"Status: {incident.status}; owner: {one_line(incident.assignee or 'nobody')}.")
    lines.extend(_about(incident))
    subject = f"[incidentctl] [#{incident.id}] L{level} {service}: {_TITLES[name]} - {title}"
    return Draft(
        subject=subject[:200],
        text="\n".join(lines),
        deliveries=recipients(policy, name, incident, notice.sequence),
        short=_short(f"[{_TITLES[name]}] #{incident.id} L{level} {service}", title, short),
    )


def _body(
    policy: Policy,
    context: _Context,
    name: NoticeName,
    notice: Notice,
    notes: Sequence[Note],
    handover: Any,
    update: int | None,
) -> tuple[list[str], str]:
    """The lines particular to the notice, and its short form's facts."""
    incident, stamp = context.incident, context.stamp
    level = incident.level
    if name == NoticeName.INITIAL:
        lines = [
            f"Re-levelled to Level {level} at {stamp(notice.due_at)}."
            if notice.sequence
            else f"Reported {stamp(incident.reported_at)}."
        ]
        within = policy.notifications.initial.within
        late = context.now - notice.due_at
        if within is not None and late > within:
            lines.append(f"This notice is late by {rough_duration(late - within)}.")
        lines.append(context.clock_line())
        return lines, f"{context.clock_short()} {context.action()}"
    if name == NoticeName.PROGRESS:
        number = update if update is not None else notice.sequence
        since = rough_duration(notice.due_at - incident.reported_at)
        lines = [
            f"Update {number}: {since} since reported, not recovered yet.",
            context.clock_line(),
        ]
        if notes:
            lines.append("Progress since the last update:")
            shown = notes[-PROGRESS_NOTES:]
            if len(notes) > len(shown):  # (a storm's grouped alerts: hundreds of notes)
                lines.append(
                    f"- … {len(notes) - len(shown):,} earlier notes: incidentctl show {incident.id}"
                )
            lines.extend(f"- {stamp(n.at)[11:]} {one_line(n.text)[:NOTE_LINE]}" for n in shown)
        else:
            lines.append("No progress recorded since the last update.")
        latest = f" Latest: {one_line(notes[-1].text)}" if notes else ""
        return lines, f"Update {number}, not recovered. {context.clock_short()}{latest}"
    if name == NoticeName.RECTIFICATION:
        recovered = incident.recovered_at
        took = rough_duration(recovered - incident.occurred_at)
        return (
            [f"Service recovered {stamp(recovered)}, {took} after the fault began."],
            f"Recovered {stamp(recovered)[11:]}, {took} after the fault.",
        )
    if name == NoticeName.HANDOVER:
        lines = _handover_lines(context, handover)
        lines.append(context.clock_line())
        to = one_line(handover.data.get("to") or "the developers") if handover else "you"
        by = f" by {one_line(handover.actor)}" if handover else ""
        return lines, f"Handed to {to}{by}. {context.clock_short()} {context.action()}"
    if name == NoticeName.CUSTOMER_REMINDER:
        every = policy.notifications.rule(NoticeName.CUSTOMER_UPDATE).every
        waited = rough_duration(every) if every else ""
        who = one_line(incident.reporter or "the reporter")
        how = f" ({one_line(incident.contact)})" if incident.contact else ""
        return (
            [
                f"No customer update sent for {waited}: {who}{how} waits to hear.",
                f"Send one: incidentctl note {incident.id} TEXT --kind customer-update --send",
            ],
            f"No customer update for {waited}: incidentctl note {incident.id} TEXT "
            "--kind customer-update --send",
        )
    if name in (NoticeName.APPROVAL, NoticeName.APPROVAL_REMINDER):
        resolved = incident.resolved_at
        lines = []
        if name == NoticeName.APPROVAL_REMINDER:
            waited = rough_duration(context.now - resolved)
            lines.append(f"Still not approved, {waited} after the solution.")
        lines.append(f"Solution provided {stamp(resolved)}: {one_line(incident.solution or '')}")
        lines.append(f"Level {level} asks an incident manager's approval before it is closed.")
        lines.append(f"To approve: incidentctl --as NAME approve {incident.id}")
        return lines, f"Solution waits for approval: incidentctl approve {incident.id}"
    warned = name.warns
    if warned is not None:  # before the breach: how much is used, and what is left
        due = getattr(incident, f"{warned}_due_at")
        target = getattr(policy.levels.get(level), warned, None)
        share = policy.notifications.warning.at
        used = f"{round(100 * sorted(set(share))[notice.sequence])}% of" if share else "most of"
        left = rough_duration(due - context.now) if due else "some time"
        of = f" {rough_duration(target)}" if target else ""
        lines = [
            f"{warned.capitalize()} has used {used} its{of} target: due {stamp(due)} (in {left})."
            if due
            else f"{warned.capitalize()} nears its target."
        ]
        return lines, f"{warned.capitalize()} due in {left}. {context.action()}"
    clock = name.clock
    assert clock is not None
    target = getattr(policy.levels.get(level), clock, None)
    target_text = f" ({rough_duration(target)} target)" if target else ""
    # the clock's breach (down again: the outage's), whichever step this is
    breach = (
        incident.down_due_at
        if notice.sequence >= STEP_BASE and incident.down_due_at is not None
        else getattr(incident, f"{clock}_due_at")
    )
    overdue = rough_duration(context.now - breach)
    lines = [f"{clock.capitalize()} overdue by {overdue}: was due {stamp(breach)}{target_text}."]
    climbed = _climbed(policy.notifications.rule(name), notice.sequence % STEP_BASE)
    if climbed:
        lines.append(climbed)
    return lines, f"{clock.capitalize()} overdue by {overdue}. {context.action()}"


def _climbed(rule: Any, n: int) -> str:
    """Where an escalation stands: ``Escalation step 2 of 3.``, ``Still overdue: reminder
    1 (every 1h until acknowledged).``; nothing for the first (or only) step."""
    steps = len(rule.afters)
    if n == 0:
        return ""
    if n < steps:
        return f"Escalation step {n + 1} of {steps}."
    every = rough_duration(rule.repeat) if rule.repeat else ""
    return f"Still overdue: reminder {n - steps + 1} (every {every} until acknowledged)."


def _to_the_customer(
    policy: Policy, context: _Context, notice: Notice, notes: Sequence[Note]
) -> Draft:
    """A customer update (the note's text) or the request to confirm the resolution."""
    incident = context.incident
    title = one_line(incident.title)
    name = NoticeName(notice.name)
    if name == NoticeName.CUSTOMER_UPDATE:
        said = one_line(notes[-1].text) if notes else ""
        subject = f"[#{incident.id}] Update on your report: {title}"
        lines = [f"An update on what you reported, {title} (incident #{incident.id}):", said]
        short = f"Incident #{incident.id} update: {said}"
    else:
        solution = one_line(incident.solution or "")
        subject = f"[#{incident.id}] Resolved: {title} - please confirm"
        lines = [
            f"What you reported, {title} (incident #{incident.id}), is resolved: {solution}",
            "Please confirm that it works for you: reply to this message. If it does not, "
            "say so in your reply and we will reopen it.",
        ]
        short = (
            f"Incident #{incident.id} is resolved: {solution}. Reply to confirm it works, "
            "or to say it does not."
        )
    lines.append(f"(Sent {context.stamp(context.now)}.)")
    return Draft(
        subject=subject[:200],
        text="\n".join(lines),
        deliveries=recipients(policy, name, incident, notice.sequence),
        short=fit_sms(gsm7(" ".join(short.split()))),
    )


def _about(incident: Any) -> list[str]:
    """The details and who reported it, for the email."""
    lines = []
    if incident.details:
        details = one_line(incident.details)
        if len(details) > DETAILS_LIMIT:
            details = details[: DETAILS_LIMIT - 1] + "…"
        lines.append(f"Details: {details}")
    if incident.reporter or incident.contact:
        who = one_line(incident.reporter or "unnamed")
        how = f" ({one_line(incident.contact)})" if incident.contact else ""
        lines.append(f"Reported by {who}{how}, via {incident.channel}.")
    return lines


def _short(head: str, title: str, facts: str) -> str:
    """``head: title. facts`` in one GSM-7 message: the title gives way first."""
    head, title, facts = gsm7(head), gsm7(title), gsm7(" ".join(facts.split()))
    room = SMS_LIMIT - _septets(f"{head}: . {facts}")
    if room < 8:  # no room for a title worth the name: the facts alone
        text = f"{head}: {facts}"
    else:
        if _septets(title) > room:
            while _septets(title) > room - 3:
                title = title[:-1]
            title = title.rstrip(" .") + "..."
        text = f"{head}: {title}{'' if title.endswith('.') else '.'} {facts}"
    return fit_sms(text)


def fit_sms(text: str) -> str:
    """GSM-7 ``text`` cut to one message, ending in ``...`` when it was cut."""
    while _septets(text) > SMS_LIMIT:
        text = text[:-4].rstrip() + "..."
    return text


# How one notice is named among others in a message that carries several.
_SAID: dict[str, str] = {
    NoticeName.INITIAL: "new",
    NoticeName.PROGRESS: "progress",
    NoticeName.RECTIFICATION: "recovered",
    NoticeName.OVERDUE_RESPONSE: "response overdue",
    NoticeName.OVERDUE_RECOVERY: "recovery overdue",
    NoticeName.OVERDUE_RESOLUTION: "resolution overdue",
    NoticeName.OVERDUE_FIX: "fix overdue",
    NoticeName.WARNING_RESPONSE: "response due soon",
    NoticeName.WARNING_RECOVERY: "recovery due soon",
    NoticeName.WARNING_RESOLUTION: "resolution due soon",
    NoticeName.WARNING_FIX: "fix due soon",
    NoticeName.HANDOVER: "handed over",
    NoticeName.APPROVAL: "approval needed",
    NoticeName.APPROVAL_REMINDER: "approval reminder",
    NoticeName.CUSTOMER_UPDATE: "customer update",
    NoticeName.CUSTOMER_REMINDER: "customer update due",
    NoticeName.CONFIRMATION: "resolved, to confirm",
}


@dataclass(frozen=True)
class Combined:
    subject: str
    text: str


def combined(channel: str, parts: Sequence[tuple[str, str, str]]) -> Combined:
    """One message for several notices of one incident due at once to one recipient on
    one channel (``parts``: notice, subject, text of each, oldest first). The email lists
    them and carries each text; an SMS (or call) names them all and keeps the first's
    facts, in one GSM-7 message."""
    said = ", ".join(_SAID.get(notice, notice) for notice, _, _ in parts)
    labels = " + ".join(_TITLES.get(notice, notice) for notice, _, _ in parts)
    first_notice, first_subject, first = parts[0]
    subject = first_subject.replace(
        f": {_TITLES.get(first_notice, first_notice)} - ", f": {labels} - ", 1
    )[:200]
    if channel == ContactChannel.EMAIL:
        texts = "\n\n".join(text for _, _, text in parts)
        return Combined(subject, f"{len(parts)} notices at once: {said}.\n\n{texts}")
    rest = first.split("] ", 1)[1] if first.startswith("[") and "] " in first else first
    return Combined(subject, fit_sms(gsm7(f"[{labels}] {rest}")))


def _septets(text: str) -> int:
    length = gsm7_length(text)
    assert length is not None  # (only ever given gsm7() text)
    return length


def _handover_lines(context: _Context, event: Any) -> list[str]:
    """Who handed it over, to whom, when and why."""
    incident = context.incident
    if event is None:  # (the event is always there; the notice still says what it can)
        return [f"Now held by {one_line(incident.assignee or 'the developers')}."]
    to = event.data.get("to") or "the developers"
    team = " (developers)" if event.data.get("team") == Team.DEV else ""
    why = event.data.get("reason")
    line = (
        f"Handed over to {one_line(to)}{team} by {one_line(event.actor)} "
        f"at {context.stamp(event.at)}"
    )
    return [f"{line}: {one_line(why)}." if why else f"{line}."]
