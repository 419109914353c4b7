"""The delivery outbox: what is due, recorded before it is sent, claimed with a lease.

Every function here is one short transaction. None of them does network I/O: the
pass in ``notify.escalation`` sends between them, outside any transaction, so the
SQLite write lock is never held while a transport waits on a server.

Finding work uses two indexed range queries only: incidents whose ``notify_at`` has
come (``ix_incidents_notify_at``) and deliveries whose ``next_attempt_at`` has come
(``ix_deliveries_next_attempt_at``). Neither grows with the size of the history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from incidentctl.config import Policy, Retry
from incidentctl.notify.messages import Note, PlannedDelivery, draft, schedule_of
from incidentctl.notify.transports import Message, Result
from incidentctl.policy.notices import due_notices, next_notice_at, notice_facts
from incidentctl.store.models import Delivery, Event, Incident

FINAL = ("sent", "printed", "failed")


# --------------------------------------------------------------------------- reading


def deliveries_of(session: Session, incident_id: int | None) -> list[Delivery]:
    """An incident's deliveries, in the order they were recorded (for ``show``)."""
    stmt = (
        select(Delivery).where(col(Delivery.incident_id) == incident_id).order_by(col(Delivery.id))
    )
    return list(session.execute(stmt).scalars())


def delivery_key(incident_id: int, notice: str, sequence: int, channel: str, recipient: str) -> str:
    """The idempotency key a provider sees: unique per delivery."""
    return f"incidentctl:{incident_id}:{notice}:{sequence}:{channel}:{recipient}"


def _sent_keys(session: Session, incident_ids: Sequence[int]) -> dict[int, set[tuple[str, int]]]:
    rows = session.execute(
        select(col(Delivery.incident_id), col(Delivery.notice), col(Delivery.sequence))
        .where(col(Delivery.incident_id).in_(incident_ids))
        .distinct()
    )
    sent: dict[int, set[tuple[str, int]]] = defaultdict(set)
    for incident_id, notice, sequence in rows:
        sent[incident_id].add((notice, sequence))
    return sent


def notify_at_after_change(
    session: Session, policy: Policy, incident: Incident, events: Sequence[Any], *, now: datetime
) -> datetime | None:
    """The incident's next notice time after a change (``handling.refresh``).

    ``events`` must include its ``relevelled`` events. One indexed query.
    """
    schedule = schedule_of(policy, incident)
    if not schedule.notify:
        return None
    assert incident.id is not None
    sent = _sent_keys(session, [incident.id]).get(incident.id, set())
    return next_notice_at(notice_facts(incident, events), schedule, now=now, sent=sent)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Planned:
    """A delivery recorded by ``plan`` (or, for a dry run, one that would be)."""

    incident: int
    notice: str
    sequence: int
    channel: str
    recipient: str
    to: str | None
    cc: tuple[str, ...]
    status: str  # pending, or failed when it has no address
    error: str | None


def _due_incidents(session: Session, now: datetime, limit: int, *, lock: bool) -> list[Incident]:
    stmt = (
        select(Incident)
        .where(col(Incident.notify_at) <= now)
        .order_by(col(Incident.notify_at), col(Incident.id))
        .limit(limit)
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.execute(stmt).scalars())


def _events_by_incident(
    session: Session, incident_ids: Sequence[int], kinds: Sequence[str]
) -> dict[int, list[Event]]:
    rows = session.execute(
        select(Event)
        .where(col(Event.incident_id).in_(incident_ids), col(Event.kind).in_(kinds))
        .order_by(col(Event.incident_id), col(Event.id))
    ).scalars()
    grouped: dict[int, list[Event]] = defaultdict(list)
    for event in rows:
        grouped[event.incident_id].append(event)
    return grouped


def _progress_notes(
    events: Sequence[Event], incident: Incident, sent: set[tuple[str, int]], every: timedelta | None
) -> list[Note]:
    """Progress notes recorded since the last progress notice (or since the report)."""
    since = incident.reported_at
    previous = [seq for name, seq in sent if name == "progress"]
    if previous and every is not None:
        since = incident.reported_at + max(previous) * every
    return [
        Note(at=e.at, text=str(e.data.get("text", "")))
        for e in events
        if e.kind == "note" and e.data.get("kind", "progress") == "progress" and e.at > since
    ]


def _work_out(
    session: Session, policy: Policy, incidents: Sequence[Incident], now: datetime
) -> list[tuple[Incident, list[tuple[Any, Any]], datetime | None]]:
    """For each incident: its due notices with their drafts, and its next notice time."""
    ids = [i.id for i in incidents if i.id is not None]
    events = _events_by_incident(session, ids, ("relevelled", "note"))
    sent = _sent_keys(session, ids)
    work = []
    for incident in incidents:
        assert incident.id is not None
        mine = events.get(incident.id, [])
        facts = notice_facts(incident, mine)
        schedule = schedule_of(policy, incident)
        already = sent.get(incident.id, set())
        drafts = []
        for notice in due_notices(facts, schedule, now=now, sent=already):
            notes = (
                _progress_notes(mine, incident, already, schedule.every)
                if notice.name == "progress"
                else []
            )
            drafts.append((notice, draft(policy, incident, notice, now=now, notes=notes)))
        produced = already | {notice.key for notice, _ in drafts}
        upcoming = next_notice_at(facts, schedule, now=now, sent=produced)
        work.append((incident, drafts, upcoming))
    return work


def _planned(incident: Incident, notice: Any, delivery: PlannedDelivery) -> Planned:
    assert incident.id is not None
    return Planned(
        incident=incident.id,
        notice=notice.name,
        sequence=notice.sequence,
        channel=delivery.channel,
        recipient=delivery.recipient,
        to=delivery.address,
        cc=delivery.cc,
        status="failed" if delivery.address is None else "pending",
        error=delivery.error,
    )


def plan(
    session: Session, policy: Policy, *, now: datetime, limit: int = 200
) -> tuple[int, list[Planned]]:
    """Record the deliveries of the notices due at ``now`` for up to ``limit`` incidents.

    Call inside a write transaction. Returns how many incidents were looked at and the
    deliveries recorded. A delivery that is already recorded (same key) is left alone.
    """
    incidents = _due_incidents(session, now, limit, lock=True)
    if not incidents:
        return 0, []
    recorded: list[Planned] = []
    pending: list[dict[str, Any]] = []
    dialect = session.get_bind().dialect.name
    for incident, drafts, upcoming in _work_out(session, policy, incidents, now):
        for notice, text in drafts:
            rows = []
            for delivery in text.deliveries:
                planned = _planned(incident, notice, delivery)
                rows.append(
                    dict(
                        incident_id=planned.incident,
                        notice=planned.notice,
                        sequence=planned.sequence,
                        channel=planned.channel,
                        recipient=planned.recipient,
                        address=planned.to,
                        cc=list(planned.cc),
                        subject=text.subject,
                        text=text.text,
                        status=planned.status,
                        attempts=0,
                        created_at=now,
                        next_attempt_at=None if planned.status == "failed" else now,
                        error=planned.error,
                    )
                )
                recorded.append(planned)
            pending.extend(rows)
            session.add(
                Event(
                    incident_id=incident.id,  # type: ignore[arg-type]
                    kind="notified",
                    at=now,
                    recorded_at=now,
                    actor="incidentctl",
                    data={
                        "notice": notice.name,
                        "sequence": notice.sequence,
                        "deliveries": len(rows),
                    },
                )
            )
        incident.notify_at = upcoming
    if pending:
        _insert_new(session, dialect, pending)
    return len(incidents), recorded


def _insert_new(session: Session, dialect: str, rows: list[dict[str, Any]]) -> None:
    table = Delivery.__table__  # type: ignore[attr-defined]
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    session.execute(insert(table).on_conflict_do_nothing(), rows)


def preview(
    session: Session, policy: Policy, *, now: datetime, limit: int = 100_000
) -> list[Planned]:
    """What ``plan`` and ``claim`` would pick up at ``now``, recording nothing (dry run)."""
    incidents = _due_incidents(session, now, limit, lock=False)
    found = [
        _planned(incident, notice, delivery)
        for incident, drafts, _ in _work_out(session, policy, incidents, now)
        for notice, text in drafts
        for delivery in text.deliveries
    ]
    waiting = session.execute(
        select(Delivery)
        .where(col(Delivery.next_attempt_at) <= now)
        .where(or_(col(Delivery.lease_until).is_(None), col(Delivery.lease_until) <= now))
        .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
        .limit(limit)
    ).scalars()
    found.extend(
        Planned(
            d.incident_id,
            d.notice,
            d.sequence,
            d.channel,
            d.recipient,
            d.address,
            tuple(d.cc or ()),
            d.status,
            d.error,
        )
        for d in waiting
    )
    return found


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class Claimed:
    id: int
    sequence: int
    recipient: str
    attempts: int
    message: Message


def claim(
    session: Session, *, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Lease up to ``limit`` deliveries whose attempt is due (inside a write transaction).

    On PostgreSQL rows another transaction is claiming are skipped (``FOR UPDATE SKIP
    LOCKED``); on SQLite the write transaction itself holds the database's write lock.
    A lease that has run out (its process died) can be claimed again.
    """
    stmt = (
        select(Delivery)
        .where(col(Delivery.next_attempt_at) <= now)
        .where(or_(col(Delivery.lease_until).is_(None), col(Delivery.lease_until) <= now))
        .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    claimed = []
    for row in session.execute(stmt).scalars():
        row.lease_owner, row.lease_until = owner, now + lease
        assert row.id is not None
        claimed.append(
            Claimed(
                id=row.id,
                sequence=row.sequence,
                recipient=row.recipient,
                attempts=row.attempts,
                message=Message(
                    channel=row.channel,
                    to=row.address or "",
                    cc=tuple(row.cc or ()),
                    subject=row.subject,
                    text=row.text,
                    incident=row.incident_id,
                    notice=row.notice,
                    key=delivery_key(
                        row.incident_id, row.notice, row.sequence, row.channel, row.recipient
                    ),
                ),
            )
        )
    return claimed


def retry_delay(retry: Retry, attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: ``first``, times ``factor`` each time, capped."""
    delay = retry.first * (retry.factor ** max(0, attempts - 1))
    return min(delay, retry.max_delay)


def record(
    session: Session, claimed: Claimed, result: Result, *, now: datetime, retry: Retry
) -> tuple[str, str | None]:
    """Store the result of one attempt; returns the delivery's status and error."""
    attempts = claimed.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "lease_owner": None,
        "lease_until": None,
        "error": result.error,
    }
    if result.outcome in ("sent", "printed"):
        values.update(status=result.outcome, sent_at=now, next_attempt_at=None)
    elif result.outcome == "retry" and attempts < retry.max_attempts:
        values.update(status="retry", next_attempt_at=now + retry_delay(retry, attempts))
    else:
        if result.outcome == "retry":
            values["error"] = f"{result.error} (gave up after {attempts} attempts)"
        values.update(status="failed", next_attempt_at=None)
    table = Delivery.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        update(table).where(table.c.id == claimed.id, table.c.status.not_in(FINAL)).values(values)
    )
    return str(values["status"]), values["error"]


def release(session: Session, *, owner: str, ids: Sequence[int]) -> int:
    """Give back the leases ``owner`` still holds on ``ids`` (a pass that stops early)."""
    if not ids:
        return 0
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(ids), col(Delivery.lease_owner) == owner)
        .where(col(Delivery.status).not_in(FINAL))
        .values(lease_owner=None, lease_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)
