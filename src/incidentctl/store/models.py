"""The tables: incidents (current facts plus indexed due times), the append-only event log
and the notification outbox (deliveries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

__all__ = ["Delivery", "Event", "Incident", "IntakeKey", "Pass", "PolicyVersion", "SQLModel"]

from incidentctl.domain import Channel, DeliveryStatus, Status, Team
from incidentctl.store.types import UTCDateTime


def _time(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"
    __table_args__ = (
        # The incidents under one problem (``show``): partial, so the many incidents
        # never sent to problem management cost the index (and an import) nothing.
        Index(
            "ix_incidents_problem_ref",
            "problem_ref",
            sqlite_where=text("problem_ref IS NOT NULL"),
            postgresql_where=text("problem_ref IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    title: str
    details: str | None = None
    service: str = Field(index=True)
    level: int = Field(index=True)
    channel: str = Channel.OTHER
    reporter: str | None = None
    contact: str | None = None
    assignee: str | None = Field(default=None, index=True)
    team: str = Team.OM
    status: str = Field(default=Status.OPEN, index=True)
    opened_level: int
    occurred_at: datetime = _time(nullable=False)
    reported_at: datetime = _time(index=True, nullable=False)
    acknowledged_at: datetime | None = _time()
    transferred_at: datetime | None = _time()
    recovered_at: datetime | None = _time()
    resolved_at: datetime | None = _time()
    solution: str | None = None
    approved_at: datetime | None = _time()
    approved_by: str | None = None
    closed_at: datetime | None = _time()
    confirmed_by: str | None = None
    problem_ref: str | None = None
    problem_reason: str | None = None
    cancelled_at: datetime | None = _time()
    cancel_reason: str | None = None
    duplicate_of: int | None = None  # the incident this one repeats
    updated_at: datetime = _time(nullable=False)
    # The SLA clocks, kept current on every change so that lists, the board and
    # "what is due at T" are indexed queries and never replay the event log.
    # A due time is None while a pause stops the clock.
    response_due_at: datetime | None = _time()
    response_stopped_at: datetime | None = _time()
    recovery_due_at: datetime | None = _time()
    recovery_stopped_at: datetime | None = _time()
    resolution_due_at: datetime | None = _time()
    resolution_stopped_at: datetime | None = _time()
    # The developers' fix clock (from the transfer to them), where the level has one.
    fix_started_at: datetime | None = _time()
    fix_due_at: datetime | None = _time()
    fix_stopped_at: datetime | None = _time()
    # The pause that stands (None: not paused), and the ended pauses' time in all.
    paused_at: datetime | None = _time()
    pause_reason: str | None = None
    paused_seconds: int = 0
    # The policy version its clocks follow (``policy_versions``); None: the policy in
    # force (an incident from before versions were recorded).
    policy_version: str | None = None
    # Down again (``reopen --down``) and not recovered since: since when, and when the
    # recovery is due again (the level's recovery target from then). The clocks keep
    # their first verdicts; this is the deadline of the outage that came back.
    down_again_at: datetime | None = _time()
    down_due_at: datetime | None = _time()
    # Earliest due time among the clocks still running: the board's order, `--overdue`.
    deadline_at: datetime | None = _time(index=True)
    # When the next notification falls due (the outbox's "what is due at T"): kept
    # current by services.handling.refresh() and each escalate pass; None: nothing to send.
    notify_at: datetime | None = _time(index=True)
    # Notices taken as had elsewhere, [[notice, sequence], ...]: those already due when
    # the incident was imported with --no-past-notices. None: none.
    notices_handled: list[list[Any]] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True))
    )


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_incident_id_id", "incident_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    incident_id: int = Field(sa_column=Column(Integer, ForeignKey("incidents.id"), nullable=False))
    kind: str
    at: datetime = _time(nullable=False)
    recorded_at: datetime = _time(nullable=False)
    actor: str
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Delivery(SQLModel, table=True):
    """One message of one notice to one recipient on one channel: the outbox row.

    Recorded before it is sent, claimed with a lease (``lease_owner``/``lease_until``)
    by the process that sends it, and updated with the result.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint(
            "incident_id",
            "notice",
            "sequence",
            "channel",
            "recipient",
            name="uq_deliveries_key",
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    incident_id: int = Field(sa_column=Column(Integer, ForeignKey("incidents.id"), nullable=False))
    notice: str
    sequence: int = 0
    channel: str
    recipient: str  # contact name(s): part of the key
    address: str | None = None  # where it goes: email address(es) or phone number
    cc: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str
    text: str
    status: str = DeliveryStatus.PENDING
    attempts: int = 0
    created_at: datetime = _time(nullable=False)
    # When to (re)try; None once it is sent or has failed for good.
    next_attempt_at: datetime | None = _time(index=True)
    lease_owner: str | None = None
    lease_until: datetime | None = _time()
    sent_at: datetime | None = _time()
    error: str | None = None


class PolicyVersion(SQLModel, table=True):
    """The clock part of a policy (levels, re-level mode, calendars) as canonical JSON,
    named by the hash of that text: what an incident's ``policy_version`` refers to."""

    __tablename__ = "policy_versions"

    version: str = Field(primary_key=True)
    text: str = Field(sa_type=Text)
    created_at: datetime = _time(nullable=False)


class Pass(SQLModel, table=True):
    """The latest escalation pass of its kind (``escalate``: every ``escalate`` and
    ``watch`` pass): when it ran, who ran it, what it sent."""

    __tablename__ = "passes"

    name: str = Field(primary_key=True)
    ran_at: datetime = _time(nullable=False)
    owner: str
    sent: int
    failed: int


class IntakeKey(SQLModel, table=True):
    """A dedup key intake has seen and the incident it went to: an alert's fingerprint
    (``alert:…``), an email's Message-ID (``email:…``) or a service's alert storm
    (``storm:…``). ``new``: it asked for a new incident (opened or grouped into a storm):
    what storm control counts per service."""

    __tablename__ = "intake_keys"
    __table_args__ = (
        Index("ix_intake_keys_key", "key", "incident_id"),
        Index("ix_intake_keys_service_created_at", "service", "created_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    key: str = Field(sa_type=Text)
    incident_id: int = Field(sa_column=Column(Integer, ForeignKey("incidents.id"), nullable=False))
    service: str
    new: bool = Field(sa_column=Column(Boolean, nullable=False))
    created_at: datetime = _time(nullable=False)
