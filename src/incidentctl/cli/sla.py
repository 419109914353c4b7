"""The SLA clocks explained: ``sla explain``."""

from __future__ import annotations

from typing import Annotated

import typer

from incidentctl.cli.app import Commands, app
from incidentctl.cli.options import IdArgument, JsonOption, runtime
from incidentctl.domain import ClockName

sla_app = Commands(help="Explain the SLA clocks.", rich_markup_mode=None)
app.add_typer(sla_app, name="sla")


@sla_app.command("explain")
def explain(
    ctx: typer.Context,
    incident_id: IdArgument,
    clock: Annotated[
        ClockName | None,
        typer.Option(
            "--clock",
            help="Only this clock [default: every clock of the incident].",
            show_default=False,
            case_sensitive=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show why a clock says what it says: its start, each pause, the calendar's closed
    hours, the target, the due time and the verdict, as arithmetic you can check.

    Times are in the policy's timezone (else UTC); --json gives them in UTC and
    durations in seconds.

    Example:

        incidentctl sla explain 42 --clock resolution

        incidentctl sla explain 42 --json | jq '.clocks[].verdict'
    """
    from incidentctl.services.sla import explain_clocks

    rt = runtime(ctx)
    result = explain_clocks(rt, incident_id, clock)
    if as_json:
        from incidentctl.output import documents

        documents.write_json(documents.explained_document(result))
        return
    from incidentctl.output import terminal
    from incidentctl.times import policy_zone

    zone_name = rt.policy.timezone or "UTC"
    terminal.print_explanations(result, policy_zone(rt.policy.timezone), zone_name)
