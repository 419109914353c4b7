"""Durations and times: parsing what users type, and rendering what we print.

Pure functions (stdlib + dateutil). Every datetime that leaves this module is
timezone-aware and in UTC. Nothing here checks whether a time is in the future or
before an incident was reported: callers do that.

Accepted command-line times (``parse_time``):

- RFC 3339 / ISO 8601 with an offset: ``2026-11-25T03:00:00+08:00``, ``...Z``
  (a space may replace the ``T``; seconds and fractions are optional);
- the same without an offset: local wall-clock time in ``tz`` (default: the zone
  named by the ``TZ`` environment variable, else the system zone), e.g.
  ``2026-11-25 11:00`` or ``2026-11-25T11:00:00``;
- ``HH:MM`` or ``HH:MM:SS``: the most recent such moment, local time: today's, or
  yesterday's when today's is still to come (at 00:10, ``23:55`` is last night's);
  ``yesterday 23:55`` and ``today 09:00`` say the day;
- ``15m ago``, ``1h30m ago``, ``2d ago``, and as people say them, ``15 min ago``,
  ``2 hours ago``, ``1 hour 30 minutes ago``: ``now`` minus a duration;
- ``now``.

Refused, with a sentence saying why: a date alone (``2026-11-25``: say which time of
day), numeric dates that are not year-first (``03/04/2026``, ``3.4.2026``,
``04-03-2026``: day/month order is ambiguous), local times that do not exist (skipped
by a DST change) and local times that happen twice (DST fold: give an offset), and
anything else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from incidentctl.errors import InvalidInput

__all__ = [
    "document_zone",
    "ensure_utc",
    "format_duration",
    "local_zone",
    "parse_duration",
    "parse_time",
    "to_rfc3339",
    "utc_now",
]

NOW_VARIABLE = "INCIDENTCTL_NOW"

LONGEST = timedelta(days=36_500)  # the longest duration read: 100 years
_DURATION_HINT = "use forms like 30m, 2h, 7d, 1h30m"
_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")

# ISO 8601 date and time, T or space between, optional seconds/fraction, optional offset.
_ISO_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?)"
    r"\s*(?P<offset>[Zz]|[+-]\d{2}:?\d{2})?"
)
_DATE_ONLY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOCK_RE = re.compile(
    r"(?:(?P<day>today|yesterday)\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?",
    re.IGNORECASE,
)
# A duration as people say it: "15 min", "2 hours", "1 hour 30 minutes".
_SPOKEN_PART = re.compile(
    r"\s*(\d+)\s*(d|days?|h|hrs?|hours?|m|mins?|minutes?|s|secs?|seconds?)\b", re.IGNORECASE
)
_AGO_RE = re.compile(r"(?P<duration>.+?)\s+ago", re.IGNORECASE)
# Numeric dates whose first field is not a 4-digit year: 03/04/2026, 3.4.2026, 04-03-26 ...
_NOT_YEAR_FIRST_RE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b.*")
# Year-first but with the wrong separators: 2026/03/04, 2026.03.04
_OTHER_YEAR_FIRST_RE = re.compile(r"\d{4}[./]\d{1,2}[./]\d{1,2}\b.*")

_RFC3339_FORMS = "e.g. 2026-11-25T03:00:00Z or 2026-11-25T11:00:00+08:00"
_ACCEPTED = (
    "use YYYY-MM-DD HH:MM (local time), an RFC 3339 time with offset such as "
    "2026-11-25T03:00:00Z, HH:MM (the most recent), 'yesterday 23:55', or a relative "
    "time such as '15m ago' or '2 hours ago'"
)


# --------------------------------------------------------------------------- durations


def parse_duration(text: str) -> timedelta:
    """Parse ``30m``, ``2h``, ``7d``, ``1h30m``, ``45s``, ``1d12h``: units d, h, m, s.

    Each unit at most once, in that order, whole numbers, total greater than zero and at
    most ``LONGEST`` (a target, an interval or "ago" past it leaves the calendar).
    Raises ``ValueError`` with a message meant for the user.
    """
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: {_DURATION_HINT}")
    stripped = text.strip()
    match = _DURATION_RE.fullmatch(stripped)
    if not stripped or match is None:
        raise ValueError(f"invalid duration '{text}': {_DURATION_HINT}")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    try:
        result = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        raise ValueError(f"invalid duration '{text}': too large") from None
    if result <= timedelta(0):
        raise ValueError(f"invalid duration '{text}': must be greater than zero")
    if result > LONGEST:
        raise ValueError(f"invalid duration '{text}': too large (at most 36500d, 100 years)")
    return result


def format_duration(td: timedelta) -> str:
    """Compact form of a duration: ``1h30m``, ``7d``, ``45s``, ``0s``, ``-2h``.

    Rounded to whole seconds (half away from zero); the inverse of ``parse_duration``
    for positive whole-second durations.
    """
    micros = (td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds
    sign = "-" if micros < 0 else ""
    total = (abs(micros) + 500_000) // 1_000_000
    if total == 0:
        return "0s"
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{value}{unit}"
        for value, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s"))
        if value
    ]
    return sign + "".join(parts)


def rough_duration(td: timedelta) -> str:
    """A duration to the unit that matters, for people: its two largest units, whole
    (``5h46m``, ``1d21h``, ``44m``); seconds only under a minute (``45s``)."""
    seconds = round(abs(td.total_seconds()))
    if seconds >= 60:
        seconds = (seconds + 30) // 60 * 60  # to the nearest minute
    units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")]
    parts: list[str] = []
    for size, unit in units:
        value, seconds = divmod(seconds, size)
        if value or parts:
            parts.append(f"{value}{unit}")
        if len(parts) == 2:
            break
    shown = "".join(p for p in parts if not p.startswith("0")) or "0s"
    return ("-" if td < timedelta(0) and shown != "0s" else "") + shown


def zoned_time(value: datetime, zone: tzinfo) -> str:
    """``YYYY-MM-DD HH:MM`` in ``zone`` with its abbreviation (``CST``, ``CEST``, ``UTC``):
    a time read on its own, away from the document's header, still says its zone."""
    local = value.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or local.strftime("%z"))


def policy_zone(name: str | None) -> tzinfo:
    """The zone of the team's messages: the policy's ``timezone``, else UTC (never the
    zone of the host cron runs on)."""
    if not name:
        return UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)  # (validated when the policy was loaded)


# --------------------------------------------------------------------------- instants


def ensure_utc(dt: datetime) -> datetime:
    """A naive datetime is taken to be UTC; an aware one is converted to UTC."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def to_rfc3339(dt: datetime) -> str:
    """``2026-11-25T03:00:00Z``: UTC, ``Z`` suffix, whole seconds.

    Microseconds are always dropped (truncated, not rounded), so the output has one
    fixed shape. Naive datetimes are taken to be UTC.
    """
    return ensure_utc(dt).isoformat(timespec="seconds")[:19] + "Z"  # strftime: 5x slower


def utc_now(environ: Mapping[str, str] = os.environ) -> datetime:
    """Current time in UTC: ``INCIDENTCTL_NOW`` (RFC 3339 with offset) if set, else the clock."""
    value = environ.get(NOW_VARIABLE)
    if value is None or not value.strip():
        return datetime.now(UTC)
    match = _ISO_RE.fullmatch(value.strip())
    if match is None or match["offset"] is None:
        raise InvalidInput(
            f"{NOW_VARIABLE}={value!r} is not an RFC 3339 time with an offset ({_RFC3339_FORMS})"
        )
    try:
        return _from_iso_match(match).astimezone(UTC)
    except ValueError as exc:
        raise InvalidInput(f"{NOW_VARIABLE}={value!r} is not a valid time: {exc}") from None
    except OverflowError:  # year 1 east of UTC, 9999 west of it
        raise InvalidInput(f"{NOW_VARIABLE}={value!r} is out of the range of dates") from None


def local_zone(environ: Mapping[str, str] | None = None) -> tzinfo:
    """The local time zone: ``TZ`` from the environment (read now), else the system zone."""
    env = os.environ if environ is None else environ
    name = env.get("TZ")
    from dateutil import tz as dateutil_tz  # (ctypes and all: only when a zone is asked for)

    if not name:
        return dateutil_tz.tzlocal()
    zone = dateutil_tz.gettz(name)
    try:
        if zone is not None:  # a "POSIX rule" read from any text may be a day or more off
            datetime(2000, 1, 1, tzinfo=zone).utcoffset()
    except ValueError:
        zone = None
    if zone is None:
        raise InvalidInput(
            f"TZ={name!r} is not a known time zone; use a name such as Europe/Berlin, "
            "or give the time with an offset"
        )
    return zone


def named_zone(name: str) -> tzinfo | None:
    """The IANA time zone ``name`` (``Europe/Berlin``), or None when there is none by that
    name: a path, a POSIX rule, a NUL, or a name longer than any file name (the lookup
    fails on it with "file name too long", or recurses through its dots)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if len(name) > 255:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def document_zone(
    preferred: str | None, environ: Mapping[str, str] | None = None
) -> tuple[tzinfo, str]:
    """The zone of a document that travels (the review) and its name: ``preferred`` (the
    policy's ``timezone``), else ``TZ``, else UTC, never the machine's own zone (a
    cron host's zone is an accident, and the document names the zone it is in)."""
    env = os.environ if environ is None else environ
    name = preferred or (env.get("TZ") or "").lstrip(":")
    if not name:
        return UTC, "UTC"
    zone = named_zone(name)
    if zone is not None:
        return zone, name
    # a POSIX rule or a path: dateutil reads it
    return local_zone({"TZ": name}), name.removeprefix("/usr/share/zoneinfo/")


def parse_time(text: str, *, now: datetime, tz: tzinfo | None = None) -> datetime:
    """Parse a time typed on the command line; returns an aware datetime in UTC.

    ``now`` anchors ``HH:MM`` (its most recent moment, in the local zone) and
    ``... ago``. ``tz`` is
    the zone for times written without an offset (default: ``local_zone()``).
    Raises ``InvalidInput`` with a sentence the user can act on.
    """
    try:
        return _parse_time(text, now=now, tz=tz)
    except OverflowError:  # (year 1 with a positive offset, year 9999 with a negative one)
        raise InvalidInput(
            f"'{text}' is out of the range of times (the years 1 to 9999 in UTC)"
        ) from None


def _parse_time(text: str, *, now: datetime, tz: tzinfo | None) -> datetime:
    raw = text
    text = text.strip()
    if not text:
        raise InvalidInput(f"no time given: {_ACCEPTED}")
    now = ensure_utc(now)

    if text.lower() == "now":
        return now

    ago = _AGO_RE.fullmatch(text)
    if ago is not None:
        try:
            return now - parse_duration(_compact(ago["duration"]))
        except ValueError as exc:
            raise InvalidInput(f"invalid relative time '{raw}': {exc}") from None
        except OverflowError:
            raise InvalidInput(f"invalid relative time '{raw}': too far in the past") from None

    iso = _ISO_RE.fullmatch(text)
    if iso is not None:
        try:
            parsed = _from_iso_match(iso)
        except ValueError as exc:
            raise InvalidInput(f"invalid time '{raw}': {exc}") from None
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        return _localize(parsed, tz if tz is not None else local_zone(), raw)

    clock = _CLOCK_RE.fullmatch(text)
    if clock is not None:
        try:
            wall = time(int(clock["h"]), int(clock["m"]), int(clock["s"] or 0))
        except ValueError as exc:
            raise InvalidInput(f"invalid time '{raw}': {exc}") from None
        zone = tz if tz is not None else local_zone()
        today: date = now.astimezone(zone).date()
        day = (clock["day"] or "").lower()
        if day == "yesterday":
            return _localize(datetime.combine(today - timedelta(days=1), wall), zone, raw)
        moment = _localize(datetime.combine(today, wall), zone, raw)
        if moment > now and not day:  # the most recent such moment: last night's
            moment = _localize(datetime.combine(today - timedelta(days=1), wall), zone, raw)
        return moment

    if _DATE_ONLY_RE.fullmatch(text):
        raise InvalidInput(
            f"'{raw}' is a date without a time of day: write '{text} HH:MM' "
            f"(local time) or '{text}T00:00:00Z'"
        )
    if _NOT_YEAR_FIRST_RE.fullmatch(text):
        raise InvalidInput(
            f"ambiguous date '{raw}': day and month could be either way round; "
            "use YYYY-MM-DD, e.g. 2026-04-03 14:30"
        )
    if _OTHER_YEAR_FIRST_RE.fullmatch(text):
        raise InvalidInput(f"unsupported date form '{raw}': use YYYY-MM-DD, e.g. 2026-04-03 14:30")
    raise InvalidInput(f"cannot read '{raw}' as a time: {_ACCEPTED}")


# --------------------------------------------------------------------------- helpers


def _compact(spoken: str) -> str:
    """``1 hour 30 min`` → ``1h30m``; anything else is left for ``parse_duration``."""
    parts = _SPOKEN_PART.findall(spoken)
    if not parts or _SPOKEN_PART.sub("", spoken).strip():
        return spoken.strip()
    return "".join(f"{number}{unit[0].lower()}" for number, unit in parts)


def _from_iso_match(match: re.Match[str]) -> datetime:
    """Build a datetime from an ``_ISO_RE`` match (naive when there is no offset)."""
    clock = match["time"].replace(",", ".")
    if "." in clock:  # fromisoformat in 3.11 wants 3 or 6 fraction digits
        whole, fraction = clock.split(".")
        clock = f"{whole}.{fraction.ljust(6, '0')}"
    offset = match["offset"] or ""
    if offset in ("Z", "z"):
        offset = "+00:00"
    elif offset and ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    return datetime.fromisoformat(f"{match['date']}T{clock}{offset}")


def _localize(naive: datetime, zone: tzinfo, raw: str) -> datetime:
    """Attach ``zone`` to a wall-clock time, refusing DST gaps and folds; return UTC."""
    from dateutil import tz as dateutil_tz

    if not dateutil_tz.datetime_exists(naive, zone):
        raise InvalidInput(
            f"'{raw}' does not exist in {_zone_name(zone, naive)}: the clocks skip it "
            "(daylight saving change); check the time or give an explicit offset"
        )
    if dateutil_tz.datetime_ambiguous(naive, zone):
        earlier = naive.replace(tzinfo=zone, fold=0).strftime("%z")
        later = naive.replace(tzinfo=zone, fold=1).strftime("%z")
        raise InvalidInput(
            f"'{raw}' happens twice in {_zone_name(zone, naive)} (daylight saving change): "
            f"give an explicit offset, e.g. {naive:%Y-%m-%dT%H:%M}{_colon(earlier)} "
            f"or {naive:%Y-%m-%dT%H:%M}{_colon(later)}"
        )
    return naive.replace(tzinfo=zone).astimezone(UTC)


def _colon(offset: str) -> str:
    return f"{offset[:3]}:{offset[3:]}" if len(offset) == 5 else offset


def _zone_name(zone: tzinfo, naive: datetime) -> str:
    key = getattr(zone, "key", None) or getattr(zone, "_filename", None)
    if isinstance(key, str) and key:
        return key.removeprefix("/usr/share/zoneinfo/")
    return "the local time zone"
