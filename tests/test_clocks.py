"""SLA clocks (SPEC §3): examples plus properties checked against a minute-by-minute model."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentctl.policy.clocks import (
    CLOCKS,
    RELEVEL_MODES,
    Clock,
    IncidentFacts,
    Relevel,
    clock_state,
    compute_clocks,
    current_level,
    deadline,
)

BASE = datetime(2024, 3, 31, 0, 0, tzinfo=UTC)  # Europe/Berlin springs forward at 01:00 UTC


def m(minutes: int) -> datetime:
    """BASE plus a number of minutes."""
    return BASE + timedelta(minutes=minutes)


@dataclass(frozen=True)
class Targets:
    response: timedelta
    recovery: timedelta
    resolution: timedelta


SEED = {
    1: Targets(timedelta(minutes=10), timedelta(hours=2), timedelta(days=7)),
    2: Targets(timedelta(minutes=30), timedelta(hours=6), timedelta(days=20)),
    3: Targets(timedelta(minutes=60), timedelta(hours=24), timedelta(days=60)),
}


def facts(level: int = 2, occurred: int = 0, **kw) -> IncidentFacts:
    """Facts reported at minute 0; keyword times are minutes (relevels: (minute, level))."""
    times = {k: m(v) for k, v in kw.items() if k != "relevels" and v is not None}
    relevels = tuple(Relevel(m(at), lv) for at, lv in kw.get("relevels", ()))
    return IncidentFacts(
        level=level, reported_at=m(0), occurred_at=m(occurred), relevels=relevels, **times
    )


def clocks(f: IncidentFacts, now: int, mode: str = "keep-start", levels=SEED) -> dict:
    return compute_clocks(f, levels=levels, relevel=mode, now=m(now))


# --------------------------------------------------------------------------- examples


def test_fresh_incident_all_running_with_seed_targets():
    c = clocks(facts(level=1, occurred=-20), now=5)
    assert c["response"][:5] == Clock("response", m(0), m(10), None, "running")[:5]
    assert c["recovery"][:5] == Clock("recovery", m(-20), m(-20 + 120), None, "running")[:5]
    assert c["resolution"][:5] == Clock("resolution", m(0), m(7 * 24 * 60), None, "running")[:5]
    assert list(c) == list(CLOCKS)


@pytest.mark.parametrize(
    "stop", ["acknowledged_at", "transferred_at", "recovered_at", "resolved_at"]
)
def test_response_stops_at_each_kind(stop):
    c = clocks(facts(level=1, **{stop: 7}), now=100)["response"]
    assert (c.stopped_at, c.state) == (m(7), "met")


def test_response_stops_at_the_first_of_several():
    c = clocks(facts(level=1, acknowledged_at=12, transferred_at=9, resolved_at=40), now=60)
    assert c["response"].stopped_at == m(9)
    assert c["response"].state == "met"


@pytest.mark.parametrize(
    ("kw", "stopped"),
    [
        ({"recovered_at": 50}, 50),
        ({"resolved_at": 70}, 70),  # resolve implies recover
        ({"recovered_at": 80, "resolved_at": 60}, 60),
        ({"acknowledged_at": 5, "transferred_at": 6}, None),
    ],
)
def test_recovery_stops(kw, stopped):
    c = clocks(facts(level=1, **kw), now=100)["recovery"]
    assert c.stopped_at == (None if stopped is None else m(stopped))
    assert c.state == ("running" if stopped is None else "met")


@pytest.mark.parametrize(
    ("kw", "stopped"),
    [
        ({"resolved_at": 50}, 50),
        ({"transferred_at": 30}, 30),  # transfer out to developers
        ({"transferred_at": 90, "resolved_at": 40}, 40),
        ({"acknowledged_at": 5, "recovered_at": 6}, None),
    ],
)
def test_resolution_stops(kw, stopped):
    c = clocks(facts(level=1, **kw), now=100)["resolution"]
    assert c.stopped_at == (None if stopped is None else m(stopped))
    assert c.state == ("running" if stopped is None else "met")


def test_recovery_measured_from_occurrence():
    # occurred 100 min before it was reported: 2h recovery target leaves 20 minutes
    c = clocks(facts(level=1, occurred=-100), now=19)["recovery"]
    assert (c.due_at, c.state) == (m(20), "running")
    assert clocks(facts(level=1, occurred=-100), now=20)["recovery"].state == "breached"
    late = clocks(facts(level=1, occurred=-100, recovered_at=21), now=30)["recovery"]
    assert late.state == "breached"


def test_met_exactly_at_due_and_breached_when_running_at_due():
    assert clocks(facts(level=1, acknowledged_at=10), now=10)["response"].state == "met"
    assert clocks(facts(level=1, acknowledged_at=11), now=11)["response"].state == "breached"
    assert clocks(facts(level=1), now=9)["response"].state == "running"
    assert clocks(facts(level=1), now=10)["response"].state == "breached"


def test_clock_state_directly():
    assert clock_state(m(10), m(10), m(99)) == "met"
    assert clock_state(m(10), m(11), m(11)) == "breached"
    assert clock_state(m(10), None, m(9)) == "running"
    assert clock_state(m(10), None, m(10)) == "breached"
    # the same instant in another zone compares as the same instant
    berlin = ZoneInfo("Europe/Berlin")
    assert clock_state(m(10), m(10).astimezone(berlin), m(0)) == "met"


def test_relevel_2_to_1_keep_start():
    f = facts(level=2, relevels=[(5, 1)])
    c = clocks(f, now=9)["response"]
    assert (c.started_at, c.due_at, c.state) == (m(0), m(10), "running")
    assert clocks(f, now=10)["response"].state == "breached"
    assert clocks(f, now=9)["recovery"].due_at == m(120)


def test_relevel_2_to_1_restart():
    f = facts(level=2, relevels=[(5, 1)])
    c = clocks(f, now=14, mode="restart")["response"]
    assert (c.started_at, c.due_at, c.state) == (m(0), m(15), "running")
    assert clocks(f, now=15, mode="restart")["response"].state == "breached"
    assert clocks(f, now=14, mode="restart")["recovery"].due_at == m(125)


def test_relevel_1_to_2_longer_target():
    f = facts(level=1, relevels=[(5, 2)])
    assert clocks(f, now=20)["response"].due_at == m(30)
    assert clocks(f, now=20)["response"].state == "running"
    assert clocks(f, now=20, mode="restart")["response"].due_at == m(35)


def test_relevel_into_a_past_due_is_breached_at_once():
    # Level 2 at minute 0; at minute 15 it becomes Level 1, whose 10-minute target has passed
    f = facts(level=2, relevels=[(15, 1)])
    c = clocks(f, now=15)["response"]
    assert (c.due_at, c.state) == (m(10), "breached")
    acked = clocks(replace(f, acknowledged_at=m(16)), now=20)["response"]
    assert acked.state == "breached"
    # restart mode measures from the re-level, so it is not breached at once
    assert clocks(f, now=15, mode="restart")["response"].due_at == m(25)


@pytest.mark.parametrize("mode", RELEVEL_MODES)
@pytest.mark.parametrize(("level", "new_level"), [(1, 2), (1, 3), (2, 1), (2, 3)])
def test_breached_clock_stays_breached_across_relevel(mode, level, new_level):
    due = SEED[level].response
    at = int(due.total_seconds() // 60) + 2  # two minutes after the breach
    f = facts(level=level, relevels=[(at, new_level)], acknowledged_at=at + 1)
    c = clocks(f, now=at + 5, mode=mode)["response"]
    assert (c.due_at, c.state) == (m(0) + due, "breached")


@pytest.mark.parametrize("mode", RELEVEL_MODES)
def test_relevel_exactly_at_due_counts_as_already_breached(mode):
    f = facts(level=1, relevels=[(10, 3)], acknowledged_at=20)
    c = clocks(f, now=30, mode=mode)["response"]
    assert (c.due_at, c.state) == (m(10), "breached")


@pytest.mark.parametrize("mode", RELEVEL_MODES)
def test_stopped_clock_keeps_verdict_across_relevels(mode):
    # acknowledged at 20 (met under Level 2's 30m); relevel to 1 at 25 changes nothing
    c = clocks(facts(level=2, acknowledged_at=20, relevels=[(25, 1)]), now=40, mode=mode)
    assert (c["response"].due_at, c["response"].state) == (m(30), "met")
    # a stop at the same moment as the relevel counts as before it
    c = clocks(facts(level=2, acknowledged_at=25, relevels=[(25, 1)]), now=40, mode=mode)
    assert (c["response"].due_at, c["response"].state) == (m(30), "met")
    # a late stop stays breached even if relevelled to a level with a longer target
    c = clocks(facts(level=1, acknowledged_at=15, relevels=[(20, 3)]), now=40, mode=mode)
    assert (c["response"].due_at, c["response"].state) == (m(10), "breached")


def test_relevel_chain_keep_start_and_restart():
    f = facts(level=2, relevels=[(5, 1), (8, 2)])
    assert clocks(f, now=9)["response"].due_at == m(30)
    assert clocks(f, now=9, mode="restart")["response"].due_at == m(38)
    assert current_level(f) == 2
    assert current_level(facts(level=3)) == 3
    assert current_level(facts(level=3, relevels=[(1, 1)])) == 1


def test_relevel_to_the_same_level_is_a_no_op():
    f = facts(level=2, relevels=[(20, 2)])
    assert clocks(f, now=21, mode="restart")["response"].due_at == m(30)


def test_errors():
    with pytest.raises(ValueError, match="relevel mode"):
        clocks(facts(), now=1, mode="sometimes")
    with pytest.raises(ValueError, match="unknown level 4"):
        clocks(facts(level=4), now=1)
    with pytest.raises(ValueError, match="unknown level 9"):
        clocks(facts(level=2, relevels=[(1, 9)]), now=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_clocks(facts(), levels=SEED, relevel="keep-start", now=datetime(2024, 1, 1))
    naive = replace(facts(), reported_at=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        clocks(naive, now=1)


def test_deadline_is_earliest_running_due():
    c = clocks(facts(level=1, occurred=-110), now=5)
    assert deadline(c) == m(10)  # response and recovery both due at minute 10
    c = clocks(facts(level=1, occurred=-115), now=5)
    assert deadline(c) == m(5)  # recovery is due first
    assert deadline(c.values()) == m(5)
    c = clocks(facts(level=1, acknowledged_at=2), now=5)
    assert deadline(c) == m(120)  # stopped response ignored
    # a breached running clock is overdue: deadline <= now
    c = clocks(facts(level=1), now=30)
    assert c["response"].state == "breached" and deadline(c) <= m(30)
    assert deadline(clocks(facts(level=1, resolved_at=3), now=5)) is None
    assert deadline([]) is None


def test_due_times_are_absolute_across_dst():
    # reported 00:30 Berlin time (CET) on the night the clocks spring forward to CEST
    berlin = ZoneInfo("Europe/Berlin")
    reported = datetime(2024, 3, 31, 0, 30, tzinfo=berlin)
    f = IncidentFacts(level=1, reported_at=reported, occurred_at=reported)
    c = compute_clocks(f, levels=SEED, relevel="keep-start", now=reported)
    assert c["recovery"].due_at - reported == timedelta(hours=2)
    assert c["recovery"].due_at == datetime(2024, 3, 31, 3, 30, tzinfo=berlin)
    assert c["recovery"].due_at.tzinfo is UTC


# ------------------------------------------------------------------ reference model


@dataclass(frozen=True)
class Scenario:
    """All times in integer minutes from BASE; reported_at is minute 0."""

    targets: dict[int, dict[str, int]]  # level -> clock -> minutes
    level: int
    occurred: int
    ack: int | None
    transfer: int | None
    recover: int | None
    resolve: int | None
    relevels: tuple[tuple[int, int], ...]  # (minute, level), chronological
    mode: str
    now: int

    def facts(self) -> IncidentFacts:
        def opt(v):
            return None if v is None else m(v)

        return IncidentFacts(
            level=self.level,
            reported_at=m(0),
            occurred_at=m(self.occurred),
            acknowledged_at=opt(self.ack),
            transferred_at=opt(self.transfer),
            recovered_at=opt(self.recover),
            resolved_at=opt(self.resolve),
            relevels=tuple(Relevel(m(at), lv) for at, lv in self.relevels),
        )

    def levels(self) -> dict[int, Targets]:
        return {
            lv: Targets(**{k: timedelta(minutes=v) for k, v in t.items()})
            for lv, t in self.targets.items()
        }

    def compute(self, now: int | None = None) -> dict:
        n = self.now if now is None else now
        return compute_clocks(self.facts(), levels=self.levels(), relevel=self.mode, now=m(n))


def reference_start_stop(s: Scenario, name: str) -> tuple[int, int | None]:
    """Start and stop minute of a clock, straight from the SPEC §3 table."""
    if name == "response":
        stops = [s.ack, s.transfer, s.recover, s.resolve]
        start = 0
    elif name == "recovery":
        stops = [s.recover, s.resolve]
        start = s.occurred
    else:
        stops = [s.resolve, s.transfer]
        start = 0
    stops = [t for t in stops if t is not None]
    return start, (min(stops) if stops else None)


def reference_clock(s: Scenario, name: str) -> tuple[int, str]:
    """(due minute, state) by walking the clock one minute at a time up to `now`.

    Each minute: a stop at this minute happens first; then a running clock at or past
    its due becomes breached for good; then re-levels at this minute, in order, move
    the due of a clock that is still running and not breached.
    """
    start, stop = reference_start_stop(s, name)
    level = s.level
    due = start + s.targets[level][name]
    stopped = False
    breached = False
    for t in range(start, s.now + 1):
        if stop == t:
            stopped = True
        if not stopped and t >= due:
            breached = True
        for at, new_level in s.relevels:
            if at != t or new_level == level:
                continue
            level = new_level
            if stopped or breached:
                continue
            base = start if s.mode == "keep-start" else t
            due = base + s.targets[new_level][name]
            if t >= due:
                breached = True
        if stopped:
            break  # nothing changes a stopped clock
    if stopped:
        return due, ("breached" if breached else "met")
    return due, ("breached" if breached else "running")


LEVELS = (1, 2, 3)
PROPS = settings(max_examples=200, deadline=None)


@st.composite
def scenarios(draw, max_now: int = 240) -> Scenario:
    targets = {
        lv: {name: draw(st.integers(0, 150), label=f"{name}{lv}") for name in CLOCKS}
        for lv in LEVELS
    }
    level = draw(st.sampled_from(LEVELS), label="level")
    occurred = -draw(st.integers(0, 90), label="occurred before report")
    now = draw(st.integers(0, max_now), label="now")
    # Bias event times towards due times, where off-by-one mistakes live.
    hot = {
        start + t[name] + d
        for t in targets.values()
        for name, start in (("response", 0), ("recovery", occurred), ("resolution", 0))
        for d in (-1, 0, 1)
    }
    hot = sorted(x for x in hot if 0 <= x <= now)
    minute = st.integers(0, now) | st.sampled_from(hot) if hot else st.integers(0, now)
    event = st.none() | minute
    times = sorted(draw(st.lists(minute, max_size=5), label="relevel times"))
    relevels = tuple((at, draw(st.sampled_from(LEVELS))) for at in times)
    return Scenario(
        targets=targets,
        level=level,
        occurred=occurred,
        ack=draw(event, label="ack"),
        transfer=draw(event, label="transfer"),
        recover=draw(event, label="recover"),
        resolve=draw(event, label="resolve"),
        relevels=relevels,
        mode=draw(st.sampled_from(RELEVEL_MODES), label="mode"),
        now=now,
    )


@PROPS
@given(scenarios())
def test_agrees_with_minute_by_minute_reference(s):
    got = s.compute()
    for name in CLOCKS:
        due, state = reference_clock(s, name)
        start, stop = reference_start_stop(s, name)
        c = got[name]
        assert (c.due_at, c.state) == (m(due), state), name
        assert c.started_at == m(start)
        assert c.stopped_at == (None if stop is None else m(stop))
        assert c.state == clock_state(c.due_at, c.stopped_at, m(s.now))
    running = [got[n].due_at for n in CLOCKS if got[n].stopped_at is None]
    assert deadline(got) == (min(running) if running else None)


@PROPS
@given(scenarios(), st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "+05:45"]))
def test_result_does_not_depend_on_the_input_timezone(s, zone):
    tz = timezone(timedelta(hours=5, minutes=45)) if zone == "+05:45" else ZoneInfo(zone)
    f = s.facts()
    shifted = IncidentFacts(
        level=f.level,
        reported_at=f.reported_at.astimezone(tz),
        occurred_at=f.occurred_at.astimezone(tz),
        acknowledged_at=f.acknowledged_at and f.acknowledged_at.astimezone(tz),
        transferred_at=f.transferred_at and f.transferred_at.astimezone(tz),
        recovered_at=f.recovered_at and f.recovered_at.astimezone(tz),
        resolved_at=f.resolved_at and f.resolved_at.astimezone(tz),
        relevels=tuple(Relevel(r.at.astimezone(tz), r.level) for r in f.relevels),
    )
    got = compute_clocks(shifted, levels=s.levels(), relevel=s.mode, now=m(s.now).astimezone(tz))
    assert got == s.compute()


@PROPS
@given(scenarios(), st.data())
def test_stopped_verdict_is_final(s, data):
    before = s.compute()
    for name in CLOCKS:
        c = before[name]
        if c.stopped_at is None:
            continue
        stop = reference_start_stop(s, name)[1]
        later_now = data.draw(st.integers(s.now, s.now + 300), label="later now")
        first = max([stop, *(at for at, _ in s.relevels)])
        extra_times = sorted(data.draw(st.lists(st.integers(first, later_now), max_size=4)))
        extra = tuple((at, data.draw(st.sampled_from(LEVELS))) for at in extra_times)
        after = replace(s, relevels=s.relevels + extra, now=later_now).compute()[name]
        assert (after.due_at, after.stopped_at, after.state) == (c.due_at, m(stop), c.state)


@PROPS
@given(scenarios(), st.data())
def test_breached_is_never_met_later(s, data):
    before = s.compute()
    t = s.now
    later_now = data.draw(st.integers(t, t + 300), label="later now")
    after_t = st.integers(t + 1, max(t + 1, later_now))

    def later_stop(current):
        if current is not None or later_now == t:
            return current
        return data.draw(st.none() | after_t)

    extra_times = sorted(data.draw(st.lists(after_t, max_size=4))) if later_now > t else []
    extended = replace(
        s,
        ack=later_stop(s.ack),
        transfer=later_stop(s.transfer),
        recover=later_stop(s.recover),
        resolve=later_stop(s.resolve),
        relevels=s.relevels + tuple((at, data.draw(st.sampled_from(LEVELS))) for at in extra_times),
        now=later_now,
    )
    just_later = s.compute(later_now)
    after = extended.compute()
    for name in CLOCKS:
        if before[name].state == "breached":
            assert just_later[name].state == "breached", name
            assert after[name].state == "breached", name
            assert after[name].due_at == before[name].due_at, name
