"""Moving incidents in and out: streamed export, validated all-or-nothing import.

Export yields each incident's public document (SPEC §7) with its events, in id order,
a batch at a time, so memory stays flat however large the history is.

Import reads NDJSON: export's own lines (with ``events``), or plain incident objects
with the fields of SPEC §2 and no events, whose timeline is then derived from the
milestone timestamps. Every line is validated; rows go in with Core ``executemany``
in batches inside one transaction, so one bad line (even the last of a million)
rolls everything back and the error names its line. Ids in the file are kept; lines
without one get the next free id. The stored clocks, status and deadline are
recomputed with the pure policy. On PostgreSQL the id sequences are moved past the
imported ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import IntegrityError

from incidentctl.errors import InvalidInput
from incidentctl.policy import lifecycle
from incidentctl.policy.clocks import CLOCKS, IncidentFacts, compute_clocks, deadline
from incidentctl.store.engine import Database
from incidentctl.store.models import Event, Incident
from incidentctl.times import to_rfc3339

__all__ = ["EVENT_KINDS", "ImportSummary", "export_documents", "import_lines"]

EVENT_KINDS = (
    "opened",
    "acknowledged",
    "assigned",
    "note",
    "transferred",
    "relevelled",
    "recovered",
    "resolved",
    "approved",
    "closed",
    "reopened",
    "problem",
    "notified",
)
EXPORT_BATCH = 1000
IMPORT_BATCH = 2000

INCIDENTS = Incident.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]

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
# Every column present, so rows can be read with one itemgetter.
_EMPTY_ROW: dict[str, Any] = {c.name: None for c in INCIDENTS.columns}


# --------------------------------------------------------------------------- export


def export_documents(db: Database, statement: Any, now: datetime) -> Iterator[dict[str, Any]]:
    """The incidents ``statement`` selects (a ``handling.query``), each with ``events``.

    Rows are read as plain tuples (no ORM objects) and streamed in batches; each batch's
    events come from one indexed query.
    """
    from incidentctl.render import event_document, incident_document

    stmt = statement.with_only_columns(*INCIDENTS.columns).execution_options(yield_per=EXPORT_BATCH)
    with db.read() as session:
        if db.dialect == "postgresql":
            # One snapshot for the incidents and the events read beside them.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        result = session.execute(stmt)
        for rows in result.partitions():
            ids = [row.id for row in rows]
            timeline: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
            events = session.execute(
                select(*EVENTS.columns)
                .where(EVENTS.c.incident_id.in_(ids))
                .order_by(EVENTS.c.incident_id, EVENTS.c.id)
            ).all()
            for event in events:
                timeline[event.incident_id].append(event_document(event))
            for row in rows:
                document = incident_document(row, now)
                document["events"] = timeline[row.id]
                yield document


# --------------------------------------------------------------------------- import


@dataclass
class ImportSummary:
    incidents: int = 0
    events: int = 0
    derived: int = 0  # incidents whose timeline was derived from their milestones
    dry_run: bool = False

    def document(self) -> dict[str, Any]:
        return {
            "imported": 0 if self.dry_run else self.incidents,
            "incidents": self.incidents,
            "events": self.events,
            "derived": self.derived,
            "dry_run": self.dry_run,
        }


@dataclass
class _Parsed:
    line: int
    incident: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)


class _Refused(Exception):
    """One field of one line is wrong; becomes ``line N: ...``."""


def import_lines(
    db: Database,
    lines: Iterable[str],
    *,
    policy: Any,
    now: datetime,
    actor: str,
    dry_run: bool = False,
) -> ImportSummary:
    """Validate and insert NDJSON incident lines, all or nothing (see the module docstring).

    ``--dry-run`` runs the very same import, constraints included, and rolls it back.
    Raises ``InvalidInput`` naming the first bad line.
    """
    summary = ImportSummary(dry_run=dry_run)
    reader = _LineReader(policy=policy, now=now, actor=actor)
    with db.write() as session:
        conn = session.connection()
        if db.dialect == "postgresql":
            # Ids are chosen here, so no other writer may take one meanwhile.
            conn.execute(text("LOCK TABLE incidents, events IN EXCLUSIVE MODE"))
        next_incident = (conn.execute(select(func.max(INCIDENTS.c.id))).scalar() or 0) + 1
        next_event = (conn.execute(select(func.max(EVENTS.c.id))).scalar() or 0) + 1
        bulk = _BulkInsert(conn)
        batch: list[_Parsed] = []
        for parsed in reader.parse(lines):
            if parsed.incident["id"] is None:
                parsed.incident["id"] = next_incident
            next_incident = max(next_incident, parsed.incident["id"] + 1)
            for event in parsed.events:
                event["incident_id"] = parsed.incident["id"]
                if event["id"] is None:
                    event["id"] = next_event
                next_event = max(next_event, event["id"] + 1)
            batch.append(parsed)
            summary.incidents += 1
            summary.events += len(parsed.events)
            if len(batch) >= IMPORT_BATCH:
                _insert(bulk, batch)
                batch = []
        if batch:
            _insert(bulk, batch)
        summary.derived = reader.derived
        if dry_run:
            session.rollback()
            return summary
        if db.dialect == "postgresql" and summary.incidents:
            for table in ("incidents", "events"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE(MAX(id), 0) + 1, false) FROM {table}"
                    )
                )
    return summary


class _BulkInsert:
    """``executemany`` straight to the driver, values already in the stored form.

    SQLAlchemy's per-value bind processing (the UTC type, JSON) cost more than the
    inserts themselves, so the values are prepared here once: on SQLite a naive UTC
    time in SQLAlchemy's own text form (so range queries compare alike) and JSON text;
    on PostgreSQL aware times and ``Json``. Engine-specific, hence in the store.
    """

    def __init__(self, conn: Connection) -> None:
        from sqlalchemy import JSON

        from incidentctl.store.types import UTCDateTime

        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self.statements: dict[str, str] = {}
        self.columns: dict[str, list[str]] = {}
        self.times: dict[str, list[int]] = {}
        self.documents: dict[str, list[int]] = {}
        for table in (INCIDENTS, EVENTS):
            names = [c.name for c in table.columns]
            self.columns[table.name] = names
            self.times[table.name] = [
                i for i, c in enumerate(table.columns) if isinstance(c.type, UTCDateTime)
            ]
            self.documents[table.name] = [
                i for i, c in enumerate(table.columns) if isinstance(c.type, JSON)
            ]
            self.statements[table.name] = (
                f"INSERT INTO {table.name} ({', '.join(names)}) "
                f"VALUES ({', '.join([mark] * len(names))})"
            )
        if self.sqlite:
            # A big page cache keeps the index updates of a large import in memory.
            conn.exec_driver_sql("PRAGMA cache_size=-262144")
            self.document: Any = json.dumps
        else:
            from psycopg.types.json import Json

            self.document = Json

    def rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        from operator import itemgetter

        values_of = itemgetter(*self.columns[table])
        times = self.times[table] if self.sqlite else []
        documents = self.documents[table]
        document = self.document
        # One time object is shared by a milestone, its event and the clock it stops:
        # convert each once. Keyed by id(), safe while ``rows`` keeps the objects alive.
        texts: dict[int, str] = {}
        values = []
        for row in rows:
            record = list(values_of(row))
            for i in times:
                moment = record[i]
                if moment is not None:
                    text = texts.get(id(moment))
                    if text is None:
                        # SQLAlchemy's SQLite DATETIME text, so range queries compare
                        # alike (isoformat: strftime is ten times slower)
                        utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
                        text = texts[id(moment)] = utc.isoformat(" ", "microseconds")[:26]
                    record[i] = text
            for i in documents:
                record[i] = document(record[i])
            values.append(tuple(record))
        self.conn.exec_driver_sql(self.statements[table], values)


def _insert(bulk: _BulkInsert, batch: list[_Parsed]) -> None:
    """One savepoint per batch, so a clash can be traced to its line and reported."""
    conn = bulk.conn
    incidents = [p.incident for p in batch]
    events = [e for p in batch for e in p.events]
    savepoint = conn.begin_nested()
    try:
        bulk.rows("incidents", incidents)
        if events:
            bulk.rows("events", events)
    except IntegrityError as exc:
        savepoint.rollback()
        raise InvalidInput(_clash(conn, batch, exc)) from None
    savepoint.commit()


def _clash(conn: Connection, batch: list[_Parsed], exc: IntegrityError) -> str:
    """Which line of a refused batch holds an id that is already taken."""
    incident_ids = [p.incident["id"] for p in batch]
    taken = set(
        conn.execute(select(INCIDENTS.c.id).where(INCIDENTS.c.id.in_(incident_ids))).scalars()
    )
    event_ids = [e["id"] for p in batch for e in p.events]
    taken_events: set[int] = set()
    for start in range(0, len(event_ids), 5000):
        chunk = event_ids[start : start + 5000]
        taken_events.update(
            conn.execute(select(EVENTS.c.id).where(EVENTS.c.id.in_(chunk))).scalars()
        )
    seen: set[int] = set()
    seen_events: set[int] = set()
    for parsed in batch:
        incident_id = parsed.incident["id"]
        if incident_id in taken or incident_id in seen:
            return f"line {parsed.line}: incident id {incident_id} is already taken"
        seen.add(incident_id)
        for event in parsed.events:
            if event["id"] in taken_events or event["id"] in seen_events:
                return f"line {parsed.line}: event id {event['id']} is already taken"
            seen_events.add(event["id"])
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return f"lines {batch[0].line}-{batch[-1].line}: refused by the database: {detail}"


class _LineReader:
    """Turns NDJSON lines into incident and event rows, or refuses with the line number."""

    def __init__(self, *, policy: Any, now: datetime, actor: str) -> None:
        self.policy = policy
        self.levels: Mapping[int, Any] = policy.levels
        self.relevel: str = policy.relevel
        self.schedules = "notify_at" in INCIDENTS.c
        self.schedule_cache: dict[tuple[int, str], Any] = {}
        self.now = now
        self.actor = actor
        self.derived = 0

    def parse(self, lines: Iterable[str]) -> Iterator[_Parsed]:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise _Refused(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
                yield self.incident(number, obj)
            except _Refused as exc:
                raise InvalidInput(f"line {number}: {exc}; nothing was imported") from None

    # -- one line ------------------------------------------------------------------

    def incident(self, number: int, obj: Any) -> _Parsed:
        if not isinstance(obj, dict):
            raise _Refused("expected a JSON object (one incident per line)")
        unknown = sorted(set(obj) - _ALLOWED)
        if unknown:
            raise _Refused(f"unknown field {unknown[0]!r}")
        row: dict[str, Any] = dict(_EMPTY_ROW)
        row["id"] = _positive_int(obj.get("id"), "id")
        for name in _TEXT_FIELDS:
            value = obj.get(name)
            if not isinstance(value, str) or not value.strip():
                raise _Refused(f"{name}: required, a non-empty string")
            row[name] = value
        for name in _OPTIONAL_TEXT:
            row[name] = _optional_text(obj.get(name), name)
        row["level"] = self.level(obj.get("level"), "level", required=True)
        row["channel"] = _choice(_or(obj.get("channel"), "other"), "channel", lifecycle.CHANNELS)
        row["problem_reason"] = _choice(
            obj.get("problem_reason"), "problem_reason", lifecycle.PROBLEM_REASONS, optional=True
        )
        if (row["problem_ref"] is None) != (row["problem_reason"] is None):
            raise _Refused("problem_ref and problem_reason go together")
        reported = self.time(obj.get("reported_at"), "reported_at", required=True)
        assert reported is not None
        row["reported_at"] = reported
        occurred = self.time(obj.get("occurred_at"), "occurred_at") or reported
        if occurred > reported:
            raise _Refused("occurred_at is after reported_at")
        row["occurred_at"] = occurred
        for name in _MILESTONES:
            row[name] = self.time(obj.get(name), name)
            if row[name] is not None and row[name] < reported:
                raise _Refused(f"{name} is before reported_at")
        default_team = "dev" if row["transferred_at"] else "om"
        row["team"] = _choice(_or(obj.get("team"), default_team), "team", lifecycle.TEAMS)
        if obj.get("sla") is not None and not isinstance(obj["sla"], dict):
            raise _Refused("sla: expected an object (it is recomputed on import)")

        raw_events = obj.get("events")
        if raw_events is not None and not isinstance(raw_events, list):
            raise _Refused("events: expected a list")
        if raw_events:
            events = [self.event(i, e) for i, e in enumerate(raw_events)]
            self.check_timeline(row, events)
        else:
            events = self.derive_timeline(row)
            self.derived += 1
        self.check_milestones(row)
        self.finish(row, events, derived=not raw_events)
        status = obj.get("status")
        if status is not None and status != row["status"]:
            raise _Refused(
                f"status {status!r} does not match the milestones (they make it "
                f"{row['status']!r}); drop the field or fix the times"
            )
        return _Parsed(number, row, events)

    def check_milestones(self, row: dict[str, Any]) -> None:
        recovered, resolved = row["recovered_at"], row["resolved_at"]
        if recovered and resolved and resolved < recovered:
            raise _Refused("resolved_at is before recovered_at")
        for name, who in (("approved_at", "approved_by"), ("closed_at", "confirmed_by")):
            if row[name] is not None and resolved is None:
                raise _Refused(f"{name} without resolved_at")
            if row[name] is not None and row[name] < resolved:
                raise _Refused(f"{name} is before resolved_at")
            if (row[name] is None) != (row[who] is None):
                raise _Refused(f"{name} and {who} go together")

    def event(self, index: int, obj: Any) -> dict[str, Any]:
        where = f"events[{index}]"
        if not isinstance(obj, dict):
            raise _Refused(f"{where}: expected an object")
        unknown = sorted(set(obj) - _EVENT_KEYS)
        if unknown:
            raise _Refused(f"{where}: unknown field {unknown[0]!r}")
        kind = _choice(obj.get("kind"), f"{where}.kind", EVENT_KINDS)
        at = self.time(obj.get("at"), f"{where}.at", required=True)
        recorded = self.time(obj.get("recorded_at"), f"{where}.recorded_at") or self.now
        actor = obj.get("actor", self.actor)
        if not isinstance(actor, str) or not actor.strip():
            raise _Refused(f"{where}.actor: expected a non-empty string")
        data = obj.get("data", {})
        if not isinstance(data, dict):
            raise _Refused(f"{where}.data: expected an object")
        if kind == "relevelled":
            self.level(data.get("to"), f"{where}.data.to", required=True)
        return {
            "id": _positive_int(obj.get("id"), f"{where}.id"),
            "kind": kind,
            "at": at,
            "recorded_at": recorded,
            "actor": actor,
            "data": data,
        }

    def check_timeline(self, row: dict[str, Any], events: list[dict[str, Any]]) -> None:
        if events[0]["kind"] != "opened":
            raise _Refused("events: the first event must be 'opened'")
        relevels = [e for e in events if e["kind"] == "relevelled"]
        if relevels and relevels[-1]["data"]["to"] != row["level"]:
            raise _Refused(
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

    def derive_timeline(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """The events the lifecycle commands would have written, from the milestones."""
        if row["resolved_at"] and not row["recovered_at"]:
            row["recovered_at"] = row["resolved_at"]  # a solution restores the service too
            implied = True
        else:
            implied = False
        row["opened_level"] = row["level"]
        opened = {
            "level": row["level"],
            "service": row["service"],
            "channel": row["channel"],
            "occurred_at": to_rfc3339(row["occurred_at"]),
            "assignee": row["assignee"],
            "imported": True,
        }
        steps: list[tuple[str, datetime | None, dict[str, Any], str]] = [
            ("opened", row["reported_at"], opened, self.actor),
            ("acknowledged", row["acknowledged_at"], {"assignee": row["assignee"]}, self.actor),
            (
                "transferred",
                row["transferred_at"],
                {"to": row["assignee"] if row["team"] == "dev" else None, "team": "dev"},
                self.actor,
            ),
            (
                "recovered",
                row["recovered_at"],
                {"implied_by": "resolve"} if implied else {},
                self.actor,
            ),
            ("resolved", row["resolved_at"], {"solution": row["solution"]}, self.actor),
            ("approved", row["approved_at"], {}, row["approved_by"] or self.actor),
            ("closed", row["closed_at"], {"confirmed_by": row["confirmed_by"]}, self.actor),
        ]
        if row["problem_ref"]:
            latest = max(t for _, t, _, _ in steps if t is not None)
            steps.append(
                (
                    "problem",
                    latest,
                    {"ref": row["problem_ref"], "reason": row["problem_reason"]},
                    self.actor,
                )
            )
        events = [
            {
                "id": None,
                "kind": kind,
                "at": at,
                "recorded_at": self.now,
                "actor": who,
                "data": {k: v for k, v in data.items() if v is not None},
            }
            for kind, at, data, who in steps
            if at is not None
        ]
        events.sort(key=lambda e: e["at"])  # stable: ties keep the lifecycle order
        return events

    def finish(self, row: dict[str, Any], events: list[dict[str, Any]], derived: bool) -> None:
        """The derived columns: clocks, deadline and status, from the pure policy."""
        from incidentctl.handling import facts_of

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
            facts = facts_of(SimpleNamespace(**row), timeline)  # type: ignore[arg-type]
        clocks = compute_clocks(facts, levels=self.levels, relevel=self.relevel, now=self.now)
        for name in CLOCKS:
            row[f"{name}_due_at"] = clocks[name].due_at
            row[f"{name}_stopped_at"] = clocks[name].stopped_at
        row["deadline_at"] = None if row["closed_at"] else deadline(clocks.values())
        row["status"] = lifecycle.derive_status(_View(row))  # type: ignore[arg-type]
        row["updated_at"] = self.now
        if self.schedules:
            row["notify_at"] = self.notify_at(row, timeline)

    def notify_at(self, row: dict[str, Any], timeline: list[Any]) -> datetime | None:
        """When the outbox next looks at the incident, as migration 0002 decided for the
        incidents it found: never for a closed one; for the others, their first notice
        not yet recorded here (deliveries are not part of an export)."""
        if row["closed_at"] is not None:
            return None
        from incidentctl.notify.outbox import notice_facts, schedule_of
        from incidentctl.policy.notices import next_notice_at

        incident = _View(row)
        # The schedule depends on the level and the service's recipients only.
        key = (row["level"], row["service"])
        schedule = self.schedule_cache.get(key)
        if schedule is None:
            schedule = self.schedule_cache[key] = schedule_of(self.policy, incident)
        if not schedule.notify:
            return None
        return next_notice_at(notice_facts(incident, timeline), schedule, now=self.now, sent=())

    # -- values --------------------------------------------------------------------

    def level(self, value: Any, name: str, *, required: bool = False) -> int | None:
        if value is None and not required:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Refused(f"{name}: expected a level number, got {value!r}")
        if value not in self.levels:
            known = ", ".join(str(k) for k in sorted(self.levels))
            raise _Refused(f"{name}: no level {value} in the policy (levels: {known})")
        return value

    def time(self, value: Any, name: str, *, required: bool = False) -> datetime | None:
        if value is None:
            if required:
                raise _Refused(f"{name}: required")
            return None
        if not isinstance(value, str):
            raise _Refused(f"{name}: expected an RFC 3339 time string, got {value!r}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _Refused(
                f"{name}: {value!r} is not an RFC 3339 time (e.g. 2026-11-25T03:00:00Z)"
            ) from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise _Refused(f"{name}: {value!r} has no offset (write Z or +08:00)")
        if parsed.tzinfo is not UTC:
            parsed = parsed.astimezone(UTC)
        if parsed > self.now:
            raise _Refused(f"{name}: {value} is in the future (now is {to_rfc3339(self.now)})")
        return parsed


class _View:
    """A row dict read as attributes, for the pure functions that take an incident."""

    __slots__ = ("_row",)

    def __init__(self, row: dict[str, Any]) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        try:
            return self._row[name]
        except KeyError:
            raise AttributeError(name) from None


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _positive_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _Refused(f"{name}: expected a whole number 1 or more, got {value!r}")
    if value > 2**31 - 1:
        raise _Refused(f"{name}: {value} is too large")
    return value


def _optional_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Refused(f"{name}: expected a string or null, got {value!r}")
    return value


def _choice(value: Any, name: str, choices: tuple[str, ...], *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if value not in choices:
        raise _Refused(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return value
