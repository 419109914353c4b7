"""One line of an import: validated by a pydantic model, turned into the incident's row
and its events with the same rules as the lifecycle commands.

A line is export's own document (with ``events``) or a plain incident object with the
fields of SPEC §2 and no events, whose timeline is derived from its milestones
(``policy.derived.timeline_of``). Either way its clocks, deadline, status and next
notice come from ``policy.derived.derive``, as after every command.

``ImportLine`` checks types and the facts of one line; its errors are turned into one
sentence naming the field (``level: no level 9 in the policy (levels: 1, 2, 3)``).
This module runs in the import's worker processes: it imports no SQLAlchemy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from operator import itemgetter
from types import SimpleNamespace
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from incidentctl.domain import (
    EVENT_FIELDS,
    INCIDENT_COLUMNS,
    Channel,
    EventKind,
    NoticeName,
    ProblemReason,
    Team,
)
from incidentctl.policy.clocks import ClockRules, facts_of
from incidentctl.policy.derived import TimelineEvent, derive, timeline_of
from incidentctl.policy.notices import Schedule, due_notices, next_notice_at
from incidentctl.policy.recipients import schedule_of
from incidentctl.services.versions import digest, rules_of
from incidentctl.store.bulk import Refused, Row
from incidentctl.times import to_rfc3339

__all__ = ["ImportEvent", "ImportLine", "LineReader"]

_MAX_ID = 2**31 - 1
_NO_NOTICES = Schedule(notify=False, enabled=frozenset())
_CUSTOMER_HAD_IT = frozenset((NoticeName.CUSTOMER_UPDATE, NoticeName.CONFIRMATION))
_MILESTONES = (
    "acknowledged_at",
    "transferred_at",
    "recovered_at",
    "resolved_at",
    "approved_at",
    "closed_at",
    "cancelled_at",
)
_REQUIRED_TEXT = ("title", "service")


# --------------------------------------------------------------------------- values


def _context(info: ValidationInfo) -> dict[str, Any]:
    """What a line is checked against: ``now`` and the policy's ``levels``."""
    context = info.context
    assert isinstance(context, dict), "ImportLine is validated with a context"
    return context


def _time(value: Any, info: ValidationInfo) -> Any:
    """An RFC 3339 time with an offset, not in the future, as an aware UTC datetime."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 time string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an RFC 3339 time (e.g. 2026-11-25T03:00:00Z)") from None
    if parsed.tzinfo is not UTC:  # "Z" parses to UTC itself: the common case
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            if "T" not in value and " " not in value:  # 2026-11-25: a day, no time
                raise ValueError(
                    f"{value!r} is a day; give the time and its offset (e.g. 2026-11-25T03:00:00Z)"
                )
            raise ValueError(f"{value!r} has no offset (write Z or +08:00)")
        parsed = parsed.astimezone(UTC)
    now: datetime = _context(info)["now"]
    if parsed > now:
        raise ValueError(f"{value} is in the future (now is {to_rfc3339(now)})")
    return parsed


def _required_time(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        raise ValueError("required")
    return _time(value, info)


def _level(value: Any, info: ValidationInfo) -> Any:
    """A level of the policy (JSON ``true`` is not a number here)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expected a level number, got {value!r}")
    levels: Mapping[int, Any] = _context(info)["levels"]
    if value not in levels:
        known = ", ".join(str(k) for k in sorted(levels))
        raise ValueError(f"no level {value} in the policy (levels: {known})")
    return value


def _id(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"expected a whole number 1 or more, got {value!r}")
    if value > _MAX_ID:
        raise ValueError(f"{value} is too large")
    return value


def _storable(value: Any) -> Any:
    """Text as it is stored; a NUL cannot be (PostgreSQL refuses it in text)."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("a NUL character (\\x00) cannot be stored")
    return value


def _required_text(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("required, a non-empty string")
    return _storable(value)


def _actor(value: Any) -> Any:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError("expected a non-empty string")
    return _storable(value)


Time = Annotated[datetime | None, BeforeValidator(_time)]
RequiredTime = Annotated[datetime, BeforeValidator(_required_time), Field(validate_default=True)]
# (validated when missing too: the sentence says what a level is)
Level = Annotated[int, BeforeValidator(_level), Field(validate_default=True)]
Id = Annotated[int | None, BeforeValidator(_id)]
RequiredText = Annotated[str, BeforeValidator(_required_text)]
OptionalText = Annotated[str | None, AfterValidator(_storable)]
Word = Strict(False)  # an enum's word, from the JSON string


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ImportEvent(_Line):
    """One event of an exported timeline."""

    id: Id = None
    kind: Annotated[EventKind, Word]
    at: RequiredTime = None  # type: ignore[assignment]
    recorded_at: Time = None
    actor: Annotated[str | None, BeforeValidator(_actor)] = None
    data: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _null_actor(cls, data: Any) -> Any:
        # A missing actor is the importing user; a null one is refused.
        if isinstance(data, dict) and "actor" in data and data["actor"] is None:
            raise ValueError("actor: expected a non-empty string")
        return data

    @model_validator(mode="after")
    def _facts(self, info: ValidationInfo) -> ImportEvent:
        if self.kind == EventKind.RELEVELLED:
            try:
                _level(self.data.get("to"), info)
            except ValueError as exc:
                raise ValueError(f"data.to: {exc}") from None
        return self


class ImportLine(_Line):
    """One incident of an import: SPEC §2's fields, ``sla`` (recomputed, so ignored) and,
    from an export, its ``events``."""

    id: Id = None
    title: RequiredText
    service: RequiredText
    details: OptionalText = None
    reporter: OptionalText = None
    contact: OptionalText = None
    assignee: OptionalText = None
    solution: OptionalText = None
    approved_by: OptionalText = None
    confirmed_by: OptionalText = None
    problem_ref: OptionalText = None
    level: Level = None  # type: ignore[assignment]
    channel: Annotated[Channel | None, Word] = None
    team: Annotated[Team | None, Word] = None
    status: Any = None
    occurred_at: Time = None
    reported_at: RequiredTime = None  # type: ignore[assignment]
    acknowledged_at: Time = None
    transferred_at: Time = None
    recovered_at: Time = None
    resolved_at: Time = None
    approved_at: Time = None
    closed_at: Time = None
    problem_reason: Annotated[ProblemReason | None, Word] = None
    cancelled_at: Time = None
    cancel_reason: OptionalText = None
    duplicate_of: Id = None
    sla: dict[str, Any] | None = None  # (recomputed on import, as are down_again, paused_at
    down_again: dict[str, Any] | None = None  # and pause_reason, from the events)
    paused_at: Any = None
    pause_reason: Any = None
    policy_version: OptionalText = None  # the version its clocks follow (None: in force)
    events: list[ImportEvent] | None = None

    @model_validator(mode="after")
    def _facts(self, info: ValidationInfo) -> ImportLine:
        """What one line's fields must say together."""
        if (self.problem_ref is None) != (self.problem_reason is None):
            raise ValueError("problem_ref and problem_reason go together")
        reported = self.reported_at
        if self.occurred_at is not None and self.occurred_at > reported:
            raise ValueError("occurred_at is after reported_at")
        for name in _MILESTONES:
            moment = getattr(self, name)
            if moment is not None and moment < reported:
                raise ValueError(f"{name} is before reported_at")
        if self.events:
            self._check_timeline(info)
        recovered = self.recovered_at
        resolved = self.resolved_at
        if recovered and resolved and resolved < recovered:
            raise ValueError("resolved_at is before recovered_at")
        for name, who in (("approved_at", "approved_by"), ("closed_at", "confirmed_by")):
            moment = getattr(self, name)
            if moment is not None and resolved is None:
                raise ValueError(f"{name} without resolved_at")
            if moment is not None and resolved is not None and moment < resolved:
                raise ValueError(f"{name} is before resolved_at")
            if (moment is None) != (getattr(self, who) is None):
                raise ValueError(f"{name} and {who} go together")
        if (self.cancelled_at is None) != (self.cancel_reason is None):
            raise ValueError("cancelled_at and cancel_reason go together")
        if self.duplicate_of is not None and self.cancelled_at is None:
            raise ValueError("duplicate_of without cancelled_at")
        return self

    def _check_timeline(self, info: ValidationInfo) -> None:
        assert self.events
        if self.events[0].kind != EventKind.OPENED:
            raise ValueError("events: the first event must be 'opened'")
        relevels = [e for e in self.events if e.kind == EventKind.RELEVELLED]
        if relevels and relevels[-1].data["to"] != self.level:
            raise ValueError(
                f"level {self.level} but the last relevelled event moved it to "
                f"{relevels[-1].data['to']}"
            )
        opened = self.opened_level
        if opened is not None:
            try:
                _level(opened, info)
            except ValueError as exc:
                raise ValueError(f"events[0].data.level: {exc}") from None

    @property
    def opened_level(self) -> Any:
        """The level it was opened at, as its timeline tells (None: its level)."""
        if not self.events:
            return None
        relevels = [e for e in self.events if e.kind == EventKind.RELEVELLED]
        if relevels and "previous" in relevels[0].data:
            return relevels[0].data["previous"]
        return self.events[0].data.get("level")


def refusal(error: ValidationError) -> str:
    """The first of a line's validation errors, as one sentence naming the field: an
    unknown field of the line first, then in the order of the fields."""
    errors = error.errors(include_url=False)
    first = min(errors, key=lambda e: e["type"] != "extra_forbidden" or len(e["loc"]) != 1)
    loc = [str(part) for part in first["loc"]]
    where = _dotted(loc)
    kind = first["type"]
    message = str(first["msg"]).removeprefix("Value error, ")
    nested = re.fullmatch(r"(?s)([a-z_]+(?:\.[a-z_]+)*): (.*)", message)
    if nested and where and kind == "value_error":  # a model's check of one of its fields
        where, message = f"{where}.{nested[1]}", nested[2]
    given = first.get("input")
    field = loc[-1] if loc else ""
    if kind == "model_type" or kind == "model_attributes_type":
        if not loc:
            return "expected a JSON object (one incident per line)"
        return f"{where}: expected an object"
    if kind == "extra_forbidden":
        parent = _dotted(loc[:-1])  # (the field's own name may hold a dot)
        return f"{parent}: unknown field {field!r}" if parent else f"unknown field {field!r}"
    if kind == "missing":
        message = "required, a non-empty string" if field in _REQUIRED_TEXT else "required"
    elif kind == "list_type":
        message = "expected a list"
    elif kind == "dict_type":
        message = "expected an object"
        if field == "sla":
            message += " (it is recomputed on import)"
    elif kind == "string_type":
        message = f"expected a string or null, got {given!r}"
    elif kind == "enum":
        choices = first.get("ctx", {}).get("expected", "")
        words = choices.replace("'", "").replace(" or ", ", ")
        message = f"{given!r} is not one of {words}"
    return f"{where}: {message}" if where else message


def _dotted(loc: list[str]) -> str:
    """``["events", "0", "data"]`` as ``events[0].data``."""
    where = loc[0] if loc else ""
    for part in loc[1:]:
        where += f"[{part}]" if part.isdigit() else f".{part}"
    return where


# --------------------------------------------------------------------------- the reader


VERSION_KEY = "policy_version"
_VERSION_LINE = frozenset((VERSION_KEY, "policy"))


def version_line(version: str, text: str) -> dict[str, Any]:
    """An export's line for a policy version: its hash and the clock part it names."""
    return {VERSION_KEY: version, "policy": orjson.loads(text)}


def read_version_lines(source: Any) -> dict[str, str]:
    """The policy versions an import file begins with (``version_line``), by version,
    as their texts; ``Refused`` naming the line when one does not add up."""
    found: dict[str, str] = {}
    with source.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.lstrip(b"\xef\xbb\xbf \t").startswith(b'{"policy_version"'):
                break
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                break  # (the line's own error is reported where it is read)
            if not isinstance(obj, dict) or set(obj) != _VERSION_LINE:
                raise Refused(f"line {number}: a policy version line has policy_version and policy")
            text = orjson.dumps(obj["policy"], option=orjson.OPT_SORT_KEYS).decode()
            version, _ = digest(text)
            if version != obj[VERSION_KEY]:
                raise Refused(
                    f"line {number}: policy_version {obj[VERSION_KEY]!r} is not the hash of "
                    f"its policy ({version})"
                )
            found[version] = text
    return found


_IN_COLUMN_ORDER = itemgetter(*INCIDENT_COLUMNS)
_EMPTY_ROW: dict[str, Any] = dict.fromkeys(INCIDENT_COLUMNS)


class LineReader:
    """Turns NDJSON lines into incident and event rows, or refuses them (``Refused``)."""

    def __init__(
        self, *, policy: Any, now: datetime, actor: str, past_notices: bool = True
    ) -> None:
        self.policy = policy
        self.levels: Mapping[int, Any] = policy.levels
        self.rules = rules_of(policy)
        # the other versions the file's incidents follow: its leading version lines
        self.versions: dict[str, ClockRules] = {}
        self.context = {"now": now, "levels": self.levels}
        # Without past notices: those due at the import were had where the lines come
        # from; each incident keeps their keys (``notices_handled``).
        self.past_notices = past_notices
        self.schedules: dict[tuple[Any, ...], Schedule] = {}
        self.now = now
        self.actor = actor

    def convert(self, raw: bytes) -> tuple[Row, list[Row], bool] | None:
        """One line as its incident row and event rows (``store.bulk`` stores them) and
        whether its timeline was derived; None for a policy version line (read before)."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise Refused(f"not UTF-8 text: {bad.reason}") from None
            # A position, not orjson's line/column: the newline would make an early
            # end "line 2, column 1". Past the line's last character if it ends early.
            column = min(exc.pos, len(text.rstrip("\r\n"))) + 1  # characters
            raise Refused(f"not valid JSON: {exc.msg} (column {column})") from None
        if isinstance(obj, dict) and set(obj) == _VERSION_LINE:
            if obj[VERSION_KEY] in self.versions:
                return None
            raise Refused(
                "a policy version line must come before the incidents, as export writes it"
            )
        try:
            line = ImportLine.model_validate(obj, context=self.context)
        except ValidationError as exc:
            raise Refused(refusal(exc)) from None
        return self.rows(line)

    def rows(self, line: ImportLine) -> tuple[Row, list[Row], bool]:
        row = dict(_EMPTY_ROW)
        row.update(line.__dict__)  # the fields as validated (sla, events, status: dropped)
        reported = row["reported_at"]
        row["occurred_at"] = row["occurred_at"] or reported
        row["channel"] = row["channel"] or Channel.OTHER
        row["team"] = row["team"] or (Team.DEV if row["transferred_at"] else Team.OM)
        if line.events:
            actor, now = self.actor, self.now
            # Positions, not ids, order same-time re-levels: ids may not be chosen yet.
            events = [
                TimelineEvent(e.kind, e.at, e.actor or actor, e.data, i, e.recorded_at or now)
                for i, e in enumerate(line.events)
            ]
            opened_level = line.opened_level
            row["opened_level"] = row["level"] if opened_level is None else opened_level
            self.derive(row, events)
            data = [orjson.dumps(e.data).decode() for e in events]
            ids = [e.id for e in line.events]
        else:
            events = timeline_of(row, actor=self.actor)
            row["recovered_at"] = row["recovered_at"] or row["resolved_at"]
            row["opened_level"] = row["level"]
            self.derive(row, events)
            # the opened event's data holds the one time a derived timeline's data has
            opened = events[0].data
            opened["occurred_at"] = to_rfc3339(opened["occurred_at"])
            data = [orjson.dumps(e.data).decode() for e in events]
            ids = [None] * len(events)
        if line.status is not None and line.status != row["status"]:
            raise Refused(
                f"status {line.status!r} does not match the milestones (they make it "
                f"{str(row['status'])!r}); drop the field or fix the times"
            )
        incident_id = row["id"]
        timeline = [
            (given, incident_id, e.kind, e.at, e.recorded_at or self.now, e.actor, text)
            for given, e, text in zip(ids, events, data, strict=True)
        ]
        return _IN_COLUMN_ORDER(row), timeline, not line.events

    def derive(self, row: dict[str, Any], events: list[TimelineEvent]) -> None:
        """The derived columns, from the pure policy's ``derive`` as after every command."""
        incident = SimpleNamespace(**row)
        facts = facts_of(incident, events)
        schedule = self.schedule(incident)
        version = row.get("policy_version")
        rules = self.rules if version is None else self.versions.get(version)
        if rules is None and version == self.rules.version:
            rules = self.rules
        if rules is None:
            raise Refused(
                f"policy_version {version!r} is neither the policy in force nor one of the "
                "file's version lines (an export begins with those its incidents follow)"
            )
        derived = derive(
            incident,
            facts,
            rules=rules,
            schedule=schedule,
            now=self.now,
        )
        derived.apply(incident)
        handled: list[tuple[str, int]] = []
        if derived.notices is not None:
            notices = derived.notices
            due = due_notices(notices, schedule, now=self.now, sent=())
            # what the customer was sent is never sent again, even with past notices
            # (an export moved to a new database carries its customer updates)
            handled = [n.key for n in due if not self.past_notices or n.name in _CUSTOMER_HAD_IT]
            if handled:
                notices = replace(notices, handled=frozenset(handled))
                incident.notify_at = next_notice_at(notices, schedule, now=self.now, sent=())
        row.update(vars(incident))
        row["updated_at"] = self.now
        row["notices_handled"] = orjson.dumps(handled).decode() if handled else None

    def schedule(self, incident: Any) -> Schedule:
        """The incident's notice schedule. As migration 0002 decided for the incidents it
        found: none for a closed one (deliveries are not part of an export, and it owes
        nothing more), nor for a cancelled one. It depends on the level and on who can be
        reached: the service's people, the assignee, the reporter and the contact they left
        (``recipients``)."""
        if incident.closed_at is not None or incident.cancelled_at is not None:
            return _NO_NOTICES
        key = (
            incident.level,
            incident.service,
            incident.team,
            incident.assignee,
            incident.reporter,
            incident.contact,
        )
        schedule = self.schedules.get(key)
        if schedule is None:
            schedule = self.schedules[key] = schedule_of(self.policy, incident)
        return schedule


assert EVENT_FIELDS == ("id", "kind", "at", "recorded_at", "actor", "data")
