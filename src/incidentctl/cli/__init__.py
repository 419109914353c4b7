"""The command line: Typer commands that parse options, call a service, hand to ``output``.

``IncidentctlGroup.main`` is the one error boundary: every exception becomes an exit
status and one line (or one JSON object) on stderr. Nothing here imports SQLAlchemy
at module level, so ``--help``, ``--version`` and shell completion stay fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from incidentctl.errors import ExitStatus, IncidentctlError


def wants_json(args: Sequence[str]) -> bool:
    """Errors are JSON when the command was asked for JSON output."""
    for i, arg in enumerate(args):
        if arg == "--json" or arg in ("--format=json", "--format=ndjson"):
            return True
        if arg == "--format" and i + 1 < len(args) and args[i + 1] in ("json", "ndjson"):
            return True
    return False


def report_error(code: str, message: str, *, as_json: bool) -> None:
    from incidentctl.output.terminal import error_line

    if as_json:
        sys.stderr.write(json.dumps({"error": code, "message": message}, ensure_ascii=False) + "\n")
    else:
        sys.stderr.write(error_line(message) + "\n")


class IncidentctlGroup(TyperGroup):
    """The root command; its ``main`` converts every failure to the documented exit code."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        status = self._run(args, prog_name or "incidentctl", complete_var, extra)
        if standalone_mode:
            sys.exit(status)
        return status

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from incidentctl.cli.completion import run_completion_request

        run_completion_request(self, ctx, args)  # `--show-completion zsh`: exits with it
        return super().parse_args(ctx, args)

    def get_params(self, ctx: Any) -> list[Any]:
        from incidentctl.cli.completion import COMPLETION_HELP

        params: list[Any] = super().get_params(ctx)
        for param in params:  # Typer's help says nothing of naming the shell
            param.help = COMPLETION_HELP.get(param.name, param.help)
        return params

    def _run(
        self, args: list[str], prog_name: str, complete_var: str | None, extra: dict[str, Any]
    ) -> int:
        as_json = wants_json(args)
        if os.environ.get(complete_var or f"_{prog_name}_COMPLETE".replace("-", "_").upper()):
            from incidentctl.cli.completion import use_literal_help

            use_literal_help()
        try:
            result = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            return int(result) if isinstance(result, int) else ExitStatus.OK
        except IncidentctlError as error:
            report_error(error.code, error.message, as_json=as_json)
            return error.exit_status
        except typer.Exit as exit_:
            return exit_.exit_code
        except (typer.Abort, KeyboardInterrupt):
            return ExitStatus.INTERRUPTED
        except typer.TyperException as error:  # Typer's usage errors: bad option, missing value
            message = error.format_message()
            ctx = getattr(error, "ctx", None)
            if ctx is not None and not as_json:
                message = f"{message}\nTry '{ctx.command_path} --help'."
            report_error("usage", message, as_json=as_json)
            return ExitStatus.USAGE
        except BrokenPipeError:
            # `incidentctl list | head` is not a failure.
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115
            return ExitStatus.OK
        except Exception as error:  # the last resort: one line, traceback on request
            if os.environ.get("INCIDENTCTL_DEBUG") == "1":
                raise
            report_error("internal", f"unexpected {type(error).__name__}: {error}", as_json=as_json)
            return ExitStatus.INTERNAL


def main() -> None:
    """Run the command line; exits (``SystemExit``) with the command's status."""
    from typer.main import get_command

    from incidentctl.cli.app import app

    get_command(app)(prog_name="incidentctl")


def console_script() -> None:
    """The ``incidentctl`` program: ``main``, then the end of the process.

    Once the command is done (its transaction committed, the database closed, its
    output written) the process ends without the interpreter's teardown: freeing
    every module object one by one is a fifth of a short command's time, and nothing
    is left for it to do (no atexit work of ours; the import's worker processes and
    temporary files are gone by then).
    """
    try:
        main()
        status = int(ExitStatus.OK)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `incidentctl list | head`: not a failure
        pass
    os._exit(status)
