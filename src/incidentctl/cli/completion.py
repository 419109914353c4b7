"""Shell completion: the values Tab offers, and how each shell is told them.

Typer's completion (``--install-completion``, ``--show-completion`` and the
``_INCIDENTCTL_COMPLETE`` protocol its scripts speak) with callbacks for the words only
incidentctl knows: levels, services and people from the effective policy (``--config``
on the command line is honoured), statuses in a comma list, and incident ids from the
database. Choices that are StrEnums (formats, teams, channels, note kinds, reasons) are
completed by Typer itself.

Only the ids read the database, so only they import SQLAlchemy. A completion never
fails at the prompt: a broken policy or an unreachable database offers nothing, as a
traceback would be offered as candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer

from incidentctl.domain import Status
from incidentctl.runtime import Runtime

if TYPE_CHECKING:
    from incidentctl.config import Policy

SHELLS = ("bash", "zsh", "fish")  # the shells named after --show/--install-completion
COMPLETION_OPTIONS = ("--show-completion", "--install-completion")
ID_CHOICES = 100  # ids offered at most: the board's first, then the most recent others
_VALUED_ROOT_OPTIONS = ("--db", "--config", "--as")

Choices = list[tuple[str, str]]


def _runtime(ctx: typer.Context) -> Runtime:
    """The command line's runtime, from the global options typed so far (while completing,
    the root callback that makes it does not run)."""
    params = ctx.find_root().params
    return Runtime(db_option=params.get("db"), config_option=params.get("config"))


def _policy(ctx: typer.Context) -> Policy | None:
    try:
        return _runtime(ctx).policy
    except Exception:  # a bad policy offers nothing; `policy check` says what is wrong
        return None


def levels(ctx: typer.Context) -> Choices:
    """The policy's levels, with their names: ``1`` Major."""
    policy = _policy(ctx)
    if policy is None:
        return []
    return [(str(number), level.name) for number, level in sorted(policy.levels.items())]


def services(ctx: typer.Context) -> Choices:
    """The services the policy lists, with their owners (``default`` is not a service)."""
    policy = _policy(ctx)
    if policy is None:
        return []
    return [
        (name, f"owner {service.owner}")
        for name, service in sorted(policy.services.items())
        if name != "default"
    ]


def people(ctx: typer.Context) -> Choices:
    """Every name the policy knows, with the parts each plays (incident manager, owner of
    payments, ...): owners, handlers, ``--as``."""
    policy = _policy(ctx)
    if policy is None:
        return []
    return [(name, ", ".join(parts) or "contact") for name, parts in policy.people().items()]


def statuses(incomplete: str) -> list[str]:
    """Statuses, also inside a comma list: ``resolved,ac`` → ``resolved,acknowledged``."""
    *given, last = incomplete.split(",")
    head = "".join(f"{word}," for word in given)
    return [
        f"{head}{status}" for status in Status if status not in given and status.startswith(last)
    ]


def incident_ids(ctx: typer.Context, incomplete: str) -> Choices:
    """Ids from the database, with level, status and title: not-closed incidents first
    (nearest deadline first), then the most recent others, at most ``ID_CHOICES``."""
    try:
        from incidentctl.services.handling import incident_choices

        rows = incident_choices(_runtime(ctx), prefix=incomplete, limit=ID_CHOICES)
        return [
            (str(number), f"L{level} {status}: {title}") for number, level, status, title in rows
        ]
    except Exception:  # no database, an old one, a server that does not answer
        return []


# --------------------------------------------------------------------------- shells


def completion_request(args: Sequence[str]) -> tuple[str, str | None] | None:
    """``(option, the word after it)`` for ``--show-completion zsh`` or
    ``--install-completion`` among the global options; None when neither is given."""
    words = list(args)
    i = 0
    while i < len(words):
        word = words[i]
        if word in _VALUED_ROOT_OPTIONS:
            i += 2
            continue
        if word in COMPLETION_OPTIONS:
            following = words[i + 1] if i + 1 < len(words) else None
            return word, following
        if not word.startswith("-"):  # the command: its own options are not these
            return None
        i += 1
    return None


def requested_shell(option: str, following: str | None) -> str:
    """The shell named after ``option``, else the one this runs in (its parent process).

    Typer's two options are flags that detect the shell and ignore a name given after
    them; here a name wins, so ``--show-completion zsh`` prints the zsh script from any
    shell (an installer, a Dockerfile, CI), and a shell that cannot be told or has no
    script is a usage error naming the ones there are."""
    known = ", ".join(SHELLS)
    if following is not None and not following.startswith("-"):
        if following not in SHELLS:
            raise typer.BadParameter(
                f"{following!r} is not a shell incidentctl completes: {known}",
                param_hint=f"'{option}'",
            )
        return following
    import shellingham  # type: ignore[import-untyped]  # Typer's own shell detection

    try:
        detected = str(shellingham.detect_shell()[0])
    except shellingham.ShellDetectionFailure:
        detected = None
    if detected not in SHELLS:
        what = f"this shell ({detected})" if detected else "which shell this is"
        raise typer.BadParameter(
            f"cannot complete for {what}: name the shell, e.g. incidentctl {option} bash ({known})",
            param_hint=f"'{option}'",
        )
    return detected


def run_completion_request(command: Any, ctx: Any, args: Sequence[str]) -> None:
    """``--show-completion [SHELL]`` / ``--install-completion [SHELL]``: Typer's own
    callbacks (given the shell's name) print or install the script, and exit."""
    request = completion_request(args)
    if request is None or ctx.resilient_parsing:
        return
    option, following = request
    shell = requested_shell(option, following)
    for param in command.params:
        if option in getattr(param, "opts", ()) and param.callback is not None:
            param.callback(ctx, param, shell)


COMPLETION_HELP = {
    "install_completion": "Install completion for the current shell, or the one named "
    "after it (bash, zsh, fish).",
    "show_completion": "Print the completion script of the current shell, or of the one "
    "named after it (bash, zsh, fish).",
}


def use_literal_help() -> None:
    """zsh and fish show each value's help beside it (an incident's title); Typer renders
    that help as Rich markup, which imports Rich (a sixth of a second per Tab), strips
    ``[words]`` from titles and fails on a stray ``[/x]``. These classes show it as it is,
    on one line."""
    from typer._completion_classes import (  # type: ignore[attr-defined]
        FishComplete,
        ZshComplete,
        add_completion_class,
    )

    from incidentctl.text import one_line

    def zsh_quoted(text: str) -> str:  # as Typer quotes a value for zsh's _arguments
        return (
            text.replace('"', '""')
            .replace("'", "''")
            .replace("$", "\\$")
            .replace("`", "\\`")
            .replace(":", r"\\:")
        )

    class LiteralZsh(ZshComplete):
        def format_completion(self, item: Any) -> str:
            value = f'"{zsh_quoted(item.value)}"'
            return f'{value}:"{zsh_quoted(one_line(item.help))}"' if item.help else value

    class LiteralFish(FishComplete):
        def format_completion(self, item: Any) -> str:
            return f"{item.value}\t{one_line(item.help)}" if item.help else str(item.value)

    add_completion_class(LiteralZsh, "zsh")
    add_completion_class(LiteralFish, "fish")
