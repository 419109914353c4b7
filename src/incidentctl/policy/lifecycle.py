"""The incident's lifecycle: its derived status and which actions make sense when.

Each check raises ``Conflict`` with a sentence the on-call engineer can act on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from incidentctl.domain import Status
from incidentctl.errors import Conflict

_DONE = (Status.RESOLVED, Status.CLOSED)  # a solution was provided


class Milestones(Protocol):
    id: int | None
    status: str
    level: int
    acknowledged_at: datetime | None
    transferred_at: datetime | None
    recovered_at: datetime | None
    resolved_at: datetime | None
    approved_at: datetime | None
    approved_by: str | None
    closed_at: datetime | None
    problem_ref: str | None
    assignee: str | None
    team: str


def derive_status(incident: Milestones) -> Status:
    """open → acknowledged → recovered → resolved → closed, from the milestones reached."""
    if incident.closed_at:
        return Status.CLOSED
    if incident.resolved_at:
        return Status.RESOLVED
    if incident.recovered_at:
        return Status.RECOVERED
    if incident.acknowledged_at or incident.transferred_at:
        return Status.ACKNOWLEDGED
    return Status.OPEN


def _refuse(incident: Milestones, why: str) -> Conflict:
    return Conflict(f"incident {incident.id} is {incident.status}: {why}")


def check_ack(incident: Milestones) -> None:
    if incident.acknowledged_at:
        raise _refuse(incident, "it was already acknowledged")
    if incident.status in _DONE:
        raise _refuse(incident, "there is nothing left to acknowledge")


def check_active(incident: Milestones, action: str) -> None:
    """Assign, transfer and relevel make sense until the incident is closed."""
    if incident.status == Status.CLOSED:
        raise _refuse(incident, f"reopen it before you {action} it")


def check_transfer(incident: Milestones, to: str, team: str) -> None:
    check_active(incident, "transfer")
    if incident.status == Status.RESOLVED:
        raise _refuse(incident, "a solution was already provided; reopen it first")
    if incident.assignee == to and incident.team == team:
        raise _refuse(incident, f"it is already with {to} ({team})")


def check_relevel(incident: Milestones, level: int) -> None:
    check_active(incident, "relevel")
    if incident.level == level:
        raise _refuse(incident, f"it is already at Level {level}")


def check_recover(incident: Milestones) -> None:
    if incident.recovered_at:
        raise _refuse(incident, "the service was already recovered")
    if incident.status in _DONE:
        raise _refuse(incident, "a solution was already provided")


def check_resolve(incident: Milestones) -> None:
    if incident.status in _DONE:
        raise _refuse(incident, "a solution was already provided; reopen it to change it")


def check_approve(incident: Milestones, *, actor: str, managers: list[str], required: bool) -> None:
    if incident.status != Status.RESOLVED:
        raise _refuse(incident, "only a resolved incident's solution can be approved")
    if not required:
        raise _refuse(incident, f"Level {incident.level} solutions need no approval")
    if incident.approved_at:
        raise _refuse(incident, f"the solution was already approved by {incident.approved_by}")
    if actor not in managers:
        names = ", ".join(managers) or "nobody"
        raise Conflict(
            f"{actor} is not an incident manager; the policy names: {names} "
            f"(act as one with --as NAME)"
        )


def check_close(incident: Milestones, *, approval_required: bool) -> None:
    if incident.status == Status.CLOSED:
        raise _refuse(incident, "it is already closed")
    if incident.status != Status.RESOLVED:
        raise _refuse(incident, "resolve it with a solution before the reporter can confirm it")
    if approval_required and not incident.approved_at:
        raise _refuse(
            incident,
            f"Level {incident.level} needs an incident manager's approval first "
            f"(incidentctl --as MANAGER approve {incident.id})",
        )


def check_reopen(incident: Milestones) -> None:
    if incident.status not in _DONE:
        raise _refuse(incident, "only a resolved or closed incident can be reopened")


def check_problem(incident: Milestones) -> None:
    if incident.problem_ref:
        raise _refuse(incident, f"it was already transferred to problem {incident.problem_ref}")
