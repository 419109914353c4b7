"""Data for scripts: the public JSON documents (SPEC §7) and the writers of JSON, NDJSON
and CSV. The same everywhere, whatever the terminal: the TTY decides only human output.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import IO, Any

from incidentctl.domain import INCIDENT_FIELDS, ClockName, ClockState, EventKind
from incidentctl.policy.clocks import clock_state, stored_clocks
from incidentctl.text import literal
from incidentctl.times import format_duration, to_rfc3339

# In JSON, what the encoder leaves as it is but a terminal would act on.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

CSV_FIELDS = INCIDENT_FIELDS + tuple(
    f"sla_{clock}_{part}" for clock in ClockName for part in ("due_at", "stopped_at", "state")
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


def write_toml(document: Mapping[str, Any], stream: IO[str] | None = None) -> None:
    """A document as TOML. TOML has no null: a key whose value is None is left out (in
    the policy, that is what "not set" is)."""
    import tomli_w

    (stream or sys.stdout).write(tomli_w.dumps(_without_none(document)))


def _without_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_without_none(item) for item in value]
    return value


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
    sla: dict[str, dict[str, Any]] = {}
    cancelled = incident.cancelled_at
    for clock in stored_clocks(incident):
        due = getattr(incident, f"{clock}_due_at")
        stopped = getattr(incident, f"{clock}_stopped_at")
        sla[clock] = {
            "due_at": to_rfc3339(due) if due else None,  # None: paused
            "stopped_at": to_rfc3339(stopped) if stopped else None,
            # a clock the cancellation stopped kept no promise and broke none
            "state": ClockState.CANCELLED
            if cancelled is not None and stopped == cancelled
            else clock_state(due, stopped, now),
        }
    return sla


def incident_document(incident: Any, now: datetime) -> dict[str, Any]:
    """The public JSON object of SPEC §7."""
    document: dict[str, Any] = {}
    for name in INCIDENT_FIELDS:
        value = getattr(incident, name)
        document[name] = to_rfc3339(value) if isinstance(value, datetime) else value
    document["sla"] = sla_of(incident, now)
    document["down_again"] = down_again_of(incident, now)
    return document


def down_again_of(incident: Any, now: datetime) -> dict[str, Any] | None:
    """An incident whose service went down again (``reopen --down``) and is not recovered:
    since when, its recovery due again, and whether that is past. None otherwise."""
    if incident.down_again_at is None:
        return None
    due = incident.down_due_at
    return {
        "since": to_rfc3339(incident.down_again_at),
        "due_at": to_rfc3339(due) if due else None,  # None: paused
        "state": clock_state(incident.down_due_at, None, now),
    }


def event_document(event: Any) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "at": to_rfc3339(event.at),
        "recorded_at": to_rfc3339(event.recorded_at),
        "actor": event.actor,
        "data": event.data,
    }


def delivery_document(delivery: Any) -> dict[str, Any]:
    """A delivery of the outbox as ``show --json`` prints it."""

    def stamp(value: datetime | None) -> str | None:
        return to_rfc3339(value) if value else None

    return {
        "notice": delivery.notice,
        "sequence": delivery.sequence,
        "channel": delivery.channel,
        "recipient": delivery.recipient,
        "to": delivery.address,
        "cc": list(delivery.cc or []),
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": stamp(delivery.created_at),
        "sent_at": stamp(delivery.sent_at),
        "next_attempt_at": stamp(delivery.next_attempt_at),
        "error": delivery.error,
    }


def problem_document(record: Any) -> dict[str, Any] | None:
    """Where ``show`` says the incident went in problem management: the reference and
    reason now, each one it was given in order (the first transfer, then every
    correction), and the other incidents under the same reference; None if never sent."""
    incident = record.incident
    if not incident.problem_ref:
        return None
    return {
        "ref": incident.problem_ref,
        "reason": incident.problem_reason,
        "history": [
            {
                "at": to_rfc3339(e.at),
                "actor": e.actor,
                "ref": e.data.get("ref"),
                "reason": e.data.get("reason"),
                "previous_ref": e.data.get("previous_ref"),
                "previous_reason": e.data.get("previous_reason"),
            }
            for e in record.events
            if e.kind == EventKind.PROBLEM
        ],
        "incidents": list(record.problem_incidents),
    }


def record_document(record: Any, now: datetime) -> dict[str, Any]:
    """``show --json``: the incident with its timeline, its deliveries and its problem."""
    document = incident_document(record.incident, now)
    document["events"] = [event_document(e) for e in record.events]
    document["deliveries"] = [delivery_document(d) for d in record.deliveries]
    document["problem"] = problem_document(record)
    return document


def attempt_document(attempt: Any) -> dict[str, Any]:
    """One delivery of an escalate pass."""
    return {
        "incident": attempt.incident,
        "notice": attempt.notice,
        "channel": attempt.channel,
        "to": attempt.to,
        "cc": list(attempt.cc),
        "status": attempt.status,
        "error": attempt.error,
    }


def pass_document(report: Any) -> dict[str, Any]:
    """``escalate --json``: what one pass sent, or (dry run) what is due."""
    return {
        "now": to_rfc3339(report.now),
        "deliveries": [attempt_document(a) for a in report.deliveries],
        "sent": report.sent,
        "failed": report.failed,
    }


def pass_health_document(health: Any) -> dict[str, Any]:
    """Is escalation known to run (``escalate --json``, ``policy check --json``)."""
    return {
        "last_pass_at": to_rfc3339(health.last_at) if health.last_at else None,
        "expect_every_s": int(health.expect_every.total_seconds()),
        "stale": health.stale,
    }


def import_document(summary: Any) -> dict[str, Any]:
    """``import --json``: what was (or, in a dry run, would be) imported."""
    return {
        "imported": 0 if summary.dry_run else summary.incidents,
        "incidents": summary.incidents,
        "events": summary.events,
        "derived": summary.derived,
        "notices_due": summary.notices_due,
        "dry_run": summary.dry_run,
    }


def export_document(row: Any, events: Iterable[Any], now: datetime) -> dict[str, Any]:
    """One line of ``export``: the incident's document with its events."""
    document = incident_document(row, now)
    document["events"] = [event_document(e) for e in events]
    return document


def csv_row(document: Mapping[str, Any]) -> dict[str, Any]:
    row = {name: document.get(name) for name in INCIDENT_FIELDS}
    for clock, parts in document["sla"].items():
        for part, value in parts.items():
            row[f"sla_{clock}_{part}"] = value
    return row


def stream_documents(incidents: Iterable[Any], now: datetime) -> Iterator[dict[str, Any]]:
    for incident in incidents:
        yield incident_document(incident, now)


# --------------------------------------------------------------------------- sla explain

# What a verdict's amount is, by its state (a cancelled clock has none).
VERDICT_AMOUNT = {
    ClockState.MET: "spare",
    ClockState.RUNNING: "left",
    ClockState.PAUSED: "left",
    ClockState.BREACHED: "over",
}


def seconds(td: timedelta) -> int | float:
    """A duration in seconds: whole when it is whole."""
    value = td.total_seconds()
    return int(value) if value.is_integer() else value


def explanation_document(explanation: Any) -> dict[str, Any]:
    """One clock's ``sla explain``: its counting fields, the steps and the verdict;
    times RFC 3339 UTC, durations in seconds."""
    clock, verdict = explanation.clock, explanation.verdict
    amount = VERDICT_AMOUNT.get(verdict.state)
    verdict_doc: dict[str, Any] = {"state": verdict.state}
    if amount is not None and verdict.amount is not None:
        verdict_doc[amount] = seconds(verdict.amount)
    return {
        "clock": clock.name,
        "level": clock.level,
        "target": seconds(clock.target),
        "calendar": clock.calendar.name,
        "relevel": explanation.mode,
        "started_at": to_rfc3339(clock.started_at),
        "counted_from": to_rfc3339(clock.counted_from),
        "due_at": to_rfc3339(clock.due_at) if clock.due_at else None,
        "stopped_at": to_rfc3339(clock.stopped_at) if clock.stopped_at else None,
        "counted": seconds(explanation.counted),
        "verdict": verdict_doc,
        "steps": [
            {
                "kind": step.kind,
                "from": to_rfc3339(step.start),
                "to": to_rfc3339(step.end) if step.end is not None else None,
                "counted": seconds(step.counted),
                "total": seconds(step.total),
                "note": step.note,
            }
            for step in explanation.steps
        ],
    }


def explained_document(result: Any) -> dict[str, Any]:
    """``sla explain --json``: the incident's id and its clocks explained."""
    return {
        "id": result.incident_id,
        "clocks": [explanation_document(e) for e in result.explanations],
    }


def intake_document(outcomes: Iterable[Any], now: datetime) -> dict[str, Any]:
    """``intake --json`` and ``serve``: what became of each alert or email, and counts."""
    rows = [
        {
            "key": o.key,
            "action": str(o.action),
            "incident": o.incident,
            "title": o.title,
            "follows": o.follows,
        }
        for o in outcomes
    ]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["action"]] = counts.get(row["action"], 0) + 1
    return {"now": to_rfc3339(now), "outcomes": rows, "counts": counts}
