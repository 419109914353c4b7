"""One escalate pass: record what is due, then claim, send and record, a batch at a time.

The order matters for "exactly once" and "never lost": a delivery is recorded (a
short write transaction) before any attempt; it is claimed with a lease (another short
transaction) so that overlapping passes never send it twice; it is sent with no
transaction open; its result is recorded at once. A crash between a provider
accepting a message and that last step may repeat that one message when the lease
runs out (at-least-once), never lose it. None of the transactions does network I/O,
so the SQLite write lock is never held while a transport waits on a server.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from sqlalchemy.orm import Session

from incidentctl.config import Policy
from incidentctl.domain import DeliveryStatus, EventKind, NoteKind, NoticeName
from incidentctl.notify.messages import Draft, Note, combined, draft
from incidentctl.notify.transports import Message, Result, send
from incidentctl.policy.clocks import facts_of, is_handover
from incidentctl.policy.notices import (
    Notice,
    due_notices,
    next_notice_at,
    notice_facts,
    retry_delay,
)
from incidentctl.policy.recipients import PlannedDelivery, schedule_of
from incidentctl.services.versions import rules_for
from incidentctl.store import repository
from incidentctl.store.engine import Database
from incidentctl.store.models import Delivery, Event, Incident

PLAN_BATCH = 200
SEND_BATCH = 20
SYSTEM_ACTOR = "incidentctl"  # who records the "notified" events


@dataclass(frozen=True)
class Attempt:
    """One delivery in a pass's summary: recorded, sent, or (dry run) due."""

    incident: int
    notice: str
    sequence: int
    channel: str
    to: str  # the address, or the recipient's name where there is none
    cc: tuple[str, ...]
    status: str  # sent, printed, retry, failed (or "due" in a dry run)
    error: str | None


@dataclass
class PassReport:
    now: datetime
    deliveries: list[Attempt] = field(default_factory=list)
    dry_run: bool = False
    interrupted: bool = False

    @property
    def sent(self) -> int:
        return sum(
            a.status in (DeliveryStatus.SENT, DeliveryStatus.PRINTED) for a in self.deliveries
        )

    @property
    def failed(self) -> int:
        """Failed for good, or waiting for a retry: what makes ``escalate`` exit 6."""
        return sum(
            a.status in (DeliveryStatus.FAILED, DeliveryStatus.RETRY) for a in self.deliveries
        )


DUE = "due"  # a dry run's status: what would be sent


class Interrupted(Exception):
    """Raised from a signal handler to abandon a send in progress."""


def new_owner() -> str:
    """Who holds a lease: host, process and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_for(policy: Policy, batch: int) -> timedelta:
    """Long enough for a whole batch to time out, one delivery after another."""
    timeouts = [getattr(t, "timeout", timedelta(0)) for t in policy.transports.values()]
    slowest = max([timedelta(seconds=10), *timeouts])
    return max(timedelta(minutes=5), slowest * batch + timedelta(minutes=1))


def delivery_key(delivery: Delivery) -> str:
    """The idempotency key a provider sees: unique per delivery."""
    return (
        f"incidentctl:{delivery.incident_id}:{delivery.notice}:{delivery.sequence}:"
        f"{delivery.channel}:{delivery.recipient}"
    )


# --------------------------------------------------------------------------- planning


def _progress_notes(
    events: Sequence[Event], incident: Incident, sent: set[tuple[str, int]], every: timedelta | None
) -> list[Note]:
    """Progress notes recorded since the last progress notice (or since the report)."""
    since = incident.reported_at
    previous = [seq for name, seq in sent if name == NoticeName.PROGRESS]
    if previous and every is not None:
        since = incident.reported_at + max(previous) * every
    return [
        Note(at=e.at, text=str(e.data.get("text", "")))
        for e in events
        if e.kind == EventKind.NOTE
        and e.data.get("kind", NoteKind.PROGRESS) == NoteKind.PROGRESS
        and e.at > since
    ]


def _work_out(
    session: Session, policy: Policy, incidents: Sequence[Incident], now: datetime
) -> list[tuple[Incident, list[tuple[Notice, Draft]], datetime | None]]:
    """For each incident: its due notices with their drafts, and its next notice time."""
    ids = [i.id for i in incidents if i.id is not None]
    events = repository.events_by_incident(
        session, incident_ids=ids, kinds=(*repository.CLOCK_EVENTS, EventKind.NOTE)
    )
    sent = repository.notices_produced(session, incident_ids=ids)
    work = []
    for incident in incidents:
        assert incident.id is not None
        mine = events.get(incident.id, [])
        clock_facts = facts_of(incident, mine)
        clocks = rules_for(session, policy, incident, now).clocks(clock_facts, now)
        facts = notice_facts(incident, clock_facts, clocks, down_due=incident.down_due_at)
        schedule = schedule_of(policy, incident)
        already = sent.get(incident.id, set())
        drafts = []
        for notice in due_notices(facts, schedule, now=now, sent=already):
            if notice.name == NoticeName.PROGRESS:
                notes = _progress_notes(mine, incident, already, schedule.every)
            elif notice.name == NoticeName.CUSTOMER_UPDATE:  # the k-th note sent to them
                sent_notes = [e for e in mine if e.kind == EventKind.NOTE and e.data.get("send")]
                chosen = sent_notes[notice.sequence]
                notes = [Note(at=chosen.at, text=str(chosen.data.get("text", "")))]
            else:
                notes = []
            handover = (
                next((e for e in reversed(mine) if is_handover(e)), None)
                if notice.name == NoticeName.HANDOVER
                else None
            )
            # the n-th progress notice this incident gets, whatever mark it falls on
            update = 1 + sum(name == NoticeName.PROGRESS for name, _ in already)
            drafts.append(
                (
                    notice,
                    draft(
                        policy,
                        incident,
                        notice,
                        now=now,
                        notes=notes,
                        handover=handover,
                        update=update,
                    ),
                )
            )
        produced = already | {notice.key for notice, _ in drafts}
        upcoming = next_notice_at(facts, schedule, now=now, sent=produced)
        work.append((incident, drafts, upcoming))
    return work


def _attempt(incident_id: int, notice: Notice, delivery: PlannedDelivery, status: str) -> Attempt:
    return Attempt(
        incident=incident_id,
        notice=notice.name,
        sequence=notice.sequence,
        channel=delivery.channel,
        to=delivery.address or delivery.recipient,
        cc=delivery.cc,
        status=status,
        error=delivery.error,
    )


def _attempt_of(delivery: Delivery, status: str, error: str | None) -> Attempt:
    """A recorded delivery in a pass's summary."""
    return Attempt(
        incident=delivery.incident_id,
        notice=delivery.notice,
        sequence=delivery.sequence,
        channel=delivery.channel,
        to=delivery.address or delivery.recipient,
        cc=tuple(delivery.cc or ()),
        status=status,
        error=error,
    )


def plan(
    session: Session, policy: Policy, *, now: datetime, limit: int = PLAN_BATCH
) -> tuple[int, list[Attempt]]:
    """Record the deliveries of the notices due at ``now`` for up to ``limit`` incidents.

    Call inside a write transaction. Returns how many incidents were looked at and the
    deliveries that failed at once (nowhere to send them). A delivery that is already
    recorded (same key) is left alone.
    """
    incidents = repository.incidents_due_for_notice(session, before=now, limit=limit, lock=True)
    if not incidents:
        return 0, []
    failed: list[Attempt] = []
    rows: list[dict[str, Any]] = []
    for incident, drafts, upcoming in _work_out(session, policy, incidents, now):
        assert incident.id is not None
        for notice, text in drafts:
            if not text.deliveries:
                # nobody to reach for it now (a step to an owner there is not yet): not
                # produced, so it goes once someone is there, and no empty event is kept
                continue
            for delivery in text.deliveries:
                nowhere = delivery.address is None
                status = DeliveryStatus.FAILED if nowhere else DeliveryStatus.PENDING
                rows.append(
                    dict(
                        incident_id=incident.id,
                        notice=notice.name,
                        sequence=notice.sequence,
                        channel=delivery.channel,
                        recipient=delivery.recipient,
                        address=delivery.address,
                        cc=list(delivery.cc),
                        subject=text.subject,
                        text=text.text_for(delivery.channel),
                        status=status,
                        attempts=0,
                        created_at=now,
                        next_attempt_at=None if nowhere else now,
                        error=delivery.error,
                    )
                )
                if nowhere:
                    failed.append(_attempt(incident.id, notice, delivery, status))
            repository.add_event(
                session,
                incident_id=incident.id,
                kind=EventKind.NOTIFIED,
                at=now,
                recorded_at=now,
                actor=SYSTEM_ACTOR,
                data={
                    "notice": notice.name,
                    "sequence": notice.sequence,
                    "deliveries": len(text.deliveries),
                },
            )
        incident.notify_at = upcoming
    repository.add_deliveries(session, rows=rows)
    return len(incidents), failed


def preview(
    session: Session, policy: Policy, *, now: datetime, limit: int = 100_000
) -> list[Attempt]:
    """What ``plan`` and the sending would pick up at ``now``, recording nothing."""
    incidents = repository.incidents_due_for_notice(session, before=now, limit=limit, lock=False)
    found = [
        _attempt(incident.id, notice, delivery, DUE)  # type: ignore[arg-type]
        for incident, drafts, _ in _work_out(session, policy, incidents, now)
        for notice, text in drafts
        for delivery in text.deliveries
    ]
    found.extend(
        _attempt_of(d, DUE, d.error)
        for d in repository.deliveries_due(session, now=now, limit=limit)
    )
    return found


# --------------------------------------------------------------------------- sending


def moments(deliveries: Sequence[Delivery]) -> list[list[Delivery]]:
    """The deliveries as the messages that carry them: those of one incident to one
    address on one channel, claimed together, are one message (its Cc everyone any of
    them copies), in order."""
    groups: dict[tuple[Any, ...], list[Delivery]] = {}
    for delivery in deliveries:
        key: tuple[Any, ...] = (delivery.incident_id, delivery.channel, delivery.address)
        if delivery.attempts or delivery.notice in _ALONE:
            # a retry keeps the key its provider saw; a customer's message is whole
            key = ("alone", delivery.id)
        groups.setdefault(key, []).append(delivery)
    return list(groups.values())


_ALONE = frozenset((NoticeName.CUSTOMER_UPDATE, NoticeName.CONFIRMATION))


def _message_of(group: Sequence[Delivery]) -> Message:
    """One message for a group of deliveries (``moments``); each keeps its own row and
    key, and the provider sees one key made of theirs."""
    if len(group) == 1:
        return _message(group[0])
    first = group[0]
    text = combined(first.channel, [(d.notice, d.subject, d.text) for d in group])
    return Message(
        channel=first.channel,
        to=first.address or "",
        cc=tuple(dict.fromkeys(cc for d in group for cc in d.cc or ())),
        subject=text.subject,
        text=text.text,
        incident=first.incident_id,
        notice="+".join(d.notice for d in group),
        key="+".join(delivery_key(d) for d in group),
    )


def _message(delivery: Delivery) -> Message:
    return Message(
        channel=delivery.channel,
        to=delivery.address or "",
        cc=tuple(delivery.cc or ()),
        subject=delivery.subject,
        text=delivery.text,
        incident=delivery.incident_id,
        notice=delivery.notice,
        key=delivery_key(delivery),
    )


def record(
    session: Session, delivery: Delivery, result: Result, *, now: datetime, policy: Policy
) -> tuple[DeliveryStatus, str | None]:
    """Store the result of one attempt; returns the delivery's status and error."""
    retry = policy.retry
    attempts = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "lease_owner": None,
        "lease_until": None,
        "error": result.error,
    }
    outcome = DeliveryStatus(result.outcome)
    if outcome.delivered:
        status = outcome
        values.update(sent_at=now, next_attempt_at=None)
    elif result.outcome == DeliveryStatus.RETRY and attempts < retry.max_attempts:
        status = DeliveryStatus.RETRY
        values["next_attempt_at"] = now + retry_delay(retry, attempts)
    else:
        if result.outcome == DeliveryStatus.RETRY:
            values["error"] = f"{result.error} (gave up after {attempts} attempts)"
        status = DeliveryStatus.FAILED
        values["next_attempt_at"] = None
    values["status"] = status
    assert delivery.id is not None
    repository.record_attempt(session, delivery_id=delivery.id, values=values)
    return status, values["error"]


def run_pass(
    db: Database,
    policy: Policy,
    *,
    now: datetime,
    clock: Callable[[], datetime] | None = None,
    environ: Mapping[str, str] = os.environ,
    print_stream: IO[str] | None = None,
    dry_run: bool = False,
    owner: str | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
    stopping: Callable[[], bool] = lambda: False,
    sending: Callable[[bool], None] = lambda _active: None,
) -> PassReport:
    """Send every notice due at ``now`` once, and retry the deliveries whose time has come.

    ``clock`` gives the time results and leases are stamped with (default: ``now``);
    ``stopping`` is asked between deliveries; ``sending(True/False)`` brackets each
    transport call so that a signal handler knows it may abandon it.
    """
    report = PassReport(now=now, dry_run=dry_run)
    emit = on_attempt or (lambda _attempt: None)

    def done(attempt: Attempt) -> None:
        report.deliveries.append(attempt)
        emit(attempt)

    if dry_run:
        with db.read() as session:
            for attempt in preview(session, policy, now=now):
                done(attempt)
        return report

    clock = clock or (lambda: now)
    owner = owner or new_owner()
    stream = print_stream or sys.stdout
    while not stopping():
        with db.write() as session:
            looked_at, failed = plan(session, policy, now=now, limit=PLAN_BATCH)
        for attempt in failed:
            done(attempt)
        if looked_at < PLAN_BATCH:
            break

    lease = lease_for(policy, SEND_BATCH)
    held: list[int] = []
    try:
        while not stopping():
            with db.write() as session:
                start = max(now, clock())
                claimed = repository.lease_deliveries_due(
                    session, owner=owner, now=start, until=start + lease, limit=SEND_BATCH
                )
            if not claimed:
                break
            held = [d.id for d in claimed if d.id is not None]
            for group in moments(claimed):
                if stopping():
                    break
                message = _message_of(group)
                transport = policy.transports.get(message.channel)  # type: ignore[call-overload]
                try:
                    sending(True)
                    result = send(transport, message, environ=environ, stdout=stream)
                except Interrupted:
                    raise
                except Exception as exc:  # a transport bug must not lose the delivery
                    result = Result.retry(f"unexpected {type(exc).__name__}: {exc}")
                finally:
                    sending(False)
                with db.write() as session:  # each delivery its result, in one transaction
                    recorded = [
                        (d, *record(session, d, result, now=clock(), policy=policy)) for d in group
                    ]
                for delivery, status, error in recorded:
                    held.remove(delivery.id)  # type: ignore[arg-type]
                    done(_attempt_of(delivery, status, error))
    except Interrupted:
        report.interrupted = True
    finally:
        sending(False)  # from here on a signal only asks to stop
        if held:
            with db.write() as session:
                repository.release_leases(session, owner=owner, ids=held)
    if stopping():
        report.interrupted = True
    with db.write() as session:  # (the board warns when this stops happening)
        repository.record_pass(
            session, ran_at=now, owner=owner, sent=report.sent, failed=report.failed
        )
    return report


@dataclass(frozen=True)
class PassHealth:
    """Is escalation known to run? The last pass, what the policy expects, what is owed."""

    now: datetime
    last_at: datetime | None  # None: no pass ever ran
    expect_every: timedelta
    owed: int  # incidents with a notice due now

    @property
    def stale(self) -> bool:
        """The last pass is older than twice the expected interval, or none ever ran
        while a notice is owed: the cron line or the watch has (silently) stopped."""
        if self.last_at is None:
            return self.owed > 0
        return self.now - self.last_at > 2 * self.expect_every


def pass_health(db: Database, policy: Policy, *, now: datetime) -> PassHealth:
    with db.read() as session:
        last = repository.last_pass(session)
        owed = repository.count_due_for_notice(session, before=now)
    return PassHealth(
        now=now,
        last_at=last.ran_at if last else None,
        expect_every=policy.escalation.expect_every,
        owed=owed,
    )
