"""The monthly analysis: what happened to the incidents reported in a period.

A period is a half-open interval ``[since, until)`` of UTC instants, usually a calendar
month in the report's time zone. Everything is computed from the incidents REPORTED
in it, as they stand at "now": their current level, status and clock verdicts.
``load_report`` reads the rows (one indexed range query, plus the re-level events and
the delivery counts); ``summarize`` is pure and does the arithmetic. Definitions:

- ``sla.{level}.{clock}``: verdicts by the incident's current level; ``attainment``
  is ``100 * met / (met + breached)``, one decimal, ``null`` when nothing is decided.
- ``durations.{clock}``: from the clock's start (``reported_at``; ``occurred_at`` for
  recovery) to where it stopped, over the clocks that stopped; seconds, one decimal;
  the median of an even count is the mean of the middle two; p90 is the nearest rank.
- ``recurring``: two or more incidents of one service whose titles have the same
  words once numbers, punctuation, case, word order and a few filler words are
  ignored ("Checkout fails with 502" and "checkout fails: 503").
- ``cancelled``: the incidents cancelled (opened by mistake, duplicates), in no other
  figure: not in ``total``, the counts, the verdicts or the durations.
- ``previous``: the same figures for the period before (the previous calendar month,
  or an interval of the same length) and ``change``, this period minus that one.
"""

from __future__ import annotations

import math
import os
import re
import statistics
from collections import Counter, defaultdict, namedtuple
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from incidentctl.domain import Channel, ClockName, ClockState, DeliveryStatus, Status
from incidentctl.errors import InvalidInput
from incidentctl.policy.clocks import clock_state
from incidentctl.store import repository
from incidentctl.times import to_rfc3339

__all__ = [
    "Period",
    "load_report",
    "period_for",
    "report_zone",
    "summarize",
    "title_key",
]

ROW_COLUMNS = (
    "id",
    "title",
    "service",
    "level",
    "opened_level",
    "channel",
    "status",
    "assignee",
    "occurred_at",
    "reported_at",
    "transferred_at",
    "problem_ref",
    "problem_reason",
    "cancelled_at",
    "cancel_reason",
    "duplicate_of",
    "response_due_at",
    "response_stopped_at",
    "recovery_due_at",
    "recovery_stopped_at",
    "resolution_due_at",
    "resolution_stopped_at",
)
IncidentRow = namedtuple("IncidentRow", ROW_COLUMNS)  # type: ignore[misc]
# The verdicts counted per level and clock, in the report's order.
_STATES = (ClockState.MET, ClockState.BREACHED, ClockState.RUNNING)
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")
_WORD_RE = re.compile(r"[^\W\d_]+")
_FILLER = frozenset(
    "a an the is are was were be been in on at of for to with and or from by after "
    "when while not no can cannot".split()
)


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """``[since, until)`` in UTC; ``month`` is ``YYYY-MM`` when it is a calendar month."""

    since: datetime
    until: datetime
    zone: tzinfo
    tz_name: str
    month: str | None = None

    def previous(self) -> Period:
        if self.month is not None:
            year, month = (int(p) for p in self.month.split("-"))
            year, month = (year - 1, 12) if month == 1 else (year, month - 1)
            return month_period(year, month, self.zone, self.tz_name)
        length = self.until - self.since
        return Period(self.since - length, self.since, self.zone, self.tz_name)

    def label(self) -> str:
        if self.month is not None:
            first = date.fromisoformat(f"{self.month}-01")
            return first.strftime("%B %Y")
        since = self.since.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
        until = self.until.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
        return f"{since} – {until}"


def report_zone(name: str | None, environ: Mapping[str, str] | None = None) -> tuple[tzinfo, str]:
    """The report's zone and its name: ``--tz``, else ``TZ``, else the system zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    env = os.environ if environ is None else environ
    if name:
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                f"--tz {name!r} is not a known time zone; use a name such as Europe/Berlin"
            ) from None
    candidate = (env.get("TZ") or "").lstrip(":")
    if not candidate:
        try:
            link = os.readlink("/etc/localtime")
            candidate = link.split("zoneinfo/", 1)[1] if "zoneinfo/" in link else ""
        except OSError:
            candidate = ""
    if candidate:
        try:
            return ZoneInfo(candidate), candidate
        except (ZoneInfoNotFoundError, ValueError):
            pass
    from incidentctl.times import local_zone

    return local_zone(env), "local"


def month_period(year: int, month: int, zone: tzinfo, tz_name: str) -> Period:
    """Local midnight on the 1st to local midnight on the 1st of the next month."""
    after = (year + 1, 1) if month == 12 else (year, month + 1)
    since = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
    until = datetime(*after, 1, tzinfo=zone).astimezone(UTC)
    return Period(since, until, zone, tz_name, f"{year:04d}-{month:02d}")


def period_for(
    *,
    month: str | None,
    since: str | None,
    until: str | None,
    zone: tzinfo,
    tz_name: str,
    now: datetime,
) -> Period:
    """The period the options name; neither ``--month`` nor ``--since``: this month."""
    from incidentctl.times import parse_time

    if month is not None and (since is not None or until is not None):
        raise InvalidInput("give either --month or --since/--until, not both")
    if since is None and until is not None:
        raise InvalidInput("--until needs --since")
    if since is not None:
        start = parse_time(since, now=now, tz=zone)
        end = parse_time(until, now=now, tz=zone) if until is not None else now
        if start >= end:
            raise InvalidInput("--since must be before --until")
        return Period(start, end, zone, tz_name)
    local_now = now.astimezone(zone)
    if month is None or month in ("this", "current"):
        return month_period(local_now.year, local_now.month, zone, tz_name)
    if month in ("last", "previous"):
        return month_period(local_now.year, local_now.month, zone, tz_name).previous()
    match = _MONTH_RE.fullmatch(month.strip())
    if match is None or not 1 <= int(match[2]) <= 12:
        raise InvalidInput(f"--month {month!r}: use YYYY-MM (e.g. 2026-03), 'this' or 'last'")
    return month_period(int(match[1]), int(match[2]), zone, tz_name)


# --------------------------------------------------------------------------- loading


@dataclass
class PeriodData:
    rows: list[Any]
    relevels: dict[int, list[tuple[datetime, int]]]
    deliveries: dict[str, int]


def load_period(session: Any, period: Period, within: timedelta | None = None) -> PeriodData:
    """The incidents reported in the period, their re-levels, and the delivery counts."""
    bounds = {"since": period.since, "until": period.until}
    rows = [
        IncidentRow._make(row)
        for row in repository.incident_rows_reported(session, columns=ROW_COLUMNS, **bounds)
    ]
    relevels: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    if rows:
        for incident_id, at, level in repository.relevels_reported(session, **bounds):
            relevels[incident_id].append((at, level))
    return PeriodData(rows, dict(relevels), delivery_counts(session, period, relevels, within))


def delivery_counts(
    session: Any,
    period: Period,
    relevels: Mapping[int, list[tuple[datetime, int]]],
    within: timedelta | None,
) -> dict[str, int]:
    """Deliveries of the period's incidents: ``sent`` (or printed), ``failed`` for good,
    and ``late``: initial notices sent more than the policy's ``within`` after they fell
    due (at the report, or at the k-th re-level for initial #k)."""
    bounds = {"since": period.since, "until": period.until}
    counts = {"sent": 0, "failed": 0, "late": 0}
    for status, n in repository.delivery_status_counts(session, **bounds).items():
        if DeliveryStatus(status).delivered:
            counts["sent"] += n
        elif status == DeliveryStatus.FAILED:
            counts["failed"] += n
    if within is None:
        return counts
    for incident_id, sequence, sent_at, reported_at in repository.initial_notices_delivered(
        session, **bounds
    ):
        moves = relevels.get(incident_id, [])
        due = moves[sequence - 1][0] if 0 < sequence <= len(moves) else reported_at
        if sent_at is not None and sent_at > due + within:
            counts["late"] += 1
    return counts


def load_report(rt: Any, period: Period) -> dict[str, Any]:
    """The whole report document for ``period``, with the previous period beside it."""
    previous_period = period.previous()
    with rt.db.read() as session:
        within = rt.policy.notifications.initial.within
        current = load_period(session, period, within)
        before = load_period(session, previous_period, within)
    levels = list(rt.policy.levels)
    document = summarize(current, period=period, levels=levels, now=rt.now)
    earlier = summarize(before, period=previous_period, levels=levels, now=rt.now, detail=False)
    document["previous"] = compare(document, earlier)
    return document


# --------------------------------------------------------------------------- arithmetic


def title_key(title: str) -> str:
    """What two titles must share to count as the same incident recurring."""
    words = {w for w in _WORD_RE.findall(title.casefold()) if w not in _FILLER}
    return " ".join(sorted(words)) or title.casefold().strip()


def _stats(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "mean_s": None, "median_s": None, "p90_s": None}
    ordered = sorted(values)
    p90 = ordered[math.ceil(0.9 * len(ordered)) - 1]
    return {
        "count": len(ordered),
        "mean_s": round(statistics.fmean(ordered), 1),
        "median_s": round(statistics.median(ordered), 1),
        "p90_s": round(p90, 1),
    }


def _attainment(met: int, breached: int) -> float | None:
    return round(100 * met / (met + breached), 1) if met + breached else None


def _start(row: Any, clock: str) -> datetime:
    start: datetime = row.occurred_at if clock == ClockName.RECOVERY else row.reported_at
    return start


def _z(moment: datetime) -> str:
    """``to_rfc3339`` for the UTC times read from the store (isoformat: strftime is slow)."""
    if moment.tzinfo is not UTC:
        return to_rfc3339(moment)
    return moment.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def summarize(
    data: PeriodData,
    *,
    period: Period,
    levels: Iterable[int],
    now: datetime,
    detail: bool = True,
) -> dict[str, Any]:
    """The report's figures over ``data`` (pure: no database, no clock).

    ``detail=False`` (the previous period) lists only ids: the lists are counted.
    Cancelled incidents (opened by mistake, duplicates) are counted apart: listed in
    ``cancelled``, and in no other figure.
    """
    rows = [row for row in data.rows if row.cancelled_at is None]
    cancelled = [
        {
            "id": row.id,
            "title": row.title,
            "service": row.service,
            "level": row.level,
            "reason": row.cancel_reason,
            "duplicate_of": row.duplicate_of,
        }
        if detail
        else row.id
        for row in data.rows
        if row.cancelled_at is not None
    ]
    level_keys = sorted({*levels, *(row.level for row in rows)})
    by_level = Counter(str(row.level) for row in rows)
    by_service = Counter(row.service for row in rows)
    by_channel = Counter(row.channel for row in rows)
    by_status = Counter(row.status for row in rows)
    zone = period.zone
    by_day = Counter(row.reported_at.astimezone(zone).date().isoformat() for row in rows)

    sla: dict[str, dict[str, dict[str, Any]]] = {
        str(level): {
            clock: {**dict.fromkeys(_STATES, 0), "attainment": None} for clock in ClockName
        }
        for level in level_keys
    }
    spans: dict[str, list[float]] = {clock: [] for clock in ClockName}
    breaches: list[dict[str, Any]] = []
    transferred: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    relevelled: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        verdicts = sla[str(row.level)]
        for clock, due, stopped in (
            (ClockName.RESPONSE, row.response_due_at, row.response_stopped_at),
            (ClockName.RECOVERY, row.recovery_due_at, row.recovery_stopped_at),
            (ClockName.RESOLUTION, row.resolution_due_at, row.resolution_stopped_at),
        ):
            state = clock_state(due, stopped, now)
            verdicts[clock][state] += 1
            if stopped is not None:
                spans[clock].append((stopped - _start(row, clock)).total_seconds())
            if state == ClockState.BREACHED and not detail:
                breaches.append(row.id)
            elif state == ClockState.BREACHED:
                breaches.append(
                    {
                        "id": row.id,
                        "title": row.title,
                        "service": row.service,
                        "level": row.level,
                        "clock": clock,
                        "due_at": _z(due),
                        "stopped_at": _z(stopped) if stopped else None,
                        "late_s": int(((stopped or now) - due).total_seconds()),
                    }
                )
        if row.transferred_at is not None and not detail:
            transferred.append(row.id)
        elif row.transferred_at is not None:
            transferred.append(
                {
                    "id": row.id,
                    "title": row.title,
                    "service": row.service,
                    "level": row.level,
                    "transferred_at": _z(row.transferred_at),
                    "assignee": row.assignee,
                }
            )
        if row.problem_ref:
            problems.append(
                {
                    "id": row.id,
                    "title": row.title,
                    "service": row.service,
                    "level": row.level,
                    "ref": row.problem_ref,
                    "reason": row.problem_reason,
                }
            )
        moves = data.relevels.get(row.id)
        if moves:
            relevelled.append(
                {
                    "id": row.id,
                    "title": row.title,
                    "service": row.service,
                    "from": row.opened_level,
                    "to": row.level,
                    "relevels": len(moves),
                    "last_at": to_rfc3339(moves[-1][0]),
                }
            )
        groups[(row.service, title_key(row.title))].append(row)
    for per_clock in sla.values():
        for counted in per_clock.values():
            counted["attainment"] = _attainment(
                counted[ClockState.MET], counted[ClockState.BREACHED]
            )

    recurring = [
        {
            "service": service,
            "title": members[0].title,
            "count": len(members),
            "ids": [m.id for m in members],
        }
        for (service, _), members in groups.items()
        if len(members) >= 2
    ]
    recurring.sort(key=lambda g: (-g["count"], g["service"], g["ids"][0]))

    return {
        "since": to_rfc3339(period.since),
        "until": to_rfc3339(period.until),
        "tz": period.tz_name,
        "month": period.month,
        "total": len(rows),
        "by_level": {key: by_level.get(key, 0) for key in map(str, level_keys)},
        "by_service": dict(sorted(by_service.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_channel": {
            **{c: by_channel.get(c, 0) for c in Channel},
            **{c: n for c, n in sorted(by_channel.items()) if c not in set(Channel)},
        },
        "by_status": {s: by_status.get(s, 0) for s in Status if s != Status.CANCELLED},
        "by_day": _days(period, by_day),
        "sla": sla,
        "durations": {clock: _stats(spans[clock]) for clock in ClockName},
        "breaches": breaches,
        "transferred": transferred,
        "problems": problems,
        "relevelled": relevelled,
        "recurring": recurring,
        "cancelled": cancelled,
        "deliveries": dict(data.deliveries),
    }


def _days(period: Period, counts: Counter[str]) -> dict[str, int]:
    """Incidents per local day, every day of the period listed (for the charts)."""
    first = period.since.astimezone(period.zone).date()
    last = (period.until - timedelta(microseconds=1)).astimezone(period.zone).date()
    if (last - first).days > 400:  # a long custom period: only the days with incidents
        return dict(sorted(counts.items()))
    days = {}
    day = first
    while day <= last:
        days[day.isoformat()] = counts.get(day.isoformat(), 0)
        day += timedelta(days=1)
    return days


_COUNTED = ("breaches", "transferred", "problems", "relevelled", "recurring", "cancelled")


def compare(current: Mapping[str, Any], earlier: Mapping[str, Any]) -> dict[str, Any]:
    """The previous period's figures (lists as counts) and this period's change against it."""

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(a - b, 1)

    before = {
        "since": earlier["since"],
        "until": earlier["until"],
        "month": earlier["month"],
        "total": earlier["total"],
        "by_level": earlier["by_level"],
        "by_status": earlier["by_status"],
        "sla": earlier["sla"],
        "durations": earlier["durations"],
        **{name: len(earlier[name]) for name in _COUNTED},
        "deliveries": earlier["deliveries"],
    }
    total, total_before = current["total"], earlier["total"]
    before["change"] = {
        "total": total - total_before,
        "total_pct": round(100 * (total - total_before) / total_before, 1)
        if total_before
        else None,
        **{name: len(current[name]) - len(earlier[name]) for name in _COUNTED},
        "attainment": {
            level: {
                clock: diff(
                    verdicts["attainment"],
                    earlier["sla"].get(level, {}).get(clock, {}).get("attainment"),
                )
                for clock, verdicts in per_clock.items()
            }
            for level, per_clock in current["sla"].items()
        },
        "durations": {
            clock: {
                key: diff(stats[key], earlier["durations"][clock][key])
                for key in ("mean_s", "median_s", "p90_s")
            }
            for clock, stats in current["durations"].items()
        },
        "deliveries": {
            key: value - earlier["deliveries"].get(key, 0)
            for key, value in current["deliveries"].items()
        },
    }
    return before
