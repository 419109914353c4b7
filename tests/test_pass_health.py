"""Issue 12 item 8: a pass that is known to run. Each escalate/watch pass records when
it ran; the board and ``list`` warn on stderr when the last one is older than twice
``[escalation] expect_every`` (or none ran while a notice is owed); ``escalate --json``
and ``policy check`` report it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from test_escalate import write_policy

T0 = "2026-11-25T03:00:00Z"
NO_PASS = "no escalate pass has run, and 1 incident(s) owe a notice"


def at(minutes: float) -> str:
    moment = datetime.fromisoformat(T0.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def opened(cli) -> None:
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)


def test_the_board_warns_when_no_pass_ever_ran_and_a_notice_is_owed(cli):
    assert "Warning" not in cli("board", now=T0).stderr  # nothing owed: nothing to say
    opened(cli)
    out = cli("board", now=at(1))
    assert NO_PASS in out.stderr and "incidentctl escalate from cron" in out.stderr
    assert NO_PASS in cli("list", now=at(1)).stderr


def test_a_pass_is_fresh_for_twice_the_expected_interval(cli):
    opened(cli)
    cli("escalate", now=at(1))
    for minutes in (2, 10, 11):  # expect_every 5m: fresh for 10m
        assert "Warning" not in cli("board", now=at(minutes)).stderr
    out = cli("board", now=at(11.5))
    assert (
        "Warning: the last escalate pass ran 11m ago (expected every 5m): is its cron line "
        "or watch still running?"
    ) in out.stderr
    listed = cli("list", "--json", now=at(30))
    assert [i["id"] for i in json.loads(listed.stdout)] == [1]  # the data, untouched
    assert "ran 29m ago" in listed.stderr


def test_the_expected_interval_comes_from_the_policy(cli, tmp_path):
    write_policy(tmp_path, extra='\n[escalation]\nexpect_every = "1h"\n')
    text = (tmp_path / "sla.toml").read_text()
    # (the shipped policy has its own [escalation]: keep the one added last)
    first = text.index('[escalation]\nexpect_every = "5m"\n')
    (tmp_path / "sla.toml").write_text(text[:first] + text[first + 34 :])
    opened(cli)
    cli("escalate", now=at(1))
    assert "Warning" not in cli("board", now=at(120)).stderr
    assert "expected every 1h" in cli("board", now=at(122)).stderr


def test_a_dry_run_is_not_a_pass(cli):
    opened(cli)
    cli("escalate", "--dry-run", now=at(1))
    assert NO_PASS in cli("board", now=at(2)).stderr


def test_a_watch_pass_counts(cli):
    opened(cli)
    cli("watch", "--once", now=at(1))
    assert "Warning" not in cli("board", now=at(2)).stderr


def test_escalate_json_says_how_it_found_escalation(cli):
    opened(cli)
    first = cli.json("escalate", now=at(1))
    assert first["escalation"] == {"last_pass_at": None, "expect_every_s": 300, "stale": True}
    second = cli.json("escalate", now=at(30))
    assert second["escalation"] == {"last_pass_at": at(1), "expect_every_s": 300, "stale": True}
    third = cli.json("escalate", now=at(31))
    assert third["escalation"] == {"last_pass_at": at(30), "expect_every_s": 300, "stale": False}


def test_policy_check_reports_it_and_never_creates_a_database(cli, tmp_path):
    database = Path(cli.db)
    checked = cli.json("policy", "check", now=T0)
    assert checked["escalation"] is None and not database.exists()
    opened(cli)
    cli("escalate", now=at(1))
    out = cli("policy", "check", now=at(60))
    assert out.stdout.endswith("OK (3 levels, 4 services, 9 contacts)\n")
    assert "the last escalate pass ran 59m ago" in out.stderr
    assert cli.json("policy", "check", now=at(60))["escalation"] == {
        "last_pass_at": at(1),
        "expect_every_s": 300,
        "stale": True,
    }
