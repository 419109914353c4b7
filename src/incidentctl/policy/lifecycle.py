"""The incident's lifecycle: its derived status and which actions make sense when.

Each check raises ``Conflict`` with a sentence the on-call engineer can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from incidentctl.domain import Status
from incidentctl.errors import Conflict, InvalidInput

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
    cancelled_at: datetime | None
    cancel_reason: str | None
    problem_ref: str | None
    problem_reason: str | None
    assignee: str | None
    team: str


def derive_status(incident: Milestones) -> Status:
    """open → acknowledged → recovered → resolved → closed, from the milestones reached;
    ``cancelled`` (opened by mistake, a duplicate) whatever was reached before."""
    if incident.cancelled_at:
        return Status.CANCELLED
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


def check_live(incident: Milestones, action: str) -> None:
    """Every step of the process but ``note``, ``edit`` and ``reopen`` needs an incident
    that was not cancelled; ``action`` is the step as the refusal says it
    (``"send it to problem management"``)."""
    if incident.status == Status.CANCELLED:
        raise _refuse(
            incident,
            f"it was cancelled ({incident.cancel_reason}); reopen it before you {action}",
        )


def check_ack(incident: Milestones, *, by: str | None = None, at: str | None = None) -> None:
    """``by``/``at``: who acknowledged it first, and when (told to the one who lost)."""
    if incident.acknowledged_at:
        who = f" by {by}" if by else ""
        when = f" at {at}" if at else ""
        raise _refuse(incident, f"it was already acknowledged{who}{when}")
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
    if incident.status == Status.RESOLVED:
        # A solution's level decides its approval: re-levelling it now would let a
        # Level-1 solution close unapproved (or ask a Level-3 one for an approval).
        raise _refuse(incident, "a solution was already provided; reopen it to change its level")
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
        raise Conflict(
            f"{actor} is not an incident manager: the solution of incident {incident.id} "
            f"must be approved by {_who_approves(managers)}"
        )


def _who_approves(managers: Sequence[str]) -> str:
    if not managers:
        return "an incident manager, and the policy names none ([roles] incident_managers)"
    if len(managers) == 1:
        return managers[0]
    return "one of " + ", ".join(managers)


def check_close(
    incident: Milestones, *, approval_required: bool, managers: Sequence[str] = ()
) -> None:
    if incident.status == Status.CLOSED:
        raise _refuse(incident, "it is already closed")
    if incident.status != Status.RESOLVED:
        raise _refuse(incident, "resolve it with a solution before the reporter can confirm it")
    if approval_required and not incident.approved_at:
        raise _refuse(
            incident,
            f"Level {incident.level} needs the approval of {_who_approves(managers)} "
            f"first (incidentctl approve {incident.id}, run by them)",
        )


def check_reopen(incident: Milestones, *, down: bool = False) -> None:
    if incident.status == Status.CANCELLED:
        if down and not incident.recovered_at:
            raise _refuse(incident, "its service was never recovered; reopen it without --down")
        return
    if incident.status not in _DONE:
        raise _refuse(
            incident, "only a resolved or closed incident (or a cancelled one) can be reopened"
        )


def unchanged(incident: Milestones) -> Conflict:
    """``edit`` that would change nothing."""
    return Conflict(f"incident {incident.id} already says so: nothing to change")


def check_cancel(incident: Milestones) -> None:
    if incident.status == Status.CANCELLED:
        raise _refuse(incident, "it was already cancelled")
    if incident.status == Status.CLOSED:
        raise _refuse(incident, "its reporter confirmed the resolution; it stays in the record")


def check_pause(incident: Milestones, paused_at: datetime | None, since: str = "") -> None:
    """A pause waits on someone else while work goes on: not once a solution stands,
    not twice (``paused_at``: the pause that stands, ``since`` it in words)."""
    if incident.status in _DONE:
        raise _refuse(incident, "a solution was provided: there is nothing to wait for")
    if paused_at is not None:
        raise _refuse(incident, f"it is already paused{since}; resume it first")


def check_resume(incident: Milestones, paused_at: datetime | None) -> None:
    if paused_at is None:
        raise _refuse(incident, "it is not paused")


def check_duplicate(incident: Milestones, original: Milestones) -> None:
    """``cancel ID --duplicate-of N``: N is another incident, and not itself cancelled."""
    if original.id == incident.id:
        raise _refuse(incident, "an incident cannot be a duplicate of itself")
    if original.status == Status.CANCELLED:
        raise Conflict(
            f"incident {original.id} is cancelled ({original.cancel_reason}): "
            f"name the incident it repeats instead"
        )


def check_problem(incident: Milestones, *, ref: str, reason: str | None) -> None:
    """The first transfer to problem management needs its reason; a later ``problem``
    corrects the reference (or the reason) and must change one of them."""
    if not incident.problem_ref:
        if reason is None:
            raise InvalidInput(
                "--reason is required to transfer an incident to problem management "
                "(recurring, unknown-cause or known-defect)"
            )
        return
    if ref == incident.problem_ref and reason in (None, incident.problem_reason):
        raise Conflict(
            f"incident {incident.id} is already with problem {incident.problem_ref} "
            f"({incident.problem_reason}): nothing to correct"
        )
