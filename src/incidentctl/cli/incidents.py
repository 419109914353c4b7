"""The lifecycle commands: open, list, show, ack, assign, note, transfer, relevel,
recover, resolve, approve, close, reopen, cancel, edit, problem."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from incidentctl.cli import completion
from incidentctl.cli.app import app
from incidentctl.cli.options import (
    AssigneeFilter,
    AtOption,
    IdArgument,
    JsonOption,
    LevelFilter,
    LimitFilter,
    OverdueFilter,
    ServiceFilter,
    SinceFilter,
    UntilFilter,
    chosen_format,
    emit_incident,
    format_option,
    incident_id,
    note_unknown_person,
    note_unlisted_service,
    parse_when,
    runtime,
    text_of,
    warn_if_escalation_stopped,
)
from incidentctl.domain import (
    Awaiting,
    Channel,
    NoteKind,
    PauseReason,
    ProblemReason,
    Status,
    Team,
)
from incidentctl.output import formats

if TYPE_CHECKING:
    from incidentctl.runtime import Runtime

ListFormats = formats("table", "json", "ndjson", "csv")
ShowFormats = formats("table", "json", "markdown")
ReasonOption = Annotated[
    str,
    typer.Option("--reason", help="Why ('-': read it from standard input).", show_default=False),
]


@app.command("open", acts=True)
def open_(
    ctx: typer.Context,
    title: Annotated[
        str, typer.Argument(help="What was reported, in one line.", show_default=False)
    ],
    level: Annotated[
        int,
        typer.Option(
            "--level",
            "-l",
            help="{levels}.",
            show_default=False,
            autocompletion=completion.levels,
        ),
    ],
    service: Annotated[
        str,
        typer.Option(
            "--service",
            "-s",
            help="The affected service.",
            show_default=False,
            autocompletion=completion.services,
        ),
    ],
    details: Annotated[
        str | None,
        typer.Option(
            metavar="TEXT", help="Symptoms and details ('-': read them from standard input)."
        ),
    ] = None,
    channel: Annotated[Channel, typer.Option(help="How it came in.")] = Channel.OTHER,
    reporter: Annotated[str | None, typer.Option(help="Who reported it.")] = None,
    contact: Annotated[str | None, typer.Option(help="How to reach the reporter.")] = None,
    occurred: Annotated[
        str | None,
        typer.Option(
            "--occurred", metavar="TIME", help="When the fault began (default: when reported)."
        ),
    ] = None,
    at: AtOption = None,
    assignee: Annotated[
        str | None, typer.Option(help="Who handles it.", autocompletion=completion.people)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Record an incident and start its SLA clocks.

    Example:

        incidentctl open "Checkout fails" -l 1 -s payments --occurred "20m ago"
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.open_incident(
        rt,
        title=title,
        level=level,
        service=service,
        details=text_of(rt, details, "--details"),
        channel=channel.value,
        reporter=reporter,
        contact=contact,
        occurred_at=parse_when(rt, occurred),
        reported_at=parse_when(rt, at),
        assignee=assignee,
    )
    emit_incident(rt, incident, as_json=as_json, headline=f"Opened incident {incident.id}.")
    note_unlisted_service(rt, service)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help=f"Only these statuses: {', '.join(Status)} (repeatable or comma-separated; "
            "default: all but closed and cancelled).",
            show_default=False,
            autocompletion=completion.statuses,
        ),
    ] = None,
    awaiting: Annotated[
        Awaiting | None,
        typer.Option(
            help="Only resolved incidents waiting for an incident manager's approval, or for "
            "the reporter's confirmation.",
            show_default=False,
        ),
    ] = None,
    level: LevelFilter = None,
    service: ServiceFilter = None,
    assignee: AssigneeFilter = None,
    overdue: OverdueFilter = False,
    since: SinceFilter = None,
    until: UntilFilter = None,
    limit: LimitFilter = None,
    format_: Annotated[ListFormats, format_option()] = ListFormats.TABLE,  # type: ignore[valid-type]
    as_json: JsonOption = False,
) -> None:
    """List incidents (not closed ones by default), oldest first.

    Example:

        incidentctl list --level 1 --overdue --format ndjson | jq -r .title
    """
    from incidentctl import output
    from incidentctl.services import handling

    rt = runtime(ctx)
    flt = handling.IncidentFilter(
        statuses=statuses_of(status),
        awaiting=awaiting.value if awaiting else None,
        approval_levels=handling.approval_levels(rt),
        level=level,
        service=service,
        assignee=assignee,
        overdue=overdue,
        since=parse_when(rt, since),
        until=parse_when(rt, until),
        limit=limit,
    )
    incidents = handling.list_incidents(rt, flt)
    fmt = chosen_format(format_, as_json)
    if fmt is output.Format.TABLE:
        from incidentctl.output import terminal

        terminal.print_incidents(incidents, rt.now, approval_levels=flt.approval_levels)
    else:
        from incidentctl.output.documents import stream_documents

        output.write_documents(fmt, stream_documents(incidents, rt.now))
    if service is not None and service not in rt.policy.services:
        # what was listed was empty, or the service is new: say why it may be empty
        note_unlisted_service(rt, service)
    warn_if_escalation_stopped(rt)


def statuses_of(values: list[str] | None) -> tuple[str, ...]:
    """``--status resolved,acknowledged --status open``: each a status, in order, once."""
    chosen: list[str] = []
    for value in values or ():
        for word in value.split(","):
            word = word.strip().lower()
            if word not in set(Status):
                raise typer.BadParameter(
                    f"{word!r} is not a status: use {', '.join(Status)}", param_hint="'--status'"
                )
            if word not in chosen:
                chosen.append(word)
    return tuple(chosen)


@app.command("show")
def show(
    ctx: typer.Context,
    incident_id: IdArgument,
    format_: Annotated[
        ShowFormats,  # type: ignore[valid-type]
        format_option(help="Output format; markdown is the major-incident review."),
    ] = ShowFormats.TABLE,
    as_json: JsonOption = False,
) -> None:
    """Show an incident: its clocks, timeline, deliveries and problem.

    The markdown review is written in the policy's timezone, else TZ's, else UTC.

    Example:

        incidentctl show 42 --json | jq .sla

        incidentctl show 42 --format markdown > review-42.md
    """
    from incidentctl import output
    from incidentctl.services import handling

    rt = runtime(ctx)
    record = handling.get(rt, incident_id)
    fmt = chosen_format(format_, as_json)
    if fmt is output.Format.JSON:
        from incidentctl.output import documents

        documents.write_json(documents.record_document(record, rt.now))
    elif fmt is output.Format.MARKDOWN:
        from incidentctl.output.review import review_markdown
        from incidentctl.times import document_zone

        zone, zone_name = document_zone(rt.policy.timezone, rt.environ)
        sys.stdout.write(review_markdown(record, rt.policy, rt.now, zone, zone_name))
    else:
        from incidentctl.output import terminal

        terminal.print_record(record, rt.now)


@app.command("ack", acts=True)
def ack(
    ctx: typer.Context, incident_id: IdArgument, at: AtOption = None, as_json: JsonOption = False
) -> None:
    """Start handling an incident: stops its response clock.

    Example:

        incidentctl ack 42
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.acknowledge(rt, incident_id, at=parse_when(rt, at))
    emit_incident(
        rt,
        incident,
        as_json=as_json,
        headline=f"Incident {incident.id} acknowledged by {rt.actor}.",
    )


@app.command("assign", acts=True)
def assign(
    ctx: typer.Context,
    incident_id: IdArgument,
    to: Annotated[
        str,
        typer.Option(
            "--to", help="The new owner.", show_default=False, autocompletion=completion.people
        ),
    ],
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change an incident's owner.

    Example:

        incidentctl assign 42 --to wang.lei
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.assign(rt, incident_id, to=to, at=parse_when(rt, at))
    note_unknown_person(rt, to, what="the new owner")
    emit_incident(rt, incident, as_json=as_json, headline=f"Incident {incident.id} assigned.")


@app.command("note", acts=True)
def note(
    ctx: typer.Context,
    incident_id: IdArgument,
    text: Annotated[
        str,
        typer.Argument(help="The note ('-': read it from standard input).", show_default=False),
    ],
    kind: Annotated[
        NoteKind,
        typer.Option(
            help="What kind of note: progress (sent with the progress notices), a customer "
            "update, a lesson learned, or a part of the review (impact, root cause, an "
            "action item)."
        ),
    ] = NoteKind.PROGRESS,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="A customer update: also send it to the reporter's contact (email or SMS, "
            "by its form); the next escalate pass sends it.",
        ),
    ] = False,
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record progress, a customer update, a lesson, or a review's part.

    The review's parts: its impact, its root cause and its action items.

    Example:

        incidentctl note 42 "Rolled back release 3.2.1; error rate falling"

        incidentctl note 42 "Pool too small for the peak" --kind root-cause
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.add_note(
        rt,
        incident_id,
        text=text_of(rt, text, "the note") or "",
        kind=kind.value,
        at=parse_when(rt, at),
        send=send,
    )
    from incidentctl.text import literal

    sent = f"; queued for {literal(incident.contact)} (escalate sends it)" if send else ""
    emit_incident(
        rt,
        incident,
        as_json=as_json,
        headline=f"Noted on incident {incident.id} ({kind.value}){sent}.",
    )


@app.command("transfer", acts=True)
def transfer(
    ctx: typer.Context,
    incident_id: IdArgument,
    to: Annotated[
        str,
        typer.Option(
            "--to", help="Who takes it over.", show_default=False, autocompletion=completion.people
        ),
    ],
    reason: ReasonOption,
    team: Annotated[Team, typer.Option(help="Their team.")] = Team.DEV,
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Hand an incident over (to developers by default).

    Example:

        incidentctl transfer 42 --to liu.yang --reason "needs a code fix"
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.transfer(
        rt,
        incident_id,
        to=to,
        team=team.value,
        reason=text_of(rt, reason, "--reason") or "",
        at=parse_when(rt, at),
    )
    note_unknown_person(rt, to, what="the new owner")
    emit_incident(
        rt,
        incident,
        as_json=as_json,
        headline=f"Incident {incident.id} transferred to {to} ({team.value}).",
    )


@app.command("relevel", acts=True)
def relevel(
    ctx: typer.Context,
    incident_id: IdArgument,
    level: Annotated[
        int,
        typer.Option(
            "--level",
            "-l",
            help="The new level.",
            show_default=False,
            autocompletion=completion.levels,
        ),
    ],
    reason: ReasonOption,
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change an incident's level; running clocks take the new level's targets.

    Example:

        incidentctl relevel 42 --level 1 --reason "all card payments failing now"
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.relevel(
        rt,
        incident_id,
        level=level,
        reason=text_of(rt, reason, "--reason") or "",
        at=parse_when(rt, at),
    )
    emit_incident(
        rt, incident, as_json=as_json, headline=f"Incident {incident.id} is now Level {level}."
    )


@app.command("recover", acts=True)
def recover(
    ctx: typer.Context, incident_id: IdArgument, at: AtOption = None, as_json: JsonOption = False
) -> None:
    """Record that the service is restored: stops the recovery clock.

    Example:

        incidentctl recover 42 --at "5m ago"
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.recover(rt, incident_id, at=parse_when(rt, at))
    emit_incident(rt, incident, as_json=as_json, headline=f"Incident {incident.id} recovered.")


@app.command("pause", acts=True)
def pause(
    ctx: typer.Context,
    incident_id: IdArgument,
    reason: Annotated[
        PauseReason,
        typer.Option("--reason", help="Whom the incident waits for.", show_default=False),
    ],
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Wait on the customer, a vendor or a change: stops the clocks the level's policy
    lets a pause stop (pausable), until resume.

    Example:

        incidentctl pause 42 --reason awaiting-customer
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.pause(rt, incident_id, reason=reason, at=parse_when(rt, at))
    note_nothing_paused(rt, incident)
    emit_incident(
        rt, incident, as_json=as_json, headline=f"Incident {incident.id} paused ({reason})."
    )


def note_nothing_paused(rt: Runtime, incident: Any) -> None:
    """A pause that stops no clock is allowed (it is recorded, and the progress notices
    wait), but the engineer should know the SLA clocks run on."""
    from incidentctl.policy.clocks import stored_clocks

    if any(
        getattr(incident, f"{c}_due_at") is None and getattr(incident, f"{c}_stopped_at") is None
        for c in stored_clocks(incident)
    ):
        return
    level = rt.policy.levels.get(incident.level)
    stops = ", ".join(level.pausable) if level else ""
    why = (
        f"Level {incident.level} pauses no clock ([levels.{incident.level}] pausable is empty)"
        if not stops
        else f"Level {incident.level} pauses only {stops}, which no longer runs"
    )
    sys.stderr.write(f"Note: {why}; its SLA clocks run on.\n")


@app.command("resume", acts=True)
def resume(
    ctx: typer.Context, incident_id: IdArgument, at: AtOption = None, as_json: JsonOption = False
) -> None:
    """End the pause: the stopped clocks count again, their due times later by the
    time paused.

    Example:

        incidentctl resume 42
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.resume(rt, incident_id, at=parse_when(rt, at))
    emit_incident(rt, incident, as_json=as_json, headline=f"Incident {incident.id} resumed.")


@app.command("resolve", acts=True)
def resolve(
    ctx: typer.Context,
    incident_id: IdArgument,
    solution: Annotated[
        str,
        typer.Option(
            "--solution",
            help="The solution provided ('-': read it from standard input).",
            show_default=False,
        ),
    ],
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record the solution: stops the resolution clock (and recovery, if still running).

    Example:

        incidentctl resolve 42 --solution "Pool size fixed in 3.2.2"
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.resolve(
        rt, incident_id, solution=text_of(rt, solution, "--solution") or "", at=parse_when(rt, at)
    )
    emit_incident(rt, incident, as_json=as_json, headline=f"Incident {incident.id} resolved.")


@app.command("approve", acts=True)
def approve(
    ctx: typer.Context, incident_id: IdArgument, at: AtOption = None, as_json: JsonOption = False
) -> None:
    """Approve the solution of a major incident (incident managers only).

    Example:

        incidentctl --as zhang.min approve 42
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.approve(rt, incident_id, at=parse_when(rt, at))
    emit_incident(
        rt,
        incident,
        as_json=as_json,
        headline=f"Solution of incident {incident.id} approved by {rt.actor}.",
    )


@app.command("close", acts=True)
def close(
    ctx: typer.Context,
    incident_id: IdArgument,
    confirmed_by: Annotated[
        str,
        typer.Option(
            "--confirmed-by", help="The reporter who confirmed the resolution.", show_default=False
        ),
    ],
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close a resolved incident once the reporter has confirmed the resolution.

    Example:

        incidentctl close 42 --confirmed-by "Wang Fang"
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.close(rt, incident_id, confirmed_by=confirmed_by, at=parse_when(rt, at))
    emit_incident(rt, incident, as_json=as_json, headline=f"Incident {incident.id} closed.")


@app.command("reopen", acts=True)
def reopen(
    ctx: typer.Context,
    incident_id: IdArgument,
    reason: ReasonOption,
    down: Annotated[
        bool,
        typer.Option(
            "--down",
            help="The service is down again: not recovered any more, its recovery due "
            "again the level's target from now (escalated when it passes); progress "
            "notices resume, and the next recover sends a new rectification.",
        ),
    ] = False,
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Put a resolved, closed or cancelled incident back to work.

    Example:

        incidentctl reopen 42 --reason "502s are back after the deploy" --down
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.reopen(
        rt,
        incident_id,
        reason=text_of(rt, reason, "--reason") or "",
        down=down,
        at=parse_when(rt, at),
    )
    again = " The service is down again." if down else ""
    emit_incident(
        rt, incident, as_json=as_json, headline=f"Incident {incident.id} reopened.{again}"
    )


@app.command("cancel", acts=True)
def cancel(
    ctx: typer.Context,
    incident_id: IdArgument,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help="Why: opened by mistake, not an incident ('-': read it from standard input).",
            show_default=False,
        ),
    ] = None,
    duplicate_of: Annotated[
        int | None,
        typer.Option(
            "--duplicate-of",
            metavar="ID",
            parser=incident_id,
            help="The incident it repeats.",
            show_default=False,
            autocompletion=completion.incident_ids,
        ),
    ] = None,
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel an incident opened by mistake, or a duplicate: off the board, sends
    nothing, counted apart in the report. Reopen undoes it.

    Example:

        incidentctl cancel 43 --duplicate-of 42
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.cancel(
        rt,
        incident_id,
        reason=text_of(rt, reason, "--reason"),
        duplicate_of=duplicate_of,
        at=parse_when(rt, at),
    )
    emit_incident(rt, incident, as_json=as_json, headline=f"Incident {incident.id} cancelled.")


@app.command("edit", acts=True)
def edit(
    ctx: typer.Context,
    incident_id: IdArgument,
    title: Annotated[str | None, typer.Option(help="What was reported.")] = None,
    details: Annotated[
        str | None,
        typer.Option(help="Symptoms and details ('-': standard input; '': none)."),
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(
            "--service", "-s", help="The affected service.", autocompletion=completion.services
        ),
    ] = None,
    reporter: Annotated[str | None, typer.Option(help="Who reported it ('': nobody).")] = None,
    contact: Annotated[
        str | None, typer.Option(help="How to reach the reporter ('': none).")
    ] = None,
    channel: Annotated[Channel | None, typer.Option(help="How it came in.")] = None,
    occurred: Annotated[
        str | None, typer.Option("--occurred", metavar="TIME", help="When the fault began.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Correct what was recorded: an 'edited' event keeps the old and new values, and the
    clocks follow (an earlier --occurred moves the recovery clock).

    Example:

        incidentctl edit 42 --occurred 02:50 --service payments
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    incident = handling.edit(
        rt,
        incident_id,
        title=title,
        details=text_of(rt, details, "--details"),
        service=service,
        reporter=reporter,
        contact=contact,
        channel=channel.value if channel else None,
        occurred_at=parse_when(rt, occurred),
    )
    if service is not None:
        note_unlisted_service(rt, service)
    emit_incident(rt, incident, as_json=as_json, headline=f"Incident {incident.id} corrected.")


@app.command("problem", acts=True)
def problem(
    ctx: typer.Context,
    incident_id: IdArgument,
    ref: Annotated[
        str, typer.Option("--ref", help="The problem/issue reference.", show_default=False)
    ],
    reason: Annotated[
        ProblemReason | None,
        typer.Option(
            "--reason",
            help="Why it goes to problem management (required the first time; a "
            "correction keeps it unless given).",
            show_default=False,
        ),
    ] = None,
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Transfer to problem management, or correct the problem reference.

    Run again on a transferred incident, it corrects the reference (or the reason): an
    event that names the previous one.

    Example:

        incidentctl problem 42 --ref PRB-1093 --reason recurring

        incidentctl problem 42 --ref PRB-1039
    """
    from incidentctl.services import handling

    rt = runtime(ctx)
    change = handling.problem(
        rt,
        incident_id,
        ref=ref,
        reason=reason.value if reason else None,
        at=parse_when(rt, at),
    )
    incident = change.incident
    if change.previous_ref:
        headline = (
            f"Incident {incident.id}: problem reference corrected to {incident.problem_ref} "
            f"({incident.problem_reason}), was {change.previous_ref} ({change.previous_reason})."
        )
    else:
        headline = f"Incident {incident.id} transferred to problem {incident.problem_ref}."
    emit_incident(rt, incident, as_json=as_json, headline=headline)
