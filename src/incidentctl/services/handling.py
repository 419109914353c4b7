"""Incident handling: each command of the lifecycle as one all-or-nothing transaction.

The CLI calls these; they check the facts against the policy, append the event,
update the incident and keep its SLA clocks (and their indexed due times) current.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from incidentctl.domain import (
    EDITABLE_FIELDS,
    Channel,
    EventKind,
    NoteKind,
    NoticeName,
    PauseReason,
    ProblemReason,
    Team,
)
from incidentctl.errors import Conflict, InvalidInput, NotFound
from incidentctl.policy import lifecycle
from incidentctl.policy.clocks import facts_of
from incidentctl.policy.derived import derive
from incidentctl.policy.recipients import recipients, schedule_of
from incidentctl.runtime import Runtime
from incidentctl.services.versions import rules_for
from incidentctl.store import repository
from incidentctl.store.models import Delivery, Event, Incident
from incidentctl.store.repository import IncidentFilter
from incidentctl.times import to_rfc3339

__all__ = ["IncidentFilter", "IncidentRecord", "ProblemChange"]  # and the commands below


@dataclass
class IncidentRecord:
    """An incident with what ``show`` adds: its timeline, its deliveries, and the other
    incidents sent to the same problem."""

    incident: Incident
    events: list[Event] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    problem_incidents: list[int] = field(default_factory=list)


def _load(session: Session, incident_id: int, action: str | None = None) -> Incident:
    """The incident a command changes, locked until its transaction ends; with
    ``action``, refused when it was cancelled."""
    incident = repository.incident_by_id(session, incident_id=incident_id, lock=True)
    if action is not None:
        lifecycle.check_live(incident, action)
    return incident


def _check_time(rt: Runtime, at: datetime | None, incident: Incident | None = None) -> datetime:
    """An event time: now when not given; never in the future, never before the report."""
    if at is None:
        return rt.now
    if at > rt.now:
        raise InvalidInput(f"{to_rfc3339(at)} is in the future (now is {to_rfc3339(rt.now)})")
    if incident is not None and at < incident.reported_at:
        raise InvalidInput(
            f"{to_rfc3339(at)} is before incident {incident.id} was reported "
            f"({to_rfc3339(incident.reported_at)})"
        )
    return at


def _after_solution(rt: Runtime, at: datetime | None, incident: Incident) -> datetime:
    """The time of a step that follows the solution (approve, close, reopen)."""
    when = _check_time(rt, at, incident)
    if incident.resolved_at and when < incident.resolved_at:
        raise InvalidInput(
            f"{to_rfc3339(when)} is before the solution was provided "
            f"({to_rfc3339(incident.resolved_at)})"
        )
    return when


def _after_outage(session: Session, when: datetime, incident: Incident) -> None:
    """A recovery (or a solution, which implies one) of a service that went down again
    (``reopen --down``) is not before it went down again."""
    if incident.recovered_at is not None or incident.id is None:
        return
    reopened = repository.events_by_incident(
        session, incident_ids=[incident.id], kinds=(EventKind.REOPENED,)
    ).get(incident.id, [])
    down = [event.at for event in reopened if event.data.get("down")]
    if down and when < down[-1]:
        raise InvalidInput(
            f"{to_rfc3339(when)} is before the service went down again ({to_rfc3339(down[-1])})"
        )


@contextmanager
def _transaction(rt: Runtime, session: Session | None) -> Iterator[Session]:
    """A command's transaction, or a part of the caller's (``session``: intake opens,
    notes and recovers within the transaction that records what it has seen)."""
    if session is not None:
        yield session
        return
    with rt.db.write() as own:
        yield own


def _text(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    return value


def _append(
    session: Session, rt: Runtime, incident: Incident, kind: EventKind, at: datetime, /, **data: Any
) -> Event:
    assert incident.id is not None
    return repository.add_event(
        session,
        incident_id=incident.id,
        kind=kind,
        at=at,
        recorded_at=rt.now,
        actor=rt.actor,
        data={k: v for k, v in data.items() if v is not None},
    )


def refresh(session: Session, rt: Runtime, incident: Incident) -> None:
    """Recompute what is derived (clocks, deadline, status, next notice) after a change."""
    assert incident.id is not None
    events = repository.clock_events_of(session, incident_id=incident.id)
    schedule = schedule_of(rt.policy, incident)
    sent = (
        repository.notices_produced(session, incident_ids=[incident.id]).get(incident.id, set())
        if schedule.active
        else set()
    )
    derive(
        incident,
        facts_of(incident, events),
        rules=rules_for(session, rt.policy, incident, rt.now),
        schedule=schedule,
        now=rt.now,
        sent=sent,
    ).apply(incident)
    incident.updated_at = rt.now


def open_incident(
    rt: Runtime,
    *,
    title: str,
    level: int,
    service: str,
    details: str | None = None,
    channel: str = Channel.OTHER,
    reporter: str | None = None,
    contact: str | None = None,
    occurred_at: datetime | None = None,
    reported_at: datetime | None = None,
    assignee: str | None = None,
    session: Session | None = None,
    **opened: Any,
) -> Incident:
    """A new incident (``opened``: more for its ``opened`` event, e.g. the incident an
    alert firing again follows)."""
    title = _text(title, "the title")
    service = _text(service, "the service")
    rt.policy.level(level)  # an unknown level is refused before anything is written
    if channel not in set(Channel):
        raise InvalidInput(f"unknown channel {channel!r}: use {', '.join(Channel)}")
    reported = _check_time(rt, reported_at)
    occurred = _check_time(rt, occurred_at) if occurred_at else reported
    if occurred > reported:
        raise InvalidInput(
            f"the fault cannot begin ({to_rfc3339(occurred)}) after it was reported "
            f"({to_rfc3339(reported)})"
        )
    with _transaction(rt, session) as session:
        incident = Incident(
            title=title,
            details=details,
            service=service,
            level=level,
            opened_level=level,
            channel=channel,
            reporter=reporter,
            contact=contact,
            assignee=assignee,
            team=Team.OM,
            occurred_at=occurred,
            reported_at=reported,
            updated_at=rt.now,
            # Placeholders: refresh() sets the real due times before the commit.
            response_due_at=reported,
            recovery_due_at=reported,
            resolution_due_at=reported,
        )
        repository.add_incident(session, incident)
        _append(
            session,
            rt,
            incident,
            EventKind.OPENED,
            reported,
            level=level,
            service=service,
            channel=channel,
            occurred_at=to_rfc3339(occurred),
            assignee=assignee,
            **opened,
        )
        refresh(session, rt, incident)
        return incident


def acknowledge(
    rt: Runtime, incident_id: int, *, at: datetime | None = None, session: Session | None = None
) -> Incident:
    with _transaction(rt, session) as session:
        incident = _load(session, incident_id, "acknowledge it")
        if incident.acknowledged_at:  # (the loser of a race is told who won)
            first = repository.first_event(
                session, incident_id=incident_id, kind=EventKind.ACKNOWLEDGED
            )
            lifecycle.check_ack(
                incident,
                by=first.actor if first else None,
                at=to_rfc3339(incident.acknowledged_at),
            )
        lifecycle.check_ack(incident)
        when = _check_time(rt, at, incident)
        incident.acknowledged_at = when
        if incident.assignee is None:
            incident.assignee = rt.actor
        _append(session, rt, incident, EventKind.ACKNOWLEDGED, when, assignee=incident.assignee)
        refresh(session, rt, incident)
        return incident


def assign(rt: Runtime, incident_id: int, *, to: str, at: datetime | None = None) -> Incident:
    to = _text(to, "the new owner")
    with rt.db.write() as session:
        incident = _load(session, incident_id, "assign it")
        lifecycle.check_active(incident, "assign")
        previous = incident.assignee
        incident.assignee = to
        when = _check_time(rt, at, incident)
        _append(session, rt, incident, EventKind.ASSIGNED, when, to=to, previous=previous)
        refresh(session, rt, incident)
        return incident


def add_note(
    rt: Runtime,
    incident_id: int,
    *,
    text: str,
    kind: str = NoteKind.PROGRESS,
    at: datetime | None = None,
    send: bool = False,
    session: Session | None = None,
) -> Incident:
    """A note; with ``send`` (a customer update), also a message to the reporter's
    contact, through the outbox (the next escalate pass sends it)."""
    text = _text(text, "the note")
    if kind not in set(NoteKind):
        raise InvalidInput(f"unknown note kind {kind!r}: use {', '.join(NoteKind)}")
    if send and kind != NoteKind.CUSTOMER_UPDATE:
        raise InvalidInput("--send sends a customer update: use it with --kind customer-update")
    with _transaction(rt, session) as session:
        incident = _load(session, incident_id)
        when = _check_time(rt, at, incident)
        if send:
            lifecycle.check_live(incident, "send the customer an update")
            planned = recipients(rt.policy, NoticeName.CUSTOMER_UPDATE, incident)
            if not any(d.address for d in planned):
                raise Conflict(
                    f"incident {incident.id}: the reporter left no email address or phone "
                    f"number to send to (incidentctl edit {incident.id} --contact ...)"
                )
        _append(
            session, rt, incident, EventKind.NOTE, when, kind=kind, text=text, send=send or None
        )
        if send:
            refresh(session, rt, incident)  # (its notice falls due now)
        incident.updated_at = rt.now
        return incident


def transfer(
    rt: Runtime,
    incident_id: int,
    *,
    to: str,
    team: str = Team.DEV,
    reason: str,
    at: datetime | None = None,
) -> Incident:
    to = _text(to, "the new owner")
    reason = _text(reason, "the reason")
    if team not in set(Team):
        raise InvalidInput(f"unknown team {team!r}: use {' or '.join(Team)}")
    with rt.db.write() as session:
        incident = _load(session, incident_id, "transfer it")
        lifecycle.check_transfer(incident, to, team)
        when = _check_time(rt, at, incident)
        if team == Team.DEV and incident.transferred_at is None:
            incident.transferred_at = when
        _append(
            session,
            rt,
            incident,
            EventKind.TRANSFERRED,
            when,
            to=to,
            team=team,
            reason=reason,
            previous=incident.assignee,
            previous_team=incident.team,
        )
        incident.assignee, incident.team = to, team
        refresh(session, rt, incident)
        return incident


def relevel(
    rt: Runtime, incident_id: int, *, level: int, reason: str, at: datetime | None = None
) -> Incident:
    reason = _text(reason, "the reason")
    rt.policy.level(level)
    with rt.db.write() as session:
        incident = _load(session, incident_id, "relevel it")
        lifecycle.check_relevel(incident, level)
        when = _check_time(rt, at, incident)
        _append(
            session,
            rt,
            incident,
            EventKind.RELEVELLED,
            when,
            to=level,
            previous=incident.level,
            reason=reason,
        )
        incident.level = level
        refresh(session, rt, incident)
        return incident


def recover(
    rt: Runtime, incident_id: int, *, at: datetime | None = None, session: Session | None = None
) -> Incident:
    with _transaction(rt, session) as session:
        incident = _load(session, incident_id, "recover it")
        lifecycle.check_recover(incident)
        when = _check_time(rt, at, incident)
        _after_outage(session, when, incident)
        incident.recovered_at = when
        _append(session, rt, incident, EventKind.RECOVERED, when)
        refresh(session, rt, incident)
        return incident


def resolve(
    rt: Runtime, incident_id: int, *, solution: str, at: datetime | None = None
) -> Incident:
    solution = _text(solution, "the solution")
    with rt.db.write() as session:
        incident = _load(session, incident_id, "resolve it")
        lifecycle.check_resolve(incident)
        when = _check_time(rt, at, incident)
        _after_outage(session, when, incident)
        if incident.recovered_at and when < incident.recovered_at:
            raise InvalidInput(
                f"{to_rfc3339(when)} is before the service was recovered "
                f"({to_rfc3339(incident.recovered_at)})"
            )
        if incident.recovered_at is None:
            # A solution restores the service too: the recovery clock stops here.
            incident.recovered_at = when
            _append(session, rt, incident, EventKind.RECOVERED, when, implied_by="resolve")
        incident.resolved_at, incident.solution = when, solution
        _append(session, rt, incident, EventKind.RESOLVED, when, solution=solution)
        refresh(session, rt, incident)
        return incident


def approve(rt: Runtime, incident_id: int, *, at: datetime | None = None) -> Incident:
    with rt.db.write() as session:
        incident = _load(session, incident_id, "approve it")
        lifecycle.check_approve(
            incident,
            actor=rt.actor,
            managers=rt.policy.roles.incident_managers,
            required=rt.policy.level(incident.level).approval,
        )
        when = _after_solution(rt, at, incident)
        incident.approved_at, incident.approved_by = when, rt.actor
        _append(session, rt, incident, EventKind.APPROVED, when)
        refresh(session, rt, incident)
        return incident


def close(
    rt: Runtime, incident_id: int, *, confirmed_by: str, at: datetime | None = None
) -> Incident:
    confirmed_by = _text(confirmed_by, "--confirmed-by")
    with rt.db.write() as session:
        incident = _load(session, incident_id, "close it")
        lifecycle.check_close(
            incident,
            approval_required=rt.policy.level(incident.level).approval,
            managers=rt.policy.roles.incident_managers,
        )
        when = _after_solution(rt, at, incident)
        if incident.approved_at and when < incident.approved_at:
            raise InvalidInput(
                f"{to_rfc3339(when)} is before the solution was approved "
                f"({to_rfc3339(incident.approved_at)})"
            )
        incident.closed_at, incident.confirmed_by = when, confirmed_by
        _append(session, rt, incident, EventKind.CLOSED, when, confirmed_by=confirmed_by)
        refresh(session, rt, incident)
        return incident


def reopen(
    rt: Runtime,
    incident_id: int,
    *,
    reason: str,
    down: bool = False,
    at: datetime | None = None,
) -> Incident:
    """Back to work. A resolved or closed incident loses its solution, approval and
    confirmation; with ``down`` also its recovery (the service is down again: progress
    notices resume, the next recovery sends a new rectification). A cancelled one loses
    its cancellation. The SLA clocks keep their first verdicts."""
    reason = _text(reason, "the reason")
    with rt.db.write() as session:
        incident = _load(session, incident_id)
        lifecycle.check_reopen(incident, down=down)
        cancelled = incident.cancelled_at is not None
        when = _check_time(rt, at, incident) if cancelled else _after_solution(rt, at, incident)
        if incident.recovered_at and down and when < incident.recovered_at:
            raise InvalidInput(
                f"{to_rfc3339(when)} is before the service was recovered "
                f"({to_rfc3339(incident.recovered_at)})"
            )
        _append(
            session,
            rt,
            incident,
            EventKind.REOPENED,
            when,
            reason=reason,
            solution=None if cancelled else incident.solution,
            previous_status=incident.status,
            down=True if down else None,
        )
        if cancelled:
            incident.cancelled_at = incident.cancel_reason = incident.duplicate_of = None
        else:
            # The solution and its approval start over.
            incident.resolved_at = incident.solution = None
            incident.approved_at = incident.approved_by = None
            incident.closed_at = incident.confirmed_by = None
        if down:
            incident.recovered_at = None
        refresh(session, rt, incident)
        return incident


def pause(rt: Runtime, incident_id: int, *, reason: str, at: datetime | None = None) -> Incident:
    """Waiting on the customer, a vendor or a change: the clocks the level's policy
    names (``pausable``) stop until ``resume``."""
    if reason not in set(PauseReason):
        raise InvalidInput(f"unknown reason {reason!r}: use {', '.join(PauseReason)}")
    with rt.db.write() as session:
        incident = _load(session, incident_id, "pause it")
        since = (
            f" since {to_rfc3339(incident.paused_at)} ({incident.pause_reason})"
            if incident.paused_at
            else ""
        )
        lifecycle.check_pause(incident, incident.paused_at, since)
        when = _check_time(rt, at, incident)
        # the last pause ended with a resume or a solution: a new one begins after it
        earlier = facts_of(incident, repository.clock_events_of(session, incident_id=incident_id))
        ended = earlier.pauses[-1].end if earlier.pauses else None
        if ended is not None and when < ended:
            raise InvalidInput(
                f"{to_rfc3339(when)} is before the last pause ended ({to_rfc3339(ended)})"
            )
        _append(session, rt, incident, EventKind.PAUSED, when, reason=reason)
        refresh(session, rt, incident)
        return incident


def resume(
    rt: Runtime, incident_id: int, *, at: datetime | None = None, session: Session | None = None
) -> Incident:
    """The end of the pause: the stopped clocks count again, their due times moved by
    the time paused."""
    with _transaction(rt, session) as session:
        incident = _load(session, incident_id, "resume it")
        lifecycle.check_resume(incident, incident.paused_at)
        assert incident.paused_at is not None
        when = _check_time(rt, at, incident)
        if when < incident.paused_at:
            raise InvalidInput(
                f"{to_rfc3339(when)} is before the pause began ({to_rfc3339(incident.paused_at)})"
            )
        _append(session, rt, incident, EventKind.RESUMED, when, reason=incident.pause_reason)
        refresh(session, rt, incident)
        return incident


def cancel(
    rt: Runtime,
    incident_id: int,
    *,
    reason: str | None = None,
    duplicate_of: int | None = None,
    at: datetime | None = None,
) -> Incident:
    """Take an incident opened by mistake, or a duplicate of ``duplicate_of``, off the
    board: a terminal state that sends nothing and that the report counts apart."""
    if reason is not None:
        reason = _text(reason, "the reason")
    elif duplicate_of is not None:
        reason = f"duplicate of incident {duplicate_of}"
    else:
        raise InvalidInput("say why: --reason TEXT, or --duplicate-of ID")
    with rt.db.write() as session:
        incident = _load(session, incident_id)
        lifecycle.check_cancel(incident)
        if duplicate_of is not None:
            try:
                original = repository.incident_by_id(session, incident_id=duplicate_of)
            except NotFound:
                raise NotFound(
                    f"--duplicate-of {duplicate_of}: no incident {duplicate_of}"
                ) from None
            lifecycle.check_duplicate(incident, original)
        when = _check_time(rt, at, incident)
        incident.cancelled_at, incident.cancel_reason = when, reason
        incident.duplicate_of = duplicate_of
        _append(
            session,
            rt,
            incident,
            EventKind.CANCELLED,
            when,
            reason=reason,
            duplicate_of=duplicate_of,
            previous_status=incident.status,
        )
        refresh(session, rt, incident)
        return incident


def edit(rt: Runtime, incident_id: int, **changes: Any) -> Incident:
    """Correct what was recorded (``EDITABLE_FIELDS``; None: unchanged, ``""``: cleared
    where a field may be empty): one ``edited`` event with each old and new value, and
    what depends on them recomputed (an earlier ``occurred_at`` moves the recovery
    clock; another service, its recipients)."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    assert not unknown, unknown
    wanted = {name: value for name, value in changes.items() if value is not None}
    if not wanted:
        raise InvalidInput(
            "nothing to change: give at least one of --title, --details, --service, "
            "--reporter, --contact, --channel, --occurred"
        )
    for name in ("title", "service"):
        if name in wanted:
            wanted[name] = _text(wanted[name], f"the {name}")
    for name in ("details", "reporter", "contact"):
        if name in wanted:
            wanted[name] = wanted[name] if wanted[name].strip() else None  # "": cleared
    if "channel" in wanted and wanted["channel"] not in set(Channel):
        raise InvalidInput(f"unknown channel {wanted['channel']!r}: use {', '.join(Channel)}")
    with rt.db.write() as session:
        incident = _load(session, incident_id)
        if "occurred_at" in wanted:
            occurred = _check_time(rt, wanted["occurred_at"])
            if occurred > incident.reported_at:
                raise InvalidInput(
                    f"the fault cannot begin ({to_rfc3339(occurred)}) after it was reported "
                    f"({to_rfc3339(incident.reported_at)})"
                )
        edited = {
            name: {"previous": _plain(getattr(incident, name)), "to": _plain(value)}
            for name, value in wanted.items()
            if getattr(incident, name) != value
        }
        if not edited:
            raise lifecycle.unchanged(incident)
        for name in edited:
            setattr(incident, name, wanted[name])
        _append(session, rt, incident, EventKind.EDITED, rt.now, changes=edited)
        refresh(session, rt, incident)
        return incident


def _plain(value: Any) -> Any:
    """A value as an event's data holds it (times as RFC 3339)."""
    return to_rfc3339(value) if isinstance(value, datetime) else value


@dataclass
class ProblemChange:
    """What ``problem`` did: the incident, and the reference it corrected (None: the
    first transfer)."""

    incident: Incident
    previous_ref: str | None = None
    previous_reason: str | None = None


def problem(
    rt: Runtime,
    incident_id: int,
    *,
    ref: str,
    reason: str | None = None,
    at: datetime | None = None,
) -> ProblemChange:
    """Transfer to problem management; once transferred, correct the reference (or the
    reason): another ``problem`` event that names the previous ones, nothing rewritten.
    A correction keeps the reason unless one is given, and is allowed whatever the
    incident's status (as ``edit`` is); the first transfer needs a live incident."""
    ref = _text(ref, "--ref")
    if reason is not None and reason not in set(ProblemReason):
        raise InvalidInput(f"unknown problem reason {reason!r}: use {', '.join(ProblemReason)}")
    with rt.db.write() as session:
        incident = _load(session, incident_id)
        previous_ref, previous_reason = incident.problem_ref, incident.problem_reason
        if previous_ref is None:
            lifecycle.check_live(incident, "send it to problem management")
        lifecycle.check_problem(incident, ref=ref, reason=reason)
        when = _check_time(rt, at, incident)
        reason = reason or previous_reason
        incident.problem_ref, incident.problem_reason = ref, reason
        _append(
            session,
            rt,
            incident,
            EventKind.PROBLEM,
            when,
            ref=ref,
            reason=reason,
            previous_ref=previous_ref,
            previous_reason=previous_reason,
        )
        incident.updated_at = rt.now
        return ProblemChange(incident, previous_ref, previous_reason)


def approval_levels(rt: Runtime) -> tuple[int, ...]:
    """The levels whose solutions an incident manager must approve."""
    return tuple(number for number, level in rt.policy.levels.items() if level.approval)


def get(rt: Runtime, incident_id: int) -> IncidentRecord:
    """An incident with its timeline, its deliveries and the other incidents under its
    problem."""
    with rt.db.read() as session:
        incident = repository.incident_by_id(session, incident_id=incident_id)
        record = IncidentRecord(
            incident=incident,
            events=repository.events_of(session, incident_id=incident_id),
            deliveries=repository.deliveries_of(session, incident_id=incident_id),
        )
        if incident.problem_ref:
            record.problem_incidents = repository.incidents_under_problem(
                session, ref=incident.problem_ref, excluding=incident_id
            )
        session.expunge_all()
        return record


def list_incidents(rt: Runtime, flt: IncidentFilter) -> Iterator[Incident]:
    """Stream the matching incidents, a batch at a time."""
    with rt.db.read() as session:
        yield from repository.incidents_matching(session, flt=flt, now=rt.now)


def board(rt: Runtime, limit: int | None = None) -> list[Incident]:
    """Not-closed incidents, nearest deadline first (those without one last)."""
    with rt.db.read() as session:
        incidents = repository.board_incidents(session, limit=limit)
        session.expunge_all()
        return incidents


def incident_choices(rt: Runtime, *, prefix: str, limit: int) -> list[tuple[Any, ...]]:
    """``(id, level, status, title)`` for completing an id (``repository.incident_choices``).

    Read only, and quick or nothing: a database that is not there is not created, one
    that is not at the schema's head is not migrated (its query may fail, and the
    caller offers nothing), and a server gets a one-second connect timeout.
    """
    from incidentctl.store.engine import Database, exists

    if not exists(rt.db_url):
        return []
    database = Database(rt.db_url, {**rt.environ, "INCIDENTCTL_BUSY_TIMEOUT_MS": "1000"})
    try:
        with database.read() as session:
            return repository.incident_choices(session, prefix=prefix, limit=limit)
    finally:
        database.dispose()


def not_closed(rt: Runtime) -> int:
    """How many incidents the board holds in all."""
    with rt.db.read() as session:
        return repository.count_not_closed(session)
