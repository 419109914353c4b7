"""The pure due-notice policy: examples, then properties over any history and run times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from incidentctl.config import builtin_policy
from incidentctl.domain import ClockName
from incidentctl.policy.clocks import Clock, IncidentFacts, Relevel, clock_state, compute_clocks
from incidentctl.policy.notices import (
    Notice,
    NoticeFacts,
    Schedule,
    due_notices,
    next_notice_at,
)

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)
POLICY = builtin_policy()
ALL = Schedule(notify=True, every=H)


def facts(**kw) -> NoticeFacts:
    """Notice facts; ``clocks``: clock name -> (due, stopped)."""
    given = kw.pop("clocks", {"response": (T0 + 10 * M, None)})
    clocks = {
        ClockName(name): Clock(name, T0, due, stopped, clock_state(due, stopped, T0))
        for name, (due, stopped) in given.items()
    }
    return NoticeFacts(reported_at=T0, clocks=clocks, **kw)


def names(notices: list[Notice]) -> list[tuple[str, int]]:
    return [n.key for n in notices]


def test_initial_at_once_then_nothing_until_the_response_clock_breaches():
    f = facts()
    assert names(due_notices(f, ALL, now=T0, sent=set())) == [("initial", 0)]
    sent = {("initial", 0)}
    assert due_notices(f, ALL, now=T0 + 9 * M, sent=sent) == []
    assert next_notice_at(f, ALL, now=T0, sent=sent) == T0 + 10 * M
    assert names(due_notices(f, ALL, now=T0 + 10 * M, sent=sent)) == [("overdue-response", 0)]


def test_after_a_gap_only_the_latest_progress_is_due():
    f = facts(clocks={})
    due = due_notices(f, ALL, now=T0 + 5 * H + 30 * M, sent={("initial", 0)})
    assert names(due) == [("progress", 5)]
    assert due[0].due_at == T0 + 5 * H
    assert next_notice_at(f, ALL, now=T0 + 5 * H, sent={("initial", 0), ("progress", 5)}) == (
        T0 + 6 * H
    )


def test_recovered_gets_rectification_and_no_more_progress():
    f = facts(recovered_at=T0 + 90 * M, clocks={})
    sent = {("initial", 0), ("progress", 1)}
    assert names(due_notices(f, ALL, now=T0 + 3 * H, sent=sent)) == [("rectification", 0)]
    assert next_notice_at(f, ALL, now=T0 + 3 * H, sent=sent | {("rectification", 0)}) is None


def test_closed_gets_nothing_but_rectification():
    f = facts(recovered_at=T0 + 30 * M, closed_at=T0 + 2 * H, clocks={"resolution": (T0 + M, None)})
    assert names(due_notices(f, ALL, now=T0 + 3 * H, sent=set())) == [("rectification", 0)]


def test_notices_handled_elsewhere_are_never_due_and_later_triggers_still_are():
    """History imported with --no-past-notices keeps the keys of what was due then."""
    handled = frozenset({("initial", 0), ("overdue-response", 0), ("progress", 2)})
    f = facts(
        handled=handled, clocks={"response": (T0 + 10 * M, None), "resolution": (T0 + 3 * H, None)}
    )
    assert due_notices(f, ALL, now=T0 + 150 * M, sent=set()) == []
    assert next_notice_at(f, ALL, now=T0 + 150 * M, sent=set()) == T0 + 3 * H  # progress 3
    # a recovery recorded later, back-dated to before the import, is a new trigger
    recovered = facts(handled=handled, recovered_at=T0 + 40 * M, clocks={})
    assert names(due_notices(recovered, ALL, now=T0 + 151 * M, sent=set())) == [
        ("rectification", 0)
    ]
    # so is a re-level whose new due time has already passed
    relevelled = facts(
        handled=handled,
        relevels=1,
        relevelled_at=T0 + 151 * M,
        clocks={"recovery": (T0 + 120 * M, None)},
    )
    assert names(due_notices(relevelled, ALL, now=T0 + 151 * M, sent=set())) == [
        ("overdue-recovery", 0),
        ("initial", 1),
    ]


def test_non_notifying_level_gets_nothing_and_a_relevel_into_one_starts_over():
    f = facts()
    assert due_notices(f, Schedule(notify=False), now=T0 + 9 * H, sent=set()) == []
    relevelled = facts(relevels=1, relevelled_at=T0 + 150 * M, clocks={})
    due = due_notices(relevelled, ALL, now=T0 + 151 * M, sent={("initial", 0)})
    assert names(due) == [("initial", 1)]  # progress #2 (at 2h) was before the re-level
    assert next_notice_at(relevelled, ALL, now=T0 + 151 * M, sent={("initial", 1)}) == T0 + 3 * H


def test_rules_without_recipients_are_not_due():
    only_overdue = Schedule(notify=True, every=H, enabled=frozenset({"overdue"}))
    assert names(due_notices(facts(), only_overdue, now=T0 + 2 * H, sent=set())) == [
        ("overdue-response", 0)
    ]


# --------------------------------------------------------------------------- properties


@dataclass
class History:
    level: int
    events: list[tuple[timedelta, str, int]]  # (offset from T0, action, level for relevel)
    every: timedelta


actions = st.tuples(
    st.integers(min_value=0, max_value=600).map(lambda m: m * M),
    st.sampled_from(["ack", "recover", "resolve", "relevel", "close"]),
    st.integers(min_value=1, max_value=3),
)
histories = st.builds(
    History,
    level=st.integers(min_value=1, max_value=3),
    events=st.lists(actions, max_size=8).map(sorted),
    every=st.sampled_from([5 * M, 30 * M, H, 90 * M]),
)


@dataclass
class State:
    """The incident as of a moment, computed from the raw history (the test's own model)."""

    level: int
    relevels: list[datetime]
    ack: datetime | None = None
    recovered: datetime | None = None
    resolved: datetime | None = None
    closed: datetime | None = None


def state_at(history: History, t: datetime) -> State:
    s = State(level=history.level, relevels=[])
    levels: list[Relevel] = []
    for offset, action, level in history.events:
        when = T0 + offset
        if when > t or s.closed:
            continue
        if action == "ack" and s.ack is None and s.resolved is None:
            s.ack = when
        elif action == "recover" and s.recovered is None and s.resolved is None:
            s.recovered = when
        elif action == "resolve" and s.resolved is None:
            s.resolved = when
            s.recovered = s.recovered or when
        elif action == "relevel" and level != s.level:
            s.level = level
            s.relevels.append(when)
            levels.append(Relevel(at=when, level=level))
        elif action == "close" and s.resolved is not None:
            s.closed = when
    s.levels = levels  # type: ignore[attr-defined]
    return s


def notice_inputs(history: History, s: State, t: datetime) -> tuple[NoticeFacts, Schedule]:
    clocks = compute_clocks(
        IncidentFacts(
            level=history.level,
            reported_at=T0,
            occurred_at=T0,
            acknowledged_at=s.ack,
            recovered_at=s.recovered,
            resolved_at=s.resolved,
            relevels=tuple(s.levels),
        ),  # type: ignore[attr-defined]
        levels=POLICY.levels,
        relevel="keep-start",
        now=t,
    )
    f = NoticeFacts(
        reported_at=T0,
        relevels=len(s.relevels),
        relevelled_at=s.relevels[-1] if s.relevels else None,
        recovered_at=s.recovered,
        closed_at=s.closed,
        clocks=clocks,
    )
    return f, Schedule(notify=POLICY.levels[s.level].notify, every=history.every)


def live(key: tuple[str, int], history: History, s: State, f: NoticeFacts, t: datetime) -> bool:
    """Is the trigger of this notice present at ``t`` (and is it due)? Written from SPEC §4."""
    name, seq = key
    if not POLICY.levels[s.level].notify:
        return False
    if name == "rectification":
        return s.recovered is not None and s.recovered <= t
    if s.closed is not None:
        return False
    if name == "initial":
        return seq == len(s.relevels)
    if name == "progress":
        start = s.relevels[-1] if s.relevels else T0
        mark = T0 + seq * history.every
        latest = (t - T0) // history.every
        return s.recovered is None and seq >= 1 and seq == latest and mark > start
    clock = name.removeprefix("overdue-")
    due, stopped = f.clocks[clock].due_at, f.clocks[clock].stopped_at
    return stopped is None and due <= t


def expected_live(history: History, s: State, f: NoticeFacts, t: datetime) -> set[tuple[str, int]]:
    candidates = {
        ("initial", len(s.relevels)),
        ("rectification", 0),
        ("progress", (t - T0) // history.every),
    }
    candidates |= {(f"overdue-{c}", 0) for c in f.clocks}
    return {k for k in candidates if live(k, history, s, f, t)}


@settings(max_examples=150, deadline=None)
@given(history=histories, extra=st.lists(st.integers(min_value=0, max_value=720 * 60), max_size=20))
def test_runs_every_minute_send_each_notice_once_on_time_and_never_stale(history, extra):
    times = sorted({T0 + m * M for m in range(0, 721)} | {T0 + timedelta(seconds=s) for s in extra})
    sent: set[tuple[str, int]] = set()
    for t in times:
        s = state_at(history, t)
        f, schedule = notice_inputs(history, s, t)
        due = due_notices(f, schedule, now=t, sent=sent)
        keys = [n.key for n in due]
        assert len(keys) == len(set(keys)) and not set(keys) & sent  # at most once
        assert sum(k[0] == "progress" for k in keys) <= 1  # never a burst
        for notice in due:
            assert notice.due_at <= t
            assert live(notice.key, history, s, f, t), (notice, t)  # never after its trigger
        sent |= set(keys)
        # Runs at least once a minute: everything live and due has gone out by now.
        assert expected_live(history, s, f, t) <= sent, t


@settings(max_examples=150, deadline=None)
@given(history=histories, minutes=st.integers(min_value=0, max_value=720), sent_some=st.booleans())
def test_next_notice_at_is_exactly_when_something_falls_due(history, minutes, sent_some):
    t = T0 + minutes * M
    s = state_at(history, t)
    f, schedule = notice_inputs(history, s, t)
    sent = {n.key for n in due_notices(f, schedule, now=t, sent=set())} if sent_some else set()
    upcoming = next_notice_at(f, schedule, now=t, sent=sent)
    due_now = due_notices(f, schedule, now=t, sent=sent)
    if due_now:
        assert upcoming is not None and upcoming <= t
        return
    if upcoming is None:
        for later in (t + M, t + 7 * H, t + 30 * 24 * H):
            assert due_notices(f, schedule, now=later, sent=sent) == []
        return
    assert upcoming > t
    assert due_notices(f, schedule, now=upcoming - timedelta(seconds=1), sent=sent) == []
    assert due_notices(f, schedule, now=upcoming, sent=sent) != []
