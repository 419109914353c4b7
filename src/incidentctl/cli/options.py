"""Options shared by many commands, and the small glue every command needs."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from incidentctl.cli import completion
from incidentctl.runtime import Runtime

if TYPE_CHECKING:
    from incidentctl.output import Format

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
MAX_ID = 2**31 - 1  # ids are a 32-bit INTEGER column on PostgreSQL


def incident_id(value: str) -> int:
    """An incident id as people write it: ``42`` or ``#42`` (as the board shows it)."""
    digits = value.strip().removeprefix("#")
    if not (digits.isascii() and digits.isdigit()):
        raise typer.BadParameter(f"{value!r} is not an incident id: write a number, 42 or #42")
    number = int(digits)
    if not 1 <= number <= MAX_ID:
        raise typer.BadParameter(f"{value!r} is not an incident id: ids run from 1 to {MAX_ID}")
    return number


IdArgument = Annotated[
    int,
    typer.Argument(
        help="The incident's id (42 or #42).",
        metavar="ID",
        parser=incident_id,
        show_default=False,
        autocompletion=completion.incident_ids,
    ),
]
# The filters `list` and `export` share.
# (numbers past these are refused: a database column cannot hold them)
LevelFilter = Annotated[
    int | None,
    typer.Option(help="Only this level.", min=1, max=MAX_ID, autocompletion=completion.levels),
]
ServiceFilter = Annotated[
    str | None,
    typer.Option("--service", "-s", help="Only this service.", autocompletion=completion.services),
]
AssigneeFilter = Annotated[
    str | None, typer.Option(help="Only this owner.", autocompletion=completion.people)
]
OverdueFilter = Annotated[
    bool, typer.Option("--overdue", help="Only incidents with a clock running past its due time.")
]
SinceFilter = Annotated[
    str | None, typer.Option(metavar="TIME", help="Reported at or after this time.")
]
UntilFilter = Annotated[str | None, typer.Option(metavar="TIME", help="Reported before this time.")]
LimitFilter = Annotated[int | None, typer.Option(help="At most this many.", max=MAX_ID)]
# The period of the analysis commands (report, policy simulate).
MonthOption = Annotated[
    str | None,
    typer.Option(
        "--month",
        metavar="YYYY-MM",
        help="A calendar month in the report's time zone ('this' or 'last' work too) "
        "[default: this month].",
        show_default=False,
    ),
]
PeriodSinceOption = Annotated[
    str | None,
    typer.Option(
        "--since", help="Start of a custom period (reported at or after).", show_default=False
    ),
]
PeriodUntilOption = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="End of a custom period (reported before) [default: now].",
        show_default=False,
    ),
]
TzOption = Annotated[
    str | None,
    typer.Option(
        "--tz",
        metavar="TZ",
        help="Time zone of the months and days, e.g. Asia/Shanghai [default: the "
        "policy's timezone, else local].",
        show_default=False,
    ),
]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="TIME",
        help="When it happened, if earlier than now: 2026-11-25T03:10:00Z, "
        "'2026-11-25 03:10', 03:10 (the most recent), 'yesterday 23:55', '15 min ago'.",
        show_default=False,
    ),
]


def format_option(help: str = "Output format.") -> Any:
    """The one ``--format`` option of the read commands; its choices are the type it
    annotates (``output.formats(...)``), and ``--json`` beside it means ``--format
    json`` (``chosen_format``)."""
    return typer.Option("--format", help=help)


def chosen_format(fmt: Any, as_json: bool) -> Format:
    from incidentctl.output import Format

    return Format.JSON if as_json else Format(fmt.value)


def runtime(ctx: typer.Context) -> Runtime:
    obj = ctx.find_root().obj
    assert isinstance(obj, Runtime)
    return obj


def parse_when(rt: Runtime, value: str | None) -> datetime | None:
    if value is None:
        return None
    from incidentctl.times import parse_time

    return parse_time(value, now=rt.now)


STDIN = "-"  # a text option given as "-" is read from standard input


def text_of(rt: Runtime, value: str | None, what: str) -> str | None:
    """A text option's value; ``-`` reads it from standard input (``--details - <
    mail.txt``), its final newline dropped. Standard input is read once per command."""
    if value != STDIN:
        return value
    from incidentctl.errors import InvalidInput

    if rt.stdin_read:
        raise InvalidInput(f"{what} '-': standard input was already read for another option")
    rt.stdin_read = True
    stream = getattr(sys.stdin, "buffer", None)
    raw = stream.read() if stream is not None else sys.stdin.read().encode()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"{what} '-': standard input is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    from incidentctl.services.arrival import stored_text

    return stored_text(text.removesuffix("\n").removesuffix("\r"), f"{what} '-'")


def stdin_bytes(rt: Runtime, limit: int, *, what: str) -> bytes:
    """Standard input as bytes, up to ``limit`` (one byte more is read, to tell a larger
    input, which is refused: exit 2)."""
    from incidentctl.errors import InvalidInput

    rt.stdin_read = True
    stream = getattr(sys.stdin, "buffer", None)
    raw = stream.read(limit + 1) if stream is not None else sys.stdin.read(limit + 1).encode()
    if len(raw) > limit:
        raise InvalidInput(too_large(what, limit))
    return bytes(raw)


def too_large(what: str, limit: int) -> str:
    """The refusal of an input past the policy's size limit (standard input, a body)."""
    return f"{what} is larger than {limit:,} bytes (the policy's limit): refused"


def emit_incident(rt: Runtime, incident: Any, *, as_json: bool, headline: str) -> None:
    """What every lifecycle command prints: the incident as JSON, or a short summary."""
    from incidentctl.output import documents, terminal

    if rt.actor_option is not None:  # --as: a typo would record a stranger's action
        note_unknown_person(rt, rt.actor_option, what="--as")
    if as_json:
        documents.write_json(documents.incident_document(incident, rt.now))
    else:
        terminal.print_incident(incident, rt.now, headline=headline)


def warn(line: str) -> None:
    """A warning on stderr: the command goes on (a policy file others may read)."""
    from incidentctl.text import literal

    sys.stderr.write(f"Warning: {literal(line)}\n")


def warn_if_escalation_stopped(rt: Runtime) -> None:
    """On stderr, when the last escalate pass is older than twice the policy's
    ``[escalation] expect_every`` (or none ever ran while a notice is owed): a cron line
    that silently stopped is how escalations are missed."""
    from incidentctl.services.escalation import pass_health

    health = pass_health(rt.db, rt.policy, now=rt.now)
    if health.stale:
        sys.stderr.write(stale_pass_line(health) + "\n")


def stale_pass_line(health: Any) -> str:
    from incidentctl.times import rough_duration

    expected = rough_duration(health.expect_every)
    if health.last_at is None:
        return (
            f"Warning: no escalate pass has run, and {health.owed} incident(s) owe a notice: "
            "run incidentctl escalate from cron, or incidentctl watch (docs/notifications.md)."
        )
    return (
        f"Warning: the last escalate pass ran {rough_duration(health.now - health.last_at)} "
        f"ago (expected every {expected}): is its cron line or watch still running?"
    )


def did_you_mean(name: str, known: Any) -> str:
    """`` Did you mean 'payments'?`` when a known name is close to ``name``."""
    import difflib

    from incidentctl.text import literal

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" Did you mean '{literal(close[0])}'?" if close else ""


def note_unlisted_service(rt: Any, service: str) -> None:
    """A service the policy does not list is allowed (the default owner takes it), but
    is often a typo: say where its notices go, and what was perhaps meant."""
    from incidentctl.text import literal

    services = rt.policy.services
    if service in services:
        return
    hint = did_you_mean(service, (name for name in services if name != "default"))
    sys.stderr.write(
        f"Note: service '{literal(service)}' is not in the policy; its notices go to the "
        f"default owner, {literal(rt.policy.owner_of(service))}.{hint}\n"
    )


def note_unknown_person(rt: Any, name: str, *, what: str) -> None:
    """A person the policy does not know (no contact, no role) is allowed, but is often a
    typo (``carl.dev`` for ``carla.dev``): say so, and who was perhaps meant."""
    from incidentctl.text import literal

    known = rt.policy.people()
    if name in known:
        return
    sys.stderr.write(
        f"Note: {what} '{literal(name)}' is not a contact of the policy, so no notice can "
        f"reach them.{did_you_mean(name, known)}\n"
    )
