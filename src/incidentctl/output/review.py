"""The major-incident review (``show ID --format markdown``): one Markdown document with
the facts, the clocks and their verdicts, the timeline, the notifications, the
solution and its approval, and the lessons learned (notes of kind ``lesson``).

Pure: it formats an ``IncidentRecord`` already loaded, as of ``now``. Everything a user
typed is escaped, so it reads literally wherever the Markdown is rendered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from incidentctl.domain import ClockName, ClockState, EventKind, NoteKind
from incidentctl.output.terminal import event_summary
from incidentctl.output.text import md, md_line
from incidentctl.policy.clocks import clock_state
from incidentctl.times import format_duration, to_rfc3339


def cell(text: Any) -> str:
    """A table cell: one line."""
    return md_line(text) if text not in (None, "") else "—"


def _when(value: datetime | None) -> str:
    return to_rfc3339(value) if value else "—"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def review_markdown(record: Any, policy: Any, now: datetime) -> str:
    """The review document of one incident (see the module docstring)."""
    incident = record.incident
    level = policy.levels.get(incident.level)
    level_name = f"Level {incident.level}" + (f" ({level.name})" if level else "")
    out = [
        f"# Incident {incident.id}: {md(incident.title)}",
        "",
        f"*{level_name} · {incident.status} · service {md(incident.service)} · "
        f"review generated {to_rfc3339(now)}*",
        "",
        "## Summary",
        "",
        *_table(
            ["Field", "Value"],
            [
                ["Service", cell(incident.service)],
                ["Level", cell(level_name)],
                ["Status", incident.status],
                ["Channel", incident.channel],
                ["Reporter", cell(incident.reporter)],
                ["Contact", cell(incident.contact)],
                ["Owner", f"{cell(incident.assignee)} ({incident.team})"],
                ["Fault began", _when(incident.occurred_at)],
                ["Reported", _when(incident.reported_at)],
                ["Acknowledged", _when(incident.acknowledged_at)],
                ["Transferred to developers", _when(incident.transferred_at)],
                ["Recovered", _when(incident.recovered_at)],
                ["Resolved", _when(incident.resolved_at)],
                ["Closed", _when(incident.closed_at)],
                [
                    "Problem management",
                    f"{cell(incident.problem_ref)} ({incident.problem_reason})"
                    if incident.problem_ref
                    else "—",
                ],
            ],
        ),
    ]
    if incident.details:
        out += ["", "**Details:**", "", md(incident.details)]

    out += ["", "## SLA clocks", ""]
    rows = []
    for clock in ClockName:
        due = getattr(incident, f"{clock}_due_at")
        stopped = getattr(incident, f"{clock}_stopped_at")
        state = clock_state(due, stopped, now)
        start = incident.occurred_at if clock == ClockName.RECOVERY else incident.reported_at
        taken = format_duration((stopped or now) - start)
        margin = (stopped or now) - due
        verdict = {
            ClockState.MET: f"met, {format_duration(-margin)} to spare",
            ClockState.BREACHED: f"**breached**, {format_duration(margin)} late",
            ClockState.RUNNING: f"running, due in {format_duration(-margin)}",
        }[state]
        rows.append(
            [
                clock,
                _when(start),
                _when(due),
                _when(stopped),
                taken + ("" if stopped else " so far"),
                verdict,
            ]
        )
    out += _table(["Clock", "Started", "Due", "Stopped", "Took", "Verdict"], rows)

    out += ["", "## Timeline", ""]
    out += _table(
        ["When", "Event", "By", "What"],
        [[_when(e.at), e.kind, cell(e.actor), cell(event_summary(e))] for e in record.events],
    )

    out += ["", "## Notifications", ""]
    if record.deliveries:
        out += _table(
            ["Notice", "Channel", "To", "Status", "Sent", "Error"],
            [
                [
                    f"{d.notice} #{d.sequence}" if d.sequence else d.notice,
                    d.channel,
                    cell(getattr(d, "address", None) or d.recipient),
                    d.status,
                    _when(d.sent_at),
                    cell(d.error),
                ]
                for d in record.deliveries
            ],
        )
    else:
        out.append("No notifications recorded.")

    out += ["", "## Solution and approval", ""]
    if incident.solution:
        out += [md(incident.solution), "", f"Provided {_when(incident.resolved_at)}."]
    else:
        out.append("No solution recorded yet.")
    required = bool(level and level.approval)
    if incident.approved_at:
        out += ["", f"Approved by {md(incident.approved_by)} at {_when(incident.approved_at)}."]
    elif required:
        out += [
            "",
            f"**Not yet approved** — {level_name} solutions need an incident manager's approval.",
        ]
    else:
        out += ["", f"No approval required at {level_name}."]
    if incident.closed_at:
        out += [f"Closed {_when(incident.closed_at)}, confirmed by {md(incident.confirmed_by)}."]

    out += ["", "## Lessons learned", ""]
    lessons = [
        e
        for e in record.events
        if e.kind == EventKind.NOTE and e.data.get("kind") == NoteKind.LESSON
    ]
    if lessons:
        for lesson in lessons:
            text = md(lesson.data.get("text", "")).replace("\n", "\n  ")
            out.append(f"- {text} — *{md(lesson.actor)}, {_when(lesson.at)}*")
    else:
        out.append(f"None recorded yet (`incidentctl note {incident.id} TEXT --kind lesson`).")
    return "\n".join(out) + "\n"
