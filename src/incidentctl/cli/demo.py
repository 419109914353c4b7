"""``incidentctl demo``: see the whole thing work in a minute."""

from __future__ import annotations

import os
import tempfile

import typer

from incidentctl.cli.app import app
from incidentctl.cli.options import runtime


@app.command("demo")
def demo(ctx: typer.Context) -> None:
    """Fill a throw-away database with incidents, show the board, and send the notices
    that are due (printed, as no transport is configured).

    Uses a new file in a temporary directory unless `--db` is given.

    Example:

        incidentctl demo
    """
    from incidentctl.output import terminal
    from incidentctl.services import demo as demo_data
    from incidentctl.services.escalation import run_pass
    from incidentctl.services.handling import board

    rt = runtime(ctx)
    if rt.db_option is None:
        folder = tempfile.mkdtemp(prefix="incidentctl-demo-")
        rt.db_option = os.path.join(folder, "incidents.db")
    out = terminal.console()
    out.print(f"Demo database: {rt.db_url.removeprefix('sqlite:///')}", style="bold")
    rt.db  # noqa: B018 - one database for every step (each ``rt.at`` shares it), closed at the end
    demo_data.seed(rt)
    out.print()
    terminal.print_incidents(board(rt), rt.now, title="The board: nearest deadline first")
    out.print()
    out.print("Escalation pass (incidentctl escalate): notices due now", style="bold")
    out.print(
        "(No transport is configured, so each message is printed. The incidents were "
        "opened up to a day ago and no pass has run since: notices that are late say so.)"
    )
    report = run_pass(rt.db, rt.policy, now=rt.now, environ=rt.environ)
    out.print()
    terminal.print_incidents(board(rt), rt.now, title="The board, for the engineer on call")
    out.print(  # (one command a line, never wrapped: each can be pasted)
        f"\n{report.sent} sent or printed, {report.failed} failed. Try:\n"
        f"  export INCIDENTCTL_DB={rt.db_option}\n"
        "  incidentctl show 3\n"
        "  incidentctl list --overdue --json\n"
        "  incidentctl watch --interval 10s",
        soft_wrap=True,
    )
