"""Durations and command-line times (SPEC §6 "Times given on the command line")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from dateutil import tz as dateutil_tz
from hypothesis import given
from hypothesis import strategies as st

from incidentctl.errors import InvalidInput
from incidentctl.times import (
    ensure_utc,
    format_duration,
    parse_duration,
    parse_time,
    to_rfc3339,
    utc_now,
)

BERLIN = dateutil_tz.gettz("Europe/Berlin")
SHANGHAI = dateutil_tz.gettz("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai, 04:00 in Berlin


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("60s", timedelta(minutes=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("90m", timedelta(minutes=90)),
    ],
)
def test_parse_duration_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["10 min", "", "m", "0m", "0s", "1.5h", "-5m", "30", "2w", "30m2h", "1h1h", "30M", "ten"],
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as info:
        parse_duration(text)
    assert f"'{text}'" in str(info.value)


def test_parse_duration_message_shows_accepted_forms() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("10 min")
    assert str(info.value) == "invalid duration '10 min': use forms like 30m, 2h, 7d, 1h30m"


@pytest.mark.parametrize(
    ("td", "expected"),
    [
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=7), "7d"),
        (timedelta(seconds=45), "45s"),
        (timedelta(0), "0s"),
        (timedelta(hours=-2), "-2h"),
        (timedelta(minutes=-90), "-1h30m"),
        (timedelta(seconds=59, microseconds=600_000), "1m"),
        (timedelta(seconds=3, microseconds=400_000), "3s"),
        (timedelta(microseconds=-300_000), "0s"),
        (timedelta(days=1, seconds=1), "1d1s"),
    ],
)
def test_format_duration(td: timedelta, expected: str) -> None:
    assert format_duration(td) == expected


@given(st.integers(min_value=1, max_value=10_000 * 86_400))
def test_duration_round_trip(seconds: int) -> None:
    td = timedelta(seconds=seconds)
    text = format_duration(td)
    assert parse_duration(text) == td
    assert format_duration(parse_duration(text)) == text


@given(st.integers(min_value=1, max_value=10**9))
def test_negative_durations_format_with_a_minus(seconds: int) -> None:
    td = timedelta(seconds=seconds)
    assert format_duration(-td) == "-" + format_duration(td)


# --------------------------------------------------------------------------- utc_now


def test_utc_now_reads_incidentctl_now_with_offset() -> None:
    now = utc_now({"INCIDENTCTL_NOW": "2026-11-25T11:00:00+08:00"})
    assert now == utc(2026, 11, 25, 3, 0)
    assert now.utcoffset() == timedelta(0)
    assert utc_now({"INCIDENTCTL_NOW": "2026-11-25T03:00:00Z"}) == utc(2026, 11, 25, 3, 0)


def test_utc_now_without_variable_is_the_clock() -> None:
    before = datetime.now(UTC)
    now = utc_now({})
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(UTC)


@pytest.mark.parametrize("value", ["2026-11-25T03:00:00", "yesterday", "2026-11-25", "25:00Z"])
def test_utc_now_refuses_bad_value_naming_the_variable(value: str) -> None:
    with pytest.raises(InvalidInput, match="INCIDENTCTL_NOW"):
        utc_now({"INCIDENTCTL_NOW": value})


# --------------------------------------------------------------------------- parse_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T03:00:00+08:00", utc(2026, 11, 24, 19, 0)),
        ("2026-11-25T03:00:00Z", utc(2026, 11, 25, 3, 0)),
        ("2026-11-25 03:00:00Z", utc(2026, 11, 25, 3, 0)),
        ("2026-11-25t03:00:00z", utc(2026, 11, 25, 3, 0)),
        ("2026-11-25T03:00-05:00", utc(2026, 11, 25, 8, 0)),
        ("2026-11-25T03:00:00+0530", utc(2026, 11, 24, 21, 30)),
    ],
)
def test_parse_time_with_offset_ignores_local_zone(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW, tz=BERLIN) == expected


def test_parse_time_keeps_fractions_of_seconds() -> None:
    parsed = parse_time("2026-11-25T03:00:00.5Z", now=NOW)
    assert parsed == utc(2026, 11, 25, 3, 0, 0) + timedelta(milliseconds=500)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T11:00:00", utc(2026, 11, 25, 3, 0)),  # ISO without offset
        ("2026-11-25 11:00", utc(2026, 11, 25, 3, 0)),  # YYYY-MM-DD HH:MM
        ("2026-11-25 11:00:30", utc(2026, 11, 25, 3, 0, 30)),
    ],
)
def test_parse_time_without_offset_is_local(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW, tz=SHANGHAI) == expected


def test_parse_time_local_time_in_summer_and_winter() -> None:
    assert parse_time("2026-07-01 12:00", now=NOW, tz=BERLIN) == utc(2026, 7, 1, 10, 0)
    assert parse_time("2026-12-01 12:00", now=NOW, tz=BERLIN) == utc(2026, 12, 1, 11, 0)


def test_parse_time_returns_aware_utc() -> None:
    parsed = parse_time("2026-11-25 11:00", now=NOW, tz=SHANGHAI)
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == timedelta(0)
    assert to_rfc3339(parsed) == "2026-11-25T03:00:00Z"


def test_parse_time_honours_tz_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    assert parse_time("2026-11-25 11:00", now=NOW) == utc(2026, 11, 25, 3, 0)
    monkeypatch.setenv("TZ", "America/New_York")
    assert parse_time("2026-11-25 11:00", now=NOW) == utc(2026, 11, 25, 16, 0)


def test_parse_time_refuses_unknown_tz_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Mars/Olympus_Mons")
    with pytest.raises(InvalidInput, match="TZ"):
        parse_time("2026-11-25 11:00", now=NOW)
    # A time with an offset does not need the local zone at all.
    assert parse_time("2026-11-25T11:00:00Z", now=NOW) == utc(2026, 11, 25, 11, 0)


def test_parse_time_clock_is_today_in_local_zone() -> None:
    # 03:00 UTC is 11:00 on the 25th in Shanghai: "09:30" is 09:30 there that day.
    assert parse_time("09:30", now=NOW, tz=SHANGHAI) == utc(2026, 11, 25, 1, 30)
    assert parse_time("9:30", now=NOW, tz=SHANGHAI) == utc(2026, 11, 25, 1, 30)
    assert parse_time("09:30:15", now=NOW, tz=SHANGHAI) == utc(2026, 11, 25, 1, 30, 15)


def test_parse_time_today_is_the_local_date_not_the_utc_date() -> None:
    # 20:00 UTC on the 24th is already the 25th in Shanghai (04:00).
    now = utc(2026, 11, 24, 20, 0)
    assert parse_time("03:00", now=now, tz=SHANGHAI) == utc(2026, 11, 24, 19, 0)
    # ... and still the 24th in New York (15:00).
    new_york = dateutil_tz.gettz("America/New_York")
    assert parse_time("09:00", now=now, tz=new_york) == utc(2026, 11, 24, 14, 0)


@pytest.mark.parametrize(
    ("text", "ago"),
    [
        ("15m ago", timedelta(minutes=15)),
        ("1h30m ago", timedelta(hours=1, minutes=30)),
        ("2d ago", timedelta(days=2)),
        ("45s  AGO", timedelta(seconds=45)),
    ],
)
def test_parse_time_relative(text: str, ago: timedelta) -> None:
    assert parse_time(text, now=NOW, tz=BERLIN) == NOW - ago


def test_parse_time_relative_is_anchored_to_now_in_utc() -> None:
    now_shanghai = datetime(2026, 11, 25, 11, 0, tzinfo=SHANGHAI)
    parsed = parse_time("15m ago", now=now_shanghai)
    assert parsed == utc(2026, 11, 25, 2, 45)
    assert parsed.utcoffset() == timedelta(0)


def test_parse_time_now() -> None:
    assert parse_time("now", now=NOW) == NOW


def test_parse_time_refuses_bad_relative_duration() -> None:
    # ("10 min ago" was refused here; people say it, so it is now accepted: below)
    with pytest.raises(InvalidInput, match="invalid duration '10 parsecs'"):
        parse_time("10 parsecs ago", now=NOW, tz=BERLIN)


@pytest.mark.parametrize(
    ("text", "ago"),
    [
        ("10 min ago", timedelta(minutes=10)),
        ("15 mins ago", timedelta(minutes=15)),
        ("2 hours ago", timedelta(hours=2)),
        ("1 hour 30 minutes ago", timedelta(hours=1, minutes=30)),
        ("3 days ago", timedelta(days=3)),
        ("90 seconds ago", timedelta(seconds=90)),
    ],
)
def test_parse_time_relative_as_people_say_it(text: str, ago: timedelta) -> None:
    assert parse_time(text, now=NOW, tz=BERLIN) == NOW - ago


def test_a_clock_time_is_its_most_recent_moment() -> None:
    just_after_midnight = utc(2026, 11, 25, 0, 10)
    # at 00:10, 23:55 is last night's (it was refused as "in the future")
    assert parse_time("23:55", now=just_after_midnight, tz=UTC) == utc(2026, 11, 24, 23, 55)
    assert parse_time("00:05", now=just_after_midnight, tz=UTC) == utc(2026, 11, 25, 0, 5)
    assert parse_time("yesterday 23:55", now=just_after_midnight, tz=UTC) == utc(
        2026, 11, 24, 23, 55
    )
    assert parse_time("yesterday 00:05", now=just_after_midnight, tz=UTC) == utc(2026, 11, 24, 0, 5)
    assert parse_time("Today 00:05", now=just_after_midnight, tz=UTC) == utc(2026, 11, 25, 0, 5)


@pytest.mark.parametrize("text", ["03/04/2026", "3.4.2026", "04-03-2026", "03/04/26 10:00"])
def test_parse_time_refuses_ambiguous_day_month(text: str) -> None:
    with pytest.raises(InvalidInput, match="YYYY-MM-DD") as info:
        parse_time(text, now=NOW, tz=BERLIN)
    assert "ambiguous" in info.value.message


def test_parse_time_refuses_date_without_time() -> None:
    with pytest.raises(InvalidInput, match="without a time of day"):
        parse_time("2026-11-25", now=NOW, tz=BERLIN)


def test_parse_time_refuses_nonexistent_local_time_in_dst_gap() -> None:
    # Clocks in Berlin jump from 02:00 to 03:00 on 2026-03-29.
    with pytest.raises(InvalidInput, match="does not exist"):
        parse_time("2026-03-29 02:30", now=NOW, tz=BERLIN)
    # Either side of the gap is fine.
    assert parse_time("2026-03-29 01:59", now=NOW, tz=BERLIN) == utc(2026, 3, 29, 0, 59)
    assert parse_time("2026-03-29 03:00", now=NOW, tz=BERLIN) == utc(2026, 3, 29, 1, 0)


def test_parse_time_refuses_ambiguous_local_time_in_dst_fold() -> None:
    # Clocks in Berlin go back from 03:00 to 02:00 on 2026-10-25: 02:30 happens twice.
    with pytest.raises(InvalidInput, match="offset") as info:
        parse_time("2026-10-25 02:30", now=NOW, tz=BERLIN)
    assert "+02:00" in info.value.message and "+01:00" in info.value.message
    # With an explicit offset both instants can be given.
    assert parse_time("2026-10-25T02:30+02:00", now=NOW) == utc(2026, 10, 25, 0, 30)
    assert parse_time("2026-10-25T02:30+01:00", now=NOW) == utc(2026, 10, 25, 1, 30)


def test_parse_time_clock_form_also_refuses_dst_gap() -> None:
    now = utc(2026, 3, 29, 6, 0)  # 08:00 in Berlin on the day of the change
    with pytest.raises(InvalidInput, match="does not exist"):
        parse_time("02:30", now=now, tz=BERLIN)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "garbage",
        "tomorrow",
        "25:00",
        "12:60",
        "2026-02-30 10:00",
        "2026-13-01 10:00",
        "2026/03/04 10:00",
        "next tuesday",
        "1700000000",
    ],
)
def test_parse_time_refuses_garbage(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_time(text, now=NOW, tz=BERLIN)


# --------------------------------------------------------------------------- rendering


def test_to_rfc3339_is_utc_with_z_and_drops_microseconds() -> None:
    dt = datetime(2026, 11, 25, 11, 0, 5, 999_999, tzinfo=timezone(timedelta(hours=8)))
    assert to_rfc3339(dt) == "2026-11-25T03:00:05Z"
    assert to_rfc3339(datetime(2026, 11, 25, 3, 0)) == "2026-11-25T03:00:00Z"  # naive = UTC


def test_ensure_utc() -> None:
    naive = datetime(2026, 11, 25, 3, 0)
    assert ensure_utc(naive) == utc(2026, 11, 25, 3, 0)
    assert ensure_utc(naive).tzinfo is UTC
    shanghai = datetime(2026, 11, 25, 11, 0, tzinfo=SHANGHAI)
    converted = ensure_utc(shanghai)
    assert converted == utc(2026, 11, 25, 3, 0)
    assert converted.hour == 3 and converted.utcoffset() == timedelta(0)
