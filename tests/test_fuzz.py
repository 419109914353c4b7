"""Fuzzing (issue 15, item 5): Hypothesis over what users and machines hand us.

The time parser (``--at``, ``INCIDENTCTL_NOW``, ``--since``/``--until``, ``report``'s
periods), durations, ``sla.toml``, import lines and intake messages (alerts, emails).
For each, what a user would check:

- any input is a valid value or the project's own refusal (``InvalidInput``,
  ``ConfigError``, an import line's ``Refused``) with a message that adds no line break
  of its own; never another exception (which the CLI reports as "unexpected");
- round trips: a time formatted and parsed is the same instant, a duration the same
  seconds, a policy shown as TOML the same policy, an exported line imported the same
  line;
- a refused input changes nothing in the database; text is stored as it was given, and
  a NUL (which PostgreSQL cannot store) is refused, naming the field.

Budgets: the ``ci`` profile (tests/conftest.py) runs each property on 100 examples and
the CLI ones on a twentieth of that (5); ``HYPOTHESIS_PROFILE=fuzz`` runs the large
budget, 10,000 examples a property and 500 through the CLI:

    HYPOTHESIS_PROFILE=fuzz .venv/bin/pytest tests/test_fuzz.py -n0 --no-cov -q
"""

from __future__ import annotations

import io
import json
import re
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
import tomli_w
from dateutil import tz as dateutil_tz
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from incidentctl.config import builtin_policy, parse_policy, policy_as_dict, seed_text
from incidentctl.domain import INCIDENT_COLUMNS
from incidentctl.errors import ConfigError, InvalidInput
from incidentctl.output import documents
from incidentctl.policy.clocks import IncidentFacts
from incidentctl.policy.notices import retry_delay
from incidentctl.services.alerts import parse_alerts
from incidentctl.services.arrival import TITLE_LIMIT, Arrival, title_of
from incidentctl.services.lines import LineReader
from incidentctl.services.mail import parse_email
from incidentctl.services.versions import rules_of
from incidentctl.store.bulk import Refused
from incidentctl.times import (
    LONGEST,
    format_duration,
    parse_duration,
    parse_time,
    to_rfc3339,
    utc_now,
)

T = TypeVar("T")

# The CLI properties run a twentieth of the budget: each example is several commands.
THROUGH_CLI = settings(
    max_examples=max(5, settings.default.max_examples // 20),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
ZONES = [
    dateutil_tz.gettz(name)
    for name in (
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",  # a half-hour DST change
        "Asia/Kolkata",
        "Pacific/Apia",  # skipped 2011-12-30 entirely
        "America/Sao_Paulo",  # DST changes at midnight, once
        "Pacific/Kiritimati",  # +14:00
    )
]
zones = st.sampled_from(ZONES)
MIN_UTC = datetime.min.replace(tzinfo=UTC)
MAX_UTC = datetime.max.replace(tzinfo=UTC)


def adds_no_line(message: str, *given: str) -> bool:
    """A refusal is one line: its only line breaks are those of the text it quotes."""
    return message.count("\n") <= sum(text.count("\n") for text in given)


# --------------------------------------------------------------------------- strategies

# Years and instants at the edges of what a datetime can hold, as well as anywhere.
years = st.one_of(st.sampled_from([1, 2, 1969, 1970, 2026, 9998, 9999]), st.integers(0, 9999))
instants = st.one_of(
    st.sampled_from(
        [MIN_UTC, MIN_UTC + timedelta(hours=1), NOW, MAX_UTC - timedelta(hours=1), MAX_UTC]
    ),
    st.datetimes(timezones=st.just(UTC)),
)


def two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


fractions = st.text("0123456789", min_size=1, max_size=8)
offsets = st.one_of(
    st.just(""),
    st.sampled_from(["Z", "z"]),
    st.builds(
        lambda sign, h, colon, m: f"{sign}{h}{colon}{m}",
        st.sampled_from("+-"),
        two(0, 25),
        st.sampled_from(["", ":"]),
        two(0, 61),
    ),
)
seconds_parts = st.one_of(
    st.just(""),
    two(0, 61).map(lambda s: f":{s}"),
    st.builds(lambda s, sep, f: f":{s}{sep}{f}", two(0, 60), st.sampled_from(".,"), fractions),
)
# Times as the grammar almost allows them: every field a little out of range sometimes.
iso_texts = st.builds(
    lambda y, mo, d, sep, h, mi, s, space, off: f"{y:04d}-{mo}-{d}{sep}{h}:{mi}{s}{space}{off}",
    years,
    two(0, 13),
    two(0, 32),
    st.sampled_from(["T", "t", " "]),
    two(0, 25),
    two(0, 61),
    seconds_parts,
    st.sampled_from(["", " "]),
    offsets,
)
clock_texts = st.builds(
    lambda day, h, m, s: f"{day}{h}:{m}{s}",
    st.sampled_from(["", "today ", "yesterday ", "Yesterday  ", "TODAY "]),
    st.integers(0, 30).map(str),
    two(0, 61),
    st.one_of(st.just(""), two(0, 61).map(lambda s: f":{s}")),
)
numbers = st.one_of(st.integers(0, 100), st.integers(0, 10**30))
units = st.sampled_from(["d", "h", "m", "s", " days", " hour", " min", " secs", "w", " parsecs"])
ago_texts = st.builds(
    lambda parts, tail: "".join(f"{n}{u}" for n, u in parts) + tail,
    st.lists(st.tuples(numbers, units), min_size=1, max_size=4),
    st.sampled_from([" ago", "  AGO", "ago", " ago "]),
)
other_texts = st.sampled_from(
    ["now", "NOW", "2026-11-25", "03/04/2026", "3.4.2026 10:00", "2026/03/04 10:00", "tomorrow"]
)


def near_misses(texts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A text with one character put in, taken out or changed."""

    def edit(text: str, where: int, char: str, how: int) -> str:
        i = where % (len(text) + 1)
        return [
            text[:i] + char + text[i:],
            text[:i] + text[i + 1 :],
            text[:i] + char + text[i + 1 :],
        ][how]

    return st.builds(
        edit, texts, st.integers(0, 2**16), st.characters(codec="utf-8"), st.integers(0, 2)
    )


# Times a user types for an event that has happened: an instant, minutes ago, now.
good_times = st.one_of(
    st.integers(0, 10**6).map(lambda m: to_rfc3339(NOW - timedelta(minutes=m))),
    st.integers(0, 10**4).map(lambda m: f"{m} min ago"),
    st.just("now"),
)
typed_times = st.one_of(
    st.text(), iso_texts, clock_texts, ago_texts, other_texts, near_misses(iso_texts | clock_texts)
)


# --------------------------------------------------------------------------- (a) times


@given(typed_times, instants, zones)
@example("0001-01-01T00:00:00+01:00", NOW, ZONES[0])  # before the first instant there is
@example("9999-12-31T23:59:59-01:00", NOW, ZONES[0])  # after the last
@example("0001-01-01 00:30", NOW, ZONES[1])  # Berlin's +00:53 before 1893: before year 1
@example("23:00", MIN_UTC, ZONES[0])  # last night's 23:00 would be before year 1
def test_a_typed_time_is_an_instant_in_utc_or_a_usage_error(text, now, zone):
    try:
        parsed = parse_time(text, now=now, tz=zone)
    except InvalidInput as refused:
        assert adds_no_line(refused.message, text)
        event("refused")
        return
    assert parsed.tzinfo is UTC


@given(st.one_of(st.text(), iso_texts, near_misses(iso_texts)))
@example("0001-01-01T00:00:00+00:01")
@example("9999-12-31T23:59:59-23:59")
def test_incidentctl_now_is_an_instant_in_utc_or_a_usage_error_naming_it(value):
    try:
        now = utc_now({"INCIDENTCTL_NOW": value})
    except InvalidInput as refused:
        assert refused.message.startswith("INCIDENTCTL_NOW=")
        assert "\n" not in refused.message  # (the value is shown by its repr)
        event("refused")
        return
    assert now.tzinfo is UTC


offsets_minutes = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m))
)
# Instants a little inside the range, so that every offset can write them.
inner_instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@given(inner_instants, offsets_minutes, st.sampled_from(["T", " "]))
def test_a_time_written_with_any_offset_reads_back_as_the_same_instant(instant, offset, sep):
    written = instant.astimezone(offset).isoformat(sep=sep)
    assert parse_time(written, now=NOW) == instant
    assert parse_time(to_rfc3339(instant), now=NOW) == instant.replace(microsecond=0)
    assert utc_now({"INCIDENTCTL_NOW": to_rfc3339(instant)}) == instant.replace(microsecond=0)


@given(inner_instants.map(lambda t: t.replace(microsecond=0)), zones)
def test_a_local_wall_time_reads_back_as_its_instant_unless_it_happens_twice(instant, zone):
    wall = instant.astimezone(zone).replace(tzinfo=None)
    written = wall.isoformat(sep=" ")  # 2026-11-25 11:00:00, local, no offset
    try:
        parsed = parse_time(written, now=NOW, tz=zone)
    except InvalidInput as refused:
        assert dateutil_tz.datetime_ambiguous(wall, zone), refused.message
        assert "happens twice" in refused.message
        event("refused")
        return
    assert parsed == instant


@given(instants, st.sampled_from(["today ", "yesterday ", ""]), st.times(), zones)
def test_a_clock_time_is_that_wall_time_on_the_day_it_names(now, day, wall, zone):
    typed = f"{day}{wall:%H:%M:%S}"
    try:
        parsed = parse_time(typed, now=now, tz=zone)
    except InvalidInput as refused:
        assert re.search("does not exist|out of the range|happens twice", refused.message)
        event("refused")
        return
    local = parsed.astimezone(zone)
    assert local.time() == wall.replace(microsecond=0)
    today = now.astimezone(zone).date()
    if day == "today ":
        assert local.date() == today
    elif day == "yesterday ":
        assert (today - local.date()).days == 1
    else:  # the most recent such moment (two days back at most: Apia skipped a day)
        assert parsed <= now and 0 <= (today - local.date()).days <= 2


durations = st.one_of(
    st.integers(1, 10**6).map(lambda s: timedelta(seconds=s)),
    st.integers(1, int(LONGEST.total_seconds())).map(lambda s: timedelta(seconds=s)),
    st.just(LONGEST),
)


@given(durations, instants)
def test_a_duration_ago_is_now_minus_it_or_too_far_in_the_past(duration, now):
    typed = f"{format_duration(duration)} ago"
    try:
        parsed = parse_time(typed, now=now, tz=UTC)
    except InvalidInput as refused:
        assert "too far in the past" in refused.message
        assert now - MIN_UTC < duration
        event("refused")
        return
    assert parsed == now - duration


# --------------------------------------------------------------------------- (b) durations

duration_texts = st.one_of(
    st.text(),
    st.builds(
        lambda parts: "".join(f"{n}{u}" for n, u in parts),
        st.lists(
            st.tuples(numbers, st.sampled_from(["d", "h", "m", "s", "w", "D", ""])), max_size=5
        ),
    ),
    near_misses(st.sampled_from(["30m", "2h", "7d", "1h30m", "1d2h3m4s"])),
)


@given(duration_texts)
@example("999999999d")  # `watch --interval 999999999d`: "unexpected OverflowError"
@example("1000000000d")
def test_a_duration_is_a_positive_whole_number_of_seconds_or_a_sentence(text):
    try:
        parsed = parse_duration(text)
    except ValueError as refused:  # (its callers turn it into InvalidInput or ConfigError)
        assert type(refused) is ValueError
        assert str(refused).startswith(("invalid duration '", "invalid duration "))
        assert adds_no_line(str(refused), text)
        event("refused")
        return
    assert parsed > timedelta(0) and parsed.microseconds == 0


@given(durations)
def test_a_duration_formatted_reads_back_as_the_same_seconds(duration):
    written = format_duration(duration)
    assert parse_duration(written) == duration
    assert format_duration(parse_duration(written)) == written


@given(st.dictionaries(st.sampled_from("dhms"), st.integers(0, 10**12), min_size=1))
def test_a_written_duration_is_the_sum_of_its_parts_or_refused(parts):
    text = "".join(f"{parts[unit]}{unit}" for unit in "dhms" if unit in parts)
    size = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
    seconds = sum(n * size[unit] for unit, n in parts.items())
    try:
        parsed = parse_duration(text)
    except ValueError as refused:
        assert seconds == 0 or seconds > LONGEST.total_seconds(), refused
        event("refused")
        return
    assert 0 < seconds <= LONGEST.total_seconds()
    assert parsed.total_seconds() == seconds
    assert parse_duration(format_duration(parsed)) == parsed


# --------------------------------------------------------------------------- (c) sla.toml

SEED = tomllib.loads(seed_text())
SOURCE = "/etc/incidentctl/sla.toml"
# Keys the seed leaves out, so that mutations reach them too.
ADDITIONS: list[tuple[tuple[str, ...], Any]] = [
    (("timezone",), "Asia/Shanghai"),
    (("relevel",), "restart"),
    (("levels", "1", "fix"), "3d"),
    (("levels", "1", "pausable"), ["response"]),
    (("levels", "2", "calendar"), "office"),
    (("calendars", "office"), {"mon": "09:00-12:00, 13:00-18:00", "holidays": ["2026-12-25"]}),
    (("calendars", "office", "timezone"), "Europe/Berlin"),
    (("notifications", "warning"), {"at": ["75%"], "email": {"to": ["service_owner"]}}),
    (("notifications", "overdue", "steps"), [{"after": "0m", "to": ["service_owner"]}]),
    (("notifications", "overdue", "repeat"), "1h"),
    (("notifications", "overdue-recovery"), {"sms": ["rd_leader"]}),
    (("transports", "sms"), {"type": "webhook", "url": "http://127.0.0.1:9/sms"}),
    (("transports", "email"), {"type": "smtp", "host": "localhost", "from": "a@example.com"}),
    (("transports", "phone"), {"type": "command", "argv": ["true"], "timeout": "3s"}),
    (
        ("intake", "alert"),
        {"levels": {"critical": 1}, "rules": [{"match": {"t": "p"}, "level": 2}]},
    ),
    (("intake", "email"), {"rules": [{"to": "oncall@example.com", "service": "payments"}]}),
    (("intake", "storm"), {"max_new": 3, "window": "5m"}),
    (("retry", "factor"), 2.0),
    (("escalation", "expect_every"), "5m"),
]

toml_keys = st.one_of(
    st.sampled_from(["1", "0", "-1", "99999999999999999999", "default", "to", "at", "type"]),
    st.text(min_size=0, max_size=8),
)
duration_values = st.one_of(
    duration_texts,
    st.builds(lambda n, u: f"{n}{u}", st.integers(0, 10**12), st.sampled_from("dhms")),
)
toml_scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(),
    duration_values,
    st.sampled_from(["75%", "100%", "0%", "1e400%", "UTC", "Nowhere/City", "24/7", "firing"]),
    st.sampled_from(["09:00-18:00", "18:00-09:00", "00:00-24:00", "24:00-25:00", "9-5"]),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.just(UTC)),
    st.times(),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(toml_keys, inner, max_size=4)
    ),
    max_leaves=8,
)


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here] if here else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*here, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*here, i))
    return found


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set ``path`` (made where it is missing); nothing where a list is in the way."""
    for part in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(part, {})
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return
    last = path[-1]
    if isinstance(node, dict) or (
        isinstance(node, list) and isinstance(last, int) and last < len(node)
    ):
        node[last] = value


def _delete(node: Any, path: tuple[Any, ...]) -> None:
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]


@st.composite
def policy_documents(draw: st.DrawFn) -> dict[str, Any]:
    """The seed policy, some of the keys it leaves out, and a few changes anywhere."""
    document = json.loads(json.dumps(SEED))  # (a deep copy; the seed has no dates)
    for path, value in draw(st.lists(st.sampled_from(ADDITIONS), max_size=4)):
        _set(document, path, json.loads(json.dumps(value)))
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if how == "delete":
            _delete(document, path)
        elif how == "add":
            _set(document, (*path, draw(toml_keys)), draw(toml_values))
        else:
            _set(document, path, draw(toml_values))
    return document


def _toml(document: dict[str, Any]) -> str:
    try:
        return tomli_w.dumps(document)
    except TypeError:  # (a key made a list of a table: no TOML for it)
        return ""


def load(text: str) -> Any:
    """A policy from TOML text: the policy, or the ConfigError, checked for its shape."""
    try:
        policy = parse_policy(text, SOURCE)
    except ConfigError as refused:
        event("policy refused")
        lines = refused.message.split("\n")
        assert all(line.startswith(f"{SOURCE}: ") and line != f"{SOURCE}: " for line in lines)
        return refused
    event("policy loaded")
    return policy


def _shown_as_toml(policy: Any) -> str:
    out = io.StringIO()
    documents.write_toml(policy_as_dict(policy), out)
    return out.getvalue()


NOTICES = SEED["notifications"]


@given(st.one_of(policy_documents().map(_toml), st.text(), near_misses(st.just(seed_text()))))
# `policy show --format toml` printed `at = [0.75]`, which does not read back
@example(_toml({**SEED, "notifications": {**NOTICES, "warning": {"at": ["75%", "33.3%"]}}}))
# a key with a line break broke the one line of its problem in two
@example(_toml({**SEED, "notifications": {**NOTICES, "\n": 1}}))
@example(_toml({**SEED, "transports": {"sms": {"type": "print", "pass\nword": "x"}}}))
def test_any_policy_text_loads_or_is_refused_with_the_file_and_key_on_each_line(text):
    loaded = load(text)
    if isinstance(loaded, ConfigError):
        return
    # What `policy show --format toml` prints reads back as the same policy.
    assert parse_policy(_shown_as_toml(loaded), SOURCE) == loaded


@given(policy_documents())
@example({**SEED, "retry": {**SEED["retry"], "factor": float("inf")}})
@example({**SEED, "retry": {**SEED["retry"], "factor": 1e300}})
@example(
    {**SEED, "levels": {**SEED["levels"], "3": {**SEED["levels"]["3"], "recovery": "999999999d"}}}
)
def test_a_policy_that_loads_can_time_every_level_and_every_retry(document):
    loaded = load(_toml(document))
    if isinstance(loaded, ConfigError):
        return
    retry = loaded.retry
    for attempts in range(1, min(retry.max_attempts, 40) + 1):
        assert timedelta(0) < retry_delay(retry, attempts) <= retry.max_delay
    rules = rules_of(loaded)
    for n in loaded.levels:
        facts = IncidentFacts(level=n, reported_at=NOW, occurred_at=NOW - timedelta(hours=1))
        for clock in rules.clocks(facts, now=NOW).values():
            assert clock.due_at is None or clock.due_at > clock.started_at


# --------------------------------------------------------------------------- (d) import lines

storable = st.characters(codec="utf-8", exclude_characters="\x00")
texts = st.text(storable, min_size=1, max_size=40).filter(str.strip)
TEXT_FIELDS = ("title", "service", "details", "reporter", "contact", "assignee", "solution")


@st.composite
def plain_lines(draw: st.DrawFn) -> dict[str, Any]:
    """A plain incident object an import takes: text of any kind, milestones in order."""
    minutes = sorted(draw(st.lists(st.integers(0, 60 * 24 * 90), min_size=4, max_size=4)))
    reported, acked, recovered, resolved = (NOW - timedelta(minutes=m) for m in reversed(minutes))
    line: dict[str, Any] = {
        "title": draw(texts),
        "service": draw(texts),
        "level": draw(st.sampled_from([1, 2, 3])),
        "reported_at": to_rfc3339(reported),
        "channel": draw(st.sampled_from(["hotline", "email", "monitoring", "other"])),
    }
    for field in ("details", "reporter", "contact", "assignee"):
        if draw(st.booleans()):
            line[field] = draw(st.text(storable, max_size=200))
    stage = draw(st.integers(0, 3))
    if stage >= 1:
        line["acknowledged_at"] = to_rfc3339(acked)
    if stage >= 2:
        line["recovered_at"] = to_rfc3339(recovered)
    if stage >= 3:
        line["resolved_at"] = to_rfc3339(resolved)
        line["solution"] = draw(st.text(storable, max_size=200))
    return line


# One line of `incidentctl export` (the seed policy's version), events and all.
EXPORTED = {
    "id": 7,
    "title": "Checkout fails with 502",
    "details": "all card payments\nsince 02:45",
    "service": "payments",
    "level": 1,
    "channel": "hotline",
    "reporter": "Wang Fang",
    "contact": "+8613900000000",
    "assignee": "liu.yang",
    "team": "dev",
    "status": "recovered",
    "occurred_at": "2026-11-25T01:45:00Z",
    "reported_at": "2026-11-25T02:00:00Z",
    "acknowledged_at": "2026-11-25T02:05:00Z",
    "transferred_at": "2026-11-25T02:20:00Z",
    "recovered_at": "2026-11-25T02:50:00Z",
    "events": [
        {
            "id": 1,
            "kind": "opened",
            "at": "2026-11-25T02:00:00Z",
            "actor": "tester",
            "data": {"level": 2, "service": "payments", "channel": "hotline"},
        },
        {"id": 2, "kind": "acknowledged", "at": "2026-11-25T02:05:00Z", "actor": "tester"},
        {"kind": "relevelled", "at": "2026-11-25T02:08:00Z", "data": {"previous": 2, "to": 1}},
        {"kind": "transferred", "at": "2026-11-25T02:20:00Z", "data": {"to": "liu.yang"}},
        {"kind": "recovered", "at": "2026-11-25T02:50:00Z", "recorded_at": "2026-11-25T02:51:00Z"},
    ],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
line_keys = st.one_of(
    st.sampled_from(sorted(EXPORTED) + ["solution", "closed_at", "confirmed_by", "problem_ref"]),
    st.sampled_from(["sla", "status", "policy_version", "cancelled_at", "duplicate_of", "x.y"]),
    st.text(max_size=8),
)
times_as_text = st.one_of(iso_texts, st.sampled_from(["2026-11-25", "20261125T030000Z", ""]))


@st.composite
def mutated_lines(draw: st.DrawFn) -> dict[str, Any]:
    """A good line (plain or exported) with a few fields changed, taken out or added."""
    line = json.loads(
        json.dumps(
            draw(st.sampled_from([EXPORTED])) if draw(st.booleans()) else draw(plain_lines())
        )
    )
    for _ in range(draw(st.integers(1, 3))):
        where = line
        events = line.get("events")
        if isinstance(events, list) and events and draw(st.booleans()):
            where = draw(st.sampled_from(events))
            if not isinstance(where, dict):
                break
        key = draw(line_keys | st.sampled_from(["kind", "at", "actor", "data", "recorded_at"]))
        how = draw(st.sampled_from(["value", "time", "delete", "nul"]))
        if how == "delete":
            where.pop(key, None)
        elif how == "time":
            where[key] = draw(times_as_text)
        elif how == "nul" and isinstance(where.get(key), str):
            text = where[key]
            i = draw(st.integers(0, len(text)))
            where[key] = text[:i] + "\x00" + text[i:]
        else:
            where[key] = draw(json_values)
    return line


def reader() -> LineReader:
    return LineReader(policy=builtin_policy(), now=NOW, actor="tester")


def as_line(obj: Any) -> bytes:
    # both of JSON's ways of writing text: escaped (\u4e2d) and as it is
    escaped = isinstance(obj, dict) and len(obj) % 2 == 0
    return json.dumps(obj, ensure_ascii=escaped).encode() + b"\n"


@given(
    st.one_of(
        st.binary(),
        json_values.map(lambda v: json.dumps(v).encode()),
        mutated_lines().map(as_line),
        plain_lines().map(as_line),
    )
)
@example(b'{"x.y\\nz": 1}\n')  # "x: unknown field 'x.y\\nz'": a parent it does not have
@example(
    b'{"title": "a\\u0000b", "service": "s", "level": 2, "reported_at": "2026-11-25T02:00:00Z"}'
)
def test_an_import_line_is_an_incident_or_one_sentence_saying_why_not(raw):
    try:
        converted = reader().convert(raw)
    except Refused as refused:
        message = str(refused)
        assert message and "\n" not in message
        if "unknown field" in message:  # named in the object that has it: the line, an event
            assert re.fullmatch(r"(events\[[0-9]+\]: )?unknown field ['\"].*['\"]", message), (
                message
            )
        event("refused")
        return
    assert converted is not None  # (no version lines in these)
    row, events, _ = converted
    for value in (*row, *(v for stored in events for v in stored)):  # storable on both engines
        assert not (isinstance(value, str) and "\x00" in value)


@given(plain_lines())
def test_an_imported_lines_text_is_stored_as_it_was_given(line):
    row, events, derived = reader().convert(as_line(line))
    stored = dict(zip(INCIDENT_COLUMNS, row, strict=True))
    for field in TEXT_FIELDS:
        assert stored[field] == line.get(field)
    assert to_rfc3339(stored["reported_at"]) == line["reported_at"]
    assert derived and events[0][2] == "opened"


@given(plain_lines(), st.sampled_from(TEXT_FIELDS), st.integers(0, 200))
def test_a_nul_in_an_imported_text_is_refused_naming_the_field(line, field, where):
    text = line.get(field) or "x"
    line[field] = text[:where] + "\x00" + text[where:]
    with pytest.raises(Refused) as refused:
        reader().convert(as_line(line))
    assert str(refused.value) == f"{field}: a NUL character (\\x00) cannot be stored"


# --------------------------------------------------------------------------- (e) intake


def shown(size: int) -> st.SearchStrategy[str]:
    """Text with something to show on one line, and no NUL."""
    return st.text(storable, min_size=1, max_size=size).filter(title_of)


label_texts = st.one_of(shown(12), st.sampled_from(["payments", "critical", "warning"]))
label_names = st.one_of(
    st.sampled_from(["alertname", "service", "severity", "instance"]), label_texts
)


def maybe(good: st.SearchStrategy[Any], hostile: bool) -> st.SearchStrategy[Any]:
    """``good``, or (hostile) sometimes any JSON value instead."""
    return good | json_values if hostile else good


def alert_labels(hostile: bool) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(
        label_names, maybe(label_texts, hostile), min_size=not hostile, max_size=5
    )


def alert_times(hostile: bool) -> st.SearchStrategy[Any]:
    good = st.just("0001-01-01T00:00:00Z") | instants.map(lambda t: t.isoformat())
    return good | iso_texts | json_values if hostile else good


@st.composite
def alertmanager_alerts(draw: st.DrawFn, hostile: bool) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": draw(maybe(st.sampled_from(["firing", "resolved"]), hostile)),
        "labels": draw(alert_labels(hostile)),
        "annotations": draw(alert_labels(hostile)),
        "startsAt": draw(alert_times(hostile)),
        "endsAt": draw(alert_times(hostile)),
        "generatorURL": draw(maybe(st.text(max_size=20), hostile)),
        "fingerprint": draw(maybe(shown(16), hostile)),
    }
    for key in draw(st.sets(st.sampled_from(sorted(alert)))) if hostile else ():
        del alert[key]
    return alert


def webhooks(hostile: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Alertmanager's webhook (version 4): as it sends them, or (hostile) anything like."""
    return st.fixed_dictionaries(
        {"alerts": st.lists(alertmanager_alerts(hostile), max_size=3)},
        optional={
            "version": maybe(st.sampled_from(["4", 4]), hostile) | st.just("3")
            if hostile
            else st.sampled_from(["4", 4]),
            "groupKey": maybe(shown(20), hostile),
            "status": maybe(st.sampled_from(["firing", "resolved"]), hostile),
            "commonLabels": alert_labels(hostile),
            "commonAnnotations": alert_labels(hostile),
            "receiver": st.text(max_size=8),
        },
    )


def plain_alerts(hostile: bool) -> st.SearchStrategy[dict[str, Any]]:
    """One plain JSON alert: a key and a title, the rest optional."""
    required = {"key": shown(20), "title": shown(300)}
    return st.fixed_dictionaries(
        {} if hostile else required,
        optional={
            **({k: v | json_values for k, v in required.items()} if hostile else {}),
            "service": maybe(shown(20), hostile),
            "level": st.sampled_from([1, 2, 3])
            | (st.sampled_from([0, 9, True]) | json_values if hostile else st.nothing()),
            "status": maybe(st.sampled_from(["firing", "resolved"]), hostile),
            "details": maybe(st.text(storable), hostile),
            "labels": alert_labels(hostile),
            **({"extra": json_values} if hostile else {}),
        },
    )


GROUPED = parse_policy(
    seed_text()
    + '\n[intake.alert]\ndedup = "group"\nlevels = { page = 1, ticket = 3 }\n'
    + '[[intake.alert.rules]]\nmatch = { team = "pay" }\nservice = "payments"\nlevel = 2\n',
    SOURCE,
)
alert_policies = st.sampled_from([builtin_policy(), GROUPED])
payloads = st.one_of(
    st.binary(),
    json_values.map(lambda v: json.dumps(v).encode()),
    *(
        made(hostile).map(lambda v: json.dumps(v).encode())
        for made in (webhooks, plain_alerts)
        for hostile in (False, True)
    ),
)


def read_or_refused(read: Callable[[], T]) -> T | None:
    """What ``read`` makes of a message, or None for its usage error (one line)."""
    try:
        return read()
    except InvalidInput as refused:
        assert refused.message and "\n" not in refused.message
        event("refused")
        return None


def assert_arrival(arrival: Arrival, policy: Any) -> None:
    """What intake would store is storable and as the user sees it."""
    assert arrival.level in policy.levels
    assert arrival.title and arrival.title == " ".join(arrival.title.split())
    assert len(arrival.title) <= TITLE_LIMIT and "\n" not in arrival.summary
    assert arrival.service or arrival.reply_to is not None
    for value in vars(arrival).values():
        assert not (isinstance(value, str) and "\x00" in value)
    for moment in (arrival.occurred_at, arrival.ended_at):
        assert moment is None or (moment.tzinfo is not None and moment <= NOW)


@given(payloads, alert_policies)
@example(b'{"alerts": [{"labels": {"a": "b"}, "startsAt": "0001-01-01T00:00:00+01:00"}]}', None)
@example(b'{"alerts": [{"labels": {"a": "b"}, "generatorURL": "\\u0000"}]}', None)  # stored
@example(b'{"key": "!", "title": "\\u0001"}', None)  # opened an incident titled ""
@example(b'{"key": "k", "title": "t", "service": "\\u0085"}', None)  # for the service ""
def test_an_alert_payload_is_arrivals_or_a_usage_error(data, policy):
    policy = policy or builtin_policy()
    for arrival in read_or_refused(lambda: parse_alerts(data, policy, now=NOW)) or ():
        assert_arrival(arrival, policy)


header_texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "=?utf-8?b?5pSv5LuY5aSx6LSl?=",
            "=?gb2312?q?=D6=A7=B8=B6?=",
            "=?bogus?q?x?=",
            "[#42] re: disk",
            "[#999999999999999999] far",
            "Re: [#0]",
        ]
    ),
)
addresses = st.one_of(
    st.sampled_from(
        [
            "Wang Fang <wang.fang@example.com>",
            "chen.jie@example.com",
            '"boss@x" <eve@example.com>',
            "<>",
            "undisclosed-recipients:;",
            "=?utf-8?q?Li_Wei?= <li.wei@example.com>",
        ]
    ),
    st.text(max_size=30),
)
charsets = st.sampled_from(["utf-8", "gb2312", "iso-8859-1", "us-ascii", "bogus", ""])
encodings = st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "bogus"])


@st.composite
def emails(draw: st.DrawFn) -> bytes:
    """A message as mail systems hand them over: headers of every kind, bodies in any
    charset and transfer encoding, sometimes multipart with attachments."""
    headers = {
        "From": draw(addresses),
        "To": draw(addresses),
        "Subject": draw(header_texts),
        "Message-ID": draw(st.sampled_from(["<a@b>", "", "<x>"]) | st.text(max_size=10)),
        "In-Reply-To": draw(st.sampled_from(["", "<incidentctl.7.initial.1@example.com>"])),
        "Auto-Submitted": draw(st.sampled_from(["", "no", "auto-replied"])),
    }
    body = draw(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
    kind = draw(st.sampled_from(["text/plain", "text/html", "multipart/mixed", "application/x"]))
    charset, encoding = draw(charsets), draw(encodings)
    lines = [f"{k}: {v}" for k, v in headers.items() if v]
    if kind.startswith("multipart"):
        name = draw(header_texts)
        lines += ['Content-Type: multipart/mixed; boundary="b1"', "", "--b1"]
        lines += [
            f"Content-Type: text/plain; charset={charset}",
            f"Content-Transfer-Encoding: {encoding}",
            "",
        ]
        tail = [
            "--b1",
            f'Content-Disposition: attachment; filename="{name}"',
            "Content-Transfer-Encoding: base64",
            "",
            draw(st.text("ABCD=+/\n", max_size=40)),
            "--b1--" if draw(st.booleans()) else "",
        ]
        return (
            ("\r\n" if draw(st.booleans()) else "\n").join(lines).encode("utf-8", "surrogateescape")
            + b"\n"
            + body
            + b"\n"
            + "\n".join(tail).encode()
        )
    lines += [f"Content-Type: {kind}; charset={charset}", f"Content-Transfer-Encoding: {encoding}"]
    return "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n\n" + body


@given(st.one_of(st.binary(), emails()), st.lists(st.text(max_size=20), max_size=2))
def test_an_email_is_an_arrival_or_a_usage_error(data, recipients):
    policy = builtin_policy()
    arrival = read_or_refused(lambda: parse_email(data, policy, recipients=recipients))
    if arrival is None:
        return
    if arrival.reply_to is None:
        assert_arrival(arrival, policy)
    else:
        assert arrival.title == " ".join(arrival.title.split())
        assert not (arrival.text and "\x00" in arrival.text)
    assert arrival.contact and "@" in arrival.contact


# --------------------------------------------------------------------------- through the CLI

NOW_TEXT = to_rfc3339(NOW)


class Fresh:
    """A new, empty database for each example (a copy of one migrated once): an example's
    import or intake must not meet the last one's incidents."""

    def __init__(self, cli: Any, directory: Path) -> None:
        self.cli = cli
        self.directory = directory
        self.count = 0
        self.template = directory / "template.db"
        cli.use(str(self.template))
        cli("list", "--json", now=NOW_TEXT)  # (creates and migrates it)

    def __call__(self) -> Any:
        self.count += 1
        path = self.directory / f"example-{self.count}.db"
        path.write_bytes(self.template.read_bytes())
        path.chmod(0o600)
        self.cli.use(str(path))
        return self.cli


@pytest.fixture
def fresh(cli, tmp_path) -> Fresh:
    return Fresh(cli, tmp_path)


def one_line_error(out: Any) -> str:
    """The refusal the CLI printed: one JSON object on stderr, its message one line."""
    error = json.loads(out.stderr)
    assert error["error"] in ("invalid_input", "usage", "config", "not_found"), error
    assert "\n" not in error["message"] and not error["message"].startswith("unexpected")
    return str(error["message"])


def ndjson(lines: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


@THROUGH_CLI
@given(st.lists(plain_lines(), min_size=1, max_size=3))
def test_an_exported_incident_imported_again_is_the_same_line(fresh, lines):
    cli = fresh()
    cli("import", "-", input=ndjson(lines), now=NOW_TEXT)
    exported = cli("export", now=NOW_TEXT).stdout
    # (after the version line; split at newlines only: a text may hold U+2028)
    incidents = [json.loads(line) for line in exported.split("\n")[1:-1]]
    for given_line, incident in zip(lines, incidents, strict=True):
        for field, value in given_line.items():
            assert incident[field] == value, field  # text as it was given, times as written
    again = fresh()
    again("import", "-", input=exported, now=NOW_TEXT)
    assert again("export", now=NOW_TEXT).stdout == exported


@THROUGH_CLI
@given(plain_lines(), mutated_lines())
@example(
    {"title": "t", "service": "s", "level": 2, "reported_at": "2026-11-25T02:00:00Z"},
    {"title": "a\x00b", "service": "s", "level": 2, "reported_at": "2026-11-25T02:00:00Z"},
)  # on PostgreSQL: "unexpected DataError: ... cannot contain NUL (0x00) bytes"
def test_an_import_is_all_or_nothing_and_a_refusal_says_which_line(fresh, good, bad):
    cli = fresh()
    cli("import", "-", input=ndjson([good]), now=NOW_TEXT)
    before = cli.snapshot()
    out = cli("import", "-", "--json", input=ndjson([good, bad]), now=NOW_TEXT, expect=None)
    event(f"exit {out.exit_code}")
    if out.exit_code == 0:
        assert len(cli.snapshot()) == len(before) + 2
        return
    assert out.exit_code == 2
    message = one_line_error(out)
    assert re.match(r"line [12]: .+; nothing was imported$", message), message
    assert cli.snapshot() == before


@THROUGH_CLI
@given(st.one_of(webhooks(False).map(json.dumps), plain_alerts(False).map(json.dumps), payloads))
@example(b'{"key": "k", "title": "a\\u0000b"}')
@example(  # one fingerprint twice: resolved (nothing open: ignored), then firing (opened)
    b'{"alerts": [{"status": "resolved", "labels": {"a": "0"}, "fingerprint": "00"},'
    b' {"status": "firing", "labels": {"severity": "0"}, "fingerprint": "00"}]}'
)
def test_intake_alert_stores_what_it_read_or_refuses_and_changes_nothing(fresh, data):
    cli = fresh()
    cli("intake", "alert", input='{"key": "here", "title": "Already here"}', now=NOW_TEXT)
    before = cli.snapshot()
    out = cli("intake", "alert", "--json", input=data, now=NOW_TEXT, expect=None)
    event(f"exit {out.exit_code}")
    if out.exit_code != 0:
        assert out.exit_code == 2
        one_line_error(out)
        assert cli.snapshot() == before
        return
    arrivals = parse_alerts(data, builtin_policy(), now=NOW)
    # (one outcome for each alert, in order: a key may come twice, resolved then firing)
    for arrival, outcome in zip(arrivals, out.json["outcomes"], strict=True):
        if outcome["action"] != "opened":
            continue
        shown = cli.json("show", str(outcome["incident"]), now=NOW_TEXT)
        assert (shown["title"], shown["service"], shown["level"]) == (
            arrival.title,
            arrival.service,
            arrival.level,
        )
        assert shown["details"] == arrival.details


@THROUGH_CLI
@given(emails())
def test_intake_email_stores_what_it_read_or_refuses_and_changes_nothing(fresh, data):
    cli = fresh()
    before = cli.snapshot()
    out = cli("intake", "email", "--json", input=data, now=NOW_TEXT, expect=None)
    event(f"exit {out.exit_code}")
    if out.exit_code != 0:  # (3: a reply to an incident there is not)
        assert out.exit_code in (2, 3), out.stderr
        one_line_error(out)
        assert cli.snapshot() == before
        return
    arrival = parse_email(data, builtin_policy())
    for outcome in out.json["outcomes"]:
        if outcome["action"] == "opened":
            shown = cli.json("show", str(outcome["incident"]), now=NOW_TEXT)
            assert (shown["title"], shown["details"], shown["contact"]) == (
                arrival.title,
                arrival.details,
                arrival.contact,
            )


@THROUGH_CLI
@given(
    st.one_of(good_times, typed_times),
    st.one_of(st.just(NOW_TEXT), iso_texts, st.text(storable, max_size=30)),
)
@example("23:00", "0001-01-01T00:00:00Z")
@example("now", "0001-01-01T00:00:00+01:00")
def test_open_at_any_time_opens_or_is_a_usage_error(fresh, typed, now):
    cli = fresh()
    out = cli(
        "open", "Disk full", "--level", "2", "--service", "db", "--at", typed, "--json",
        now=now, expect=None,
    )  # fmt: skip
    event(f"exit {out.exit_code}")
    if out.exit_code != 0:
        assert out.exit_code == 2, out.stderr
        if "\n" not in typed:  # (a typed line break is quoted as it was typed)
            one_line_error(out)
        assert cli.json("list", now=NOW_TEXT) == []
        return
    assert out.json["reported_at"].endswith("Z")


@THROUGH_CLI
@given(policy_documents())
def test_a_policy_that_policy_check_takes_runs_open_and_escalate(fresh, tmp_path, document):
    cli = fresh()
    path = tmp_path / f"sla-{fresh.count}.toml"
    path.write_text(_toml(document))
    checked = cli("--config", str(path), "policy", "check", "--json", now=NOW_TEXT, expect=None)
    event(f"policy check exit {checked.exit_code}")
    if checked.exit_code != 0:
        assert checked.exit_code == 5, checked.stderr
        return
    for level in json.loads(
        cli("--config", str(path), "policy", "show", "--json", now=NOW_TEXT).stdout
    )["levels"]:
        cli("--config", str(path), "open", "x", "--level", level, "--service", "payments",
            now=NOW_TEXT)  # fmt: skip
    later = to_rfc3339(NOW + timedelta(days=30))
    cli("--config", str(path), "escalate", "--dry-run", "--json", now=later)


months = st.one_of(
    st.builds(lambda y, m: f"{y:04d}-{m}", years, two(0, 13)),
    st.sampled_from(["this", "last", "2026-1", "26-01", "2026-00"]),
)


@THROUGH_CLI
@given(st.one_of(st.tuples(good_times | typed_times, st.none() | typed_times), months))
@example(("0001-01-01T00:00:00Z", None))  # the period before it: before year 1
@example(("2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z"))
@example("0001-01")  # "unexpected ValueError: year 0 is out of range"
@example("9999-12")
def test_a_report_of_any_period_is_a_report_or_a_usage_error(fresh, period):
    cli = fresh()
    if isinstance(period, tuple):
        since, until = period
        args = ["--since", since, *(["--until", until] if until is not None else [])]
    else:
        args = ["--month", period]
    out = cli("report", *args, "--json", now=NOW_TEXT, expect=None)
    event(f"exit {out.exit_code}")
    if out.exit_code != 0:
        assert out.exit_code == 2, out.stderr
        if "\n" not in "".join(args):
            one_line_error(out)
        return
    report = out.json
    assert report["since"] < report["until"]  # (both RFC 3339 in UTC: they sort as text)
