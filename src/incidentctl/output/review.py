"""The major-incident review (``show ID --format markdown``): one Markdown document with
the facts, the impact, the clocks and their verdicts, the timeline, the notifications,
the solution and its approval, the root cause, problem management, the action items and
the lessons learned (the impact, root cause, action items and lessons are the notes of
kind ``impact``, ``root-cause``, ``action`` and ``lesson``).

Pure: it formats an ``IncidentRecord`` already loaded, as of ``now``, in the zone it is
given (named in its header, each time with its abbreviation). Everything a user typed is
escaped, so it reads literally wherever the Markdown is rendered.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import partial
from typing import Any

from incidentctl.domain import ClockState, EventKind, NoteKind, ProblemReason
from incidentctl.output.terminal import event_summary
from incidentctl.output.text import md, md_heading, md_line, zoned_time
from incidentctl.policy.clocks import clock_start, clock_state, stored_clocks
from incidentctl.times import format_duration


def cell(text: Any) -> str:
    """A table cell: one line."""
    return md_line(text) if text not in (None, "") else "—"


def _when(value: datetime | None, zone: tzinfo) -> str:
    return zoned_time(value, zone) if value else "—"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _what(event: Any) -> str:
    """The timeline's "What": a note's kind is ours, in brackets that stay brackets (no
    text a user typed can define a link for them), and its text is the user's."""
    if event.kind == EventKind.NOTE:
        return f"[{event.data.get('kind')}] {cell(event.data.get('text'))}"
    return cell(event_summary(event))


def _notes(record: Any, kind: NoteKind) -> list[Any]:
    return [e for e in record.events if e.kind == EventKind.NOTE and e.data.get("kind") == kind]


def _bullets(record: Any, kind: NoteKind, when: Any) -> list[str]:
    """The notes of one kind as a list, each with its author and time; or how to add one."""
    notes = _notes(record, kind)
    if not notes:
        incident_id = record.incident.id
        return [f"None recorded yet (`incidentctl note {incident_id} TEXT --kind {kind}`)."]
    lines = []
    for note in notes:
        text = md(note.data.get("text", "")).replace("\n", "\n  ")
        lines.append(f"- {text} — *{md_line(note.actor)}, {when(note.at)}*")
    return lines


def _problem_section(record: Any, when: Any) -> list[str]:
    """Where the incident went in problem management: each reference it was given (the
    first, then each correction), and the other incidents under the same problem."""
    incident = record.incident
    history = [e for e in record.events if e.kind == EventKind.PROBLEM]
    if not incident.problem_ref:
        reasons = "|".join(ProblemReason)
        return [
            "Not transferred to problem management "
            f"(`incidentctl problem {incident.id} --ref REF --reason {reasons}`)."
        ]
    out = [f"Problem {md_line(incident.problem_ref)} ({incident.problem_reason}).", ""]
    for event in history:
        data = event.data
        said = f"{md_line(data.get('ref'))} ({data.get('reason')})"
        if data.get("previous_ref"):
            was = f"{md_line(data['previous_ref'])} ({data.get('previous_reason')})"
            out.append(
                f"- Corrected to {said}, was {was} — *{md_line(event.actor)}, {when(event.at)}*"
            )
        else:
            out.append(f"- Transferred to {said} — *{md_line(event.actor)}, {when(event.at)}*")
    others = record.problem_incidents
    out += [
        "",
        f"Other incidents under {md_line(incident.problem_ref)}: "
        + (", ".join(str(i) for i in others) if others else "none")
        + ".",
    ]
    return out


def review_markdown(record: Any, policy: Any, now: datetime, zone: tzinfo, zone_name: str) -> str:
    """The review document of one incident (see the module docstring), its times in
    ``zone`` (named ``zone_name`` in the header)."""
    when = partial(_when, zone=zone)
    incident = record.incident
    level = policy.levels.get(incident.level)
    level_name = f"Level {incident.level}" + (f" ({level.name})" if level else "")
    out = [
        f"# Incident {incident.id}: {md_heading(incident.title)}",
        "",
        f"*{level_name} · {incident.status} · service {md_line(incident.service)} · "
        f"review generated {when(now)} · times in {md_line(zone_name)}*",
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
                ["Fault began", when(incident.occurred_at)],
                ["Reported", when(incident.reported_at)],
                ["Acknowledged", when(incident.acknowledged_at)],
                ["Transferred to developers", when(incident.transferred_at)],
                ["Recovered", when(incident.recovered_at)],
                ["Resolved", when(incident.resolved_at)],
                ["Closed", when(incident.closed_at)],
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

    out += ["", "## Impact", "", *_bullets(record, NoteKind.IMPACT, when)]

    out += ["", "## SLA clocks", ""]
    rows = []
    for clock in stored_clocks(incident):
        due = getattr(incident, f"{clock}_due_at")
        stopped = getattr(incident, f"{clock}_stopped_at")
        state = clock_state(due, stopped, now)
        start = clock_start(incident, clock)
        taken = format_duration((stopped or now) - start)
        if due is None:  # a pause stopped it before its target was used up
            verdict = "met, stopped while paused" if stopped else "paused"
        else:
            margin = (stopped or now) - due
            verdict = {
                ClockState.MET: f"met, {format_duration(-margin)} to spare",
                ClockState.BREACHED: f"**breached**, {format_duration(margin)} late",
                ClockState.RUNNING: f"running, due in {format_duration(-margin)}",
            }[state]
        rows.append(
            [
                clock,
                when(start),
                when(due),
                when(stopped),
                taken + ("" if stopped else " so far"),
                verdict,
            ]
        )
    out += _table(["Clock", "Started", "Due", "Stopped", "Took", "Verdict"], rows)

    out += ["", "## Timeline", ""]
    out += _table(
        ["When", "Event", "By", "What"],
        [[when(e.at), e.kind, cell(e.actor), _what(e)] for e in record.events],
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
                    when(d.sent_at),
                    cell(d.error),
                ]
                for d in record.deliveries
            ],
        )
    else:
        out.append("No notifications recorded.")

    out += ["", "## Solution and approval", ""]
    if incident.solution:
        out += [md(incident.solution), "", f"Provided {when(incident.resolved_at)}."]
    else:
        out.append("No solution recorded yet.")
    required = bool(level and level.approval)
    if incident.approved_at:
        out += [
            "",
            f"Approved by {md_line(incident.approved_by)} at {when(incident.approved_at)}.",
        ]
    elif required:
        out += [
            "",
            f"**Not yet approved** — {level_name} solutions need an incident manager's approval.",
        ]
    else:
        out += ["", f"No approval required at {level_name}."]
    if incident.closed_at:
        out += [
            f"Closed {when(incident.closed_at)}, confirmed by {md_line(incident.confirmed_by)}."
        ]

    out += ["", "## Root cause", "", *_bullets(record, NoteKind.ROOT_CAUSE, when)]
    out += ["", "## Problem management", "", *_problem_section(record, when)]
    out += ["", "## Action items", "", *_bullets(record, NoteKind.ACTION, when)]
    out += ["", "## Lessons learned", "", *_bullets(record, NoteKind.LESSON, when)]
    return "\n".join(out) + "\n"
