"""Intake: alerts and emails become incidents, notes, recoveries and acknowledgements.

One payload is one transaction, so a payload refused halfway changes nothing, and one
intake at a time decides (``repository.lock_for_intake``). What a dedup key went to is
recorded (``intake_keys``):

- an alert whose key has a not-closed incident is a repeat (nothing, or a note), or
  its resolution (the service recovered, or a note: ``[intake.alert] resolved``); a
  firing after that incident was closed opens a new one that follows it;
- an email's Message-ID is seen once: the same message again opens nothing; a reply
  (``[#42]``, or In-Reply-To naming a notice) is a note on 42, and a known person's
  "ack" acknowledges it;
- storm control: past ``max_new`` new incidents of a service within ``window``, the
  next ones are listed on one storm incident (per service and level), whose initial
  notice is the one page, instead of a page each.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from incidentctl.domain import (
    NOT_CLOSED,
    IntakeAction,
    IntakeSource,
    NoteKind,
    OnRepeat,
    OnResolved,
    PauseReason,
)
from incidentctl.errors import Conflict
from incidentctl.runtime import Runtime
from incidentctl.services import handling
from incidentctl.services.alerts import parse_alerts
from incidentctl.services.arrival import Arrival, Outcome
from incidentctl.services.mail import parse_email
from incidentctl.store import repository
from incidentctl.store.models import Incident
from incidentctl.times import format_duration

__all__ = ["Arrival", "Outcome", "take_alerts", "take_email", "take_in"]

STORM = "storm:"  # the key of a service's storm incident: "storm:payments:L1"
_GROUPED_DETAILS = 500  # characters of a grouped alert's or email's details on its note


def take_email(rt: Runtime, data: bytes, *, recipients: Sequence[str] = ()) -> list[Outcome]:
    """``intake email``: one RFC 5322 message."""
    return take_in(rt, [parse_email(data, rt.policy, recipients=recipients)])


def take_alerts(rt: Runtime, data: bytes) -> list[Outcome]:
    """``intake alert``: an Alertmanager webhook payload or one plain alert."""
    return take_in(rt, parse_alerts(data, rt.policy, now=rt.now))


def take_in(rt: Runtime, arrivals: Sequence[Arrival]) -> list[Outcome]:
    """Every arrival of one payload, in one transaction."""
    with rt.db.write() as session:
        repository.lock_for_intake(session)
        return [_take(session, rt.at(rt.now, actor=a.actor), a) for a in arrivals]


def _take(session: Session, rt: Runtime, arrival: Arrival) -> Outcome:
    last = repository.incident_of_key(session, key=arrival.key)
    if arrival.source == IntakeSource.EMAIL:
        if last is not None:
            return _outcome(arrival, IntakeAction.DUPLICATE, last)
        if arrival.automatic is not None:  # a loop, a bounce: nothing is recorded
            return _outcome(arrival, IntakeAction.IGNORED, None)
        if arrival.reply_to is not None:
            return _reply(session, rt, arrival)
        return _new(session, rt, arrival, follows=None)
    if last is not None and last.status in NOT_CLOSED:
        return _again(session, rt, arrival, last)
    if not arrival.firing:
        return _outcome(arrival, IntakeAction.IGNORED, None)
    return _new(session, rt, arrival, follows=last.id if last else None)


def _outcome(
    arrival: Arrival, action: IntakeAction, incident: Incident | None, follows: int | None = None
) -> Outcome:
    return Outcome(
        arrival.key, action, incident.id if incident else None, arrival.title, follows=follows
    )


def _new(session: Session, rt: Runtime, arrival: Arrival, *, follows: int | None) -> Outcome:
    storm = rt.policy.intake.storm
    if storm.enabled:
        since = rt.now - storm.window
        if repository.count_new_from_intake(session, service=arrival.service, since=since) >= (
            storm.max_new
        ):
            return _grouped(session, rt, arrival)
    incident = handling.open_incident(
        rt,
        title=arrival.title,
        level=arrival.level,
        service=arrival.service,
        details=arrival.details,
        channel=arrival.channel,
        reporter=arrival.reporter,
        contact=arrival.contact,
        occurred_at=arrival.occurred_at,
        session=session,
        intake=arrival.key,
        follows=follows,
    )
    _seen(session, rt, arrival, incident, new=True)
    return _outcome(arrival, IntakeAction.OPENED, incident, follows)


def _grouped(session: Session, rt: Runtime, arrival: Arrival) -> Outcome:
    """Past the storm threshold: the arrival is a note on the storm incident of its
    service and level (opened by the first arrival past it)."""
    storm = rt.policy.intake.storm
    key = f"{STORM}{arrival.service}:L{arrival.level}"
    incident = repository.incident_of_key(session, key=key)
    if incident is None or incident.status not in NOT_CLOSED:
        window = format_duration(storm.window)
        incident = handling.open_incident(
            rt.at(rt.now, actor="intake"),
            title=(
                f"Alert storm on {arrival.service}: more than {storm.max_new} new incidents "
                f"within {window}"
            ),
            level=arrival.level,
            service=arrival.service,
            details=(
                f"Storm control ([intake.storm]): past {storm.max_new} new incidents of "
                f"{arrival.service} within {window}, each further alert or email of level "
                f"{arrival.level} is a note here instead of an incident (and a page) of its "
                f"own. First: {arrival.summary}"
            ),
            channel=arrival.channel,
            session=session,
            intake=key,
        )
        repository.add_intake_key(
            session,
            key=key,
            incident_id=_id(incident),
            service=arrival.service,
            new=False,
            now=rt.now,
        )
    said = f"Grouped ({arrival.source}): {arrival.summary}"
    if arrival.contact:
        said += f"\nFrom: {arrival.reporter} <{arrival.contact}>"
    if arrival.details:
        cut = arrival.details[:_GROUPED_DETAILS]
        said += "\n" + cut + ("…" if len(arrival.details) > len(cut) else "")
    _note(session, rt, incident, said)
    _seen(session, rt, arrival, incident, new=True)
    return _outcome(arrival, IntakeAction.GROUPED, incident)


def _again(session: Session, rt: Runtime, arrival: Arrival, incident: Incident) -> Outcome:
    """An alert whose incident is not closed: a repeat, or its resolution."""
    rules = rt.policy.intake.alert
    if arrival.firing:
        if incident.recovered_at is not None:
            _note(session, rt, incident, f"Firing again after the recovery: {arrival.summary}")
            return _outcome(arrival, IntakeAction.NOTED, incident)
        if rules.repeat == OnRepeat.NOTE:
            _note(session, rt, incident, f"Still firing: {arrival.summary}")
        return _outcome(arrival, IntakeAction.REPEAT, incident)
    storm = _is_storm(session, incident)
    if incident.recovered_at is not None and not storm:
        return _outcome(arrival, IntakeAction.REPEAT, incident)  # resolved again: a retry
    if rules.resolved == OnResolved.RECOVER and not storm:
        # (not recovered, so not resolved either: the recovery is not refused)
        at = _clamped(arrival.ended_at, incident, rt.now)
        handling.recover(rt, _id(incident), at=at, session=session)
        return _outcome(arrival, IntakeAction.RECOVERED, incident)
    _note(session, rt, incident, f"Resolved: {arrival.summary}")
    return _outcome(arrival, IntakeAction.NOTED, incident)


def _reply(session: Session, rt: Runtime, arrival: Arrival) -> Outcome:
    """An email answering an incident: a note (a customer's, unless the sender is one of
    the policy's people), and an acknowledgement when a known person says "ack"."""
    assert arrival.reply_to is not None
    incident = repository.incident_by_id(session, incident_id=arrival.reply_to)
    action = IntakeAction.NOTED
    words = arrival.text or ""
    if arrival.ack and arrival.person is not None:
        try:
            handling.acknowledge(rt, _id(incident), session=session)
        except Conflict:
            pass  # already acknowledged, or done: the reply stays a note
        else:
            action = IntakeAction.ACKNOWLEDGED
            words = "\n".join(words.splitlines()[1:]).strip()
    kind = NoteKind.PROGRESS if arrival.person else NoteKind.CUSTOMER
    if words or action != IntakeAction.ACKNOWLEDGED:
        sender = (
            f"{arrival.reporter} <{arrival.contact}>"
            if arrival.reporter != arrival.contact
            else arrival.contact
        )
        handling.add_note(
            rt,
            _id(incident),
            text=f"Reply by email from {sender}:\n{words or '(no text)'}",
            kind=kind,
            session=session,
        )
    if (
        kind == NoteKind.CUSTOMER
        and incident.paused_at is not None
        and incident.pause_reason == PauseReason.AWAITING_CUSTOMER
    ):
        handling.resume(rt, _id(incident), session=session)  # the customer answered
    _seen(session, rt, arrival, incident, new=False)
    return _outcome(arrival, action, incident)


def _is_storm(session: Session, incident: Incident) -> bool:
    return repository.has_key_beginning(session, incident_id=_id(incident), prefix=STORM)


def _note(session: Session, rt: Runtime, incident: Incident, text: str) -> None:
    handling.add_note(rt, _id(incident), text=text, kind=NoteKind.PROGRESS, session=session)


def _seen(
    session: Session, rt: Runtime, arrival: Arrival, incident: Incident, *, new: bool
) -> None:
    repository.add_intake_key(
        session,
        key=arrival.key,
        incident_id=_id(incident),
        service=incident.service,
        new=new,
        now=rt.now,
    )


def _clamped(when: datetime | None, incident: Incident, now: datetime) -> datetime:
    """A resolved alert's end as the recovery time: not before the report, not after now."""
    if when is None:
        return now
    return max(incident.reported_at, min(when, now))


def _id(incident: Incident) -> int:
    assert incident.id is not None
    return incident.id
