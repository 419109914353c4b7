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
- ``recurring``: two or more incidents of one service with similar titles
  (``recurring_groups``: rapidfuzz's ``token_set_ratio`` of their words, numbers,
  punctuation, case and a few filler words set aside, at least ``SIMILAR``):
  "Checkout fails with 502" and "checkout fails: 503", "SMS not delivered" and "SMS not
  delivered again", "Checkout fails" and "Chekout fails".
- ``lessons``: every note of kind ``lesson`` on the period's incidents, whenever it
  was written (a lesson is often written after the month it is about).
- ``reviews_owed``: the period's major incidents (at a level whose solutions need an
  incident manager's approval) still missing a part of their review: a note of kind
  ``impact``, ``root-cause`` or ``action``.
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
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from incidentctl.domain import (
    REPORT_LISTS,
    REVIEW_NOTES,
    Channel,
    ClockName,
    ClockState,
    DeliveryStatus,
    NoteKind,
    Status,
)
from incidentctl.errors import InvalidInput
from incidentctl.policy.clocks import CLOCKS, clock_start, clock_state, stored_clocks
from incidentctl.store import repository
from incidentctl.times import to_rfc3339

__all__ = [
    "Period",
    "load_report",
    "period_for",
    "report_zone",
    "recurring_groups",
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
    "fix_started_at",
    "fix_due_at",
    "fix_stopped_at",
    "paused_at",
    "paused_seconds",
    "policy_version",
)
IncidentRow = namedtuple("IncidentRow", ROW_COLUMNS)  # type: ignore[misc]
# The verdicts counted per level and clock, in the report's order.
_STATES = (ClockState.MET, ClockState.BREACHED, ClockState.RUNNING)
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")
_WORD_RE = re.compile(r"[^\W\d_]+")
# Two titles of one service are similar at this token_set_ratio of their title keys (0-100).
SIMILAR = 90
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
    """The report's zone and its name: ``name`` (``--tz``, else the policy's
    ``timezone``), else ``TZ``, else the system zone."""
    from incidentctl.times import local_zone, named_zone

    env = os.environ if environ is None else environ
    if name:
        zone = named_zone(name)
        if zone is None:
            raise InvalidInput(
                f"--tz {name!r} is not a known time zone; use a name such as Europe/Berlin"
            )
        return zone, name
    candidate = (env.get("TZ") or "").lstrip(":")
    if not candidate:
        try:
            link = os.readlink("/etc/localtime")
            candidate = link.split("zoneinfo/", 1)[1] if "zoneinfo/" in link else ""
        except OSError:
            candidate = ""
    found = named_zone(candidate) if candidate else None
    if found is not None:
        return found, candidate
    return local_zone(env), "local"


def month_period(year: int, month: int, zone: tzinfo, tz_name: str) -> Period:
    """Local midnight on the 1st to local midnight on the 1st of the next month."""
    after = (year + 1, 1) if month == 12 else (year, month + 1)
    try:
        since = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
        until = datetime(*after, 1, tzinfo=zone).astimezone(UTC)
    except (OverflowError, ValueError):  # (year 0, year 10000)
        raise InvalidInput(f"{year:04d}-{month:02d} is out of the range of dates") from None
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


# A note the report reads: when, who, its kind and its text.
Note = tuple[datetime, str, str, str]


@dataclass
class PeriodData:
    rows: list[Any]
    relevels: dict[int, list[tuple[datetime, int]]]
    deliveries: dict[str, int]
    notes: dict[int, list[Note]] = field(default_factory=dict)  # lessons and review parts


def load_period(session: Any, period: Period, within: timedelta | None = None) -> PeriodData:
    """The incidents reported in the period, their re-levels, and the delivery counts."""
    bounds = {"since": period.since, "until": period.until}
    rows = [
        IncidentRow._make(row)
        for row in repository.incident_rows_reported(session, columns=ROW_COLUMNS, **bounds)
    ]
    relevels: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    notes: dict[int, list[Note]] = defaultdict(list)
    if rows:
        for incident_id, at, level in repository.relevels_reported(session, **bounds):
            relevels[incident_id].append((at, level))
        kinds = (NoteKind.LESSON, *REVIEW_NOTES)
        for incident_id, at, actor, kind, text in repository.notes_reported(
            session, kinds=kinds, **bounds
        ):
            notes[incident_id].append((at, actor, kind, text))
    return PeriodData(
        rows, dict(relevels), delivery_counts(session, period, relevels, within), dict(notes)
    )


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
    try:
        previous_period = period.previous()
    except (InvalidInput, OverflowError):
        raise InvalidInput(
            "the period before this one, which the report compares it with, is out of the "
            "range of dates (the years 1 to 9999)"
        ) from None
    with rt.db.read() as session:
        within = rt.policy.notifications.initial.within
        current = load_period(session, period, within)
        before = load_period(session, previous_period, within)
    levels = list(rt.policy.levels)
    major = [number for number, level in rt.policy.levels.items() if level.approval]
    document = summarize(current, period=period, levels=levels, now=rt.now, major=major)
    earlier = summarize(
        before, period=previous_period, levels=levels, now=rt.now, major=major, detail=False
    )
    document["previous"] = compare(document, earlier)
    for added in ("paused", "policy_versions"):  # (after the figures scripts knew before)
        document[added] = document.pop(added)
    return document


# --------------------------------------------------------------------------- arithmetic


def title_key(title: str) -> str:
    """A title's words, set in order for comparing: case-folded, sorted, without numbers,
    punctuation and filler words ("Disk full on db-3" and "disk full on db-7": the same)."""
    words = {w for w in _WORD_RE.findall(title.casefold()) if w not in _FILLER}
    return " ".join(sorted(words)) or title.casefold().strip()


def recurring_groups(titles: Sequence[tuple[str, str]]) -> list[list[int]]:
    """The groups of two or more similar titles among ``(service, title)`` pairs, as
    lists of their positions (each in order); only titles of one service are compared.

    Similar: the two ``title_key``s share a word and rapidfuzz's ``token_set_ratio`` of
    them is at least ``SIMILAR``: one title's words are all in the other's ("SMS not
    delivered", "SMS not delivered again"), or the same words but for a typo ("Chekout
    fails"). A key of one word recurs only as itself, so "Outage" does not take in every
    title that mentions an outage. Each title joins the most similar group so far (the
    earliest of equals), compared by the group's first title, or starts its own.

    Identical keys are compared once, and a key only with the groups whose first key
    shares a word with it: the work grows with the titles of a service that have words
    in common, not with every pair of titles.
    """
    from rapidfuzz import fuzz, process

    groups: list[list[int]] = []
    by_key: dict[tuple[str, str], int] = {}  # (service, key) -> its group
    leaders: dict[str, list[tuple[str, int]]] = defaultdict(list)  # service -> (key, group)
    by_word: dict[tuple[str, str], list[int]] = defaultdict(list)  # (service, word) -> leaders
    for position, (service, title) in enumerate(titles):
        key = title_key(title)
        group = by_key.get((service, key))
        if group is None:
            words = key.split()
            if len(words) > 1:
                found = sorted({i for word in words for i in by_word[(service, word)]})
                best = process.extractOne(
                    key,
                    [leaders[service][i][0] for i in found],
                    scorer=fuzz.token_set_ratio,
                    processor=None,
                    score_cutoff=SIMILAR,
                )
                if best is not None:
                    group = leaders[service][found[best[2]]][1]
            if group is None:
                group = len(groups)
                groups.append([])
                if len(words) > 1:
                    for word in words:
                        by_word[(service, word)].append(len(leaders[service]))
                    leaders[service].append((key, group))
            by_key[(service, key)] = group
        groups[group].append(position)
    return [members for members in groups if len(members) >= 2]


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
    major: Collection[int] = (),
    detail: bool = True,
) -> dict[str, Any]:
    """The report's figures over ``data`` (pure: no database, no clock). ``major``: the
    levels whose incidents owe a review (those whose solutions need approval).

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

    # the fix clock is reported where some incident of the period has one
    shown = tuple(ClockName) if any(r.fix_started_at for r in rows) else CLOCKS
    sla: dict[str, dict[str, dict[str, Any]]] = {
        str(level): {clock: {**dict.fromkeys(_STATES, 0), "attainment": None} for clock in shown}
        for level in level_keys
    }
    spans: dict[str, list[float]] = {clock: [] for clock in shown}
    paused: dict[str, dict[str, int]] = {}
    versions: Counter[str] = Counter()
    breaches: list[dict[str, Any]] = []
    transferred: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    relevelled: list[dict[str, Any]] = []
    lessons: list[Any] = []
    reviews_owed: list[Any] = []
    for row in rows:
        verdicts = sla[str(row.level)]
        versions[row.policy_version or "in force"] += 1
        pause_s = row.paused_seconds + (
            int((now - row.paused_at).total_seconds()) if row.paused_at else 0
        )
        if pause_s:
            level_pauses = paused.setdefault(str(row.level), {"incidents": 0, "paused_s": 0})
            level_pauses["incidents"] += 1
            level_pauses["paused_s"] += pause_s
        for clock in stored_clocks(row):
            due = getattr(row, f"{clock}_due_at")
            stopped = getattr(row, f"{clock}_stopped_at")
            state = clock_state(due, stopped, now)
            # a paused clock is undecided, as a running one is (its time: "paused")
            verdicts[clock][ClockState.RUNNING if state == ClockState.PAUSED else state] += 1
            if stopped is not None:
                spans[clock].append((stopped - clock_start(row, clock)).total_seconds())
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
        notes = data.notes.get(row.id, [])
        for at, actor, kind, text in notes:
            if kind != NoteKind.LESSON:
                continue
            lessons.append(
                {
                    "id": row.id,
                    "title": row.title,
                    "service": row.service,
                    "level": row.level,
                    "at": _z(at),
                    "actor": actor,
                    "text": text,
                }
                if detail
                else row.id
            )
        if row.level in major:
            written = {kind for _, _, kind, _ in notes}
            missing = [kind for kind in REVIEW_NOTES if kind not in written]
            if missing and not detail:
                reviews_owed.append(row.id)
            elif missing:
                reviews_owed.append(
                    {
                        "id": row.id,
                        "title": row.title,
                        "service": row.service,
                        "level": row.level,
                        "status": row.status,
                        "reported_at": _z(row.reported_at),
                        "missing": missing,
                    }
                )
    for per_clock in sla.values():
        for counted in per_clock.values():
            counted["attainment"] = _attainment(
                counted[ClockState.MET], counted[ClockState.BREACHED]
            )

    recurring = [
        {
            "service": rows[members[0]].service,
            "title": rows[members[0]].title,
            "count": len(members),
            "ids": [rows[m].id for m in members],
        }
        for members in recurring_groups([(row.service, row.title) for row in rows])
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
        "durations": {clock: _stats(spans[clock]) for clock in shown},
        "breaches": breaches,
        "transferred": transferred,
        "problems": problems,
        "relevelled": relevelled,
        "recurring": recurring,
        "reviews_owed": reviews_owed,
        "lessons": lessons,
        "cancelled": cancelled,
        "deliveries": dict(data.deliveries),
        # time waiting on customers, vendors and changes, by level (not counted by the
        # clocks a pause stops), and the policy versions the incidents' clocks follow
        "paused": {key: paused[key] for key in map(str, level_keys) if key in paused},
        "policy_versions": dict(sorted(versions.items())),
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
        **{name: len(earlier[name]) for name in REPORT_LISTS},
        "deliveries": earlier["deliveries"],
    }
    total, total_before = current["total"], earlier["total"]
    before["change"] = {
        "total": total - total_before,
        "total_pct": round(100 * (total - total_before) / total_before, 1)
        if total_before
        else None,
        **{name: len(current[name]) - len(earlier[name]) for name in REPORT_LISTS},
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
                key: diff(stats[key], earlier["durations"].get(clock, {}).get(key))
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
