"""Intake: ``intake email`` and ``intake alert`` read what arrives on standard input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from incidentctl.cli.app import Commands, app
from incidentctl.cli.options import JsonOption, runtime, stdin_bytes

if TYPE_CHECKING:
    from incidentctl.runtime import Runtime
    from incidentctl.services.arrival import Outcome

intake_app = Commands(
    help="Take in emails and monitoring alerts: incidents open by themselves.",
    rich_markup_mode=None,
)
app.add_typer(intake_app, name="intake")


def _emit(rt: Runtime, outcomes: list[Outcome], *, as_json: bool) -> None:
    from incidentctl.output import documents, terminal

    if as_json:
        documents.write_json(documents.intake_document(outcomes, rt.now))
    else:
        terminal.print_intake(outcomes)


@intake_app.command("email")
def email(
    ctx: typer.Context,
    recipient: Annotated[
        list[str] | None,
        typer.Option(
            "--recipient",
            metavar="ADDRESS",
            help="The envelope recipient (Postfix passes it to its pipe), matched by the "
            "[intake.email] rules with the To and Cc addresses. Repeatable.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Read one email (RFC 5322) on standard input: a new incident, or, when it answers
    one ([#42] in the subject, or a reply to a notice), a note on it.

    The subject is the title, the text (or the HTML made text) the details, From the
    reporter and contact; [intake.email] in the policy picks service and level. The same
    message delivered twice opens nothing twice. A reply from one of the policy's
    contacts whose first line is "ack" acknowledges the incident. docs/intake.md has
    the Postfix, procmail and fetchmail lines.

    Example:

        incidentctl intake email --recipient oncall@example.com < message.eml
    """
    from incidentctl.services.intake import take_email

    rt = runtime(ctx)
    data = stdin_bytes(rt, rt.policy.intake.email.max_bytes, what="the message")
    _emit(rt, take_email(rt, data, recipients=recipient or ()), as_json=as_json)


@intake_app.command("alert")
def alert(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Read an alert on standard input: a Prometheus Alertmanager webhook payload
    (version 4), or one JSON object {"key", "title", "service", "level", "status",
    "details"}.

    An alert already open is a repeat; its resolution recovers the incident; firing
    again after the incident was closed opens a new one that follows it. Storm control
    ([intake.storm]) lists a burst's alerts on one incident instead of paging for each.

    Example:

        echo '{"key": "disk-db1", "title": "Disk full on db1", "level": 2}' \\
            | incidentctl intake alert --json
    """
    from incidentctl.services.intake import take_alerts

    rt = runtime(ctx)
    data = stdin_bytes(rt, rt.policy.intake.alert.max_bytes, what="the payload")
    _emit(rt, take_alerts(rt, data), as_json=as_json)
