"""The command line: Typer commands that parse options, call a service, hand to ``output``.

``IncidentctlGroup.main`` is the one error boundary: every exception becomes an exit
status and one line (or one JSON object) on stderr. Nothing here imports SQLAlchemy
at module level, so ``--help``, ``--version`` and shell completion stay fast.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer._click.parser import _OptionParser
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from incidentctl.errors import ExitStatus, IncidentctlError
from incidentctl.text import clipped, literal


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

    message = "\n".join(clipped(line) for line in message.split("\n"))
    if as_json:
        sys.stderr.write(json.dumps({"error": code, "message": message}, ensure_ascii=False) + "\n")
    else:
        sys.stderr.write(error_line(message) + "\n")


# What an option looks like on the command line: ``-l``, ``-l1``, ``--level``,
# ``--at=…``. Anything else that begins with "-" (``- restarted the pod``, ``-5%
# conversions``) cannot be an option, so it is text.
OPTION_LIKE = re.compile(r"--?[A-Za-z][A-Za-z0-9_-]*(=.*)?", re.DOTALL)
TEXT_AFTER_DASHES = (
    "Text that begins with '-' goes after '--', e.g. incidentctl note 1 -- '-restarted'."
)


LEVELS_HELP = "{levels}"  # in an option's help: the levels of the policy in force


def policy_levels(ctx: Any) -> str:
    """``1 (Major), 2 (Minor) or 3 (No impact)``: the levels of the policy the command
    would run under (``--config``, ``INCIDENTCTL_CONFIG``, ./sla.toml, ...)."""
    try:
        levels = ctx.find_root().obj.policy.levels
    except IncidentctlError:  # a broken policy: --help still answers
        return "a level of the policy (incidentctl policy show)"
    named = [f"{n} ({level.name})" for n, level in sorted(levels.items())]
    return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"


def examples_kept(text: str | None) -> str | None:
    """Help text whose indented paragraphs (the examples) are never rewrapped: a command
    cut in the middle cannot be pasted (click keeps a paragraph that follows ``\b``)."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        f"\b\n{p}" if all(line.startswith("    ") for line in p.splitlines()) else p
        for p in paragraphs
    )


def _is_utf8(arg: str) -> bool:
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _TextFriendlyParser(_OptionParser):
    """Click's parser, except that an argument beginning with "-" that cannot be an
    option is taken as text (a note "- restarted the pod", a title "-5% conversions")."""

    def _process_opts(self, arg: str, state: Any) -> None:
        if OPTION_LIKE.fullmatch(arg) is None:
            state.largs.append(arg)
            return
        super()._process_opts(arg, state)


# Typer words its conversions as the validation library does; say it as a person would.
_USAGE_WORDING = (
    ("Value error, ", ""),
    ("Input should be a valid integer, unable to parse string as an integer", "not a whole number"),
    ("Input should be a valid integer", "not a whole number"),
)


def plain_usage(message: str) -> str:
    for said, meant in _USAGE_WORDING:
        message = message.replace(said, meant)
    return message


def _looks_like_text(args: Sequence[str]) -> bool:
    """An argument such as ``-restarted``: one dash and a word, more likely text than a
    mistyped option (``--all`` is a mistyped option)."""
    return any(
        len(arg) > 2 and arg[0] == "-" and arg[1] != "-" and arg[1:].isalpha() for arg in args
    )


class _PlainArgument(TyperArgument):
    """An argument shown by its name alone: ``ID``, not ``{ID}`` or ``ID <int>``."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        return self.display_name_raw if self.required else f"[{self.display_name_raw}]"


def _set_actor(ctx: Any, param: Any, value: str | None) -> None:
    """``ack 42 --as wang.wei``: the same as ``incidentctl --as wang.wei ack 42``."""
    if value is None:
        return
    rt = ctx.find_root().obj
    if rt.actor_option is not None and rt.actor_option != value:
        raise typer.BadParameter(
            f"given twice, as {rt.actor_option!r} and {value!r}", param_hint="'--as'"
        )
    rt.actor_option = value


class IncidentctlCommand(TyperCommand):
    """A command as its help shows it: placeholders are names (``--level LEVEL``,
    ``--format [table|json]``, ``ID``), never Python types; text that begins with
    "-" is text. An *acting* command (one that records who did it) also takes
    ``--as`` after its name."""

    acts = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = examples_kept(self.help)
        for param in self.params:
            if isinstance(param, TyperArgument):
                param.__class__ = _PlainArgument
                if param.metavar is None:
                    param.metavar = (param.name or "").upper()
            elif isinstance(param, TyperOption) and not param.is_flag and param.metavar is None:
                choices = param.type_descriptor.choices
                param.metavar = (
                    "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]"
                    if param.type_descriptor.is_choice and choices
                    else (param.name or "").rstrip("_").upper().replace("_", "-")
                )

    def format_options(self, ctx: Any, formatter: Any) -> None:
        # (the command is built once and may show its help under several policies)
        templates = {
            p: p.help
            for p in self.params
            if isinstance(p, TyperOption) and p.help and LEVELS_HELP in p.help
        }
        for param, template in templates.items():
            param.help = template.replace(LEVELS_HELP, policy_levels(ctx))
        try:
            super().format_options(ctx, formatter)
        finally:
            for param, template in templates.items():
                param.help = template

    def make_parser(self, ctx: Any) -> _OptionParser:
        parser = _TextFriendlyParser(ctx)
        for param in self.get_params(ctx):
            param.add_to_parser(parser, ctx)
        return parser


class ActingCommand(IncidentctlCommand):
    acts = True


class _ReaderGone(Exception):
    """Standard output was closed by its reader (``incidentctl list | head``)."""


class IncidentctlGroup(TyperGroup):
    """The root command; its ``main`` converts every failure to the documented exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = examples_kept(self.help)
        # ``--as`` after an acting command's name too: the root's option, copied
        (root_as,) = (p for p in self.params if isinstance(p, TyperOption) and "--as" in p.opts)
        for command in self.commands.values():
            if isinstance(command, IncidentctlCommand) and command.acts:
                after = copy.copy(root_as)
                after.name = "actor_after_command"
                after.expose_value = False
                after.callback = _set_actor
                after.help = "Who is acting (as --as before the command)."
                command.params.insert(max(0, len(command.params) - 1), after)

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

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # (Click would make it exit 1)
            raise _ReaderGone() from None

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
        undecodable = next((a for a in args if not _is_utf8(a)), None)
        if undecodable is not None:  # (bytes the locale could not decode reach us escaped)
            shown = undecodable.encode("utf-8", "surrogateescape").decode(
                "utf-8", "backslashreplace"
            )
            report_error(
                "usage",
                f"an argument is not UTF-8 text: '{literal(shown)}'; nothing was done",
                as_json=as_json,
            )
            return ExitStatus.USAGE
        with_nul = next((a for a in args if "\x00" in a), None)
        if with_nul is not None:  # (only a caller in-process can pass one: argv cannot)
            report_error(
                "usage",
                f"an argument holds a NUL character (\\x00), which cannot be stored: "
                f"'{literal(with_nul)}'; nothing was done",
                as_json=as_json,
            )
            return ExitStatus.USAGE
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
            message = plain_usage(error.format_message())
            if isinstance(error, typer._click.exceptions.NoSuchOption) and _looks_like_text(args):
                message = f"{message}\n{TEXT_AFTER_DASHES}"
            ctx = getattr(error, "ctx", None)
            if ctx is not None and not as_json:
                message = f"{message}\nTry '{ctx.command_path} --help'."
            report_error("usage", message, as_json=as_json)
            return ExitStatus.USAGE
        except (BrokenPipeError, _ReaderGone):
            # `incidentctl list | head` is not a failure.
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115
            return ExitStatus.OK
        except Exception as error:  # the last resort: one line, traceback on request
            if os.environ.get("INCIDENTCTL_DEBUG") == "1":
                raise
            # One line: a database error's text goes on with its SQL and every value.
            said = (str(error).strip().splitlines() or [""])[0]
            report_error("internal", f"unexpected {type(error).__name__}: {said}", as_json=as_json)
            return ExitStatus.INTERNAL


def main() -> None:
    """Run the command line; exits (``SystemExit``) with the command's status.

    Every file the process creates is its owner's alone (umask 077): the database and
    SQLite's -wal and -shm beside it, import's staging files, a report's ``--output``,
    the demo's database; a command transport's program inherits it."""
    os.umask(0o077)
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
