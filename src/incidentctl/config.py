"""The policy file (``sla.toml``) as validated, immutable pydantic models.

Pure data: importable without the database or the terminal renderer. Every problem
with a file is one ``ConfigError`` whose message names the file, the dotted key and
what is wrong, e.g. ``sla.toml: levels.1.response: invalid duration '10 min': ...``.

Lookup (``load_policy``): explicit path (``--config``), else ``INCIDENTCTL_CONFIG``,
else ``./sla.toml``, else ``sla.toml`` in the user config directory
(``INCIDENTCTL_CONFIG_DIR`` overrides that directory), else the built-in default
shipped in this package. A user file replaces the default entirely (no merging).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from incidentctl.domain import (
    ClockName,
    ContactChannel,
    NoticeName,
    NoticeRuleName,
    OnRepeat,
    OnResolved,
    RelevelMode,
)
from incidentctl.errors import ConfigError, Conflict, InvalidInput
from incidentctl.text import clipped
from incidentctl.times import format_duration, named_zone, parse_duration

if TYPE_CHECKING:
    from holidays import HolidayBase

__all__ = [
    "ALWAYS_CALENDAR",
    "BUILTIN_SOURCE",
    "CalendarConfig",
    "CalendarData",
    "ClockPolicy",
    "HolidayDates",
    "clock_policy",
    "clock_text",
    "CommandTransport",
    "Contact",
    "EmailRule",
    "AlertIntake",
    "AlertRule",
    "EmailIntake",
    "EmailIntakeRule",
    "Intake",
    "Storm",
    "Team",
    "Level",
    "LoadedPolicy",
    "NoticeRule",
    "Notifications",
    "Policy",
    "PrintTransport",
    "Retry",
    "Roles",
    "Service",
    "SmtpTransport",
    "Transport",
    "WebhookTransport",
    "builtin_policy",
    "check_seed_target",
    "load_policy",
    "parse_policy",
    "policy_as_dict",
    "policy_file",
    "recipient_problems",
    "secret_variables",
    "seed_text",
    "user_policy_file",
    "write_seed",
]

BUILTIN_SOURCE = "built-in"
CONFIG_VARIABLE = "INCIDENTCTL_CONFIG"
CONFIG_DIR_VARIABLE = "INCIDENTCTL_CONFIG_DIR"
FILE_NAME = "sla.toml"

_NOTICE_NAMES = frozenset(NoticeName)
_SERVICE_ROLES = ("om_team", "rd_leader", "dev_team")  # a service may name its own
_ROLE_PARTS = {"om_team": "O&M team", "rd_leader": "R&D leader", "dev_team": "developers' team"}
# Tokens that name a person of the incident itself: resolved when the notice is sent
# (a contact of that name, else the reporter's own contact), so not checked here.
INCIDENT_TOKENS = ("assignee", "reporter")

# Config keys that would hold a literal secret.
_SECRET_KEY_RE = re.compile(r"password|passwd|secret|token|api[-_]?key", re.IGNORECASE)
# HTTP header names whose values are credentials.
_SECRET_HEADER_RE = re.compile(
    r"authorization|auth|token|secret|password|passwd|api[-_]?key|cookie", re.IGNORECASE
)


# --------------------------------------------------------------------------- field types


def _duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ValueError(f"duration must be greater than zero, got {format_duration(value)}")
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f'expected a duration string like "30m", got {value!r}')


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def _offset(value: Any) -> Any:
    """A duration that may be zero: ``"0m"``, at once."""
    if isinstance(value, str) and value.strip() in ("0", "0s", "0m", "0h"):
        return timedelta(0)
    return _duration(value)


Offset = Annotated[timedelta, BeforeValidator(_offset)]  # "0m" allowed


def _fraction(value: Any) -> Any:
    """A share of a target: ``"75%"`` is 0.75, strictly between 0% and 100%."""
    match = (
        re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*", value) if isinstance(value, str) else None
    )
    if match is None:
        raise ValueError(f'expected a percentage of the target like "75%", got {value!r}')
    share = float(match[1]) / 100
    if not 0 < share < 1:
        raise ValueError(f"a warning comes before the breach: between 0% and 100%, got {value!r}")
    return share


Fraction = Annotated[float, BeforeValidator(_fraction)]
Name = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- models


class Level(_Model):
    name: Name
    response: Duration
    recovery: Duration
    resolution: Duration
    notify: bool = False
    approval: bool = False
    # The clocks a pause (``pause``) stops at this level. The seed runs 24/7: none.
    pausable: list[ClockName] = []
    # The developers' part: a target from the transfer to them until the solution.
    # Unset: no fix clock at this level.
    fix: Duration | None = None
    # The calendar the clocks count in ([calendars.NAME] or "24/7"); a clock's own key
    # wins. Unset: 24/7.
    calendar: Name | None = None
    response_calendar: Name | None = None
    recovery_calendar: Name | None = None
    resolution_calendar: Name | None = None

    @field_validator(
        "calendar", "response_calendar", "recovery_calendar", "resolution_calendar", mode="before"
    )
    @classmethod
    def _known_calendar(cls, value: Any) -> Any:
        return _not_refused(value)  # an unknown name, found by Policy

    def calendar_name(self, clock: str) -> str | None:
        """The calendar ``clock`` counts in at this level: its own key, else
        ``calendar``; None: 24/7 (unset, or "24/7")."""
        if clock not in tuple(ClockName):
            raise ValueError(f"no clock {clock!r}")
        own: str | None = getattr(self, f"{clock}_calendar", None)
        name = own or self.calendar
        return None if name == ALWAYS_CALENDAR else name


class EmailRule(_Model):
    to: list[Name] = []
    cc: list[Name] = []


class Step(_Model):
    """One rung of an escalation (``steps`` of an overdue rule): ``after`` the breach,
    ``to`` get an email and an SMS, ``cc`` a copy of the email, ``phone`` a call."""

    after: Offset
    to: list[Name] = []
    cc: list[Name] = []
    phone: list[Name] = []


class NoticeRule(_Model):
    within: Duration | None = None
    every: Duration | None = None
    remind_after: Duration | None = None  # approval: the reminder while unapproved
    # overdue rules: the escalation that climbs (default: one step, the rule's own
    # recipients, at the breach) and how often the last step repeats while the clock
    # runs and nobody acknowledged the incident
    steps: list[Step] = []
    repeat: Duration | None = None
    # warning: when each warning goes, as shares of the clock's target ("75%")
    at: list[Fraction] = []
    # progress: go on sending progress notices while the incident is paused
    while_paused: bool = False
    sms: list[Name] = []
    email: EmailRule = EmailRule()
    phone: list[Name] = []

    def recipients(self, channel: ContactChannel) -> list[str]:
        """Every recipient token used on ``channel`` (email: To then Cc), in every step."""
        if self.steps:
            steps = [self.step(n) for n in range(len(self.steps))]
            return list(dict.fromkeys(t for s in steps for t in s.recipients(channel)))
        if channel == ContactChannel.EMAIL:
            return [*self.email.to, *self.email.cc]
        return list(self.sms if channel == ContactChannel.SMS else self.phone)

    @property
    def is_empty(self) -> bool:
        if self.steps:
            return all(not (s.to or s.cc or s.phone) for s in self.steps)
        return not (self.sms or self.phone or self.email.to or self.email.cc)

    def step(self, n: int) -> NoticeRule:
        """The recipients of step ``n`` (repeats are the last step's), as a rule."""
        if not self.steps:
            return self
        chosen = sorted(self.steps, key=lambda s: s.after)[min(n, len(self.steps) - 1)]
        return NoticeRule(
            sms=chosen.to, email=EmailRule(to=chosen.to, cc=chosen.cc), phone=chosen.phone
        )

    @property
    def afters(self) -> tuple[timedelta, ...]:
        """When each step falls due after the breach, in order."""
        return tuple(sorted(s.after for s in self.steps)) or (timedelta(0),)


class Notifications(_Model):
    initial: NoticeRule = NoticeRule()
    progress: NoticeRule = NoticeRule()
    rectification: NoticeRule = NoticeRule()
    # Used for overdue-response, overdue-recovery and overdue-resolution, unless the
    # clock has its own rule below.
    overdue: NoticeRule = NoticeRule()
    overdue_response: NoticeRule | None = Field(default=None, alias="overdue-response")
    overdue_recovery: NoticeRule | None = Field(default=None, alias="overdue-recovery")
    overdue_resolution: NoticeRule | None = Field(default=None, alias="overdue-resolution")
    overdue_fix: NoticeRule | None = Field(default=None, alias="overdue-fix")
    # Before a clock breaches (warning-response, ...): once at each share of its target
    # in `at`. Off unless it has recipients and `at`.
    warning: NoticeRule = NoticeRule()
    # On by default (the seed hands work to people, who must hear of it): the new
    # owner of an assign or transfer, and the developers' team of a transfer to them.
    handover: NoticeRule = NoticeRule(
        sms=["assignee"], email=EmailRule(to=["assignee"], cc=["dev_team"])
    )
    # The incident managers, when a solution of a level with approval = true waits.
    approval: NoticeRule = NoticeRule(
        email=EmailRule(to=["incident_managers"]), remind_after=timedelta(hours=1)
    )
    # The customer (the seed: "keep customers updated on the progress as required"): a
    # note sent with --send, to the reporter's contact by its form (email or SMS); and,
    # `every` without one at a notifying level, a reminder to the owner.
    customer_update: NoticeRule = Field(
        default=NoticeRule(
            sms=["reporter"], email=EmailRule(to=["reporter"]), every=timedelta(hours=2)
        ),
        alias="customer-update",
    )
    customer_reminder: NoticeRule = Field(
        default=NoticeRule(sms=["assignee"], email=EmailRule(to=["assignee"])),
        alias="customer-reminder",
    )
    # The reporter, once the solution is provided (and approved where that is asked).
    confirmation: NoticeRule = NoticeRule(sms=["reporter"], email=EmailRule(to=["reporter"]))

    @model_validator(mode="after")
    def _progress_needs_interval(self) -> Notifications:
        if not self.progress.is_empty and self.progress.every is None:
            raise ValueError("progress.every: required when progress notices have recipients")
        return self

    def rule(self, name: str) -> NoticeRule:
        """The rule of a notice or rule name (``overdue-recovery``: its own rule if the
        policy has one, else ``overdue``)."""
        if name in _NOTICE_NAMES and NoticeName(name).clock is not None:
            own: NoticeRule | None = getattr(self, name.replace("-", "_"))
            if own is not None:
                return own
        rule_name = NoticeName(name).rule if name in _NOTICE_NAMES else NoticeRuleName(name)
        rule: NoticeRule = getattr(self, rule_name.replace("-", "_"))
        return rule


class Roles(_Model):
    om_team: Name
    rd_leader: Name
    incident_managers: list[Name] = []
    dev_team: Name | None = None  # the developers' team address (transfers to them)


class Service(_Model):
    owner: Name
    # the service's own people for these roles; unset: [roles]'
    om_team: Name | None = None
    rd_leader: Name | None = None
    dev_team: Name | None = None


class Contact(_Model):
    email: str | None = None
    phone: str | None = None

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
            raise ValueError(f"not an email address: {value!r}")
        return value

    @field_validator("phone")
    @classmethod
    def _phone_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\+?[0-9][0-9 ()-]{2,}", value):
            raise ValueError(f"not a phone number: {value!r} (use digits, e.g. +8613800000001)")
        return value


class SmtpTransport(_Model):
    type: Literal["smtp"] = "smtp"
    host: Name
    port: int = Field(default=25, ge=1, le=65535)
    from_: Name = Field(alias="from")
    username: str | None = None
    password_env: str | None = None
    security: Literal["none", "starttls", "ssl"] = "none"
    # PEM file of CA certificates to trust (instead of the system store) for TLS
    ca_file: Name | None = None
    timeout: Duration = timedelta(seconds=10)


class WebhookTransport(_Model):
    type: Literal["webhook"] = "webhook"
    url: Name
    headers: dict[str, str] = {}
    # header name -> NAME of the environment variable holding its value
    headers_env: dict[str, str] = {}
    timeout: Duration = timedelta(seconds=10)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {value!r}")
        if parts.password:
            raise ValueError(
                "the URL contains a password; secrets do not belong in the file: "
                "pass credentials in a header named by headers_env"
            )
        return value


class CommandTransport(_Model):
    type: Literal["command"] = "command"
    argv: list[Name] = Field(min_length=1)
    timeout: Duration = timedelta(seconds=10)


class PrintTransport(_Model):
    type: Literal["print"] = "print"


Transport = Annotated[
    SmtpTransport | WebhookTransport | CommandTransport | PrintTransport,
    Field(discriminator="type"),
]
_TRANSPORT_TAGS = ("smtp", "webhook", "command", "print")


def secret_variables(transport: Transport) -> list[str]:
    """The environment variables ``transport`` takes its secrets from."""
    if isinstance(transport, SmtpTransport):
        return [transport.password_env] if transport.password_env else []
    if isinstance(transport, WebhookTransport):
        return list(transport.headers_env.values())
    return []


class Team(_Model):
    """Who acts, in team mode (PostgreSQL): the database role a command connects as
    (``session_user``), not ``--as``. On an SQLite file, one person's, ``--as`` is trusted."""

    # database role -> the person it is; a role not listed is the person of its own name
    roles: dict[Name, Name] = {}
    # roles that may act as someone else (--as, INCIDENTCTL_USER): the cron account
    act_for_others: list[Name] = []

    def person_of(self, role: str) -> str:
        return self.roles.get(role, role)


class Retry(_Model):
    first: Duration = timedelta(minutes=1)
    factor: float = Field(default=2.0, ge=1.0)
    max_delay: Duration = timedelta(minutes=30)
    max_attempts: int = Field(default=10, ge=1)


class Escalation(_Model):
    # how often escalate runs (cron) or watch passes: a pass older than twice this is
    # warned about by the board, list, escalate --json and policy check
    expect_every: Duration = timedelta(minutes=5)


# --------------------------------------------------------------------------- intake


class _IntakeRule(_Model):
    """What an intake rule sets: the service, the level, or both."""

    service: Name | None = None
    level: int | None = None

    @model_validator(mode="after")
    def _sets_something(self) -> _IntakeRule:
        if self.service is None and self.level is None:
            raise ValueError("a rule sets `service` or `level` (or both)")
        return self


class EmailIntakeRule(_IntakeRule):
    """Where an email goes: the first rule whose recipient address and subject keyword
    (each where given) match sets its service and level."""

    to: str | None = None  # a recipient address (To, Cc, Delivered-To, --recipient)
    keyword: str | None = None  # a word in the subject (any case)

    @model_validator(mode="after")
    def _matches_something(self) -> EmailIntakeRule:
        if self.to is None and self.keyword is None:
            raise ValueError("a rule needs `to` (a recipient address) or `keyword`")
        return self


class EmailIntake(_Model):
    service: Name = "default"  # where a message that no rule matches goes
    level: int | None = None  # None: the policy's least severe level
    max_bytes: int = Field(default=10_000_000, ge=1024)  # larger messages are refused
    rules: list[EmailIntakeRule] = []


class AlertRule(_IntakeRule):
    """The first rule whose labels all match (``match = {team = "pay"}``) sets an
    alert's service and level."""

    match: dict[str, str] = Field(min_length=1)


class AlertIntake(_Model):
    # Unmatched by a rule: the service is the value of this label (else `service`), the
    # level is `levels[value of level_label]` (else `level`).
    service_label: Name = "service"
    service: Name = "default"
    level_label: Name = "severity"
    levels: dict[str, int] | None = None  # None: SEVERITY_LEVELS, within the policy's levels
    level: int | None = None  # None: the policy's least severe level
    rules: list[AlertRule] = []
    # One incident per alert (its fingerprint), or per Alertmanager group (groupKey).
    dedup: Literal["alert", "group"] = "alert"
    repeat: OnRepeat = OnRepeat.IGNORE  # the same alert again, still firing
    resolved: OnResolved = OnResolved.RECOVER  # the alert resolved
    max_bytes: int = Field(default=10_000_000, ge=1024)  # larger payloads are refused


# What the usual ``severity`` label values mean, where ``[intake.alert] levels`` is not set.
SEVERITY_LEVELS = {"critical": 1, "error": 2, "warning": 2, "info": 3}


class Storm(_Model):
    """More than ``max_new`` new incidents from intake for one service within
    ``window``: the next ones are listed on one storm incident instead."""

    enabled: bool = True
    max_new: int = Field(default=10, ge=1)
    window: Duration = timedelta(minutes=5)


class Intake(_Model):
    email: EmailIntake = EmailIntake()
    alert: AlertIntake = AlertIntake()
    storm: Storm = Storm()

    def levels_used(self) -> Iterable[tuple[str, int]]:
        """The levels the file names (each must be one of the policy's)."""
        if self.email.level is not None:
            yield "intake.email.level", self.email.level
        if self.alert.level is not None:
            yield "intake.alert.level", self.alert.level
        for value, n in (self.alert.levels or {}).items():
            yield f"intake.alert.levels.{value}", n
        for i, rule in enumerate(self.email.rules):
            if rule.level is not None:
                yield f"intake.email.rules.{i}.level", rule.level
        for i, alert_rule in enumerate(self.alert.rules):
            if alert_rule.level is not None:
                yield f"intake.alert.rules.{i}.level", alert_rule.level


# --------------------------------------------------------------------------- calendars

# The reserved calendar name: the clock runs all the time (the seed's 24/7).
ALWAYS_CALENDAR = "24/7"
_LEVEL_CALENDAR_KEYS = (
    "calendar",
    "response_calendar",
    "recovery_calendar",
    "resolution_calendar",
)
_DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
_DAY_MINUTES = 24 * 60
_HOURS_EXAMPLE = 'write "HH:MM-HH:MM", several comma-separated, e.g. "09:00-12:00, 13:00-18:00"'


@dataclass(frozen=True)
class _Refused:
    """A value the policy refused before its key's model saw it (a problem found where
    the whole file is in view): the key's own validator raises ``why``, so the message
    names that key (``calendars.office.ics: ...``)."""

    why: str


def _not_refused(value: Any) -> Any:
    if isinstance(value, _Refused):
        raise ValueError(value.why)
    return value


def _open_ranges(text: str) -> tuple[tuple[int, int], ...]:
    """``"09:00-12:00, 13:00-18:00"`` as minutes of the day: ``((540, 720), (780, 1080))``."""
    ranges: list[tuple[int, int]] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})\s*", part)
        if match is None:
            raise ValueError(f"not open hours: {text!r} ({_HOURS_EXAMPLE}; leave a closed day out)")
        opens = _minute_of_day(int(match[1]), int(match[2]), text, end=False)
        closes = _minute_of_day(int(match[3]), int(match[4]), text, end=True)
        if closes <= opens:
            raise ValueError(
                f"{part.strip()!r} does not end after it starts: a range past midnight ends "
                'at "24:00" and goes on at "00:00" the next day'
            )
        if ranges and opens < ranges[-1][1]:
            raise ValueError(f"{text!r}: the ranges must be in order and must not overlap")
        ranges.append((opens, closes))
    return tuple(ranges)


def _minute_of_day(hour: int, minute: int, text: str, *, end: bool) -> int:
    if (hour, minute) == (24, 0) and end:
        return _DAY_MINUTES
    if hour > 23 or minute > 59:
        latest = '"24:00" at the latest' if end else '"23:59" at the latest'
        raise ValueError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day ({latest})")
    return hour * 60 + minute


def _format_ranges(ranges: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(
        f"{opens // 60:02d}:{opens % 60:02d}-{closes // 60:02d}:{closes % 60:02d}"
        for opens, closes in ranges
    )


def _is_zone(name: object) -> bool:
    return isinstance(name, str) and named_zone(name) is not None


def _ics_holidays(path: Path) -> dict[date, str]:
    """The dates of an ICS file's all-day events (DTEND exclusive), with their
    summaries; ``ValueError`` saying what is wrong with the file."""
    import icalendar

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        calendar = icalendar.Calendar.from_ical(raw)
    except ValueError as exc:
        raise ValueError(f"{path} is not an iCalendar file: {exc}") from None
    names: dict[date, list[str]] = {}
    for event in calendar.walk("VEVENT"):
        summary = str(event.get("SUMMARY", "")).strip() or "holiday"
        if "DTSTART" not in event:
            raise ValueError(f"{path}: the event {summary!r} has no DTSTART")
        if "RRULE" in event:
            raise ValueError(
                f"{path}: the event {summary!r} repeats (RRULE), which is not expanded: "
                "give each date its own event"
            )
        start = event.decoded("DTSTART")
        if "DTEND" in event:
            end = event.decoded("DTEND")
        elif "DURATION" in event:
            end = start + event.decoded("DURATION")
        else:
            end = start + timedelta(days=1)
        if isinstance(start, datetime) or isinstance(end, datetime):
            raise ValueError(
                f"{path}: the event {summary!r} on {start:%Y-%m-%d} has a time of day; "
                "only all-day events are holidays"
            )
        day = start
        while day < end or day == start:
            names.setdefault(day, []).append(summary)
            day += timedelta(days=1)
    return {day: "; ".join(dict.fromkeys(found)) for day, found in sorted(names.items())}


class HolidayDates(Container[date]):
    """A calendar's holidays: its listed dates, its ICS file's, and its country's."""

    def __init__(
        self,
        listed: Iterable[date],
        named: Mapping[date, str],
        country: HolidayBase | None = None,
    ) -> None:
        self._listed = frozenset(listed)
        self._named = dict(named)
        self._country = country

    def __contains__(self, day: object) -> bool:
        return (
            day in self._listed
            or day in self._named
            or (self._country is not None and isinstance(day, date) and day in self._country)
        )

    def name(self, day: date) -> str | None:
        """The holiday's name (the ICS event's summary, else the country's); None for a
        date only listed in ``holidays``."""
        if day in self._named:
            return self._named[day]
        if self._country is not None:
            found: str | None = self._country.get(day)
            return found
        return None


@dataclass(frozen=True)
class CalendarData:
    """The plain data a business calendar is built from (``policy.calendar``'s
    ``build_calendar`` takes it): the zone, the open ranges of each weekday (0 Monday,
    minutes of the day, 1440 for "24:00") and the holidays."""

    zone: ZoneInfo
    hours: Mapping[int, tuple[tuple[int, int], ...]]
    holidays: HolidayDates

    def holiday_name(self, day: date) -> str | None:
        return self.holidays.name(day)


class CalendarConfig(_Model):
    """``[calendars.NAME]``: business hours an SLA clock may count in.

    Self-contained once loaded: ``ics`` was read into ``ics_dates`` (its path is kept
    only to say where they came from), so the dumped form reads back as the same
    calendar without the file."""

    # Required once loaded: a calendar without one takes the policy's top-level zone.
    timezone: str
    mon: str | None = None
    tue: str | None = None
    wed: str | None = None
    thu: str | None = None
    fri: str | None = None
    sat: str | None = None
    sun: str | None = None
    holidays: list[date] = []
    ics: str | None = None
    # The dates ``ics`` gave when the policy was loaded, with the events' summaries.
    # Given in the file, they are taken as they are and ``ics`` is not read again.
    ics_dates: dict[date, str] | None = None
    country: str | None = None  # ISO code for the holidays package: "DE"
    subdivision: str | None = None  # of that country: "BY"

    @model_validator(mode="before")
    @classmethod
    def _read_ics(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping) or not isinstance(data.get("ics"), str):
            return data
        if data.get("ics_dates") is not None:
            return data
        written = data["ics"]
        path = Path(written)
        base = (info.context or {}).get("policy_dir")
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        try:
            return {**data, "ics_dates": _ics_holidays(path)}
        except ValueError as exc:
            return {**data, "ics": _Refused(f"{written!r}: {exc}")}

    @field_validator("timezone", "ics", mode="before")
    @classmethod
    def _refused_before(cls, value: Any) -> Any:
        return _not_refused(value)

    @field_validator("timezone")
    @classmethod
    def _calendar_zone(cls, value: str) -> str:
        if not _is_zone(value):
            raise ValueError(
                f"{value!r} is not a known time zone; use a name such as Europe/Berlin or UTC"
            )
        return value

    @field_validator(*_DAY_KEYS, mode="before")
    @classmethod
    def _day_hours(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"expected open hours as a string, got {value!r} ({_HOURS_EXAMPLE})")
        return _format_ranges(_open_ranges(value))

    @field_validator("holidays", mode="before")
    @classmethod
    def _holiday_dates(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError(f'expected a list of dates like ["2026-12-25"], got {value!r}')
        days = set()
        for item in value:
            if isinstance(item, date) and not isinstance(item, datetime):
                days.add(item)
            elif isinstance(item, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", item):
                try:
                    days.add(date.fromisoformat(item))
                except ValueError as exc:
                    raise ValueError(f"{item!r} is not a date: {exc}") from None
            else:
                raise ValueError(f'{item!r} is not a date like "2026-12-25"')
        return sorted(days)

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import holidays

        known = holidays.list_supported_countries()
        if value.upper() not in known:
            raise ValueError(
                f"{value!r} is not a country the holidays package knows; use an ISO 3166-1 "
                "code such as DE, US or CN"
            )
        return value.upper()

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or "country" not in info.data:  # a bad country is said there
            return value
        country = info.data["country"]
        if country is None:
            raise ValueError('a subdivision needs a country (e.g. country = "DE")')
        import holidays

        known = holidays.list_supported_countries()[country]
        for code in known:
            if code.upper() == value.upper():
                return str(code)
        raise ValueError(
            f"{value!r} is not a subdivision of {country} (known: {', '.join(known) or 'none'})"
        )

    @model_validator(mode="after")
    def _has_open_hours(self) -> CalendarConfig:
        if not any(getattr(self, key) for key in _DAY_KEYS):
            raise ValueError(
                'no open hours in the week: give at least one day, e.g. mon = "09:00-18:00"'
            )
        return self

    def hours(self) -> dict[int, tuple[tuple[int, int], ...]]:
        """The open ranges of each weekday (0 Monday), minutes of the day; closed days
        are left out."""
        return {
            day: _open_ranges(text)
            for day, key in enumerate(_DAY_KEYS)
            if (text := getattr(self, key)) is not None
        }

    def spec(self) -> CalendarData:
        """The plain data a business calendar is built from (``build_calendar``)."""
        country = None
        if self.country is not None:
            import holidays

            kind = holidays.country_holidays(self.country, subdiv=self.subdivision)
            # names a person reads: in English where the package has them
            language = "en_US" if "en_US" in kind.supported_languages else None
            country = holidays.country_holidays(
                self.country, subdiv=self.subdivision, language=language
            )
        return CalendarData(
            zone=ZoneInfo(self.timezone),
            hours=self.hours(),
            holidays=HolidayDates(self.holidays, self.ics_dates or {}, country),
        )


def _calendar_with_zone(spec: Any, zone: Any) -> Any:
    """A ``[calendars.NAME]`` table without ``timezone`` takes the policy's."""
    if not isinstance(spec, Mapping) or "timezone" in spec:
        return spec
    if zone is None:
        why = "no time zone: set timezone here or the policy's top-level timezone"
        return {**spec, "timezone": _Refused(why)}
    if not _is_zone(zone):
        return {**spec, "timezone": _Refused("no time zone: the top-level timezone is not one")}
    return {**spec, "timezone": zone}


def _level_with_known_calendars(level: Any, known: Iterable[str]) -> Any:
    """A level naming a calendar the policy does not define has that key refused."""
    if not isinstance(level, Mapping):
        return level
    names = sorted(known)
    checked = dict(level)
    for key in _LEVEL_CALENDAR_KEYS:
        name = level.get(key)
        if isinstance(name, str) and name not in (*names, ALWAYS_CALENDAR):
            choices = ", ".join(f'"{n}"' for n in (*names, ALWAYS_CALENDAR))
            checked[key] = _Refused(f"no calendar {name!r} in the policy (calendars: {choices})")
    return checked


class Policy(_Model):
    relevel: RelevelMode = RelevelMode.KEEP_START
    # The team's zone (an IANA name): the review and the report are written in it.
    # None: the TZ environment variable's.
    timezone: str | None = None
    levels: dict[int, Level]
    notifications: Notifications = Notifications()
    roles: Roles
    services: dict[str, Service]
    contacts: dict[str, Contact] = {}
    transports: dict[ContactChannel, Transport] = {}
    retry: Retry = Retry()
    escalation: Escalation = Escalation()
    calendars: dict[str, CalendarConfig] = {}
    intake: Intake = Intake()
    team: Team = Team()

    @model_validator(mode="before")
    @classmethod
    def _calendars_in_view(cls, data: Any) -> Any:
        """What a calendar or a level's calendar key needs of the whole file: the
        top-level zone, the calendars' names."""
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        calendars = data.get("calendars")
        if not isinstance(calendars, Mapping):
            calendars = {}
        if calendars:
            zone = data.get("timezone")
            data["calendars"] = {
                name: _calendar_with_zone(spec, zone) for name, spec in calendars.items()
            }
        if isinstance(data.get("levels"), Mapping):
            data["levels"] = {
                n: _level_with_known_calendars(level, calendars)
                for n, level in data["levels"].items()
            }
        return data

    @model_validator(mode="after")
    def _level_calendars_exist(self) -> Policy:
        # (a file's unknown names were refused at the key; this covers models built in code)
        for n, level in self.levels.items():
            for key in _LEVEL_CALENDAR_KEYS:
                name = getattr(level, key)
                if name not in (None, ALWAYS_CALENDAR, *self.calendars):
                    raise ValueError(f"level {n}: {key}: no calendar {name!r} in the policy")
        return self

    @model_validator(mode="after")
    def _intake_levels_exist(self) -> Policy:
        for key, n in self.intake.levels_used():
            if n not in self.levels:
                known = ", ".join(str(k) for k in sorted(self.levels))
                raise ValueError(f"{key}: no level {n} in the policy (levels: {known})")
        return self

    @field_validator("levels", mode="before")
    @classmethod
    def _level_keys(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            for key in value:
                if isinstance(key, bool) or not (
                    (isinstance(key, int) and key >= 1)
                    or (isinstance(key, str) and re.fullmatch(r"[1-9][0-9]*", key))
                ):
                    raise ValueError(
                        f"level {str(key)!r} is not a whole number 1 or more "
                        "(write [levels.1], [levels.2], ...)"
                    )
                if len(str(key)) > 10 or int(key) > MAX_LEVEL:
                    raise ValueError(f"level {clipped(str(key), 40)} is larger than {MAX_LEVEL}")
            if not value:
                raise ValueError("at least one level is required")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if named_zone(value) is None:
            raise ValueError(
                f"{value!r} is not a known time zone; use a name such as Asia/Shanghai or UTC"
            )
        return value

    @field_validator("services")
    @classmethod
    def _has_default(cls, value: dict[str, Service]) -> dict[str, Service]:
        if "default" not in value:
            raise ValueError(
                "a [services.default] table is required (the owner of services not listed)"
            )
        return value

    def level(self, n: int) -> Level:
        """The level ``n``; ``InvalidInput`` if the policy does not define it."""
        try:
            return self.levels[n]
        except KeyError:
            known = ", ".join(str(k) for k in sorted(self.levels))
            raise InvalidInput(f"no level {n} in the policy (levels: {known})") from None

    def service(self, name: str) -> Service:
        """The policy of service ``name``, falling back to ``services.default``."""
        return self.services.get(name, self.services["default"])

    def owner_of(self, service: str) -> str:
        """The owner of ``service``, falling back to ``services.default``."""
        return self.service(service).owner

    def role_of(self, role: str, service: str) -> str | None:
        """Who plays ``role`` (om_team, rd_leader, dev_team) for ``service``: the
        service's own, else ``[roles]``'."""
        own: str | None = getattr(self.service(service), role)
        return own or getattr(self.roles, role)

    def resolve(self, token: str, service: str) -> list[str]:
        """Contact names for a recipient token of a notification rule."""
        if token == "service_owner":
            return [self.owner_of(service)]
        if token in _SERVICE_ROLES:
            name = self.role_of(token, service)
            return [name] if name else []
        if token == "incident_managers":
            return list(self.roles.incident_managers)
        return [token]

    def secret_variables(self) -> set[str]:
        """The environment variables the transports take their secrets from."""
        return {name for t in self.transports.values() for name in secret_variables(t)}

    def people(self) -> dict[str, list[str]]:
        """Every name the policy knows (roles, service owners, contacts), with the parts
        each plays, by name: ``{"li.wei": ["R&D leader"], "chen.jie": ["owner of payments"]}``."""
        parts: dict[str, list[str]] = {}

        def plays(name: str, part: str) -> None:
            parts.setdefault(name, []).append(part)

        for name in self.roles.incident_managers:
            plays(name, "incident manager")
        plays(self.roles.rd_leader, "R&D leader")
        plays(self.roles.om_team, "O&M team")
        if self.roles.dev_team:
            plays(self.roles.dev_team, "developers' team")
        for service, entry in self.services.items():
            plays(entry.owner, "default owner" if service == "default" else f"owner of {service}")
            for role, part in _ROLE_PARTS.items():
                if getattr(entry, role):
                    plays(getattr(entry, role), f"{part} of {service}")
        for name in self.contacts:
            parts.setdefault(name, [])
        return dict(sorted(parts.items()))

    def intake_level(self, level: int | None) -> int:
        """An intake default level: as set, else the least severe of the policy."""
        return level if level is not None else max(self.levels)

    def severity_levels(self) -> dict[str, int]:
        """``[intake.alert] levels``, else ``SEVERITY_LEVELS`` within the policy's levels."""
        if self.intake.alert.levels is not None:
            return {k.lower(): n for k, n in self.intake.alert.levels.items()}
        # Each at the policy's nearest level no more severe than it (else its most severe).
        return {
            k: max((m for m in self.levels if m <= n), default=min(self.levels))
            for k, n in SEVERITY_LEVELS.items()
        }

    def person_at(self, address: str, channel: ContactChannel) -> str | None:
        """The contact whose address on ``channel`` is ``address`` (emails in any case,
        phone numbers as written in the policy, spaces and dashes aside); None: nobody."""

        def plain(value: str) -> str:
            if channel == ContactChannel.EMAIL:
                return value.strip().lower()
            return re.sub(r"[\s()-]", "", value)

        wanted = plain(address)
        for name in self.contacts:
            known = self.address(name, channel)
            if known and plain(known) == wanted:
                return name
        return None

    def address(self, name: str, channel: ContactChannel) -> str | None:
        """The address of contact ``name`` on ``channel`` (sms/phone use the phone)."""
        contact = self.contacts.get(name)
        if contact is None:
            return None
        return contact.email if channel == ContactChannel.EMAIL else contact.phone


class ClockPolicy(_Model):
    """The part of a policy the SLA clocks follow: a policy version's text (the levels
    in force, the re-level mode, the calendars) reads back as this."""

    relevel: RelevelMode = RelevelMode.KEEP_START
    levels: dict[int, Level]
    calendars: dict[str, CalendarConfig] = {}


def clock_text(policy: Policy | ClockPolicy) -> str:
    """The clock part of ``policy`` as canonical JSON (sorted keys, durations as in the
    file): the text a policy version is stored with, and what its hash is taken of."""
    import orjson

    part = ClockPolicy.model_validate(
        {name: getattr(policy, name) for name in ClockPolicy.model_fields}
    )
    data = _plain(part.model_dump(mode="python", by_alias=True))
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


def clock_policy(text: str) -> ClockPolicy:
    """A policy version's text read back (``clock_text``)."""
    import orjson

    return ClockPolicy.model_validate(orjson.loads(text))


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    source: str  # the file it came from, or "built-in"
    warnings: tuple[str, ...] = ()  # said on stderr by the command that uses it


# --------------------------------------------------------------------------- loading


def load_policy(
    path: Path | str | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> LoadedPolicy:
    """Find, read and validate the effective policy (see the module docstring)."""
    found, how = policy_file(path, environ=environ, cwd=cwd)
    if found is None:
        return LoadedPolicy(builtin_policy(), BUILTIN_SOURCE)
    return _load_file(found, how=how)


def policy_file(
    path: Path | str | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> tuple[Path | None, str]:
    """The file the lookup reads (None: the built-in policy), and how it was named
    (for "no such file" messages; empty when it was found rather than named)."""
    if path is not None:
        return Path(path), "given with --config"
    env_path = environ.get(CONFIG_VARIABLE)
    if env_path:
        return Path(env_path), f"named by {CONFIG_VARIABLE}"
    local = (cwd / FILE_NAME) if cwd is not None else Path(FILE_NAME)
    if local.is_file():
        return local, ""
    user_file = user_policy_file(environ)
    if user_file.is_file():
        return user_file, ""
    return None, ""


def user_policy_file(environ: Mapping[str, str] = os.environ) -> Path:
    """``sla.toml`` in the user config directory (``INCIDENTCTL_CONFIG_DIR`` overrides it)."""
    user_dir = environ.get(CONFIG_DIR_VARIABLE)
    if user_dir:
        return Path(user_dir) / FILE_NAME
    import platformdirs

    return platformdirs.user_config_path("incidentctl") / FILE_NAME


def seed_text() -> str:
    """The shipped ``sla.toml``, comments and all: the built-in policy and ``init``'s file."""
    return resources.files("incidentctl").joinpath(FILE_NAME).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def builtin_policy() -> Policy:
    """The policy shipped with the package (parsed once per process)."""
    return parse_policy(seed_text(), BUILTIN_SOURCE)


def check_seed_target(path: Path, *, force: bool, environ: Mapping[str, str] = os.environ) -> bool:
    """Refuse a ``write_seed`` that cannot or may not be done, before anything is written;
    True when there is a file to replace.

    An existing file is kept (``Conflict``) unless ``force``. Only the user config
    directory is created when missing: another missing directory is refused, as for the
    database, since a mistyped ``--path`` would write a policy that nothing reads."""
    try:
        is_dir, existed = path.is_dir(), path.exists() or path.is_symlink()
    except OSError as exc:  # a name too long for the file system
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from None
    if is_dir:
        raise InvalidInput(
            f"{path} is a directory: name the policy file, e.g. --path {path / FILE_NAME}"
        )
    if existed and not force:
        raise Conflict(
            f"{path} already exists and was left as it is: check it with "
            f"`incidentctl --config {path} policy check`, or replace it with the seed "
            "policy with --force"
        )
    if not path.parent.is_dir() and path.absolute() != user_policy_file(environ).absolute():
        raise InvalidInput(
            f"no directory {path.parent} for the policy file {path.name}: check --path, "
            "or create the directory"
        )
    return existed


def write_seed(path: Path, *, force: bool, environ: Mapping[str, str] = os.environ) -> bool:
    """Write the commented seed policy to ``path``, readable by its owner only (it names
    people and their addresses); True when it replaced a file.

    Checked first (``check_seed_target``). A replaced file is replaced in one step (a
    temporary file renamed over it), so a reader never sees half a policy.
    """
    existed = check_seed_target(path, force=force, environ=environ)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # the user config directory
    data = seed_text().encode("utf-8")
    if not existed:
        _write_new(path, data)
        return False
    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        _write_new(temporary, data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return True


def _write_new(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Conflict(f"{path} already exists and was left as it is") from None
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            os.fchmod(stream.fileno(), 0o600)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from None


MAX_LEVEL = 2**31 - 1  # a level is stored in a 32-bit INTEGER column (PostgreSQL)
POLICY_LINE_LIMIT = 10_000  # characters of one line of sla.toml


def parse_policy(text: str, source: str) -> Policy:
    """Validate policy TOML ``text``; errors are ``ConfigError`` prefixed with ``source``."""
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) > POLICY_LINE_LIMIT:  # (tomllib takes minutes over a long dotted key)
            raise ConfigError(
                f"{source}: line {number}: longer than {POLICY_LINE_LIMIT:,} characters"
            )
    try:
        data = tomllib.loads(text)
        secrets = list(_literal_secrets(data, ()))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {_toml_message(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: tables, arrays or keys nested too deeply") from None
    if secrets:
        raise ConfigError("\n".join(f"{source}: {problem}" for problem in secrets))
    # An ICS path is relative to the policy file's directory (the built-in: the cwd).
    context = {"policy_dir": str(Path(source).parent)} if source != BUILTIN_SOURCE else {}
    try:
        return Policy.model_validate(data, context=context)
    except ValidationError as exc:
        lines = [f"{source}: {_error_line(err)}" for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    except RecursionError:
        raise ConfigError(f"{source}: tables, arrays or keys nested too deeply") from None


def _load_file(path: Path, *, how: str) -> LoadedPolicy:
    source = str(path)
    try:
        if not path.exists():
            suffix = f" ({how})" if how else ""
            raise ConfigError(f"{source}: no such file{suffix}")
        if path.is_dir():
            raise ConfigError(f"{source}: is a directory, not a policy file")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or exc}") from None
    policy = parse_policy(text, source)
    return LoadedPolicy(policy, source, _exposure(path, policy))


def _exposure(path: Path, policy: Policy) -> tuple[str, ...]:
    """A policy that names where its secrets are kept should be its owner's alone: whoever
    reads it learns which variables to look for, and the next edit may paste a secret."""
    names = sorted(policy.secret_variables())
    mode = path.stat().st_mode & 0o777
    if not names or not mode & 0o044:
        return ()
    return (
        f"{path} is readable by others (mode {mode:o}) and names the secret variables "
        f"{', '.join(names)}: chmod 600 {path}",
    )


def _toml_message(exc: tomllib.TOMLDecodeError) -> str:
    """``Expected '=' ... (at line 3, column 5)`` → ``line 3, column 5: Expected '=' ...``."""
    message = str(exc)
    match = re.fullmatch(r"(?s)(.*?)\s*\(at line (\d+), column (\d+)\)", message)
    if match:
        return f"line {match[2]}, column {match[3]}: {match[1]}"
    match = re.fullmatch(r"(?s)(.*?)\s*\(at end of document\)", message)
    if match:
        return f"at end of file: {match[1]}"
    return message


def _literal_secrets(node: Any, path: tuple[str, ...]) -> list[str]:
    """Keys holding a literal secret (leaf keys only: table names are data, e.g. names)."""
    problems: list[str] = []
    if not isinstance(node, dict):
        return problems
    for key, value in node.items():
        here = (*path, str(key))
        if isinstance(value, dict):
            problems.extend(_literal_secrets(value, here))
            continue
        dotted = ".".join(map(_key, here))
        parent = path[-1] if path else ""
        if parent == "headers_env" or key.endswith("_env"):
            continue
        if parent == "headers":
            if _SECRET_HEADER_RE.search(key):
                problems.append(
                    f"{dotted}: secrets do not belong in the file; move this header to "
                    f'headers_env = {{ "{key}" = "NAME_OF_AN_ENVIRONMENT_VARIABLE" }}'
                )
            continue
        if _SECRET_KEY_RE.search(key):
            problems.append(
                f"{dotted}: secrets do not belong in the file; put the secret in an "
                "environment variable and name the variable instead, "
                'e.g. password_env = "INCIDENTCTL_SMTP_PASSWORD"'
            )
    return problems


_MESSAGES = {
    "extra_forbidden": "unknown key (check the spelling)",
    "missing": "required key is missing",
}
_SHOW_INPUT = {
    "literal_error",
    "enum",
    "int_parsing",
    "int_type",
    "float_parsing",
    "float_type",
    "bool_parsing",
    "bool_type",
    "string_type",
    "greater_than_equal",
    "less_than_equal",
    "union_tag_invalid",
}


def _key(part: str) -> str:
    """A key as a message shows it: quoted where it holds a line break or a control."""
    return part if part.isprintable() else json.dumps(part)


def _error_line(err: Mapping[str, Any]) -> str:
    loc = [_key(str(part)) for part in err["loc"] if part != "[key]"]
    # Discriminated unions add the tag to the location: transports.email.smtp.host.
    if len(loc) >= 3 and loc[0] == "transports" and loc[2] in _TRANSPORT_TAGS:
        del loc[2]
    kind = err["type"]
    message = _MESSAGES.get(kind) or str(err["msg"]).removeprefix("Value error, ")
    if kind in ("literal_error", "enum") or kind.endswith(("_parsing", "_type")):
        message = message[:1].lower() + message[1:]
    if kind in _SHOW_INPUT and not isinstance(err.get("input"), dict | list):
        message = f"{message} (got {err['input']!r})"
    # A model-level validator reports "progress.every: ..." at the model's location.
    nested = re.fullmatch(r"(?s)([a-z_]+(?:\.[a-z_]+)+): (.*)", message)
    if nested:
        loc.append(nested[1])
        message = nested[2]
    where = ".".join(loc) if loc else "(top level)"
    return f"{where}: {message}"


# --------------------------------------------------------------------------- checks


def recipient_problems(policy: Policy) -> list[str]:
    """Recipients that do not resolve to an address on a channel they are used on.

    For ``policy check``: every role/contact named in a notification rule, for every
    service's owner, must have an email (email) or a phone number (sms, phone).
    """
    problems: list[str] = []
    if not any(level.notify for level in policy.levels.values()):
        return problems
    seen: set[tuple[str, str, str]] = set()
    for notice in (*NoticeRuleName, *_CLOCK_RULES):
        rule = policy.notifications.rule(notice)
        for channel in ContactChannel:
            for token in rule.recipients(channel):
                if token in INCIDENT_TOKENS:
                    continue
                for service in policy.services:
                    for name in policy.resolve(token, service):
                        if (notice, channel, name) in seen:
                            continue
                        seen.add((notice, channel, name))
                        if policy.address(name, channel) is None:
                            field = "email" if channel == ContactChannel.EMAIL else "phone"
                            what = (
                                "no such contact"
                                if name not in policy.contacts
                                else f"contact has no {field}"
                            )
                            problems.append(
                                f"notifications.{notice}.{channel}: {name!r} ({token}): {what}"
                            )
    return problems + step_problems(policy)


_CLOCK_RULES = ("overdue-response", "overdue-recovery", "overdue-resolution", "overdue-fix")


def step_problems(policy: Policy) -> list[str]:
    """Escalation steps that can never fire (``policy check``): a step whose recipients
    resolve to nobody for every service (an unset role), or one at the same time as an
    earlier step (it would be one message with it, as two rungs of one ladder)."""
    problems = []
    for notice in ("overdue", *_CLOCK_RULES):
        rule = policy.notifications.rule(notice)
        own = getattr(policy.notifications, notice.replace("-", "_"))
        if own is not rule or not rule.steps:
            continue
        ordered = sorted(rule.steps, key=lambda s: s.after)
        for n, step in enumerate(ordered):
            where = f"notifications.{notice}.steps[{rule.steps.index(step)}]"
            tokens = [*step.to, *step.cc, *step.phone]
            reached = [
                name
                for token in tokens
                if token not in INCIDENT_TOKENS
                for service in policy.services
                for name in policy.resolve(token, service)
            ]
            if not reached and not any(t in INCIDENT_TOKENS for t in tokens):
                problems.append(f"{where}: reaches nobody, so it can never fire")
            elif n and step.after == ordered[n - 1].after:
                problems.append(f"{where}: at the same time as an earlier step")
    return problems


# --------------------------------------------------------------------------- display


def policy_as_dict(policy: Policy) -> dict[str, Any]:
    """A plain, JSON-able view of the policy for ``policy show``.

    Durations in the file's form (``30m``), keys as in the file (``from``), level keys
    as strings, and credential-looking literal header values masked as ``***``
    (``password_env`` / ``headers_env`` hold variable names, shown as they are).
    """
    data = policy.model_dump(mode="python", by_alias=True)
    data["levels"] = {str(k): v for k, v in sorted(data["levels"].items())}
    for rule in data["notifications"].values():
        if rule and rule.get("at"):  # warnings' shares of the target, as written: "75%"
            rule["at"] = [_percentage(share) for share in rule["at"]]
    for transport in data["transports"].values():
        headers = transport.get("headers")
        if headers:
            transport["headers"] = {
                name: ("***" if _SECRET_HEADER_RE.search(name) else value)
                for name, value in headers.items()
            }
    plain: dict[str, Any] = _plain(data)
    return plain


def _percentage(share: float) -> str:
    """``0.75`` as ``"75%"``: the shortest percentage that reads back as ``share``."""
    for decimals in range(400):
        written = f"{share * 100:.{decimals}f}%"
        try:
            if _fraction(written) == share:
                return written
        except ValueError:  # rounded to 0% or 100%: more decimals
            continue
    raise AssertionError(f"no percentage reads back as {share!r}")  # (a share in (0, 1) has one)


def _plain(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, date):  # calendars' holidays: "2026-12-25"
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
