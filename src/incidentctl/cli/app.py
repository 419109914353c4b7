"""The root command: global options, ``--version`` and the board."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.models import CommandFunctionType

from incidentctl import __version__
from incidentctl.cli import ActingCommand, IncidentctlCommand, IncidentctlGroup, completion
from incidentctl.cli.options import (
    MAX_ID,
    JsonOption,
    runtime,
    warn,
    warn_if_escalation_stopped,
)
from incidentctl.runtime import Runtime

HELP = """Track incidents from the terminal, with exact SLA clocks.

Run with no command to see the board: open incidents, nearest deadline first.

Example:

    incidentctl open "Payments API returns 502" --level 1 --service payments

    incidentctl ack 42

    incidentctl list --overdue --json | jq '.[].id'
"""


class Commands(typer.Typer):
    """Typer, whose commands show names, not types, in their help; ``acts=True`` marks a
    command that records who did it (it takes ``--as`` after its name too)."""

    def command(
        self, name: str | None = None, *, acts: bool = False, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", ActingCommand if acts else IncidentctlCommand)
        return super().command(name, **kwargs)


app = Commands(
    name="incidentctl",
    cls=IncidentctlGroup,
    help=HELP,
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["--help", "-h"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"incidentctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="PATH|URL",
            help="SQLite file or postgresql+psycopg:// URL "
            "[env: INCIDENTCTL_DB; default: a file in the user data directory]",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="PATH",
            help="Policy file [env: INCIDENTCTL_CONFIG; "
            "else ./sla.toml, the user config directory, the built-in policy]",
            show_default=False,
        ),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="NAME",
            help="Who is acting [env: INCIDENTCTL_USER; default: the login name]",
            show_default=False,
            autocompletion=completion.people,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = Runtime(db_option=db, config_option=config, actor_option=actor, warn=warn)
    ctx.call_on_close(ctx.obj.close)
    if ctx.invoked_subcommand is None:
        show_board(ctx, as_json=False)


BOARD_ROWS = 50  # the terminal board's rows unless --limit says otherwise


def show_board(ctx: typer.Context, *, as_json: bool, limit: int | None = None) -> None:
    """The board. In the terminal the nearest ``BOARD_ROWS`` deadlines and how many more
    there are (a screen holds no more); ``--json`` gives them all unless limited."""
    from incidentctl.output import documents, terminal
    from incidentctl.output.text import human_time
    from incidentctl.services import handling

    rt = runtime(ctx)
    if as_json:
        rows = handling.board(rt, limit=limit)
        documents.write_json([documents.incident_document(i, rt.now) for i in rows])
        warn_if_escalation_stopped(rt)
        return
    shown = limit or BOARD_ROWS
    rows = handling.board(rt, limit=shown + 1)
    # (another command may close one between the two reads: never a negative count)
    more = max(0, handling.not_closed(rt) - shown) if len(rows) > shown else 0
    terminal.print_incidents(
        rows[:shown],
        rt.now,
        title=f"Open incidents — {human_time(rt.now, rt.now)}",
        approval_levels=handling.approval_levels(rt),
    )
    warn_if_escalation_stopped(rt)
    if more:  # a message, not data: on stderr
        terminal.console(stderr=True).print(
            f"… and {more:,} more not closed (later deadlines, or none): "
            f"incidentctl board --limit {shown + more}"
        )


@app.command("board")
def board_command(
    ctx: typer.Context,
    as_json: JsonOption = False,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_ID,
            help=f"At most this many [default: {BOARD_ROWS} in the terminal, all with --json].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """The board: open incidents, nearest deadline first, with countdowns.

    Example:

        incidentctl board --json | jq '.[0]'
    """
    show_board(ctx, as_json=as_json, limit=limit)


# Registering the commands (each room adds its own to `app`), in the order --help lists them.
# isort: off
from incidentctl.cli import incidents  # noqa: E402, F401
from incidentctl.cli import escalation  # noqa: E402, F401
from incidentctl.cli import intake  # noqa: E402, F401
from incidentctl.cli import serve  # noqa: E402, F401
from incidentctl.cli import analysis  # noqa: E402, F401
from incidentctl.cli import sla  # noqa: E402, F401
from incidentctl.cli import admin  # noqa: E402, F401
from incidentctl.cli import demo  # noqa: E402, F401
# isort: on
