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

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from incidentctl.domain import ContactChannel, NoticeName, NoticeRuleName, RelevelMode
from incidentctl.errors import ConfigError, InvalidInput
from incidentctl.times import format_duration, parse_duration

__all__ = [
    "BUILTIN_SOURCE",
    "CommandTransport",
    "Contact",
    "EmailRule",
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
    "load_policy",
    "parse_policy",
    "policy_as_dict",
    "recipient_problems",
]

BUILTIN_SOURCE = "built-in"
CONFIG_VARIABLE = "INCIDENTCTL_CONFIG"
CONFIG_DIR_VARIABLE = "INCIDENTCTL_CONFIG_DIR"
FILE_NAME = "sla.toml"

_NOTICE_NAMES = frozenset(NoticeName)
_SERVICE_ROLES = ("om_team", "rd_leader", "dev_team")  # a service may name its own
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


class EmailRule(_Model):
    to: list[Name] = []
    cc: list[Name] = []


class NoticeRule(_Model):
    within: Duration | None = None
    every: Duration | None = None
    remind_after: Duration | None = None  # approval: the reminder while unapproved
    sms: list[Name] = []
    email: EmailRule = EmailRule()
    phone: list[Name] = []

    def recipients(self, channel: ContactChannel) -> list[str]:
        """Every recipient token used on ``channel`` (email: To then Cc)."""
        if channel == ContactChannel.EMAIL:
            return [*self.email.to, *self.email.cc]
        return list(self.sms if channel == ContactChannel.SMS else self.phone)

    @property
    def is_empty(self) -> bool:
        return not (self.sms or self.phone or self.email.to or self.email.cc)


class Notifications(_Model):
    initial: NoticeRule = NoticeRule()
    progress: NoticeRule = NoticeRule()
    rectification: NoticeRule = NoticeRule()
    # Used for overdue-response, overdue-recovery and overdue-resolution.
    overdue: NoticeRule = NoticeRule()
    # On by default (the seed hands work to people, who must hear of it): the new
    # owner of an assign or transfer, and the developers' team of a transfer to them.
    handover: NoticeRule = NoticeRule(
        sms=["assignee"], email=EmailRule(to=["assignee"], cc=["dev_team"])
    )
    # The incident managers, when a solution of a level with approval = true waits.
    approval: NoticeRule = NoticeRule(
        email=EmailRule(to=["incident_managers"]), remind_after=timedelta(hours=1)
    )

    @model_validator(mode="after")
    def _progress_needs_interval(self) -> Notifications:
        if not self.progress.is_empty and self.progress.every is None:
            raise ValueError("progress.every: required when progress notices have recipients")
        return self

    def rule(self, name: str) -> NoticeRule:
        """The rule of a notice or rule name (``overdue-recovery`` → ``overdue``)."""
        rule_name = NoticeName(name).rule if name in _NOTICE_NAMES else NoticeRuleName(name)
        rule: NoticeRule = getattr(self, rule_name)
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


class Retry(_Model):
    first: Duration = timedelta(minutes=1)
    factor: float = Field(default=2.0, ge=1.0)
    max_delay: Duration = timedelta(minutes=30)
    max_attempts: int = Field(default=10, ge=1)


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
            if not value:
                raise ValueError("at least one level is required")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a known time zone; use a name such as Asia/Shanghai or UTC"
            ) from None
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

    def address(self, name: str, channel: ContactChannel) -> str | None:
        """The address of contact ``name`` on ``channel`` (sms/phone use the phone)."""
        contact = self.contacts.get(name)
        if contact is None:
            return None
        return contact.email if channel == ContactChannel.EMAIL else contact.phone


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    source: str  # the file it came from, or "built-in"


# --------------------------------------------------------------------------- loading


def load_policy(
    path: Path | str | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> LoadedPolicy:
    """Find, read and validate the effective policy (see the module docstring)."""
    if path is not None:
        return _load_file(Path(path), how="given with --config")
    env_path = environ.get(CONFIG_VARIABLE)
    if env_path:
        return _load_file(Path(env_path), how=f"named by {CONFIG_VARIABLE}")
    local = (cwd / FILE_NAME) if cwd is not None else Path(FILE_NAME)
    if local.is_file():
        return _load_file(local, how="")
    user_dir = environ.get(CONFIG_DIR_VARIABLE)
    if user_dir:
        user_file = Path(user_dir) / FILE_NAME
    else:
        import platformdirs

        user_file = platformdirs.user_config_path("incidentctl") / FILE_NAME
    if user_file.is_file():
        return _load_file(user_file, how="")
    return LoadedPolicy(builtin_policy(), BUILTIN_SOURCE)


@lru_cache(maxsize=1)
def builtin_policy() -> Policy:
    """The policy shipped with the package (parsed once per process)."""
    text = resources.files("incidentctl").joinpath(FILE_NAME).read_text(encoding="utf-8")
    return parse_policy(text, BUILTIN_SOURCE)


def parse_policy(text: str, source: str) -> Policy:
    """Validate policy TOML ``text``; errors are ``ConfigError`` prefixed with ``source``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {_toml_message(exc)}") from None
    secrets = list(_literal_secrets(data, ()))
    if secrets:
        raise ConfigError("\n".join(f"{source}: {problem}" for problem in secrets))
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_error_line(err)}" for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def _load_file(path: Path, *, how: str) -> LoadedPolicy:
    source = str(path)
    if not path.exists():
        suffix = f" ({how})" if how else ""
        raise ConfigError(f"{source}: no such file{suffix}")
    if path.is_dir():
        raise ConfigError(f"{source}: is a directory, not a policy file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or exc}") from None
    return LoadedPolicy(parse_policy(text, source), source)


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
        dotted = ".".join(here)
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


def _error_line(err: Mapping[str, Any]) -> str:
    loc = [str(part) for part in err["loc"] if part != "[key]"]
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
    for notice in NoticeRuleName:
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
    for transport in data["transports"].values():
        headers = transport.get("headers")
        if headers:
            transport["headers"] = {
                name: ("***" if _SECRET_HEADER_RE.search(name) else value)
                for name, value in headers.items()
            }
    plain: dict[str, Any] = _plain(data)
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
