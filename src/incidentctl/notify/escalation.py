"""One escalate pass: record what is due, then claim, send and record, a batch at a time.

The order matters for "exactly once" and "never lost": a delivery is recorded (a
short write transaction) before any attempt; it is claimed with a lease (another short
transaction) so that overlapping passes never send it twice; it is sent with no
transaction open; its result is recorded at once. A crash between a provider
accepting a message and that last step may repeat that one message when the lease
runs out (at-least-once), never lose it.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from incidentctl.config import Policy
from incidentctl.notify import outbox
from incidentctl.notify.transports import Result, send
from incidentctl.store.engine import Database
from incidentctl.times import to_rfc3339

PLAN_BATCH = 200
SEND_BATCH = 20


@dataclass(frozen=True)
class Attempt:
    """One line of a pass's summary."""

    incident: int
    notice: str
    sequence: int
    channel: str
    to: str
    cc: tuple[str, ...]
    status: str  # sent, printed, retry, failed (or "due" in a dry run)
    error: str | None

    def document(self) -> dict[str, Any]:
        return {
            "incident": self.incident,
            "notice": self.notice,
            "channel": self.channel,
            "to": self.to,
            "cc": list(self.cc),
            "status": self.status,
            "error": self.error,
        }


@dataclass
class PassReport:
    now: datetime
    deliveries: list[Attempt] = field(default_factory=list)
    dry_run: bool = False
    interrupted: bool = False

    @property
    def sent(self) -> int:
        return sum(a.status in ("sent", "printed") for a in self.deliveries)

    @property
    def failed(self) -> int:
        """Failed for good, or waiting for a retry: what makes ``escalate`` exit 6."""
        return sum(a.status in ("failed", "retry") for a in self.deliveries)

    def document(self) -> dict[str, Any]:
        return {
            "now": to_rfc3339(self.now),
            "deliveries": [a.document() for a in self.deliveries],
            "sent": self.sent,
            "failed": self.failed,
        }


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
    if dry_run:
        with db.read() as session:
            for planned in outbox.preview(session, policy, now=now):
                attempt = _attempt(planned, "due")
                report.deliveries.append(attempt)
                emit(attempt)
        return report

    clock = clock or (lambda: now)
    owner = owner or new_owner()
    stream = print_stream or sys.stdout
    while not stopping():
        with db.write() as session:
            looked_at, recorded = outbox.plan(session, policy, now=now, limit=PLAN_BATCH)
        for planned in recorded:
            if planned.status == "failed":  # nowhere to send it: failed at once
                attempt = _attempt(planned, "failed")
                report.deliveries.append(attempt)
                emit(attempt)
        if looked_at < PLAN_BATCH:
            break

    lease = lease_for(policy, SEND_BATCH)
    held: list[int] = []
    try:
        while not stopping():
            with db.write() as session:
                claimed = outbox.claim(
                    session,
                    owner=owner,
                    now=max(now, clock()),
                    lease=lease,
                    limit=SEND_BATCH,
                )
            if not claimed:
                break
            held = [c.id for c in claimed]
            for item in claimed:
                if stopping():
                    break
                transport = policy.transports.get(item.message.channel)  # type: ignore[call-overload]
                try:
                    sending(True)
                    result = send(transport, item.message, environ=environ, stdout=stream)
                except Interrupted:
                    raise
                except Exception as exc:  # a transport bug must not lose the delivery
                    result = Result.retry(f"unexpected {type(exc).__name__}: {exc}")
                finally:
                    sending(False)
                with db.write() as session:
                    status, error = outbox.record(
                        session, item, result, now=clock(), retry=policy.retry
                    )
                held.remove(item.id)
                message = item.message
                attempt = Attempt(
                    incident=message.incident,
                    notice=message.notice,
                    sequence=item.sequence,
                    channel=message.channel,
                    to=message.to or item.recipient,
                    cc=message.cc,
                    status=status,
                    error=error,
                )
                report.deliveries.append(attempt)
                emit(attempt)
    except Interrupted:
        report.interrupted = True
    finally:
        sending(False)  # from here on a signal only asks to stop
        if held:
            with db.write() as session:
                outbox.release(session, owner=owner, ids=held)
    if stopping():
        report.interrupted = True
    return report


def _attempt(planned: outbox.Planned, status: str) -> Attempt:
    return Attempt(
        incident=planned.incident,
        notice=planned.notice,
        sequence=planned.sequence,
        channel=planned.channel,
        to=planned.to or planned.recipient,
        cc=planned.cc,
        status=status,
        error=planned.error,
    )
