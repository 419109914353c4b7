"""The vocabulary of incident handling, once: every word the process uses, as StrEnums,
and the incident's public field list.

The models, the policy, the CLI's choices, the output and the import all spell these
words through this module. A member is its word (``Status.OPEN == "open"``), so it is
stored, compared and written to JSON as the plain string.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CLOCK_COLUMNS",
    "EDITABLE_FIELDS",
    "EVENT_COLUMNS",
    "EVENT_FIELDS",
    "INCIDENT_COLUMNS",
    "REPORT_LISTS",
    "INCIDENT_FIELDS",
    "NOT_CLOSED",
    "REVIEW_NOTES",
    "Awaiting",
    "Channel",
    "ClockName",
    "ClockState",
    "ContactChannel",
    "DeliveryStatus",
    "EventKind",
    "AlertStatus",
    "IntakeAction",
    "IntakeSource",
    "OnRepeat",
    "OnResolved",
    "NoteKind",
    "NoticeName",
    "NoticeRuleName",
    "PauseReason",
    "ProblemReason",
    "RelevelMode",
    "StepKind",
    "Status",
    "Team",
]


class Status(StrEnum):
    """Where an incident stands, derived from the milestones it reached."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RECOVERED = "recovered"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"  # opened by mistake, or a duplicate: off the board, not counted


NOT_CLOSED = (Status.OPEN, Status.ACKNOWLEDGED, Status.RECOVERED, Status.RESOLVED)


class EventKind(StrEnum):
    """What an event of the timeline records."""

    OPENED = "opened"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    NOTE = "note"
    TRANSFERRED = "transferred"
    RELEVELLED = "relevelled"
    RECOVERED = "recovered"
    RESOLVED = "resolved"
    APPROVED = "approved"
    CLOSED = "closed"
    REOPENED = "reopened"
    PROBLEM = "problem"
    NOTIFIED = "notified"
    EDITED = "edited"
    CANCELLED = "cancelled"
    PAUSED = "paused"  # waiting on someone else: the policy's pausable clocks stop
    RESUMED = "resumed"


class Channel(StrEnum):
    """How an incident came in."""

    HOTLINE = "hotline"
    EMAIL = "email"
    MONITORING = "monitoring"
    OTHER = "other"


class IntakeAction(StrEnum):
    """What intake did with one alert or email."""

    OPENED = "opened"  # a new incident
    GROUPED = "grouped"  # a storm: listed on the service's storm incident instead
    REPEAT = "repeat"  # the same alert again, still firing: nothing, or a note
    RECOVERED = "recovered"  # the alert resolved: the incident's service recovered
    NOTED = "noted"  # a note on the incident (a reply, a resolved alert)
    ACKNOWLEDGED = "acknowledged"  # a known person's reply "ack"
    DUPLICATE = "duplicate"  # the same message delivered again: nothing
    IGNORED = "ignored"  # resolved, and no incident has it open: nothing


class IntakeSource(StrEnum):
    ALERT = "alert"
    EMAIL = "email"


class AlertStatus(StrEnum):
    """An alert's state as monitoring reports it (Alertmanager's words)."""

    FIRING = "firing"
    RESOLVED = "resolved"


class OnRepeat(StrEnum):
    """What the same alert again, still firing, adds (``[intake.alert] repeat``)."""

    IGNORE = "ignore"
    NOTE = "note"


class OnResolved(StrEnum):
    """What an alert's resolution records (``[intake.alert] resolved``)."""

    RECOVER = "recover"  # the service is recovered (the recovery clock stops)
    NOTE = "note"


class Team(StrEnum):
    """Who holds an incident: operations and maintenance, or the developers."""

    OM = "om"
    DEV = "dev"


class NoteKind(StrEnum):
    """What a note records: progress (in the progress notices), a customer update, a
    lesson learned, or a part of the review (impact, root cause, an action item)."""

    PROGRESS = "progress"
    CUSTOMER = "customer"  # what the reporter wrote (a reply by email)
    CUSTOMER_UPDATE = "customer-update"
    LESSON = "lesson"
    IMPACT = "impact"
    ROOT_CAUSE = "root-cause"
    ACTION = "action"


# The notes a major incident's review is made of: it owes its review until each has one.
REVIEW_NOTES = (NoteKind.IMPACT, NoteKind.ROOT_CAUSE, NoteKind.ACTION)


class Awaiting(StrEnum):
    """Whom a resolved incident waits for (``list --awaiting``)."""

    APPROVAL = "approval"  # an incident manager: its level asks for approval
    CONFIRMATION = "confirmation"  # the reporter: approved, or no approval asked


class PauseReason(StrEnum):
    """Whom a paused incident waits for (``pause --reason``)."""

    AWAITING_CUSTOMER = "awaiting-customer"
    AWAITING_VENDOR = "awaiting-vendor"
    AWAITING_CHANGE = "awaiting-change"


class ProblemReason(StrEnum):
    """Why an incident goes to problem management."""

    RECURRING = "recurring"
    UNKNOWN_CAUSE = "unknown-cause"
    KNOWN_DEFECT = "known-defect"


class ClockName(StrEnum):
    """The SLA clocks, in the order they are shown: the seed's three, and the
    developers' ``fix`` (from the transfer to them until the solution), which runs only
    where a level sets its target."""

    RESPONSE = "response"
    RECOVERY = "recovery"
    RESOLUTION = "resolution"
    FIX = "fix"


class ClockState(StrEnum):
    RUNNING = "running"
    MET = "met"
    BREACHED = "breached"
    PAUSED = "paused"  # stopped by a pause: no due time until it resumes
    CANCELLED = "cancelled"  # (shown) stopped by a cancellation: neither met nor breached


class StepKind(StrEnum):
    """The steps of a clock's explanation (``sla explain``), in the words it shows."""

    START = "start"
    COUNTED = "counted"  # open time of the calendar: it uses up the target
    CLOSED = "closed"  # the calendar is closed (nights, weekends, holidays)
    PAUSED = "paused"  # a pause stops the clock
    RELEVEL = "relevel"
    DUE = "due"
    STOPPED = "stopped"
    VERDICT = "verdict"


class RelevelMode(StrEnum):
    """What a re-level does to a running clock: keep its start, or start it again."""

    KEEP_START = "keep-start"
    RESTART = "restart"


class NoticeName(StrEnum):
    """The notices of SPEC §4; each ``overdue-*`` one escalates one clock."""

    INITIAL = "initial"
    PROGRESS = "progress"
    RECTIFICATION = "rectification"
    OVERDUE_RESPONSE = "overdue-response"
    OVERDUE_RECOVERY = "overdue-recovery"
    OVERDUE_RESOLUTION = "overdue-resolution"
    OVERDUE_FIX = "overdue-fix"
    WARNING_RESPONSE = "warning-response"  # a clock nearing its breach (warning.at)
    WARNING_RECOVERY = "warning-recovery"
    WARNING_RESOLUTION = "warning-resolution"
    WARNING_FIX = "warning-fix"
    HANDOVER = "handover"  # to the new owner of an assign or transfer
    APPROVAL = "approval"  # to the incident managers: a solution waits for them
    APPROVAL_REMINDER = "approval-reminder"  # the same, remind_after later
    CUSTOMER_UPDATE = "customer-update"  # to the reporter: a note sent with --send
    CUSTOMER_REMINDER = "customer-reminder"  # to the owner: no customer update for a while
    CONFIRMATION = "confirmation"  # to the reporter: resolved, please confirm

    @classmethod
    def overdue(cls, clock: str) -> NoticeName:
        """The notice that escalates ``clock``."""
        return cls(f"overdue-{clock}")

    @classmethod
    def warning(cls, clock: str) -> NoticeName:
        """The notice that warns ``clock`` nears its breach."""
        return cls(f"warning-{clock}")

    @property
    def clock(self) -> ClockName | None:
        """The clock an ``overdue-*`` notice escalates; None for the others."""
        prefix = "overdue-"
        return ClockName(self.value[len(prefix) :]) if self.value.startswith(prefix) else None

    @property
    def warns(self) -> ClockName | None:
        """The clock a ``warning-*`` notice warns of; None for the others."""
        prefix = "warning-"
        return ClockName(self.value[len(prefix) :]) if self.value.startswith(prefix) else None

    @property
    def rule(self) -> NoticeRuleName:
        """The policy rule it follows: the ``overdue-*`` notices share ``overdue``, the
        ``warning-*`` ones ``warning``."""
        if self.clock:
            return NoticeRuleName.OVERDUE
        if self.warns:
            return NoticeRuleName.WARNING
        if self is NoticeName.APPROVAL_REMINDER:
            return NoticeRuleName.APPROVAL
        return NoticeRuleName(self.value)


class NoticeRuleName(StrEnum):
    """The ``[notifications.NAME]`` rules of the policy."""

    INITIAL = "initial"
    PROGRESS = "progress"
    RECTIFICATION = "rectification"
    OVERDUE = "overdue"
    WARNING = "warning"
    HANDOVER = "handover"
    APPROVAL = "approval"
    CUSTOMER_UPDATE = "customer-update"
    CUSTOMER_REMINDER = "customer-reminder"
    CONFIRMATION = "confirmation"


class ContactChannel(StrEnum):
    """How a notice reaches a person (the transports' channels)."""

    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    RETRY = "retry"
    SENT = "sent"
    PRINTED = "printed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """Nothing more will be attempted."""
        return self in (DeliveryStatus.SENT, DeliveryStatus.PRINTED, DeliveryStatus.FAILED)

    @property
    def delivered(self) -> bool:
        return self in (DeliveryStatus.SENT, DeliveryStatus.PRINTED)


# The incident's public fields (SPEC §7), in the order JSON and CSV give them.
INCIDENT_FIELDS = (
    "id",
    "title",
    "details",
    "service",
    "level",
    "channel",
    "reporter",
    "contact",
    "assignee",
    "team",
    "status",
    "occurred_at",
    "reported_at",
    "acknowledged_at",
    "transferred_at",
    "recovered_at",
    "resolved_at",
    "solution",
    "approved_at",
    "approved_by",
    "closed_at",
    "confirmed_by",
    "problem_ref",
    "problem_reason",
    "cancelled_at",
    "cancel_reason",
    "duplicate_of",
    "paused_at",
    "pause_reason",
    "policy_version",
)
# The fields ``edit`` corrects (``occurred_at`` as ``--occurred``).
EDITABLE_FIELDS = ("title", "details", "service", "reporter", "contact", "channel", "occurred_at")
# Each clock's stored due and stop times.
CLOCK_COLUMNS = tuple(f"{clock}_{part}" for clock in ClockName for part in ("due_at", "stopped_at"))
# Every stored column of an incident: the public fields and what is kept derived beside
# them (the level it was opened at, the clocks, the board's deadline, the outbox's
# next notice time, the notices it had elsewhere).
INCIDENT_COLUMNS = (
    *INCIDENT_FIELDS,
    "opened_level",
    "updated_at",
    *CLOCK_COLUMNS,
    "fix_started_at",
    "paused_seconds",
    "down_again_at",
    "down_due_at",
    "deadline_at",
    "notify_at",
    "notices_handled",
)

# An event's public fields, and its stored columns (the incident it belongs to besides).
EVENT_FIELDS = ("id", "kind", "at", "recorded_at", "actor", "data")
EVENT_COLUMNS = ("id", "incident_id", *EVENT_FIELDS[1:])


# The report's listed sections, each also counted against the previous period.
REPORT_LISTS = (
    "breaches",
    "transferred",
    "problems",
    "relevelled",
    "recurring",
    "reviews_owed",
    "lessons",
    "cancelled",
)
