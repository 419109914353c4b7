"""The quick-start demo: a handful of incidents in a throw-away database, as an on-call
engineer would meet them, then one escalation pass so the notices go out."""

from __future__ import annotations

from datetime import timedelta

from incidentctl.domain import Channel
from incidentctl.runtime import Runtime
from incidentctl.services import handling


def seed(rt: Runtime) -> None:
    """Open, handle and close incidents at moments before ``rt.now``."""
    now = rt.now

    def ago(minutes: int) -> Runtime:
        return rt.at(now - timedelta(minutes=minutes), actor="wang.lei")

    # A major incident being handled: response met, recovery clock counting down.
    first = handling.open_incident(
        ago(25),
        title="Card payments declined at checkout",
        level=1,
        service="payments",
        channel=Channel.HOTLINE,
        reporter="Wang Fang",
        contact="+8613900000000",
        occurred_at=now - timedelta(minutes=32),
        details="Customers see 'payment declined' for every card since about 02:50.",
    )
    handling.acknowledge(ago(21), first.id)  # type: ignore[arg-type]
    handling.add_note(ago(12), first.id, text="Rolled back gateway 3.2.1; no change yet")  # type: ignore[arg-type]

    # A minor one nobody has picked up: its response clock has run out.
    handling.open_incident(
        ago(45),
        title="Search results slow for users in the north region",
        level=2,
        service="web-portal",
        channel=Channel.MONITORING,
    )

    # A minor one that worsened, went to Level 1 and on to the developers.
    third = handling.open_incident(
        ago(190),
        title="Nightly order export failing",
        level=2,
        service="accounts",
        channel=Channel.EMAIL,
        reporter="finance-ops",
        contact="finance-ops@example.com",
    )
    handling.acknowledge(ago(175), third.id)  # type: ignore[arg-type]
    handling.relevel(ago(120), third.id, level=1, reason="month-end invoices blocked")  # type: ignore[arg-type]
    handling.transfer(ago(60), third.id, to="liu.yang", reason="needs a code fix")  # type: ignore[arg-type]

    # A question: Level 3, no notifications.
    handling.open_incident(
        ago(5),
        title="How do I reset a customer's password?",
        level=3,
        service="accounts",
        channel=Channel.HOTLINE,
        reporter="Li Ming",
    )

    # Yesterday's outage, through to the reporter's confirmation.
    fifth = handling.open_incident(
        ago(26 * 60),
        title="Login page returns 500",
        level=1,
        service="web-portal",
        channel=Channel.MONITORING,
    )
    handling.acknowledge(ago(26 * 60 - 4), fifth.id)  # type: ignore[arg-type]
    handling.resolve(ago(25 * 60), fifth.id, solution="Expired TLS certificate renewed")  # type: ignore[arg-type]
    handling.approve(rt.at(now - timedelta(hours=24), actor="zhang.min"), fifth.id)  # type: ignore[arg-type]
    handling.close(ago(23 * 60), fifth.id, confirmed_by="Web team")  # type: ignore[arg-type]
