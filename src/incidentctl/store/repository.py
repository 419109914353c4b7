"""The repository: every query the commands, the escalation pass, the report and the
export run, as keyword-only functions named for what they do.

Each takes the session of a transaction the caller opened (``Database.read`` /
``Database.write``). Engine-specific SQL comes from ``store.engine``. Finding work
uses indexed range queries only: incidents whose ``notify_at`` has come
(``ix_incidents_notify_at``) and deliveries whose ``next_attempt_at`` has come
(``ix_deliveries_next_attempt_at``); neither grows with the size of the history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, and_, func, not_, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from incidentctl.domain import NOT_CLOSED, Awaiting, DeliveryStatus, EventKind, NoticeName, Status
from incidentctl.errors import InvalidInput, NotFound
from incidentctl.store import engine
from incidentctl.store.models import Delivery, Event, Incident, IntakeKey, Pass, PolicyVersion

INCIDENTS = Incident.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]
DELIVERIES = Delivery.__table__  # type: ignore[attr-defined]
PASSES = Pass.__table__  # type: ignore[attr-defined]

# Events whose time is a fact the SLA clocks (and the notices) depend on.
CLOCK_EVENTS = (
    EventKind.OPENED,
    EventKind.ACKNOWLEDGED,
    EventKind.ASSIGNED,  # (a handover notice)
    EventKind.NOTE,  # (a customer update sent with --send)
    EventKind.TRANSFERRED,
    EventKind.RECOVERED,
    EventKind.RESOLVED,
    EventKind.RELEVELLED,
    EventKind.REOPENED,
    EventKind.PAUSED,
    EventKind.RESUMED,
)
_FINAL = tuple(s for s in DeliveryStatus if s.final)
_DELIVERED = tuple(s for s in DeliveryStatus if s.delivered)


# --------------------------------------------------------------------------- intake


def lock_for_intake(session: Session) -> None:
    """One intake at a time decides what a key maps to and counts a storm (PostgreSQL's
    advisory lock for the transaction; SQLite's write transaction holds the write lock)."""
    engine.advisory_lock(session, engine.INTAKE_LOCK)


def incident_of_key(session: Session, *, key: str) -> Incident | None:
    """The incident a dedup key went to last (None: never seen)."""
    stmt = (
        select(Incident)
        .join(IntakeKey, col(IntakeKey.incident_id) == col(Incident.id))
        .where(col(IntakeKey.key) == key)
        .order_by(col(IntakeKey.id).desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def has_key_beginning(session: Session, *, incident_id: int, prefix: str) -> bool:
    """The incident holds a key that begins with ``prefix`` (a storm incident's
    ``storm:``): a range over ``ix_intake_keys_key``."""
    stmt = select(col(IntakeKey.id)).where(
        col(IntakeKey.key) >= prefix,
        col(IntakeKey.key) < prefix[:-1] + chr(ord(prefix[-1]) + 1),
        col(IntakeKey.incident_id) == incident_id,
    )
    return session.scalar(stmt.limit(1)) is not None


def add_intake_key(
    session: Session, *, key: str, incident_id: int, service: str, new: bool, now: datetime
) -> None:
    session.add(
        IntakeKey(key=key, incident_id=incident_id, service=service, new=new, created_at=now)
    )


def count_new_from_intake(session: Session, *, service: str, since: datetime) -> int:
    """How many alerts and emails asked for a new incident of ``service`` since ``since``
    (storm control; ``ix_intake_keys_service_created_at``)."""
    stmt = select(func.count()).where(
        col(IntakeKey.service) == service,
        col(IntakeKey.created_at) > since,
        col(IntakeKey.new).is_(True),
    )
    return int(session.scalar(stmt) or 0)


# --------------------------------------------------------------------------- policy versions


def add_policy_version(session: Session, *, version: str, text: str, now: datetime) -> None:
    """Record a policy version's text, once."""
    if session.get(PolicyVersion, version) is None:
        session.add(PolicyVersion(version=version, text=text, created_at=now))
        session.flush()


def policy_version_text(session: Session, *, version: str) -> str | None:
    found = session.get(PolicyVersion, version)
    return found.text if found is not None else None


def policy_versions(session: Session, *, versions: Iterable[str] | None = None) -> dict[str, str]:
    """The texts of these versions (all: None), by version."""
    stmt = select(PolicyVersion)
    if versions is not None:
        stmt = stmt.where(col(PolicyVersion.version).in_(list(versions)))
    return {v.version: v.text for v in session.execute(stmt).scalars()}


# --------------------------------------------------------------------------- incidents


def incident_by_id(session: Session, *, incident_id: int, lock: bool = False) -> Incident:
    """The incident, locked for the transaction when ``lock``; ``NotFound`` if none."""
    incident = session.get(Incident, incident_id, with_for_update=lock)
    if incident is None:
        raise NotFound(f"no incident {incident_id}")
    return incident


def add_incident(session: Session, incident: Incident) -> Incident:
    """Insert ``incident``; its id is set on return."""
    session.add(incident)
    session.flush()
    return incident


def add_event(
    session: Session,
    *,
    incident_id: int,
    kind: EventKind,
    at: datetime,
    recorded_at: datetime,
    actor: str,
    data: dict[str, Any],
) -> Event:
    event = Event(
        incident_id=incident_id,
        kind=kind,
        at=at,
        recorded_at=recorded_at,
        actor=actor,
        data=data,
    )
    session.add(event)
    return event


def clock_events_of(session: Session, *, incident_id: int) -> list[Event]:
    """The incident's events that the clocks depend on, in the order they were recorded."""
    session.flush()
    stmt = (
        select(Event)
        .where(col(Event.incident_id) == incident_id, col(Event.kind).in_(CLOCK_EVENTS))
        .order_by(col(Event.id))
    )
    return list(session.execute(stmt).scalars())


def first_event(session: Session, *, incident_id: int, kind: str) -> Event | None:
    """The incident's first event of ``kind``, or None."""
    stmt = (
        select(Event)
        .where(col(Event.incident_id) == incident_id, col(Event.kind) == kind)
        .order_by(col(Event.id))
        .limit(1)
    )
    return session.execute(stmt).scalars().first()


def events_of(session: Session, *, incident_id: int) -> list[Event]:
    """The incident's timeline, in the order it was recorded."""
    stmt = select(Event).where(col(Event.incident_id) == incident_id).order_by(col(Event.id))
    return list(session.execute(stmt).scalars())


def events_by_incident(
    session: Session, *, incident_ids: Sequence[int], kinds: Sequence[str]
) -> dict[int, list[Event]]:
    """The events of these kinds of several incidents, each incident's in recorded order."""
    rows = session.execute(
        select(Event)
        .where(col(Event.incident_id).in_(incident_ids), col(Event.kind).in_(kinds))
        .order_by(col(Event.incident_id), col(Event.id))
    ).scalars()
    grouped: dict[int, list[Event]] = defaultdict(list)
    for event in rows:
        grouped[event.incident_id].append(event)
    return grouped


def incidents_under_problem(session: Session, *, ref: str, excluding: int) -> list[int]:
    """The ids of the other incidents sent to problem ``ref`` (its partial index)."""
    stmt = (
        select(INCIDENTS.c.id)
        .where(INCIDENTS.c.problem_ref == ref, INCIDENTS.c.problem_ref.is_not(None))
        .where(INCIDENTS.c.id != excluding)
        .order_by(INCIDENTS.c.id)
    )
    return list(session.execute(stmt).scalars())


@dataclass(frozen=True)
class IncidentFilter:
    """What ``list`` and ``export`` select by; every filter is an indexed column."""

    statuses: tuple[str, ...] = ()
    level: int | None = None
    service: str | None = None
    assignee: str | None = None
    overdue: bool = False
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None
    all_statuses: bool = False  # no --status: every status rather than the not-closed
    awaiting: str | None = None  # an ``Awaiting``: resolved incidents waiting for it
    approval_levels: tuple[int, ...] = ()  # the levels whose solutions need approval


def _not_closed() -> Any:
    """The condition the board and the default list select by (``status`` is indexed)."""
    return col(Incident.status).in_(NOT_CLOSED)


def check_filter(flt: IncidentFilter) -> None:
    """Refuse a filter that cannot be meant, before any query."""
    if flt.limit is not None and flt.limit < 0:
        raise InvalidInput("--limit must be zero or more")
    if flt.since and flt.until and flt.since >= flt.until:
        raise InvalidInput("--since must be before --until")


def _matching(flt: IncidentFilter, now: datetime) -> Select[Any]:
    check_filter(flt)
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
    if flt.awaiting is not None:
        unapproved = and_(
            col(Incident.level).in_(flt.approval_levels), col(Incident.approved_at).is_(None)
        )
        waiting = unapproved if flt.awaiting == Awaiting.APPROVAL else not_(unapproved)
        stmt = stmt.where(col(Incident.status) == Status.RESOLVED, waiting)
    if flt.since:
        stmt = stmt.where(col(Incident.reported_at) >= flt.since)
    if flt.until:
        stmt = stmt.where(col(Incident.reported_at) < flt.until)
    stmt = stmt.order_by(col(Incident.id))
    if flt.limit is not None:
        stmt = stmt.limit(flt.limit)
    return stmt


def incidents_matching(
    session: Session, *, flt: IncidentFilter, now: datetime
) -> Iterator[Incident]:
    """The incidents ``flt`` selects, by id, streamed a batch at a time."""
    result = session.execute(_matching(flt, now).execution_options(yield_per=500))
    yield from result.scalars()


def incident_rows_matching(
    session: Session, *, flt: IncidentFilter, now: datetime, batch: int
) -> Iterator[Sequence[Row[Any]]]:
    """The same incidents as plain rows of every column (no ORM objects), in batches."""
    stmt = _matching(flt, now).with_only_columns(*INCIDENTS.columns)
    result = session.execute(stmt.execution_options(yield_per=batch))
    yield from result.partitions()


def versions_matching(session: Session, *, flt: IncidentFilter, now: datetime) -> dict[str, str]:
    """The texts of the policy versions the incidents ``flt`` selects follow, by version
    (those that record none follow the policy in force: not listed)."""
    chosen = _matching(flt, now).with_only_columns(INCIDENTS.c.policy_version).subquery()
    used = select(chosen.c.policy_version).distinct()
    return policy_versions(session, versions=[v for (v,) in session.execute(used) if v])


def event_rows_of(session: Session, *, incident_ids: Sequence[int]) -> Sequence[Row[Any]]:
    """The events of these incidents as plain rows, by incident and recorded order."""
    return session.execute(
        select(*EVENTS.columns)
        .where(EVENTS.c.incident_id.in_(incident_ids))
        .order_by(EVENTS.c.incident_id, EVENTS.c.id)
    ).all()


def board_incidents(session: Session, *, limit: int | None = None) -> list[Incident]:
    """Not-closed incidents, nearest deadline first (those without one last)."""
    stmt = (
        select(Incident)
        .where(_not_closed())
        .order_by(col(Incident.deadline_at).asc().nulls_last(), col(Incident.id))
    )
    if limit:
        stmt = stmt.limit(limit)
    return list(session.execute(stmt).scalars())


_LARGEST_ID = 2**31 - 1  # the ids column is INTEGER: PostgreSQL's largest


def _id_begins_with(digits: str) -> list[Any]:
    """Ids whose decimal form begins with ``digits``, as indexed ranges: for ``"4"``,
    4, 40–49, 400–499, … (none for digits no id can begin with)."""
    if not (digits.isascii() and digits.isdigit()) or digits.startswith("0"):
        return []
    first = int(digits)
    ranges = []
    scale = 1
    while first * scale <= _LARGEST_ID:
        low, high = first * scale, min((first + 1) * scale - 1, _LARGEST_ID)
        ranges.append(and_(col(Incident.id) >= low, col(Incident.id) <= high))
        scale *= 10
    return ranges


def incident_choices(session: Session, *, prefix: str, limit: int) -> list[tuple[Any, ...]]:
    """``(id, level, status, title)`` of up to ``limit`` incidents whose id begins with
    ``prefix`` (digits, or empty for any): the board's first (not closed, nearest
    deadline first), then the most recent others."""
    begins = []
    if prefix:
        ranges = _id_begins_with(prefix)
        if not ranges:
            return []
        begins.append(or_(*ranges))
    columns = (col(Incident.id), col(Incident.level), col(Incident.status), col(Incident.title))
    board = (
        select(*columns)
        .where(_not_closed(), *begins)
        .order_by(col(Incident.deadline_at).asc().nulls_last(), col(Incident.id))
        .limit(limit)
    )
    rows = [tuple(row) for row in session.execute(board)]
    if len(rows) < limit:
        others = (
            select(*columns)
            .where(not_(_not_closed()), *begins)
            .order_by(col(Incident.id).desc())
            .limit(limit - len(rows))
        )
        rows += [tuple(row) for row in session.execute(others)]
    return rows


def count_not_closed(session: Session) -> int:
    """How many incidents the board holds in all (an indexed count)."""
    return int(session.execute(select(func.count()).where(_not_closed())).scalar_one())


def count_due_for_notice(session: Session, *, before: datetime) -> int:
    """How many incidents have a notice due at ``before`` (``notify_at`` is indexed)."""
    stmt = select(func.count()).where(col(Incident.notify_at) <= before)
    return int(session.execute(stmt).scalar_one())


def incidents_due_for_notice(
    session: Session, *, before: datetime, limit: int, lock: bool
) -> list[Incident]:
    """Up to ``limit`` incidents whose next notice is due at ``before``, earliest first.

    With ``lock`` (a write transaction), on PostgreSQL rows another pass holds are skipped.
    """
    stmt = (
        select(Incident)
        .where(col(Incident.notify_at) <= before)
        .order_by(col(Incident.notify_at), col(Incident.id))
        .limit(limit)
    )
    if lock:
        stmt = engine.skip_locked(session, stmt)
    return list(session.execute(stmt).scalars())


# --------------------------------------------------------------------------- deliveries


def deliveries_of(session: Session, *, incident_id: int) -> list[Delivery]:
    """An incident's deliveries, in the order they were recorded (for ``show``)."""
    stmt = (
        select(Delivery).where(col(Delivery.incident_id) == incident_id).order_by(col(Delivery.id))
    )
    return list(session.execute(stmt).scalars())


def notices_produced(
    session: Session, *, incident_ids: Sequence[int]
) -> dict[int, set[tuple[str, int]]]:
    """Each incident's notices that have deliveries recorded: (notice, sequence) keys."""
    rows = session.execute(
        select(col(Delivery.incident_id), col(Delivery.notice), col(Delivery.sequence))
        .where(col(Delivery.incident_id).in_(incident_ids))
        .distinct()
    )
    produced: dict[int, set[tuple[str, int]]] = defaultdict(set)
    for incident_id, notice, sequence in rows:
        produced[incident_id].add((notice, sequence))
    return produced


def add_deliveries(session: Session, *, rows: list[dict[str, Any]]) -> None:
    """Record deliveries; one whose key is already recorded is left alone."""
    if rows:
        session.execute(engine.insert_ignoring_duplicates(session, DELIVERIES), rows)


def _attempt_due(now: datetime, owner: str | None = None) -> Select[Any]:
    free = or_(col(Delivery.lease_until).is_(None), col(Delivery.lease_until) <= now)
    if owner is not None:
        free = or_(free, col(Delivery.lease_owner) == owner)
    return (
        select(Delivery)
        .where(col(Delivery.next_attempt_at) <= now)
        .where(free)
        .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
    )


def deliveries_due(session: Session, *, now: datetime, limit: int) -> list[Delivery]:
    """Deliveries whose attempt is due at ``now`` and that no live lease holds (read only)."""
    return list(session.execute(_attempt_due(now).limit(limit)).scalars())


def lease_deliveries_due(
    session: Session, *, owner: str, now: datetime, until: datetime, limit: int
) -> list[Delivery]:
    """Lease up to ``limit`` due deliveries to ``owner`` until ``until`` (write transaction).

    On PostgreSQL rows another transaction is claiming are skipped (``FOR UPDATE SKIP
    LOCKED``); on SQLite the write transaction itself holds the database's write lock.
    A lease that has run out (its process died) can be taken again, and so can one that
    ``owner`` still holds from an earlier pass that could not give it back (the
    database went away in the middle: ``watch`` keeps one owner from pass to pass).
    """
    stmt = engine.skip_locked(session, _attempt_due(now, owner).limit(limit))
    leased = list(session.execute(stmt).scalars())
    for row in leased:
        row.lease_owner, row.lease_until = owner, until
    return leased


def record_attempt(session: Session, *, delivery_id: int, values: dict[str, Any]) -> None:
    """Store the result of one attempt, unless the delivery was already settled."""
    session.connection().execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.id == delivery_id, DELIVERIES.c.status.not_in(_FINAL))
        .values(values)
    )


def release_leases(session: Session, *, owner: str, ids: Sequence[int]) -> int:
    """Give back the leases ``owner`` still holds on ``ids`` (a pass that stops early)."""
    if not ids:
        return 0
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(ids), col(Delivery.lease_owner) == owner)
        .where(col(Delivery.status).not_in(_FINAL))
        .values(lease_owner=None, lease_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --------------------------------------------------------------------------- reporting


def incident_rows_reported(
    session: Session, *, since: datetime, until: datetime, columns: Iterable[str]
) -> Sequence[Row[Any]]:
    """These columns of the incidents reported in ``[since, until)``, by id."""
    stmt = (
        select(*(INCIDENTS.c[name] for name in columns))
        .where(_reported_in(since, until))
        .order_by(INCIDENTS.c.id)
    )
    return session.execute(stmt).all()


def incident_rows_reported_after(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    columns: Iterable[str],
    after: int,
    limit: int,
) -> Sequence[Row[Any]]:
    """One page of ``incident_rows_reported``: up to ``limit`` incidents reported in
    ``[since, until)`` whose id is above ``after``, by id (keyset pages: a large month is
    read in constant memory)."""
    stmt = (
        select(*(INCIDENTS.c[name] for name in columns))
        .where(_reported_in(since, until), INCIDENTS.c.id > after)
        .order_by(INCIDENTS.c.id)
        .limit(limit)
    )
    return session.execute(stmt).all()


def _reported_in(since: datetime, until: datetime) -> Any:
    return (INCIDENTS.c.reported_at >= since) & (INCIDENTS.c.reported_at < until)


def _of_reported(since: datetime, until: datetime) -> Any:
    """Events of the incidents reported in ``[since, until)``: as an IN over the month's
    ids (``ix_incidents_reported_at``, then ``ix_events_incident_id_id``). A join lets a
    planner without statistics (SQLite before any ANALYZE) scan every event instead:
    the report then grew with the whole history (docs/performance.md)."""
    return EVENTS.c.incident_id.in_(select(INCIDENTS.c.id).where(_reported_in(since, until)))


def relevels_reported(
    session: Session, *, since: datetime, until: datetime
) -> list[tuple[int, datetime, Any]]:
    """(incident id, when, new level) of every re-level of the incidents reported in
    ``[since, until)``, in recorded order."""
    found = session.execute(
        select(EVENTS.c.incident_id, EVENTS.c.at, EVENTS.c.data)
        .where(_of_reported(since, until), EVENTS.c.kind == EventKind.RELEVELLED)
        .order_by(EVENTS.c.id)
    )
    return [(incident_id, at, data.get("to")) for incident_id, at, data in found]


def notes_reported(
    session: Session, *, since: datetime, until: datetime, kinds: Sequence[str]
) -> list[tuple[int, datetime, str, str, str]]:
    """(incident id, when, author, kind, text) of every note of these kinds on the
    incidents reported in ``[since, until)``, in recorded order."""
    found = session.execute(
        select(EVENTS.c.incident_id, EVENTS.c.at, EVENTS.c.actor, EVENTS.c.data)
        .where(
            _of_reported(since, until),
            EVENTS.c.kind == EventKind.NOTE,
            EVENTS.c.data["kind"].as_string().in_(kinds),
        )
        .order_by(EVENTS.c.id)
    )
    return [(i, at, actor, data.get("kind"), data.get("text", "")) for i, at, actor, data in found]


def delivery_status_counts(session: Session, *, since: datetime, until: datetime) -> dict[str, int]:
    """How many deliveries of the incidents reported in ``[since, until)`` have each status."""
    joined = DELIVERIES.join(INCIDENTS, INCIDENTS.c.id == DELIVERIES.c.incident_id)
    rows = session.execute(
        select(DELIVERIES.c.status, func.count())
        .select_from(joined)
        .where(_reported_in(since, until))
        .group_by(DELIVERIES.c.status)
    )
    return {status: int(n) for status, n in rows}


def initial_notices_delivered(
    session: Session, *, since: datetime, until: datetime
) -> list[tuple[int, int, datetime | None, datetime]]:
    """(incident id, sequence, sent at, reported at) of each delivered ``initial`` notice
    of the incidents reported in ``[since, until)``."""
    d = DELIVERIES.c
    joined = DELIVERIES.join(INCIDENTS, INCIDENTS.c.id == d.incident_id)
    rows = session.execute(
        select(d.incident_id, d.sequence, d.sent_at, INCIDENTS.c.reported_at)
        .select_from(joined)
        .where(
            _reported_in(since, until),
            d.notice == NoticeName.INITIAL,
            d.status.in_(_DELIVERED),
        )
    )
    return [(row[0], row[1], row[2], row[3]) for row in rows]


# --------------------------------------------------------------------------- passes

ESCALATE = "escalate"  # the kind of pass escalate and watch run


def record_pass(session: Session, *, ran_at: datetime, owner: str, sent: int, failed: int) -> None:
    """Remember the pass that just ran: the latest of its kind, one row (two passes at
    once: the row is created once, and the later one stays)."""
    values = {"ran_at": ran_at, "owner": owner, "sent": sent, "failed": failed}
    session.execute(
        engine.insert_ignoring_duplicates(session, PASSES), [{"name": ESCALATE, **values}]
    )
    session.execute(
        update(Pass).where(col(Pass.name) == ESCALATE, col(Pass.ran_at) <= ran_at).values(values)
    )


def last_pass(session: Session) -> Pass | None:
    """The latest escalation pass, or None when none ever ran."""
    return session.get(Pass, ESCALATE)
