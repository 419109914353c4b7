"""Incident handling: each command of the lifecycle as one all-or-nothing transaction.

The CLI calls these; they check the facts against the policy, append the event,
update the incident and keep its SLA clocks (and their indexed due times) current.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from incidentctl.errors import InvalidInput, NotFound
from incidentctl.policy import lifecycle
from incidentctl.policy.clocks import compute_clocks, deadline, facts_of
from incidentctl.runtime import Runtime
from incidentctl.store.models import Event, Incident
from incidentctl.times import to_rfc3339

# Events whose time is a fact the SLA clocks depend on.
CLOCK_EVENTS = ("opened", "acknowledged", "transferred", "recovered", "resolved", "relevelled")


@dataclass
class IncidentRecord:
    """An incident with what ``show`` adds: its timeline (and deliveries, when loaded)."""

    incident: Incident
    events: list[Event] = field(default_factory=list)
    deliveries: list[Any] = field(default_factory=list)


def _load(session: Session, incident_id: int, *, lock: bool = False) -> Incident:
    incident = session.get(Incident, incident_id, with_for_update=lock)
    if incident is None:
        raise NotFound(f"no incident {incident_id}")
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


def _text(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    return value


def _append(
    session: Session, rt: Runtime, incident: Incident, kind: str, at: datetime, /, **data: Any
) -> Event:
    event = Event(
        incident_id=incident.id,  # type: ignore[arg-type]
        kind=kind,
        at=at,
        recorded_at=rt.now,
        actor=rt.actor,
        data={k: v for k, v in data.items() if v is not None},
    )
    session.add(event)
    return event


def refresh(session: Session, rt: Runtime, incident: Incident) -> None:
    """Recompute status and the stored clocks from the event log after a change."""
    session.flush()
    events = (
        session.execute(
            select(Event)
            .where(col(Event.incident_id) == incident.id, col(Event.kind).in_(CLOCK_EVENTS))
            .order_by(col(Event.id))
        )
        .scalars()
        .all()
    )
    clocks = compute_clocks(
        facts_of(incident, events),
        levels=rt.policy.levels,
        relevel=rt.policy.relevel,
        now=rt.now,
    )
    for name, clock in clocks.items():
        setattr(incident, f"{name}_due_at", clock.due_at)
        setattr(incident, f"{name}_stopped_at", clock.stopped_at)
    incident.deadline_at = None if incident.closed_at else deadline(clocks.values())
    incident.status = lifecycle.derive_status(incident)
    incident.updated_at = rt.now
    # When the next notification falls due: the escalate pass finds work by this index.
    from incidentctl.notify.outbox import notify_at_after_change

    incident.notify_at = notify_at_after_change(session, rt.policy, incident, events, now=rt.now)


def open_incident(
    rt: Runtime,
    *,
    title: str,
    level: int,
    service: str,
    details: str | None = None,
    channel: str = "other",
    reporter: str | None = None,
    contact: str | None = None,
    occurred_at: datetime | None = None,
    reported_at: datetime | None = None,
    assignee: str | None = None,
) -> Incident:
    title = _text(title, "the title")
    service = _text(service, "the service")
    rt.policy.level(level)  # an unknown level is refused before anything is written
    if channel not in lifecycle.CHANNELS:
        raise InvalidInput(f"unknown channel {channel!r}: use {', '.join(lifecycle.CHANNELS)}")
    reported = _check_time(rt, reported_at)
    occurred = _check_time(rt, occurred_at) if occurred_at else reported
    if occurred > reported:
        raise InvalidInput(
            f"the fault cannot begin ({to_rfc3339(occurred)}) after it was reported "
            f"({to_rfc3339(reported)})"
        )
    with rt.db.write() as session:
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
            team="om",
            occurred_at=occurred,
            reported_at=reported,
            updated_at=rt.now,
            # Placeholders: refresh() sets the real due times before the commit.
            response_due_at=reported,
            recovery_due_at=reported,
            resolution_due_at=reported,
        )
        session.add(incident)
        session.flush()
        _append(
            session,
            rt,
            incident,
            "opened",
            reported,
            level=level,
            service=service,
            channel=channel,
            occurred_at=to_rfc3339(occurred),
            assignee=assignee,
        )
        refresh(session, rt, incident)
        return incident


def acknowledge(rt: Runtime, incident_id: int, *, at: datetime | None = None) -> Incident:
    with rt.db.write() as session:
        incident = _load(session, incident_id, lock=True)
        lifecycle.check_ack(incident)
        when = _check_time(rt, at, incident)
        incident.acknowledged_at = when
        if incident.assignee is None:
            incident.assignee = rt.actor
        _append(session, rt, incident, "acknowledged", when, assignee=incident.assignee)
        refresh(session, rt, incident)
        return incident


def assign(rt: Runtime, incident_id: int, *, to: str) -> Incident:
    to = _text(to, "the new owner")
    with rt.db.write() as session:
        incident = _load(session, incident_id, lock=True)
        lifecycle.check_active(incident, "assign")
        previous = incident.assignee
        incident.assignee = to
        _append(session, rt, incident, "assigned", rt.now, to=to, previous=previous)
        refresh(session, rt, incident)
        return incident


def add_note(rt: Runtime, incident_id: int, *, text: str, kind: str = "progress") -> Incident:
    text = _text(text, "the note")
    if kind not in lifecycle.NOTE_KINDS:
        raise InvalidInput(f"unknown note kind {kind!r}: use {', '.join(lifecycle.NOTE_KINDS)}")
    with rt.db.write() as session:
        incident = _load(session, incident_id, lock=True)
        _append(session, rt, incident, "note", rt.now, kind=kind, text=text)
        incident.updated_at = rt.now
        return incident


def transfer(rt: Runtime, incident_id: int, *, to: str, team: str = "dev", reason: str) -> Incident:
    to = _text(to, "the new owner")
    reason = _text(reason, "the reason")
    if team not in lifecycle.TEAMS:
        raise InvalidInput(f"unknown team {team!r}: use om or dev")
    with rt.db.write() as session:
        incident = _load(session, incident_id, lock=True)
        lifecycle.check_transfer(incident, to, team)
        if team == "dev" and incident.transferred_at is None:
            incident.transferred_at = rt.now
        _append(
            session,
            rt,
            incident,
            "transferred",
            rt.now,
            to=to,
            team=team,
            reason=reason,
            previous=incident.assignee,
            previous_team=incident.team,
        )
        incident.assignee, incident.team = to, team
        refresh(session, rt, incident)
        return incident


def relevel(rt: Runtime, incident_id: int, *, level: int, reason: str) -> Incident:
    reason = _text(reason, "the reason")
    rt.policy.level(level)
    with rt.db.write() as session:
        incident = _load(session, incident_id, lock=True)
        lifecycle.check_relevel(incident, level)
        _append(
            session,
            rt,
            incident,
            "relevelled",
            rt.now,
            to=level,
            previous=incident.level,
            reason=reason,
        )
        incident.level = level
        refresh(session, rt, incident)
        return incident


def recover(rt: Runtime, incident_id: int, *, at: datetime | None = None) -> Incident:
    with rt.db.write() as session:
        incident = _load(session, incident_id, lock=True)
        lifecycle.check_recover(incident)
        when = _check_time(rt, at, incident)
        incident.recovered_at = when
        _append(session, rt, incident, "recovered", when)
        refresh(session, rt, incident)
        return incident


def resolve(
    rt: Runtime, incident_id: int, *, solution: str, at: datetime | None = None
) -> Incident:
    solution = _text(solution, "the solution")
    with rt.db.write() as session:
        incident = _load(session, incident_id, lock=True)
        lifecycle.check_resolve(incident)
        when = _check_time(rt, at, incident)
        if incident.recovered_at and when < incident.recovered_at:
            raise InvalidInput(
                f"{to_rfc3339(when)} is before the service was recovered "
                f"({to_rfc3339(incident.recovered_at)})"
            )
        if incident.recovered_at is None:
            # A solution restores the service too: the recovery clock stops here.
            incident.recovered_at = when
            _append(session, rt, incident, "recovered", when, implied_by="resolve")
        incident.resolved_at, incident.solution = when, solution
        _append(session, rt, incident, "resolved", when, solution=solution)
        refresh(session, rt, incident)
        return incident


def approve(rt: Runtime, incident_id: int) -> Incident:
    with rt.db.write() as session:
        incident = _load(session, incident_id, lock=True)
        lifecycle.check_approve(
            incident,
            actor=rt.actor,
            managers=rt.policy.roles.incident_managers,
            required=rt.policy.level(incident.level).approval,
        )
        incident.approved_at, incident.approved_by = rt.now, rt.actor
        _append(session, rt, incident, "approved", rt.now)
        refresh(session, rt, incident)
        return incident


def close(rt: Runtime, incident_id: int, *, confirmed_by: str) -> Incident:
    confirmed_by = _text(confirmed_by, "--confirmed-by")
    with rt.db.write() as session:
        incident = _load(session, incident_id, lock=True)
        lifecycle.check_close(incident, approval_required=rt.policy.level(incident.level).approval)
        incident.closed_at, incident.confirmed_by = rt.now, confirmed_by
        _append(session, rt, incident, "closed", rt.now, confirmed_by=confirmed_by)
        refresh(session, rt, incident)
        return incident


def reopen(rt: Runtime, incident_id: int, *, reason: str) -> Incident:
    reason = _text(reason, "the reason")
    with rt.db.write() as session:
        incident = _load(session, incident_id, lock=True)
        lifecycle.check_reopen(incident)
        _append(
            session,
            rt,
            incident,
            "reopened",
            rt.now,
            reason=reason,
            solution=incident.solution,
            previous_status=incident.status,
        )
        # The SLA clocks keep their first stop; the solution and its approval start over.
        incident.resolved_at = incident.solution = None
        incident.approved_at = incident.approved_by = None
        incident.closed_at = incident.confirmed_by = None
        refresh(session, rt, incident)
        return incident


def problem(rt: Runtime, incident_id: int, *, ref: str, reason: str) -> Incident:
    ref = _text(ref, "--ref")
    if reason not in lifecycle.PROBLEM_REASONS:
        raise InvalidInput(
            f"unknown problem reason {reason!r}: use {', '.join(lifecycle.PROBLEM_REASONS)}"
        )
    with rt.db.write() as session:
        incident = _load(session, incident_id, lock=True)
        lifecycle.check_problem(incident)
        incident.problem_ref, incident.problem_reason = ref, reason
        _append(session, rt, incident, "problem", rt.now, ref=ref, reason=reason)
        incident.updated_at = rt.now
        return incident


def get(rt: Runtime, incident_id: int) -> IncidentRecord:
    """An incident with its timeline."""
    with rt.db.read() as session:
        incident = _load(session, incident_id)
        events = (
            session.execute(
                select(Event).where(col(Event.incident_id) == incident_id).order_by(col(Event.id))
            )
            .scalars()
            .all()
        )
        record = IncidentRecord(incident=incident, events=list(events))
        _attach_deliveries(session, record)
        session.expunge_all()
        return record


def _attach_deliveries(session: Session, record: IncidentRecord) -> None:
    """Deliveries belong to the notification outbox; shown when it exists."""
    try:
        from incidentctl.notify.outbox import deliveries_of
    except ImportError:
        return
    record.deliveries = list(deliveries_of(session, record.incident.id))


@dataclass
class IncidentFilter:
    statuses: tuple[str, ...] = ()
    level: int | None = None
    service: str | None = None
    assignee: str | None = None
    overdue: bool = False
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None
    all_statuses: bool = False


def query(flt: IncidentFilter, now: datetime) -> Any:
    """The SELECT for a filtered list, by id; every filter is an indexed column."""
    if flt.limit is not None and flt.limit < 0:
        raise InvalidInput("--limit must be zero or more")
    if flt.since and flt.until and flt.since >= flt.until:
        raise InvalidInput("--since must be before --until")
    stmt = select(Incident)
    if flt.statuses:
        stmt = stmt.where(col(Incident.status).in_(flt.statuses))
    elif not flt.all_statuses:
        stmt = stmt.where(_not_closed())
    if flt.level is not None:
        stmt = stmt.where(col(Incident.level) == flt.level)
    if flt.service:
        stmt = stmt.where(col(Incident.service) == flt.service)
    if flt.assignee:
        stmt = stmt.where(col(Incident.assignee) == flt.assignee)
    if flt.overdue:
        stmt = stmt.where(col(Incident.deadline_at) <= now)
    if flt.since:
        stmt = stmt.where(col(Incident.reported_at) >= flt.since)
    if flt.until:
        stmt = stmt.where(col(Incident.reported_at) < flt.until)
    stmt = stmt.order_by(col(Incident.id))
    if flt.limit is not None:
        stmt = stmt.limit(flt.limit)
    return stmt


def list_incidents(rt: Runtime, flt: IncidentFilter) -> Iterator[Incident]:
    """Stream the matching incidents, a batch at a time."""
    with rt.db.read() as session:
        result = session.execute(query(flt, rt.now).execution_options(yield_per=500))
        yield from result.scalars()


def board(rt: Runtime, limit: int | None = None) -> list[Incident]:
    """Not-closed incidents, nearest deadline first (those without one last)."""
    with rt.db.read() as session:
        stmt = (
            select(Incident)
            .where(_not_closed())
            .order_by(col(Incident.deadline_at).asc().nulls_last(), col(Incident.id))
        )
        if limit:
            stmt = stmt.limit(limit)
        incidents = list(session.execute(stmt).scalars())
        session.expunge_all()
        return incidents


def _not_closed() -> Any:
    """The condition the board and the default list select by (``status`` is indexed)."""
    return col(Incident.status).in_(lifecycle.NOT_CLOSED)


def not_closed(rt: Runtime) -> int:
    """How many incidents the board holds in all (an indexed count)."""
    with rt.db.read() as session:
        stmt = select(func.count()).where(_not_closed())
        return session.execute(stmt).scalar_one()
