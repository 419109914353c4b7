"""Every lifecycle command through the real CLI, on both engines, checked via its JSON."""

from __future__ import annotations

import pytest

T0 = "2026-11-25T03:00:00Z"


def at(minutes: int) -> str:
    """T0 plus some minutes, as INCIDENTCTL_NOW."""
    from datetime import datetime, timedelta

    base = datetime.fromisoformat(T0.replace("Z", "+00:00"))
    return (base + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_incident(cli, *extra: str, level: str = "2", now: str = T0) -> dict:
    return cli.json(
        "open", "Checkout fails", "--level", level, "--service", "payments", *extra, now=now
    )


def test_open_records_every_field_and_starts_the_clocks(cli):
    incident = cli.json(
        "open",
        "Checkout fails with 502",
        "--level",
        "1",
        "--service",
        "payments",
        "--details",
        "all card payments",
        "--channel",
        "hotline",
        "--reporter",
        "Wang Fang",
        "--contact",
        "+8613900000000",
        "--occurred",
        "2026-11-25T02:45:00Z",
        "--assignee",
        "wang.lei",
        now=T0,
    )
    assert incident["id"] == 1
    assert {
        k: incident[k]
        for k in (
            "title",
            "details",
            "service",
            "level",
            "channel",
            "reporter",
            "contact",
            "assignee",
            "team",
            "status",
        )
    } == {
        "title": "Checkout fails with 502",
        "details": "all card payments",
        "service": "payments",
        "level": 1,
        "channel": "hotline",
        "reporter": "Wang Fang",
        "contact": "+8613900000000",
        "assignee": "wang.lei",
        "team": "om",
        "status": "open",
    }
    assert incident["reported_at"] == T0
    assert incident["occurred_at"] == "2026-11-25T02:45:00Z"
    assert incident["sla"] == {
        "response": {"due_at": "2026-11-25T03:10:00Z", "stopped_at": None, "state": "running"},
        "recovery": {"due_at": "2026-11-25T04:45:00Z", "stopped_at": None, "state": "running"},
        "resolution": {"due_at": "2026-12-02T03:00:00Z", "stopped_at": None, "state": "running"},
    }
    shown = cli.json("show", "1", now=T0)
    assert [e["kind"] for e in shown["events"]] == ["opened"]
    assert shown["events"][0]["actor"] == "tester"
    assert shown["deliveries"] == []


def test_open_at_an_earlier_time_and_occurred_defaults_to_reported(cli):
    incident = cli.json(
        "open", "Slow search", "--level", "2", "--service", "search", "--at", "15m ago", now=T0
    )
    assert incident["reported_at"] == "2026-11-25T02:45:00Z"
    assert incident["occurred_at"] == "2026-11-25T02:45:00Z"
    assert incident["sla"]["response"]["due_at"] == "2026-11-25T03:15:00Z"


def test_ack_stops_the_response_clock_and_takes_ownership(cli):
    open_incident(cli)
    incident = cli.json("ack", "1", now=at(7))
    assert incident["status"] == "acknowledged"
    assert incident["acknowledged_at"] == at(7)
    assert incident["assignee"] == "tester"
    assert incident["sla"]["response"] == {"due_at": at(30), "stopped_at": at(7), "state": "met"}


def test_ack_after_the_due_time_is_breached(cli):
    open_incident(cli)
    incident = cli.json("ack", "1", now=at(31))
    assert incident["sla"]["response"]["state"] == "breached"


def test_ack_at_an_earlier_time(cli):
    open_incident(cli)
    incident = cli.json("ack", "1", "--at", "2026-11-25T03:20:00Z", now=at(45))
    assert incident["acknowledged_at"] == at(20)
    assert incident["sla"]["response"]["state"] == "met"
    # the event says when it happened and when it was recorded
    event = cli.json("show", "1", now=at(45))["events"][-1]
    assert (event["kind"], event["at"], event["recorded_at"]) == ("acknowledged", at(20), at(45))


def test_assign_changes_the_owner(cli):
    open_incident(cli)
    incident = cli.json("assign", "1", "--to", "li.na", now=at(1))
    assert incident["assignee"] == "li.na"
    event = cli.json("show", "1", now=at(1))["events"][-1]
    assert event["kind"] == "assigned" and event["data"]["to"] == "li.na"


@pytest.mark.parametrize("kind", ["progress", "customer-update", "lesson"])
def test_note_records_each_kind(cli, kind):
    open_incident(cli)
    cli("note", "1", "Rolled back 3.2.1", "--kind", kind, now=at(2))
    event = cli.json("show", "1", now=at(2))["events"][-1]
    assert event["kind"] == "note"
    assert event["data"] == {"kind": kind, "text": "Rolled back 3.2.1"}


def test_transfer_to_developers_stops_response_and_resolution(cli):
    open_incident(cli)
    incident = cli.json("transfer", "1", "--to", "liu.yang", "--reason", "code fix", now=at(12))
    assert (incident["assignee"], incident["team"]) == ("liu.yang", "dev")
    assert incident["transferred_at"] == at(12)
    assert incident["status"] == "acknowledged"
    assert incident["sla"]["response"]["stopped_at"] == at(12)
    assert incident["sla"]["resolution"]["stopped_at"] == at(12)
    assert incident["sla"]["resolution"]["state"] == "met"
    assert incident["sla"]["recovery"]["state"] == "running"


def test_transfer_back_to_om_keeps_the_first_transfer_time(cli):
    open_incident(cli)
    cli("transfer", "1", "--to", "liu.yang", "--reason", "code fix", now=at(12))
    incident = cli.json(
        "transfer",
        "1",
        "--to",
        "wang.lei",
        "--team",
        "om",
        "--reason",
        "config issue after all",
        now=at(40),
    )
    assert (incident["assignee"], incident["team"]) == ("wang.lei", "om")
    assert incident["transferred_at"] == at(12)


def test_transfer_within_om_does_not_stop_the_resolution_clock(cli):
    open_incident(cli)
    incident = cli.json(
        "transfer", "1", "--to", "zhao.lei", "--team", "om", "--reason", "shift change", now=at(5)
    )
    assert incident["transferred_at"] is None
    assert incident["sla"]["resolution"]["stopped_at"] is None


def test_relevel_up_takes_the_new_targets_from_the_original_start(cli):
    open_incident(cli, level="2")
    incident = cli.json("relevel", "1", "--level", "1", "--reason", "worse", now=at(5))
    assert incident["level"] == 1
    assert incident["sla"]["response"]["due_at"] == at(10)
    assert incident["sla"]["recovery"]["due_at"] == at(120)


def test_relevel_into_a_passed_due_time_breaches_at_once(cli):
    open_incident(cli, level="2")
    incident = cli.json("relevel", "1", "--level", "1", "--reason", "worse", now=at(15))
    assert incident["sla"]["response"] == {
        "due_at": at(10),
        "stopped_at": None,
        "state": "breached",
    }


def test_relevel_restart_mode_measures_from_the_relevel(cli, tmp_path):
    from importlib import resources

    text = resources.files("incidentctl").joinpath("sla.toml").read_text()
    (tmp_path / "sla.toml").write_text(
        text.replace('relevel = "keep-start"', 'relevel = "restart"')
    )
    open_incident(cli, level="2")
    incident = cli.json("relevel", "1", "--level", "1", "--reason", "worse", now=at(15))
    assert incident["sla"]["response"]["due_at"] == at(25)
    assert incident["sla"]["response"]["state"] == "running"


def test_relevel_down_lengthens_running_clocks(cli):
    open_incident(cli, level="1")
    incident = cli.json("relevel", "1", "--level", "2", "--reason", "contained", now=at(5))
    assert incident["sla"]["response"]["due_at"] == at(30)


def test_recover_stops_the_recovery_clock(cli):
    open_incident(cli)
    incident = cli.json("recover", "1", now=at(50))
    assert incident["status"] == "recovered"
    assert incident["sla"]["recovery"] == {"due_at": at(360), "stopped_at": at(50), "state": "met"}
    # recovering also ends the wait for a response
    assert incident["sla"]["response"]["stopped_at"] == at(50)


def test_resolve_implies_recovery(cli):
    open_incident(cli)
    incident = cli.json("resolve", "1", "--solution", "restarted pool", now=at(20))
    assert incident["status"] == "resolved"
    assert incident["solution"] == "restarted pool"
    assert incident["recovered_at"] == at(20)
    assert {c: incident["sla"][c]["stopped_at"] for c in incident["sla"]} == {
        "response": at(20),
        "recovery": at(20),
        "resolution": at(20),
    }
    kinds = [e["kind"] for e in cli.json("show", "1", now=at(20))["events"]]
    assert kinds == ["opened", "recovered", "resolved"]


def test_level_1_close_needs_a_managers_approval(cli):
    open_incident(cli, level="1")
    cli("resolve", "1", "--solution", "fixed", now=at(30))
    refused = cli("close", "1", "--confirmed-by", "Wang Fang", "--json", now=at(31), expect=4)
    assert refused.error["error"] == "conflict"
    assert "approval" in refused.error["message"]
    wrong = cli("--as", "li.wei", "approve", "1", "--json", now=at(32), expect=4)
    assert "not an incident manager" in wrong.error["message"]
    approved = cli.json("--as", "zhang.min", "approve", "1", now=at(33))
    assert (approved["approved_at"], approved["approved_by"]) == (at(33), "zhang.min")
    closed = cli.json("close", "1", "--confirmed-by", "Wang Fang", now=at(40))
    assert closed["status"] == "closed"
    assert (closed["closed_at"], closed["confirmed_by"]) == (at(40), "Wang Fang")


def test_level_2_closes_without_approval_and_approve_is_refused(cli):
    open_incident(cli, level="2")
    cli("resolve", "1", "--solution", "fixed", now=at(30))
    refused = cli("--as", "zhang.min", "approve", "1", "--json", now=at(31), expect=4)
    assert "need no approval" in refused.error["message"]
    assert cli.json("close", "1", "--confirmed-by", "Wang Fang", now=at(40))["status"] == "closed"


def test_close_needs_resolved(cli):
    open_incident(cli)
    refused = cli("close", "1", "--confirmed-by", "x", "--json", now=at(1), expect=4)
    assert refused.error == {
        "error": "conflict",
        "message": "incident 1 is open: resolve it with a solution before the reporter can "
        "confirm it",
    }


def test_reopen_clears_the_solution_but_not_the_first_clock_stops(cli):
    open_incident(cli, level="2")
    cli("resolve", "1", "--solution", "fixed", now=at(30))
    cli("close", "1", "--confirmed-by", "Wang Fang", now=at(40))
    incident = cli.json("reopen", "1", "--reason", "back again", now=at(50))
    assert incident["status"] == "recovered"
    assert incident["solution"] is None and incident["closed_at"] is None
    assert incident["resolved_at"] is None
    assert incident["sla"]["resolution"]["stopped_at"] == at(30)
    assert (
        cli.json("resolve", "1", "--solution", "really fixed", now=at(60))["status"] == "resolved"
    )


def test_problem_transfer(cli):
    open_incident(cli)
    incident = cli.json("problem", "1", "--ref", "PRB-7", "--reason", "recurring", now=at(3))
    assert (incident["problem_ref"], incident["problem_reason"]) == ("PRB-7", "recurring")
    # a second one corrects the reference (tests/test_problem.py); the same one again
    # has nothing to correct
    again = cli(
        "problem", "1", "--ref", "PRB-7", "--reason", "recurring", "--json", now=at(4), expect=4
    )
    assert "PRB-7" in again.error["message"]


def test_list_filters(cli):
    cli("open", "A", "--level", "1", "--service", "payments", "--assignee", "li", now=at(0))
    cli("open", "B", "--level", "2", "--service", "search", now=at(1))
    cli("open", "C", "--level", "2", "--service", "payments", now=at(2))
    cli("resolve", "3", "--solution", "s", now=at(3))
    cli("close", "3", "--confirmed-by", "x", now=at(4))

    def ids(*args: str, now: str = at(5)) -> list[int]:
        return [i["id"] for i in cli.json("list", *args, now=now)]

    assert ids() == [1, 2]  # closed ones are hidden by default
    assert ids("--status", "closed") == [3]
    assert ids("--status", "open", "--status", "closed") == [1, 2, 3]
    assert ids("--level", "2") == [2]
    assert ids("--service", "payments") == [1]
    assert ids("--assignee", "li") == [1]
    assert ids("--since", at(1)) == [2]
    assert ids("--until", at(1)) == [1]
    assert ids("--limit", "1") == [1]
    assert ids("--overdue", now=at(11)) == [1]
    assert ids("--overdue", now=at(31)) == [1, 2]
    assert ids("--service", "nothing") == []


def test_list_formats_agree(cli):
    open_incident(cli)
    open_incident(cli)
    as_json = cli.json("list", now=at(1))
    ndjson = cli("list", "--format", "ndjson", now=at(1)).stdout.splitlines()
    import json

    assert [json.loads(line) for line in ndjson] == as_json
    assert cli("list", "--format", "json", now=at(1)).json == as_json
    rows = cli("list", "--format", "csv", now=at(1)).stdout.splitlines()
    assert rows[0].startswith("id,title,details,service,level")
    assert len(rows) == 3 and rows[1].startswith("1,Checkout fails,,payments,2,")


def test_empty_list_is_an_empty_json_list(cli):
    assert cli("list", "--json", now=T0).stdout == "[]\n"
    assert cli("list", "--format", "ndjson", now=T0).stdout == ""


def test_board_puts_the_nearest_deadline_first(cli):
    cli("open", "minor", "--level", "2", "--service", "a", now=at(0))
    cli("open", "major", "--level", "1", "--service", "a", now=at(1))
    cli("open", "info", "--level", "3", "--service", "a", now=at(2))
    board = cli.json("board", now=at(3))
    assert [i["title"] for i in board] == ["major", "minor", "info"]
    human = cli(now=at(3)).stdout
    assert human.index("major") < human.index("minor") < human.index("info")
    assert "in 8m" in human  # the major one's response countdown


def test_the_board_shows_the_nearest_deadlines_and_counts_the_rest(cli, monkeypatch):
    from incidentctl.cli import app as root

    for minute, level in enumerate((3, 2, 1, 2, 3)):
        cli(
            "open",
            f"L{level} #{minute + 1}",
            "--level",
            str(level),
            "--service",
            "a",
            now=at(minute),
        )
    assert [i["id"] for i in cli.json("board", now=at(5))] == [3, 2, 4, 1, 5]
    assert [i["id"] for i in cli.json("board", "--limit", "2", now=at(5))] == [3, 2]
    out = cli("board", "--limit", "2", now=at(5))
    assert "L1 #3" in out.stdout and "L2 #2" in out.stdout and "L2 #4" not in out.stdout
    more = "… and 3 more not closed (later deadlines, or none): incidentctl board --limit 5"
    assert more in out.stderr and "more not closed" not in out.stdout  # a message
    monkeypatch.setattr(root, "BOARD_ROWS", 4)  # the terminal board's default
    out = cli(now=at(5))
    assert "L2 #4" in out.stdout and "L3 #5" not in out.stdout and "… and 1 more" in out.stderr
    assert "more not closed" not in cli("board", "--limit", "5", now=at(5)).stderr
    assert cli("board", "--limit", "0", now=at(5), expect=2).stdout == ""


def test_a_service_the_policy_does_not_list_is_opened_with_a_note(cli):
    out = cli("open", "db down", "--level", "1", "--service", "paymnets", "--json", now=at(0))
    assert out.json["service"] == "paymnets"  # allowed: the default owner takes it
    assert out.stderr == (
        "Note: service 'paymnets' is not in the policy; its notices go to the default "
        "owner, duty-officer. Did you mean 'payments'?\n"
    )
    out = cli("open", "odd", "--level", "3", "--service", "\x1b[31mzzz", now=at(1))
    assert "service '\\x1b[31mzzz' is not in the policy" in out.stderr
    assert "Did you mean" not in out.stderr
    assert cli("open", "ok", "--level", "1", "--service", "payments", now=at(2)).stderr == ""


def test_human_output_of_an_action(cli):
    open_incident(cli, level="1")
    out = cli("ack", "1", now=at(4)).stdout
    assert "Incident 1 acknowledged by tester." in out
    assert "response   met" in out
    assert "recovery   running   due 05:00 (in 1h56m)" in out


def test_show_human_has_timeline(cli):
    open_incident(cli)
    cli("note", "1", "checking the pool", now=at(2))
    out = cli("show", "1", now=at(3)).stdout
    assert "Timeline" in out and "checking the pool" in out and "opened" in out


def test_actor_from_as_option_env_and_default(cli):
    open_incident(cli)
    cli("--as", "li.na", "note", "1", "x", now=at(1))
    cli("note", "1", "y", now=at(2), env={"INCIDENTCTL_USER": "zhao.lei"})
    actors = [e["actor"] for e in cli.json("show", "1", now=at(3))["events"]]
    assert actors == ["tester", "li.na", "zhao.lei"]
