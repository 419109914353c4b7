"""Pauses (issue 13 item 1): ``pause ID --reason …`` and ``resume ID`` stop the clocks the
level's policy names (``pausable``) and move their due times by the time paused; a
re-level keeps the time paused; the board, ``show`` and the JSON show the pause, and
``report`` counts paused time. The seed's levels pause nothing."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from importlib import resources

import pytest

T0 = "2026-11-25T03:00:00Z"


def at(minutes: float) -> str:
    moment = datetime.fromisoformat(T0.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pausable_policy(tmp_path, level2: str = '["resolution"]', extra: str = ""):
    """The shipped policy with Level 2's pausable clocks set; written as ./sla.toml."""
    text = resources.files("incidentctl").joinpath("sla.toml").read_text()
    text = text.replace("[levels.2]\n", f"[levels.2]\npausable = {level2}\n", 1)
    path = tmp_path / "sla.toml"
    path.write_text(text + extra)
    return path


@pytest.fixture
def paused_policy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return pausable_policy(tmp_path)


def opened(cli, level: int = 2) -> int:
    doc = cli.json(
        "open", "Card payments fail", "--level", str(level), "--service", "payments", now=at(0)
    )
    return doc["id"]


@pytest.mark.storage_contract
def test_a_pause_stops_the_pausable_clock_and_moves_its_due_by_the_time_paused(cli, paused_policy):
    n = opened(cli)
    cli("ack", str(n), now=at(5), expect=0)
    doc = cli.json("pause", str(n), "--reason", "awaiting-customer", now=at(60))
    assert doc["paused_at"] == at(60)
    assert doc["pause_reason"] == "awaiting-customer"
    assert doc["sla"]["resolution"] == {"due_at": None, "stopped_at": None, "state": "paused"}
    # the recovery clock is not pausable at Level 2: it runs on
    assert doc["sla"]["recovery"]["due_at"] == at(6 * 60)
    assert doc["sla"]["recovery"]["state"] == "running"

    # a paused clock never breaches: nothing is overdue while it waits
    later = cli.json("show", str(n), now=at(21 * 24 * 60))
    assert later["sla"]["resolution"]["state"] == "paused"

    doc = cli.json("resume", str(n), now=at(180))
    assert doc["paused_at"] is None and doc["pause_reason"] is None
    # 20 days from the report, plus the two hours paused
    assert doc["sla"]["resolution"] == {
        "due_at": at(20 * 24 * 60 + 120),
        "stopped_at": None,
        "state": "running",
    }
    events = [e["kind"] for e in cli.json("show", str(n), now=at(181))["events"]]
    assert events[-2:] == ["paused", "resumed"]


def test_resume_at_a_given_time_and_several_pauses_add_up(cli, paused_policy):
    n = opened(cli)
    cli("pause", str(n), "--reason", "awaiting-vendor", "--at", at(10), now=at(20), expect=0)
    cli("resume", str(n), "--at", at(40), now=at(50), expect=0)
    cli("pause", str(n), "--reason", "awaiting-change", now=at(100), expect=0)
    doc = cli.json("resume", str(n), now=at(130))
    assert doc["sla"]["resolution"]["due_at"] == at(20 * 24 * 60 + 30 + 30)


def test_a_relevel_keeps_the_time_already_paused(cli, paused_policy):
    n = opened(cli)
    cli("pause", str(n), "--reason", "awaiting-customer", now=at(60), expect=0)
    cli("resume", str(n), now=at(180), expect=0)
    doc = cli.json(
        "relevel", str(n), "--level", "3", "--reason", "no impact after all", now=at(200)
    )
    # keep-start: Level 3's 60 days from the report, plus the two hours paused at Level 2
    assert doc["sla"]["resolution"]["due_at"] == at(60 * 24 * 60 + 120)


def test_a_level_that_pauses_nothing_says_so_and_its_clocks_run_on(cli, paused_policy):
    n = opened(cli, level=1)
    out = cli("pause", str(n), "--reason", "awaiting-customer", "--json", now=at(5), expect=0)
    assert "Level 1 pauses no clock" in out.stderr
    assert out.json["sla"]["resolution"]["due_at"] == at(7 * 24 * 60)
    assert out.json["paused_at"] == at(5)


def test_the_seed_policy_pauses_nothing(cli):
    n = opened(cli)
    doc = cli.json("pause", str(n), "--reason", "awaiting-customer", now=at(60))
    assert doc["sla"]["resolution"]["due_at"] == at(20 * 24 * 60)
    assert doc["sla"]["resolution"]["state"] == "running"


def test_the_board_and_show_say_paused_and_since_when(cli, paused_policy):
    n = opened(cli)
    cli("ack", str(n), now=at(5), expect=0)
    cli("recover", str(n), now=at(30), expect=0)
    cli("pause", str(n), "--reason", "awaiting-customer", now=at(60), expect=0)
    board = cli("list", now=at(90), env={"COLUMNS": "80"}, expect=0).stdout
    [row] = [line for line in board.splitlines() if re.match(rf"^{n} +│", line)]
    assert "paused since 04:00" in row
    shown = cli("show", str(n), now=at(90), expect=0).stdout
    assert re.search(r"resolution +paused +since 04:00", shown)
    assert "paused     since 04:00, awaiting-customer (incidentctl resume 1)" in shown


@pytest.mark.storage_contract
def test_refusals_change_nothing(cli, paused_policy):
    n = opened(cli)
    cli("resume", str(n), now=at(10), expect=4)
    cli("pause", str(n), "--reason", "awaiting-customer", now=at(20), expect=0)
    before = cli.snapshot()
    out = cli("pause", str(n), "--reason", "awaiting-vendor", now=at(30), expect=4)
    assert "already paused since 2026-11-25T03:20:00Z (awaiting-customer)" in out.stderr
    cli("pause", str(n), "--reason", "lunch", now=at(30), expect=2)
    cli("resume", str(n), "--at", at(10), now=at(30), expect=2)  # before the pause began
    cli("resume", str(n), "--at", at(40), now=at(30), expect=2)  # in the future
    assert cli.snapshot() == before
    cli("resume", str(n), now=at(40), expect=0)
    cli("pause", str(n), "--reason", "awaiting-vendor", "--at", at(35), now=at(50), expect=2)
    cli("resolve", str(n), "--solution", "rolled back", now=at(60), expect=0)
    out = cli("pause", str(n), "--reason", "awaiting-vendor", now=at(70), expect=4)
    assert "nothing to wait for" in out.stderr


def test_a_solution_ends_the_pause(cli, paused_policy):
    n = opened(cli)
    cli("pause", str(n), "--reason", "awaiting-customer", now=at(60), expect=0)
    doc = cli.json("resolve", str(n), "--solution", "customer confirmed the fix", now=at(90))
    assert doc["paused_at"] is None
    # paused from 60 to 90: 20 days from the report and 30 minutes
    assert doc["sla"]["resolution"] == {
        "due_at": at(20 * 24 * 60 + 30),
        "stopped_at": at(90),
        "state": "met",
    }
    cli("resume", str(n), now=at(100), expect=4)


def test_the_report_counts_paused_time(cli, paused_policy):
    n = opened(cli)
    cli("pause", str(n), "--reason", "awaiting-customer", now=at(60), expect=0)
    cli("resume", str(n), now=at(180), expect=0)
    m = opened(cli)
    cli("pause", str(m), "--reason", "awaiting-vendor", now=at(200), expect=0)
    report = cli.json("report", "--month", "2026-11", "--tz", "UTC", now=at(260))
    assert report["paused"] == {"2": {"incidents": 2, "paused_s": 2 * 3600 + 3600}}
    # the paused clock is undecided: counted as running, never as met or breached
    assert report["sla"]["2"]["resolution"]["running"] == 2


def test_progress_notices_wait_while_paused(cli, paused_policy, tmp_path):
    # Level 2 notifies: progress every hour (shipped). Printed, so each pass shows them.
    text = (
        paused_policy.read_text()
        + '\n[transports.email]\ntype = "print"\n[transports.sms]\ntype = "print"\n'
    )
    paused_policy.write_text(text)
    n = opened(cli)
    cli("ack", str(n), now=at(1), expect=0)
    cli.json("escalate", now=at(2))
    cli("pause", str(n), "--reason", "awaiting-vendor", now=at(20), expect=0)

    def progress(minutes: float) -> bool:
        doc = cli.json("escalate", now=at(minutes))
        return any(d["notice"] == "progress" for d in doc["deliveries"])

    assert not progress(65)  # the hourly mark at 60 fell in the pause
    cli("resume", str(n), now=at(100), expect=0)
    assert not progress(110)  # and is not sent late
    assert progress(125)  # the first mark after the resume, at 120
    sent = cli.json("show", str(n), now=at(126))["deliveries"]
    assert sorted({d["sequence"] for d in sent if d["notice"] == "progress"}) == [2]


def test_a_pause_after_a_clock_stopped_leaves_it_alone(cli, paused_policy):
    n = opened(cli)
    cli("transfer", str(n), "--to", "liu.yang", "--reason", "a bug", now=at(10), expect=0)
    doc = cli.json("pause", str(n), "--reason", "awaiting-vendor", now=at(60))
    assert doc["sla"]["resolution"] == {
        "due_at": at(20 * 24 * 60),
        "stopped_at": at(10),
        "state": "met",
    }


def test_backdated_times_never_make_pauses_overlap_or_run_backwards(cli, paused_policy):
    n = opened(cli)
    cli("pause", str(n), "--reason", "awaiting-vendor", now=at(60), expect=0)
    cli("resolve", str(n), "--solution", "s", "--at", at(30), now=at(70), expect=0)
    report = cli.json("report", "--month", "2026-11", "--tz", "UTC", now=at(80))
    assert report["paused"] == {}  # a solution before the pause began ends it at once
    m = opened(cli)
    cli("pause", str(m), "--reason", "awaiting-vendor", now=at(60), expect=0)
    cli("resolve", str(m), "--solution", "s", now=at(90), expect=0)
    cli("reopen", str(m), "--reason", "r", now=at(120), expect=0)
    before = cli.snapshot()
    out = cli("pause", str(m), "--reason", "awaiting-vendor", "--at", at(70), now=at(130), expect=2)
    assert "before the last pause ended (2026-11-25T04:30:00Z)" in out.stderr
    assert cli.snapshot() == before
