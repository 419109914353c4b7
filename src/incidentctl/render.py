"""Everything the user sees: tables, JSON, NDJSON and CSV, in one place.

Human output goes through Rich with markup off, and every piece of text a user typed
passes ``literal()`` first, so no markup is interpreted and no control byte reaches
the terminal. The TTY decides only human formatting; JSON is the same everywhere.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import IO, Any

from incidentctl.policy.clocks import CLOCKS, clock_state
from incidentctl.times import format_duration, to_rfc3339

# C0 controls but newline and tab, DEL, C1 controls, and the bidi overrides that can
# make text read differently from what it is.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

INCIDENT_FIELDS = (
    "id",
    "title",
    "details",
    "service",
    "level",
    "channel",
    "reporter",
    "contact",
    "assignee",
    "team",
    "status",
    "occurred_at",
    "reported_at",
    "acknowledged_at",
    "transferred_at",
    "recovered_at",
    "resolved_at",
    "solution",
    "approved_at",
    "approved_by",
    "closed_at",
    "confirmed_by",
    "problem_ref",
    "problem_reason",
)
CSV_FIELDS = INCIDENT_FIELDS + tuple(
    f"sla_{clock}_{part}" for clock in CLOCKS for part in ("due_at", "stopped_at", "state")
)


def literal(text: object) -> str:
    """User text made safe to print: control bytes shown as ``\\x1b``-style escapes."""
    if text is None:
        return ""
    return _UNSAFE.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        str(text),
    )


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return to_rfc3339(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(document: object, *, indent: int | None = 2) -> str:
    """JSON with UTC ``Z`` times; non-ASCII kept readable, invisible controls escaped."""
    text = json.dumps(document, ensure_ascii=False, indent=indent, default=_json_default)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def write_json(document: object, stream: IO[str] | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(dumps(document) + "\n")


def write_json_list(rows: Iterable[Mapping[str, Any]], stream: IO[str] | None = None) -> None:
    """A JSON list written as it streams: constant memory, ``[]`` when empty."""
    stream = stream or sys.stdout
    first = True
    for row in rows:
        stream.write(("[\n" if first else ",\n") + _indent(dumps(row)))
        first = False
    stream.write("[]\n" if first else "\n]\n")


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def write_ndjson(rows: Iterable[Mapping[str, Any]], stream: IO[str] | None = None) -> None:
    stream = stream or sys.stdout
    for row in rows:
        stream.write(dumps(row, indent=None) + "\n")


def _csv_value(value: object) -> object:
    """CSV has no escapes of its own: control bytes are written as ``\\x1b`` (JSON is exact)."""
    if isinstance(value, datetime):
        return to_rfc3339(value)
    if isinstance(value, str):
        return literal(value)
    return "" if value is None else value


def write_csv(
    rows: Iterable[Mapping[str, Any]], fields: tuple[str, ...], stream: IO[str] | None = None
) -> None:
    stream = stream or sys.stdout
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([_csv_value(row.get(name)) for name in fields])


# --- incidents as data --------------------------------------------------------------


def sla_of(incident: Any, now: datetime) -> dict[str, dict[str, Any]]:
    """The clocks from the stored due times; the verdict needs only "now"."""
    sla = {}
    for clock in CLOCKS:
        due = getattr(incident, f"{clock}_due_at")
        stopped = getattr(incident, f"{clock}_stopped_at")
        sla[clock] = {
            "due_at": to_rfc3339(due),
            "stopped_at": to_rfc3339(stopped) if stopped else None,
            "state": clock_state(due, stopped, now),
        }
    return sla


def incident_document(incident: Any, now: datetime) -> dict[str, Any]:
    """The public JSON object of SPEC §7."""
    document: dict[str, Any] = {}
    for name in INCIDENT_FIELDS:
        value = getattr(incident, name)
        document[name] = to_rfc3339(value) if isinstance(value, datetime) else value
    document["sla"] = sla_of(incident, now)
    return document


def event_document(event: Any) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "at": to_rfc3339(event.at),
        "recorded_at": to_rfc3339(event.recorded_at),
        "actor": event.actor,
        "data": event.data,
    }


def csv_row(document: Mapping[str, Any]) -> dict[str, Any]:
    row = {name: document.get(name) for name in INCIDENT_FIELDS}
    for clock, parts in document["sla"].items():
        for part, value in parts.items():
            row[f"sla_{clock}_{part}"] = value
    return row


# --- human output -----------------------------------------------------------------


def console(stderr: bool = False):  # type: ignore[no-untyped-def]
    """A Rich console on the current streams: markup, emoji and highlighting off."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty():
        width = int(os.environ.get("COLUMNS", "120"))
    return Console(
        file=stream, markup=False, emoji=False, highlight=False, width=width, soft_wrap=False
    )


def local_zone():  # type: ignore[no-untyped-def]
    from dateutil import tz

    return tz.gettz(os.environ["TZ"]) if os.environ.get("TZ") else tz.tzlocal()


def human_time(value: datetime | None, now: datetime) -> str:
    """Local time: ``HH:MM`` today, else ``YYYY-MM-DD HH:MM``."""
    if value is None:
        return "—"
    zone = local_zone()
    local = value.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def countdown(due: datetime, now: datetime) -> str:
    """``in 7m`` before the due time, ``12m overdue`` after it."""
    delta = due - now
    seconds = int(delta.total_seconds())
    if seconds > 0:
        return f"in {_short(seconds)}"
    return f"{_short(-seconds)} overdue" if seconds < 0 else "due now"


def _short(seconds: int) -> str:
    """Two units at most: a countdown is read at a glance."""
    text = format_duration(timedelta(seconds=seconds if seconds < 3600 else seconds // 60 * 60))
    units = re.findall(r"\d+[dhms]", text)
    return "".join(units[:2])


STATE_STYLE = {"running": "yellow", "met": "green", "breached": "bold red"}


def clock_cell(sla: Mapping[str, Any], incident: Any, clock: str, now: datetime):  # type: ignore[no-untyped-def]
    from rich.text import Text

    state = sla[clock]["state"]
    due = getattr(incident, f"{clock}_due_at")
    stopped = getattr(incident, f"{clock}_stopped_at")
    if stopped is None:
        return Text(countdown(due, now), style=STATE_STYLE[state])
    return Text(state, style=STATE_STYLE[state])


def incident_table(incidents: Iterable[Any], now: datetime, *, title: str | None = None):  # type: ignore[no-untyped-def]
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_edge=False, pad_edge=False, header_style="bold")
    for name in (
        "ID",
        "Lvl",
        "Status",
        "Service",
        "Assignee",
        "Title",
        "Response",
        "Recovery",
        "Resolution",
    ):
        table.add_column(name, no_wrap=name not in ("Title",), overflow="fold")
    for incident in incidents:
        sla = sla_of(incident, now)
        table.add_row(
            str(incident.id),
            str(incident.level),
            incident.status,
            Text(literal(incident.service)),
            Text(literal(incident.assignee or "—")),
            Text(literal(incident.title)),
            *(clock_cell(sla, incident, clock, now) for clock in CLOCKS),
        )
    return table


def print_incidents(incidents: Iterable[Any], now: datetime, *, title: str | None = None) -> int:
    rows = list(incidents)
    out = console()
    if not rows:
        out.print("No incidents.")
        return 0
    out.print(incident_table(rows, now, title=title))
    return len(rows)


def print_incident(incident: Any, now: datetime, *, headline: str | None = None) -> None:
    """A short summary: what happened and where each clock stands."""
    from rich.text import Text

    out = console()
    if headline:
        out.print(Text(headline, style="bold"))
    out.print(
        Text(f"#{incident.id} ", style="bold")
        + Text(literal(incident.title))
        + Text(f"  [Level {incident.level}, {incident.status}]")
    )
    out.print(
        Text(
            f"  service {literal(incident.service)} · owner {literal(incident.assignee or '—')}"
            f" ({incident.team}) · reported {human_time(incident.reported_at, now)}"
        )
    )
    _print_clocks(out, incident, now)


def _print_clocks(out: Any, incident: Any, now: datetime) -> None:
    from rich.text import Text

    sla = sla_of(incident, now)
    for clock in CLOCKS:
        due = getattr(incident, f"{clock}_due_at")
        stopped = getattr(incident, f"{clock}_stopped_at")
        state = sla[clock]["state"]
        line = Text(f"  {clock:<11}") + Text(f"{state:<9}", style=STATE_STYLE[state])
        line += Text(f" due {human_time(due, now)}")
        if stopped is None:
            line += Text(f" ({countdown(due, now)})")
        else:
            line += Text(f", stopped {human_time(stopped, now)}")
        out.print(line)


def event_summary(event: Any) -> str:
    """One line saying what an event did, for timelines (terminal and review)."""
    data = event.data or {}
    parts = {
        "opened": lambda: f"Level {data.get('level')}, service {data.get('service')}",
        "acknowledged": lambda: f"owner {data.get('assignee')}",
        "assigned": lambda: f"to {data.get('to')}",
        "note": lambda: f"[{data.get('kind')}] {data.get('text')}",
        "transferred": lambda: f"to {data.get('to')} ({data.get('team')}): {data.get('reason')}",
        "relevelled": lambda: (
            f"Level {data.get('previous')} → {data.get('to')}: {data.get('reason')}"
        ),
        "recovered": lambda: "implied by the solution" if data.get("implied_by") else "",
        "resolved": lambda: str(data.get("solution")),
        "closed": lambda: f"confirmed by {data.get('confirmed_by')}",
        "reopened": lambda: str(data.get("reason")),
        "problem": lambda: f"{data.get('ref')} ({data.get('reason')})",
        "notified": lambda: (
            f"{data.get('notice')} #{data.get('sequence')}, {data.get('deliveries')} deliveries"
        ),
    }
    summary = parts.get(event.kind)
    return summary() if summary else ", ".join(f"{k}={v}" for k, v in data.items())


def print_record(record: Any, now: datetime) -> None:
    """``show``: the incident, its clocks, its timeline and its deliveries."""
    from rich.table import Table
    from rich.text import Text

    incident = record.incident
    out = console()
    print_incident(incident, now)
    for label, name in (
        ("details", "details"),
        ("reporter", "reporter"),
        ("contact", "contact"),
        ("solution", "solution"),
        ("approved by", "approved_by"),
        ("confirmed by", "confirmed_by"),
        ("problem", "problem_ref"),
    ):
        value = getattr(incident, name)
        if value:
            out.print(Text(f"  {label}: ") + Text(literal(value)))
    timeline = Table(title="Timeline", show_edge=False, pad_edge=False, header_style="bold")
    for name in ("When", "Event", "By", "What"):
        timeline.add_column(name, overflow="fold")
    for event in record.events:
        timeline.add_row(
            human_time(event.at, now),
            event.kind,
            Text(literal(event.actor)),
            Text(literal(event_summary(event))),
        )
    out.print()
    out.print(timeline)
    if record.deliveries:
        deliveries = Table(title="Deliveries", show_edge=False, pad_edge=False, header_style="bold")
        for name in ("Notice", "Channel", "To", "Status", "When", "Error"):
            deliveries.add_column(name, overflow="fold")
        for d in record.deliveries:
            deliveries.add_row(
                f"{d.notice} #{d.sequence}",  # as the timeline's "notified" events say
                d.channel,
                Text(literal(d.recipient)),
                d.status,
                human_time(d.sent_at or d.next_attempt_at, now),
                Text(literal(d.error or "")),
            )
        out.print()
        out.print(deliveries)


def error_line(message: str) -> str:
    return "incidentctl: " + literal(message)


def stream_documents(incidents: Iterable[Any], now: datetime) -> Iterator[dict[str, Any]]:
    for incident in incidents:
        yield incident_document(incident, now)
