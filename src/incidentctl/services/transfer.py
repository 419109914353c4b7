"""Moving incidents in and out: streamed export, validated all-or-nothing import.

Export yields each incident's public document (SPEC §7) with its events, in id order,
a batch at a time, so memory stays flat however large the history is.

Import reads NDJSON: export's own lines (with ``events``), or plain incident objects
with the fields of SPEC §2 and no events, whose timeline is then derived from the
milestone timestamps. Every line is validated (``_LineReader``, in worker processes:
see ``store.bulk``) and everything goes in inside one transaction, so one bad line
(even the last of a million) rolls everything back and the error names its line. Ids
in the file are kept; lines without one get the next free id. The stored clocks,
status and deadline are recomputed with the pure policy. On PostgreSQL the id
sequences are moved past the imported ids.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import orjson

from incidentctl.domain import (
    EVENT_COLUMNS,
    INCIDENT_COLUMNS,
    Channel,
    EventKind,
    ProblemReason,
    Team,
)
from incidentctl.errors import InvalidInput
from incidentctl.policy.clocks import IncidentFacts, facts_of
from incidentctl.policy.derived import derive
from incidentctl.policy.notices import Schedule, due_notices, next_notice_at
from incidentctl.policy.recipients import schedule_of
from incidentctl.store import bulk
from incidentctl.store.bulk import Refused
from incidentctl.times import to_rfc3339

if TYPE_CHECKING:
    from incidentctl.store.engine import Database
    from incidentctl.store.repository import IncidentFilter

__all__ = ["ImportSummary", "export_records", "import_file"]

_EVENT_KINDS = tuple(EventKind)
_CHANNELS = tuple(Channel)
_TEAMS = tuple(Team)
_PROBLEM_REASONS = tuple(ProblemReason)
_NO_NOTICES = Schedule(notify=False)
EXPORT_BATCH = 1000

_TEXT_FIELDS = ("title", "service")
_OPTIONAL_TEXT = (
    "details",
    "reporter",
    "contact",
    "assignee",
    "solution",
    "approved_by",
    "confirmed_by",
    "problem_ref",
)
_MILESTONES = (
    "acknowledged_at",
    "transferred_at",
    "recovered_at",
    "resolved_at",
    "approved_at",
    "closed_at",
)
_ALLOWED = frozenset(
    (
        "id",
        *_TEXT_FIELDS,
        *_OPTIONAL_TEXT,
        "level",
        "channel",
        "team",
        "status",
        "occurred_at",
        "reported_at",
        *_MILESTONES,
        "problem_reason",
        "sla",
        "events",
    )
)
_EVENT_KEYS = frozenset(("id", "kind", "at", "recorded_at", "actor", "data"))
# Every column present, so a row can be read in the stored column order.
_EMPTY_ROW: dict[str, Any] = dict.fromkeys(INCIDENT_COLUMNS)
_IN_COLUMN_ORDER = itemgetter(*INCIDENT_COLUMNS)
# ``convert`` writes an event row in this order.
assert EVENT_COLUMNS == ("id", "incident_id", "kind", "at", "recorded_at", "actor", "data")
# The positions of the time columns: every name that ends in ``_at``.
_INCIDENT_TIMES = [i for i, name in enumerate(INCIDENT_COLUMNS) if name.endswith("_at")]


_AT_TEXT = itemgetter(EVENT_COLUMNS.index("at"))
# The times a derived timeline's events happen at (the problem event: the latest).
_LIFECYCLE_TIMES = ("reported_at", *_MILESTONES)


def _stored_time(moment: datetime) -> str:
    """A time as it is staged: UTC, no offset, in SQLAlchemy's SQLite DATETIME text, so
    range queries compare alike (PostgreSQL reads it in a UTC session).
    Formatted by hand: ``isoformat`` of an aware time and ``strftime`` are slower."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 (faster than isoformat)
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
    )


# --------------------------------------------------------------------------- export


def export_records(
    db: Database, flt: IncidentFilter, now: datetime
) -> Iterator[tuple[Any, list[Any]]]:
    """The incidents ``flt`` selects, each as its row and its event rows, in id order.

    Plain rows (no ORM objects), streamed in batches; each batch's events come from one
    indexed query, in the same snapshot as the incidents.
    """
    from incidentctl.store import engine, repository

    with db.read() as session:
        engine.read_one_snapshot(session)
        batches = repository.incident_rows_matching(session, flt=flt, now=now, batch=EXPORT_BATCH)
        for rows in batches:
            ids = [row.id for row in rows]
            timeline: dict[int, list[Any]] = {i: [] for i in ids}
            for event in repository.event_rows_of(session, incident_ids=ids):
                timeline[event.incident_id].append(event)
            for row in rows:
                yield row, timeline[row.id]


# --------------------------------------------------------------------------- import


@dataclass
class ImportSummary:
    incidents: int = 0
    events: int = 0
    derived: int = 0  # incidents whose timeline was derived from their milestones
    # imported incidents with a notice due at once: the next escalate sends them
    notices_due: int = 0
    dry_run: bool = False


def import_file(
    open_db: Callable[[], Database],
    source: Path,
    *,
    policy: Any,
    now: datetime,
    actor: str,
    dry_run: bool = False,
    past_notices: bool = True,
    part_bytes: int = bulk.PART_BYTES,
    workers: int | None = None,
) -> ImportSummary:
    """Validate and insert an NDJSON file of incidents, all or nothing (module docstring).

    The workers start before ``open_db`` is called, so they read while the database is
    opened (and migrated). ``--dry-run`` runs the very same import, constraints
    included, and rolls it back. ``past_notices=False`` (``--no-past-notices``): the
    notices already due are taken as sent where the incidents come from; only those
    that fall due later go out. Raises ``InvalidInput`` naming the first bad line.
    """
    summary = ImportSummary(dry_run=dry_run)
    reader = _LineReader(policy=policy, now=now, actor=actor, past_notices=past_notices)
    with tempfile.TemporaryDirectory(prefix="incidentctl-import-") as workdir:
        parts = bulk.cut(source, Path(workdir), part_bytes=part_bytes)
        with bulk.staging(parts, reader.convert, workers=workers) as staged_parts:
            # SQLAlchemy is loaded only now, while the workers read.
            from incidentctl.store import engine, repository
            from incidentctl.store.copier import Copier

            db = open_db()
            copier: Copier | None = None
            try:
                with db.write() as session:
                    conn = session.connection()
                    # Ids are chosen here, so no other writer may take one meanwhile.
                    engine.lock_for_ids(conn, (repository.INCIDENTS, repository.EVENTS))
                    copier = Copier(conn)
                    # Incidents with a notice due now: counted before and after, in the
                    # transaction that holds the write lock.
                    due_before = repository.count_due_for_notice(session, before=now)
                    for staged in staged_parts:
                        try:
                            copier.copy(staged)
                        except bulk.Refused as exc:
                            raise InvalidInput(f"{exc}; nothing was imported") from None
                        summary.incidents += staged.incidents
                        summary.events += staged.events
                        summary.derived += staged.derived
                    due_after = repository.count_due_for_notice(session, before=now)
                    summary.notices_due = due_after - due_before
                    if dry_run:
                        session.rollback()
                        return summary
                    if summary.incidents:
                        engine.move_sequences_past(conn, (repository.INCIDENTS, repository.EVENTS))
            finally:
                if copier is not None:
                    copier.close()
    return summary


class _LineReader:
    """Turns NDJSON lines into incident and event rows, or refuses with the line number."""

    def __init__(
        self, *, policy: Any, now: datetime, actor: str, past_notices: bool = True
    ) -> None:
        self.policy = policy
        # Without past notices: those due at the import were had where the lines come
        # from; each incident keeps their keys (``notices_handled``).
        self.past_notices = past_notices
        self.levels: Mapping[int, Any] = policy.levels
        self.relevel: str = policy.relevel
        self.schedule_cache: dict[tuple[Any, ...], Any] = {}
        self.now = now
        self.now_text = _stored_time(now)
        self.texts: dict[int, str] = {}
        self.actor = actor

    def convert(self, raw: bytes) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], bool]:
        """One line as its incident row and event rows, in the stored form (``bulk``)."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise Refused(f"not UTF-8 text: {bad.reason}") from None
            # A position, not orjson's line/column: the newline would make an early
            # end "line 2, column 1". Past the line's last character if it ends early.
            column = min(exc.pos, len(raw.decode("utf-8").rstrip("\r\n"))) + 1  # characters
            raise Refused(f"not valid JSON: {exc.msg} (column {column})") from None
        # id() of a time -> its stored text: a time shared by columns is formatted once
        self.texts = {id(self.now): self.now_text}
        row, timeline, derived = self.incident(obj)
        known, stored = self.texts.get, self.stored
        incident = list(_IN_COLUMN_ORDER(row))
        for i in _INCIDENT_TIMES:
            moment = incident[i]
            if moment is not None:
                incident[i] = known(id(moment)) or stored(moment)
        return tuple(incident), timeline, derived

    def stored(self, moment: datetime) -> str:
        """The stored text of one of this line's times, formatted once per time object."""
        text = self.texts.get(id(moment))
        if text is None:
            text = self.texts[id(moment)] = _stored_time(moment)
        return text

    # -- one line ------------------------------------------------------------------

    def incident(self, obj: Any) -> tuple[dict[str, Any], list[bulk.Row], bool]:
        """The line's incident (columns by name, times as datetimes) and event rows."""
        if not isinstance(obj, dict):
            raise Refused("expected a JSON object (one incident per line)")
        if not _ALLOWED.issuperset(obj):
            raise Refused(f"unknown field {sorted(set(obj) - _ALLOWED)[0]!r}")
        row: dict[str, Any] = dict(_EMPTY_ROW)
        row["id"] = _positive_int(obj.get("id"), "id")
        for name in _TEXT_FIELDS:
            value = obj.get(name)
            if not isinstance(value, str) or not value.strip():
                raise Refused(f"{name}: required, a non-empty string")
            row[name] = value
        for name in _OPTIONAL_TEXT:
            value = obj.get(name)
            if value is not None and not isinstance(value, str):
                raise Refused(f"{name}: expected a string or null, got {value!r}")
            row[name] = value
        row["level"] = self.level(obj.get("level"), "level", required=True)
        row["channel"] = _choice(_or(obj.get("channel"), Channel.OTHER), "channel", _CHANNELS)
        row["problem_reason"] = _choice(
            obj.get("problem_reason"), "problem_reason", _PROBLEM_REASONS, optional=True
        )
        if (row["problem_ref"] is None) != (row["problem_reason"] is None):
            raise Refused("problem_ref and problem_reason go together")
        reported = self.time(obj.get("reported_at"), "reported_at", required=True)
        assert reported is not None
        row["reported_at"] = reported
        occurred = self.time(obj.get("occurred_at"), "occurred_at") or reported
        if occurred > reported:
            raise Refused("occurred_at is after reported_at")
        row["occurred_at"] = occurred
        for name in _MILESTONES:
            value = obj.get(name)
            if value is not None:
                moment = row[name] = self.time(value, name)
                if moment < reported:  # type: ignore[operator]
                    raise Refused(f"{name} is before reported_at")
        default_team = Team.DEV if row["transferred_at"] else Team.OM
        row["team"] = _choice(_or(obj.get("team"), default_team), "team", _TEAMS)
        if obj.get("sla") is not None and not isinstance(obj["sla"], dict):
            raise Refused("sla: expected an object (it is recomputed on import)")

        raw_events = obj.get("events")
        if raw_events is not None and not isinstance(raw_events, list):
            raise Refused("events: expected a list")
        if raw_events:
            events = [self.event(i, e) for i, e in enumerate(raw_events)]
            self.check_timeline(row, events)
        else:
            events = []
            timeline = self.derive_timeline(row)
        self.check_milestones(row)
        self.finish(row, events, derived=not raw_events)
        status = obj.get("status")
        if status is not None and status != row["status"]:
            raise Refused(
                f"status {status!r} does not match the milestones (they make it "
                f"{row['status']!r}); drop the field or fix the times"
            )
        if raw_events:
            timeline = self.event_rows(row["id"], events)
        return row, timeline, not raw_events

    def check_milestones(self, row: dict[str, Any]) -> None:
        recovered, resolved = row["recovered_at"], row["resolved_at"]
        if recovered and resolved and resolved < recovered:
            raise Refused("resolved_at is before recovered_at")
        for name, who in (("approved_at", "approved_by"), ("closed_at", "confirmed_by")):
            if row[name] is not None and resolved is None:
                raise Refused(f"{name} without resolved_at")
            if row[name] is not None and row[name] < resolved:
                raise Refused(f"{name} is before resolved_at")
            if (row[name] is None) != (row[who] is None):
                raise Refused(f"{name} and {who} go together")

    def event(self, index: int, obj: Any) -> dict[str, Any]:
        where = f"events[{index}]"
        if not isinstance(obj, dict):
            raise Refused(f"{where}: expected an object")
        unknown = sorted(set(obj) - _EVENT_KEYS)
        if unknown:
            raise Refused(f"{where}: unknown field {unknown[0]!r}")
        kind = _choice(obj.get("kind"), f"{where}.kind", _EVENT_KINDS)
        at = self.time(obj.get("at"), f"{where}.at", required=True)
        recorded = self.time(obj.get("recorded_at"), f"{where}.recorded_at") or self.now
        actor = obj.get("actor", self.actor)
        if not isinstance(actor, str) or not actor.strip():
            raise Refused(f"{where}.actor: expected a non-empty string")
        data = obj.get("data", {})
        if not isinstance(data, dict):
            raise Refused(f"{where}.data: expected an object")
        if kind == EventKind.RELEVELLED:
            self.level(data.get("to"), f"{where}.data.to", required=True)
        return {
            "id": _positive_int(obj.get("id"), f"{where}.id"),
            "kind": kind,
            "at": at,
            "recorded_at": recorded,
            "actor": actor,
            "data": data,
        }

    def event_rows(self, incident_id: int | None, events: list[dict[str, Any]]) -> list[bulk.Row]:
        stored = self.stored
        return [
            (
                e["id"],
                incident_id,
                e["kind"],
                stored(e["at"]),
                stored(e["recorded_at"]),
                e["actor"],
                orjson.dumps(e["data"]).decode(),
            )
            for e in events
        ]

    def check_timeline(self, row: dict[str, Any], events: list[dict[str, Any]]) -> None:
        if events[0]["kind"] != EventKind.OPENED:
            raise Refused("events: the first event must be 'opened'")
        relevels = [e for e in events if e["kind"] == EventKind.RELEVELLED]
        if relevels and relevels[-1]["data"]["to"] != row["level"]:
            raise Refused(
                f"level {row['level']} but the last relevelled event moved it to "
                f"{relevels[-1]['data']['to']}"
            )
        opened_level = events[0]["data"].get("level")
        if relevels and "previous" in relevels[0]["data"]:
            opened_level = relevels[0]["data"]["previous"]
        row["opened_level"] = (
            self.level(opened_level, "events[0].data.level")
            if opened_level is not None
            else row["level"]
        )

    def derive_timeline(self, row: dict[str, Any]) -> list[bulk.Row]:
        """The event rows the lifecycle commands would have written, from the milestones.

        Rows, not event objects: nothing else reads a derived timeline (the milestones
        are the clocks' facts), so the events go straight to their stored form."""
        if row["resolved_at"] and not row["recovered_at"]:
            row["recovered_at"] = row["resolved_at"]  # a solution restores the service too
            implied = True
        else:
            implied = False
        row["opened_level"] = row["level"]
        incident_id, assignee = row["id"], row["assignee"]
        stored, now, actor = self.stored, self.now_text, self.actor

        def event(kind: str, at: datetime, data: dict[str, Any], who: str = actor) -> bulk.Row:
            return (None, incident_id, kind, stored(at), now, who, orjson.dumps(data).decode())

        # What each command writes, in lifecycle order; None values are left out.
        opened = {
            "level": row["level"],
            "service": row["service"],
            "channel": row["channel"],
            "occurred_at": self.rfc3339(row["occurred_at"]),
        }
        if assignee is not None:
            opened["assignee"] = assignee
        opened["imported"] = True
        events = [event(EventKind.OPENED, row["reported_at"], opened)]
        if row["acknowledged_at"]:
            data = {} if assignee is None else {"assignee": assignee}
            events.append(event(EventKind.ACKNOWLEDGED, row["acknowledged_at"], data))
        if row["transferred_at"]:
            data = {"to": assignee} if row["team"] == Team.DEV and assignee is not None else {}
            data["team"] = Team.DEV
            events.append(event(EventKind.TRANSFERRED, row["transferred_at"], data))
        if row["recovered_at"]:
            data = {"implied_by": "resolve"} if implied else {}
            events.append(event(EventKind.RECOVERED, row["recovered_at"], data))
        if row["resolved_at"]:
            solution = row["solution"]
            data = {} if solution is None else {"solution": solution}
            events.append(event(EventKind.RESOLVED, row["resolved_at"], data))
        if row["approved_at"]:
            events.append(
                event(EventKind.APPROVED, row["approved_at"], {}, row["approved_by"] or actor)
            )
        if row["closed_at"]:
            who = row["confirmed_by"]
            data = {} if who is None else {"confirmed_by": who}
            events.append(event(EventKind.CLOSED, row["closed_at"], data))
        if row["problem_ref"]:
            latest = max(row[name] for name in _LIFECYCLE_TIMES if row[name] is not None)
            data = {"ref": row["problem_ref"], "reason": row["problem_reason"]}
            events.append(event(EventKind.PROBLEM, latest, data))
        # By time, as the stored texts order (UTC, fixed width); stable: ties keep the
        # lifecycle order.
        events.sort(key=_AT_TEXT)
        return events

    def rfc3339(self, moment: datetime) -> str:
        """``times.to_rfc3339``, from the time's stored text (formatted once)."""
        text = self.stored(moment)
        return f"{text[:10]}T{text[11:19]}Z"

    def finish(self, row: dict[str, Any], events: list[dict[str, Any]], derived: bool) -> None:
        """The derived columns: clocks, deadline, status and the next notice, from the
        pure policy's ``derive``, as every lifecycle command keeps them."""
        if derived:
            # The milestones are the facts (no re-levels), without replaying the events.
            facts = IncidentFacts(
                level=row["level"],
                reported_at=row["reported_at"],
                occurred_at=row["occurred_at"],
                acknowledged_at=row["acknowledged_at"],
                transferred_at=row["transferred_at"],
                recovered_at=row["recovered_at"],
                resolved_at=row["resolved_at"],
            )
            timeline: list[Any] = []
        else:
            # Positions, not ids, order same-time re-levels: ids may not be chosen yet.
            timeline = [SimpleNamespace(**{**e, "id": i}) for i, e in enumerate(events)]
            facts = facts_of(SimpleNamespace(**row), timeline)
        incident = SimpleNamespace(**row)  # the pure functions take an incident
        schedule = self.schedule(incident)
        derived_state = derive(
            incident,
            facts,
            levels=self.levels,
            relevel=self.relevel,
            schedule=schedule,
            now=self.now,
        )
        derived_state.apply(incident)
        handled: list[tuple[str, int]] = []
        if derived_state.notices is not None and not self.past_notices:
            # Those due at the import were had where the lines come from.
            notices = derived_state.notices
            handled = [n.key for n in due_notices(notices, schedule, now=self.now, sent=())]
            notices = replace(notices, handled=frozenset(handled))
            incident.notify_at = next_notice_at(notices, schedule, now=self.now, sent=())
        row.update(vars(incident))
        row["updated_at"] = self.now
        # stored as the JSON column holds it
        row["notices_handled"] = orjson.dumps(handled).decode() if handled else None

    def schedule(self, incident: Any) -> Schedule:
        """The incident's notice schedule. As migration 0002 decided for the incidents it
        found: none for a closed one (deliveries are not part of an export, and it owes
        nothing more). It depends on the level and on who can be reached: the service's
        people, the assignee, the reporter and the contact they left (``recipients``)."""
        if incident.closed_at is not None:
            return _NO_NOTICES
        key = (
            incident.level,
            incident.service,
            incident.assignee,
            incident.reporter,
            incident.contact,
        )
        schedule = self.schedule_cache.get(key)
        if schedule is None:
            schedule = self.schedule_cache[key] = schedule_of(self.policy, incident)
        return schedule

    # -- values --------------------------------------------------------------------

    def level(self, value: Any, name: str, *, required: bool = False) -> int | None:
        if value is None and not required:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise Refused(f"{name}: expected a level number, got {value!r}")
        if value not in self.levels:
            known = ", ".join(str(k) for k in sorted(self.levels))
            raise Refused(f"{name}: no level {value} in the policy (levels: {known})")
        return value

    def time(self, value: Any, name: str, *, required: bool = False) -> datetime | None:
        if value is None:
            if required:
                raise Refused(f"{name}: required")
            return None
        if not isinstance(value, str):
            raise Refused(f"{name}: expected an RFC 3339 time string, got {value!r}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise Refused(
                f"{name}: {value!r} is not an RFC 3339 time (e.g. 2026-11-25T03:00:00Z)"
            ) from None
        if parsed.tzinfo is not UTC:  # "Z" parses to UTC itself: the common case
            if parsed.tzinfo is None or parsed.utcoffset() is None:
                if "T" not in value and " " not in value:  # 2026-11-25: a day, no time
                    raise Refused(
                        f"{name}: {value!r} is a day; give the time and its offset "
                        "(e.g. 2026-11-25T03:00:00Z)"
                    )
                raise Refused(f"{name}: {value!r} has no offset (write Z or +08:00)")
            parsed = parsed.astimezone(UTC)
        if parsed > self.now:
            raise Refused(f"{name}: {value} is in the future (now is {to_rfc3339(self.now)})")
        if (
            len(value) == 20
            and value[19] == "Z"
            and value[4] == value[7] == "-"
            and (value[13] == value[16] == ":")
        ):
            # 2026-11-25T03:00:00Z, the form export writes: its stored text by slicing
            # (several times faster than formatting the parsed time again)
            self.texts[id(parsed)] = f"{value[:10]} {value[11:19]}.000000"
        return parsed


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _positive_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Refused(f"{name}: expected a whole number 1 or more, got {value!r}")
    if value > 2**31 - 1:
        raise Refused(f"{name}: {value} is too large")
    return value


def _choice(value: Any, name: str, choices: tuple[str, ...], *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if value not in choices:
        raise Refused(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return value
