"""Every command that records an event takes ``--at``: a step taken by phone half an
hour ago is recorded when it happened, and its clock stops then."""

from __future__ import annotations

import pytest

T0 = "2026-11-25T03:00:00Z"
LATER = "2026-11-25T04:00:00Z"  # (show reads as of this)


def timeline(cli, incident_id: int) -> dict[str, str]:
    events = cli.json("show", str(incident_id), now=LATER)["events"]
    return {e["kind"]: e["at"] for e in events}


def test_a_transfer_made_half_an_hour_ago_stops_the_resolution_clock_then(cli):
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    shown = cli.json(
        "transfer", "1", "--to", "liu.yang", "--reason", "code fix", "--at", "30m ago",
        now=LATER,
    )  # fmt: skip
    assert shown["transferred_at"] == "2026-11-25T03:30:00Z"
    assert shown["sla"]["resolution"]["stopped_at"] == "2026-11-25T03:30:00Z"
    assert timeline(cli, 1)["transferred"] == "2026-11-25T03:30:00Z"


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (("assign", "1", "--to", "wang.lei"), "assigned"),
        (("note", "1", "Rolled back"), "note"),
        (("relevel", "1", "--level", "1", "--reason", "worse"), "relevelled"),
        (("problem", "1", "--ref", "PRB-1", "--reason", "recurring"), "problem"),
    ],
)
def test_each_step_is_recorded_at_its_time(cli, args, kind):
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    cli(*args, "--at", "2026-11-25T03:20:00Z", now=LATER)
    assert timeline(cli, 1)[kind] == "2026-11-25T03:20:00Z"


def test_approve_close_and_reopen_take_their_times_after_the_solution(cli):
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("resolve", "1", "--solution", "pool size", "--at", "03:10", now=LATER)
    approved = cli.json("--as", "zhang.min", "approve", "1", "--at", "03:20", now=LATER)
    assert approved["approved_at"] == "2026-11-25T03:20:00Z"
    closed = cli.json("close", "1", "--confirmed-by", "Wang Fang", "--at", "03:30", now=LATER)
    assert closed["closed_at"] == "2026-11-25T03:30:00Z"
    cli("reopen", "1", "--reason", "back again", "--at", "03:40", now=LATER)
    assert timeline(cli, 1)["reopened"] == "2026-11-25T03:40:00Z"


def test_a_step_before_the_solution_or_in_the_future_is_refused_and_changes_nothing(cli):
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("resolve", "1", "--solution", "pool size", "--at", "03:30", now=LATER)
    before = cli.snapshot()
    early = cli("--as", "zhang.min", "approve", "1", "--at", "03:20", now=LATER, expect=2)
    assert "is before the solution was provided (2026-11-25T03:30:00Z)" in early.stderr
    future = cli("note", "1", "later", "--at", "today 05:00", now=LATER, expect=2)
    assert "is in the future" in future.stderr
    cli("--as", "zhang.min", "approve", "1", "--at", "03:40", now=LATER)
    late = cli("close", "1", "--confirmed-by", "W", "--at", "03:35", now=LATER, expect=2)
    assert "is before the solution was approved (2026-11-25T03:40:00Z)" in late.stderr
    assert cli.snapshot()[0]["events"][:-1] == before[0]["events"]  # only the approval


def test_just_after_midnight_a_clock_time_means_last_night(cli):
    cli("open", "Checkout fails", "--level", "2", "--service", "payments",
        now="2026-11-24T23:50:00Z")  # fmt: skip
    shown = cli.json("ack", "1", "--at", "23:55", now="2026-11-25T00:10:00Z")
    assert shown["acknowledged_at"] == "2026-11-24T23:55:00Z"
    noted = cli("note", "1", "called back", "--at", "5 min ago", now="2026-11-25T00:10:00Z")
    assert noted.exit_code == 0
    assert timeline(cli, 1)["note"] == "2026-11-25T00:05:00Z"
