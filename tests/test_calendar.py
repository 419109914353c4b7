"""Business calendars: the open-time arithmetic against a minute-by-minute model, worked
examples a person can check, and the policy file's ``[calendars.NAME]`` keys."""

from __future__ import annotations

import io
import time as wall_clock
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from incidentctl.config import CalendarConfig, Level, parse_policy, policy_as_dict
from incidentctl.errors import ConfigError
from incidentctl.output import documents
from incidentctl.policy.calendar import ALWAYS, BusinessCalendar, Closure, build_calendar

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
OFFICE_HOURS = {day: ((9 * 60, 18 * 60),) for day in range(5)}  # Mon-Fri 09:00-18:00
WHOLE_DAYS = {day: ((0, 24 * 60),) for day in range(7)}


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


def office(**kwargs: object) -> BusinessCalendar:
    return BusinessCalendar("office", BERLIN, OFFICE_HOURS, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the model


def is_open(calendar: BusinessCalendar, minute: datetime) -> bool:
    """The naive reading: is this UTC minute open, by the local wall clock?"""
    wall = minute.astimezone(calendar.zone)
    if wall.date() in calendar.holidays:
        return False
    of_day = wall.hour * 60 + wall.minute
    return any(start <= of_day < end for start, end in calendar.hours.get(wall.weekday(), ()))


def open_minutes(calendar: BusinessCalendar, start: datetime, end: datetime) -> int:
    minutes = int((end - start) / MINUTE)
    return sum(is_open(calendar, start + n * MINUTE) for n in range(minutes))


def advance_by_minutes(calendar: BusinessCalendar, start: datetime, amount: int, limit: int):
    """The end of the ``amount``-th open minute from ``start`` (``amount`` 0: the first
    open minute); None when not within ``limit`` minutes."""
    counted = 0
    for n in range(limit):
        minute = start + n * MINUTE
        if is_open(calendar, minute):
            if amount == 0:
                return minute
            counted += 1
            if counted == amount:
                return minute + MINUTE
    return None


# Range ends every half hour, except those inside an hour the clock repeats in autumn
# (01:00-02:00 in New York, 02:00-03:00 in Berlin): there the first occurrence counts,
# which a wall-clock reading cannot say (tested by example below). Ends in the skipped
# spring hour stay in: the moment the clock jumps is what the model reads too.
BOUNDS = [m for m in range(0, 24 * 60 + 1, 30) if m not in (90, 150)]
# The DST changes of 2026: Berlin 29 March and 25 October, New York 8 March, 1 November.
CHANGES = [
    (BERLIN, datetime(2026, 3, 29, 1, tzinfo=UTC)),
    (BERLIN, datetime(2026, 10, 25, 1, tzinfo=UTC)),
    (NEW_YORK, datetime(2026, 3, 8, 7, tzinfo=UTC)),
    (NEW_YORK, datetime(2026, 11, 1, 6, tzinfo=UTC)),
]


@st.composite
def day_ranges(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    ends = sorted(draw(st.lists(st.sampled_from(BOUNDS), max_size=6, unique=True)))
    return tuple(zip(ends[::2], ends[1::2], strict=False))


@st.composite
def calendars_and_spans(draw: st.DrawFn) -> tuple[BusinessCalendar, datetime, datetime]:
    zone, change = draw(st.sampled_from(CHANGES))
    hours = {day: ranges for day in range(7) if (ranges := draw(day_ranges()))}
    assume(hours)
    start = change + draw(st.integers(-5 * 24 * 60, 2 * 24 * 60)) * MINUTE
    end = start + draw(st.integers(0, 7 * 24 * 60)) * MINUTE
    near = [start.date() + timedelta(days=n) for n in range(-1, 9)]
    holidays = frozenset(draw(st.lists(st.sampled_from(near), max_size=3)))
    return BusinessCalendar("drawn", zone, hours, holidays=holidays), start, end


@settings(max_examples=60, deadline=None)
@given(calendars_and_spans())
def test_open_between_counts_the_open_minutes_by_the_wall_clock(drawn) -> None:
    calendar, start, end = drawn
    assert calendar.open_between(start, end) == open_minutes(calendar, start, end) * MINUTE
    assert calendar.open_between(end, start) == timedelta(0)


@settings(max_examples=60, deadline=None)
@given(calendars_and_spans(), st.data())
def test_advance_ends_at_the_amount_th_open_minute(drawn, data: st.DataObject) -> None:
    calendar, start, end = drawn
    minutes = int((end - start) / MINUTE)
    amount = data.draw(st.integers(0, open_minutes(calendar, start, end)))
    expected = advance_by_minutes(calendar, start, amount, limit=minutes)
    assume(expected is not None)  # (amount 0 in a span with no opening)
    due = calendar.advance(start, amount * MINUTE)
    assert due == expected
    assert due.tzinfo is UTC
    assert calendar.open_between(start, due) == amount * MINUTE


@settings(max_examples=40, deadline=None)
@given(calendars_and_spans())
def test_closures_are_the_closed_time_merged_and_explained(drawn) -> None:
    calendar, start, end = drawn
    found = calendar.closures(start, end)
    closed = sum((c.end - c.start for c in found), timedelta(0))
    assert closed + calendar.open_between(start, end) == end - start
    for closure in found:
        assert start <= closure.start < closure.end <= end
        assert calendar.open_between(closure.start, closure.end) == timedelta(0)
        assert closure.why
    for before, after in zip(found, found[1:], strict=False):
        assert calendar.open_between(before.end, after.start) > timedelta(0)  # maximal runs


@settings(max_examples=40, deadline=None)
@given(calendars_and_spans(), st.integers(1, 60 * 24 * 60))
def test_advance_and_open_between_agree_over_long_targets(drawn, amount: int) -> None:
    calendar, start, _ = drawn
    due = calendar.advance(start, amount * MINUTE + timedelta(microseconds=7))
    assert calendar.open_between(start, due) == amount * MINUTE + timedelta(microseconds=7)


# --------------------------------------------------------------------------- worked examples


def test_two_hours_from_friday_17_00_are_due_monday_10_00() -> None:
    friday = local(BERLIN, 2026, 3, 6, 17)
    due = office().advance(friday, 2 * HOUR)
    assert due == local(BERLIN, 2026, 3, 9, 10)
    assert due.tzinfo is UTC
    assert office().open_between(friday, due) == 2 * HOUR


def test_an_incident_opened_on_saturday_starts_counting_monday_09_00() -> None:
    saturday = local(BERLIN, 2026, 3, 7, 11, 30)
    assert office().advance(saturday, timedelta(0)) == local(BERLIN, 2026, 3, 9, 9)
    assert office().advance(saturday, 30 * MINUTE) == local(BERLIN, 2026, 3, 9, 9, 30)
    assert office().open_between(saturday, local(BERLIN, 2026, 3, 9, 9)) == timedelta(0)


def test_advance_zero_when_open_is_the_start_itself() -> None:
    tuesday = local(BERLIN, 2026, 3, 10, 11, 15)
    assert office().advance(tuesday, timedelta(0)) == tuesday
    # the closing moment itself is closed: the next opening
    assert office().advance(local(BERLIN, 2026, 3, 10, 18), timedelta(0)) == local(
        BERLIN, 2026, 3, 11, 9
    )


def test_a_holiday_is_skipped_and_named() -> None:
    christmas = {date(2026, 12, 25): "Christmas Day"}
    calendar = office(holidays=frozenset(christmas), holiday_name=christmas.get)
    thursday = local(BERLIN, 2026, 12, 24, 17)  # 1 h left on Thursday, Friday is closed
    assert calendar.advance(thursday, 3 * HOUR) == local(BERLIN, 2026, 12, 28, 11)
    [closure] = calendar.closures(local(BERLIN, 2026, 12, 24, 18), local(BERLIN, 2026, 12, 28, 9))
    assert closure == Closure(
        local(BERLIN, 2026, 12, 24, 18),
        local(BERLIN, 2026, 12, 28, 9),
        "holiday: Christmas Day; weekend",
    )


def test_closures_say_why_in_words_a_person_can_check() -> None:
    calendar = office(holidays=frozenset({date(2026, 5, 1)}))  # a listed date: no name
    found = calendar.closures(local(BERLIN, 2026, 4, 29, 12), local(BERLIN, 2026, 5, 5, 12))
    assert [(c.start, c.end, c.why) for c in found] == [
        (local(BERLIN, 2026, 4, 29, 18), local(BERLIN, 2026, 4, 30, 9), "closed 18:00-09:00"),
        (
            local(BERLIN, 2026, 4, 30, 18),
            local(BERLIN, 2026, 5, 4, 9),
            "holiday: 2026-05-01; weekend",
        ),
        (local(BERLIN, 2026, 5, 4, 18), local(BERLIN, 2026, 5, 5, 9), "closed 18:00-09:00"),
    ]
    # clipped to the span asked for, the words still describe the whole closure
    [clipped] = calendar.closures(local(BERLIN, 2026, 5, 2, 10), local(BERLIN, 2026, 5, 2, 11))
    assert clipped.why == "holiday: 2026-05-01; weekend"
    assert (clipped.start, clipped.end) == (
        local(BERLIN, 2026, 5, 2, 10),
        local(BERLIN, 2026, 5, 2, 11),
    )
    sundays = BusinessCalendar("six", BERLIN, {d: ((0, 1440),) for d in range(6)})
    [sunday] = sundays.closures(local(BERLIN, 2026, 5, 2), local(BERLIN, 2026, 5, 5))
    assert sunday.why == "Sunday"
    assert ALWAYS.closures(local(BERLIN, 2026, 5, 2), local(BERLIN, 2026, 5, 5)) == []


def test_the_berlin_dst_days_count_their_real_hours() -> None:
    calendar = BusinessCalendar("whole", BERLIN, WHOLE_DAYS)
    spring = calendar.open_between(local(BERLIN, 2026, 3, 29), local(BERLIN, 2026, 3, 30))
    autumn = calendar.open_between(local(BERLIN, 2026, 10, 25), local(BERLIN, 2026, 10, 26))
    assert (spring, autumn) == (23 * HOUR, 25 * HOUR)
    sunday_only = BusinessCalendar("sun", BERLIN, {6: ((0, 1440),)})
    week = (local(BERLIN, 2026, 3, 23), local(BERLIN, 2026, 3, 30))
    assert sunday_only.open_between(*week) == 23 * HOUR


def test_a_skipped_time_opens_when_the_clock_jumps_and_a_repeated_one_the_first_time() -> None:
    calendar = BusinessCalendar("night", BERLIN, {6: ((150, 600),)})  # Sunday 02:30-10:00
    spring = local(BERLIN, 2026, 3, 29)
    assert calendar.advance(spring, timedelta(0)) == datetime(2026, 3, 29, 1, tzinfo=UTC)  # 03:00
    assert calendar.open_between(spring, spring + timedelta(days=1)) == 7 * HOUR
    autumn = local(BERLIN, 2026, 10, 25)
    assert calendar.advance(autumn, timedelta(0)) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert calendar.open_between(autumn, autumn + timedelta(days=1)) == 8 * HOUR + 30 * MINUTE


def test_new_york_office_hours_across_the_november_change() -> None:
    calendar = BusinessCalendar("ny", NEW_YORK, OFFICE_HOURS)
    friday = local(NEW_YORK, 2026, 10, 30, 17)
    assert calendar.advance(friday, 2 * HOUR) == local(NEW_YORK, 2026, 11, 2, 10)
    assert calendar.advance(friday, 2 * HOUR) == datetime(2026, 11, 2, 15, tzinfo=UTC)


def test_ranges_past_midnight_and_across_new_year_join() -> None:
    nights = BusinessCalendar("nights", UTC, {d: ((0, 6 * 60), (22 * 60, 1440)) for d in range(7)})
    new_year = datetime(2026, 12, 31, 23, tzinfo=UTC)
    assert nights.advance(new_year, 3 * HOUR) == datetime(2027, 1, 1, 2, tzinfo=UTC)
    assert (
        nights.open_between(datetime(2026, 12, 31, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC))
        == 16 * HOUR
    )
    found = nights.closures(
        datetime(2026, 12, 31, 12, tzinfo=UTC), datetime(2027, 1, 1, 12, tzinfo=UTC)
    )
    assert [(c.start.hour, c.end.hour, c.why) for c in found] == [
        (12, 22, "closed 06:00-22:00"),
        (6, 12, "closed 06:00-22:00"),
    ]


def test_sixty_days_of_business_time_from_one_year_into_the_next() -> None:
    calendar = BusinessCalendar("whole", BERLIN, WHOLE_DAYS)
    start = local(BERLIN, 2026, 12, 1)
    assert calendar.advance(start, timedelta(days=60)) == local(BERLIN, 2027, 1, 30)
    assert calendar.open_between(start, local(BERLIN, 2027, 1, 30)) == timedelta(days=60)


def test_a_calendar_never_open_refuses_to_advance_rather_than_loop() -> None:
    never = BusinessCalendar("never", BERLIN, {})
    with pytest.raises(ValueError, match="no open time in 10 years"):
        never.advance(local(BERLIN, 2026, 1, 1), HOUR)
    with pytest.raises(ValueError, match="no open time"):
        never.advance(local(BERLIN, 2026, 1, 1), timedelta(0))
    assert never.open_between(local(BERLIN, 2026, 1, 1), local(BERLIN, 2026, 2, 1)) == timedelta(0)


def test_bad_hours_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="increasing"):
        BusinessCalendar("x", BERLIN, {0: ((600, 540),)})
    with pytest.raises(ValueError, match="increasing"):
        BusinessCalendar("x", BERLIN, {0: ((540, 720), (700, 800))})
    with pytest.raises(ValueError, match="weekday"):
        BusinessCalendar("x", BERLIN, {7: ((540, 720),)})
    with pytest.raises(ValueError, match="tz-aware"):
        office().advance(datetime(2026, 1, 1), HOUR)
    with pytest.raises(ValueError, match="negative"):
        office().advance(local(BERLIN, 2026, 1, 1), -HOUR)


def test_calls_are_fast_enough_for_an_import() -> None:
    calendar = office()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    began = wall_clock.perf_counter()
    for n in range(30_000):
        moment = start + n * 17 * MINUTE
        calendar.open_between(moment, calendar.advance(moment, timedelta(days=3)))
    assert wall_clock.perf_counter() - began < 3  # about 0.5 s: a few binary searches each


# --------------------------------------------------------------------------- the policy file

POLICY = """\
{top}
[levels.1]
name = "Major"
response = "10m"
recovery = "2h"
resolution = "7d"
{level}

[roles]
om_team = "om-team"
rd_leader = "li.wei"

[services.default]
owner = "duty-officer"

[calendars.office]
{calendar}
"""

ICS = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//incidentctl tests//EN
BEGIN:VEVENT
UID:christmas@example.com
DTSTART;VALUE=DATE:20261224
DTEND;VALUE=DATE:20261227
SUMMARY:Christmas break
END:VEVENT
BEGIN:VEVENT
UID:may@example.com
DTSTART;VALUE=DATE:20260501
SUMMARY:Labour Day
END:VEVENT
END:VCALENDAR
"""


def policy_text(calendar: str, *, top: str = 'timezone = "Europe/Berlin"', level: str = "") -> str:
    return POLICY.format(top=top, level=level, calendar=calendar)


def calendar_of(calendar: str, **kwargs: str) -> CalendarConfig:
    return parse_policy(policy_text(calendar, **kwargs), "sla.toml").calendars["office"]


def config_error(calendar: str, **kwargs: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_policy(policy_text(calendar, **kwargs), "sla.toml")
    return str(info.value)


def test_the_weekday_keys_hold_ranges_normalised() -> None:
    config = calendar_of('mon = "9:00-12:00,13:00 - 18:00"\nsat = "00:00-24:00"')
    assert (config.mon, config.sat, config.tue) == ("09:00-12:00, 13:00-18:00", "00:00-24:00", None)
    assert config.hours() == {0: ((540, 720), (780, 1080)), 5: ((0, 1440),)}
    assert config.timezone == "Europe/Berlin"  # the policy's


def test_a_calendar_has_its_own_zone_or_none_without_one() -> None:
    config = calendar_of('timezone = "America/New_York"\nmon = "09:00-17:00"', top="")
    assert config.spec().zone == NEW_YORK
    assert config_error('mon = "09:00-17:00"', top="") == (
        "sla.toml: calendars.office.timezone: no time zone: set timezone here or the "
        "policy's top-level timezone"
    )
    assert config_error('timezone = "Mars/Olympus"\nmon = "09:00-17:00"') == (
        "sla.toml: calendars.office.timezone: 'Mars/Olympus' is not a known time zone; use a "
        "name such as Europe/Berlin or UTC"
    )


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ('"09:00-25:00"', "'09:00-25:00': 25:00 is not a time of day (\"24:00\" at the latest)"),
        ('"18:00-09:00"', "'18:00-09:00' does not end after it starts: a range past midnight"),
        (
            '"09:00-13:00, 12:00-18:00"',
            "'09:00-13:00, 12:00-18:00': the ranges must be in order and must not overlap",
        ),
        ('"9 to 5"', "not open hours: '9 to 5' (write \"HH:MM-HH:MM\""),
        ("9", "expected open hours as a string, got 9"),
    ],
)
def test_bad_hours_are_refused_at_their_key(hours: str, message: str) -> None:
    error = config_error(f"mon = {hours}")
    assert error.startswith(f"sla.toml: calendars.office.mon: {message}"), error


def test_a_calendar_without_open_hours_is_refused() -> None:
    assert config_error('holidays = ["2026-12-25"]') == (
        "sla.toml: calendars.office: no open hours in the week: give at least one day, e.g. "
        'mon = "09:00-18:00"'
    )


def test_holidays_are_dates_as_strings_or_toml_dates() -> None:
    config = calendar_of('mon = "09:00-18:00"\nholidays = ["2026-12-25", 2026-01-01, "2026-12-25"]')
    assert config.holidays == [date(2026, 1, 1), date(2026, 12, 25)]
    assert date(2026, 12, 25) in config.spec().holidays
    assert config_error('mon = "09:00-18:00"\nholidays = ["25.12.2026"]') == (
        "sla.toml: calendars.office.holidays: '25.12.2026' is not a date like \"2026-12-25\""
    )
    assert "is not a date" in config_error('mon = "09:00-18:00"\nholidays = ["2026-02-30"]')


def test_unknown_keys_in_a_calendar_are_refused() -> None:
    assert config_error('mon = "09:00-18:00"\nmonday = "09:00-18:00"') == (
        "sla.toml: calendars.office.monday: unknown key (check the spelling)"
    )


def test_country_and_subdivision_holidays() -> None:
    bavaria = calendar_of(
        'mon = "09:00-18:00"\ntue = "09:00-18:00"\ncountry = "DE"\nsubdivision = "BY"'
    )
    berlin = calendar_of(
        'mon = "09:00-18:00"\ntue = "09:00-18:00"\ncountry = "de"\nsubdivision = "be"'
    )
    epiphany = date(2026, 1, 6)
    assert (berlin.country, berlin.subdivision) == ("DE", "BE")
    assert epiphany in bavaria.spec().holidays and epiphany not in berlin.spec().holidays
    assert bavaria.spec().holiday_name(epiphany) == "Epiphany"
    calendar = build_calendar("office", bavaria.spec())
    monday = local(BERLIN, 2026, 1, 5, 17)  # Tuesday 6 January is closed in Bavaria
    assert calendar.advance(monday, 2 * HOUR) == local(BERLIN, 2026, 1, 12, 10)
    assert calendar.closures(local(BERLIN, 2026, 1, 6, 12), local(BERLIN, 2026, 1, 6, 13))[
        0
    ].why == ("holiday: Epiphany; Wednesday, Thursday, Friday, weekend")


def test_bad_countries_and_subdivisions_are_refused() -> None:
    assert config_error('mon = "09:00-18:00"\ncountry = "XX"') == (
        "sla.toml: calendars.office.country: 'XX' is not a country the holidays package "
        "knows; use an ISO 3166-1 code such as DE, US or CN"
    )
    assert config_error('mon = "09:00-18:00"\ncountry = "DE"\nsubdivision = "ZZ"').startswith(
        "sla.toml: calendars.office.subdivision: 'ZZ' is not a subdivision of DE (known: BB, BE"
    )
    assert config_error('mon = "09:00-18:00"\nsubdivision = "BY"') == (
        "sla.toml: calendars.office.subdivision: a subdivision needs a country "
        '(e.g. country = "DE")'
    )


def write_policy(directory: Path, calendar: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sla.toml"
    path.write_text(policy_text(calendar))
    return path


def load(path: Path) -> CalendarConfig:
    return parse_policy(path.read_text(), str(path)).calendars["office"]


def test_an_ics_file_beside_the_policy_gives_holidays_with_their_names(tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "etc", 'mon = "09:00-18:00"\nics = "holidays.ics"')
    (tmp_path / "etc" / "holidays.ics").write_text(ICS)
    config = load(policy)
    assert config.ics == "holidays.ics"  # as written: where the dates came from
    assert config.ics_dates == {
        date(2026, 5, 1): "Labour Day",
        date(2026, 12, 24): "Christmas break",  # DTEND is exclusive: not the 27th
        date(2026, 12, 25): "Christmas break",
        date(2026, 12, 26): "Christmas break",
    }
    spec = config.spec()
    assert date(2026, 12, 26) in spec.holidays and date(2026, 12, 27) not in spec.holidays
    assert spec.holiday_name(date(2026, 5, 1)) == "Labour Day"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "'holidays.ics': cannot read {path}: No such file or directory"),
        ("not a calendar", "'holidays.ics': {path} is not an iCalendar file: "),
        (
            ICS.replace("DTSTART;VALUE=DATE:20260501", "DTSTART:20260501T090000Z"),
            "'holidays.ics': {path}: the event 'Labour Day' on 2026-05-01 has a time of day; "
            "only all-day events are holidays",
        ),
        (
            ICS.replace("SUMMARY:Labour Day", "SUMMARY:Labour Day\nRRULE:FREQ=YEARLY"),
            "'holidays.ics': {path}: the event 'Labour Day' repeats (RRULE)",
        ),
    ],
)
def test_a_missing_or_bad_ics_file_is_refused_naming_the_key_and_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    policy = write_policy(tmp_path, 'mon = "09:00-18:00"\nics = "holidays.ics"')
    ics = tmp_path / "holidays.ics"
    if content is not None:
        ics.write_text(content)
    with pytest.raises(ConfigError) as info:
        load(policy)
    assert str(info.value).startswith(
        f"{policy}: calendars.office.ics: {message.format(path=ics)}"
    ), str(info.value)


def test_the_dumped_calendar_reads_back_the_same_without_the_ics_file(tmp_path: Path) -> None:
    policy = write_policy(
        tmp_path,
        'mon = "09:00-18:00"\nfri = "09:00-12:00, 13:00-15:00"\nholidays = [2026-06-02]\n'
        'ics = "holidays.ics"\ncountry = "DE"\nsubdivision = "BY"',
    )
    (tmp_path / "holidays.ics").write_text(ICS)
    config = load(policy)
    dumped = config.model_dump(mode="json")
    assert dumped == {
        "timezone": "Europe/Berlin",
        "mon": "09:00-18:00",
        "tue": None,
        "wed": None,
        "thu": None,
        "fri": "09:00-12:00, 13:00-15:00",
        "sat": None,
        "sun": None,
        "holidays": ["2026-06-02"],
        "ics": "holidays.ics",
        "ics_dates": {
            "2026-05-01": "Labour Day",
            "2026-12-24": "Christmas break",
            "2026-12-25": "Christmas break",
            "2026-12-26": "Christmas break",
        },
        "country": "DE",
        "subdivision": "BY",
    }
    (tmp_path / "holidays.ics").unlink()
    assert CalendarConfig.model_validate(dumped) == config
    assert CalendarConfig.model_validate(dumped).spec().holiday_name(date(2026, 12, 25)) == (
        "Christmas break"
    )


def test_the_shown_policy_with_ics_dates_round_trips(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, 'mon = "09:00-18:00"\nics = "holidays.ics"')
    (tmp_path / "holidays.ics").write_text(ICS)
    original = load(policy)
    whole = parse_policy(policy.read_text(), str(policy))
    shown = io.StringIO()
    documents.write_toml(policy_as_dict(whole), shown)
    assert '2026-12-24 = "Christmas break"' in shown.getvalue()
    (tmp_path / "holidays.ics").unlink()  # the shown file does not need it
    again = parse_policy(shown.getvalue(), str(tmp_path / "shown.toml"))
    assert again == whole and again.calendars["office"] == original


def test_levels_name_a_calendar_per_clock() -> None:
    policy = parse_policy(
        policy_text('mon = "09:00-18:00"', level='calendar = "office"\nrecovery_calendar = "24/7"'),
        "sla.toml",
    )
    level = policy.levels[1]
    assert [level.calendar_name(c) for c in ("response", "recovery", "resolution")] == [
        "office",
        None,
        "office",
    ]
    assert (
        Level(name="x", response=HOUR, recovery=HOUR, resolution=HOUR).calendar_name("response")
        is None
    )
    with pytest.raises(ValueError, match="no clock"):
        level.calendar_name("lunch")
    both = Level(
        name="x", response=HOUR, recovery=HOUR, resolution=HOUR, response_calendar="office"
    )
    assert (both.calendar_name("response"), both.calendar_name("recovery")) == ("office", None)


def test_a_level_naming_an_unknown_calendar_is_refused() -> None:
    assert config_error('mon = "09:00-18:00"', level='resolution_calendar = "ofice"') == (
        "sla.toml: levels.1.resolution_calendar: no calendar 'ofice' in the policy "
        '(calendars: "office", "24/7")'
    )
