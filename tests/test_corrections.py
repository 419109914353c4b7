"""Corrections, never deletions (issue 11 items 2 and 5), through the real CLI.

``edit`` records an ``edited`` event with each old and new value and recomputes what
depends on them; ``cancel`` takes an incident opened by mistake (or a duplicate) off the
board and out of every figure, and ``reopen`` undoes it; text options read standard
input for ``-``. The process cannot be side-stepped: a resolved incident keeps its level,
``list --awaiting`` and the board show what waits for whom, and refusals say who can act.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from importlib import resources

import pytest

T0 = "2026-11-25T03:00:00Z"
T0_PLUS_5 = "2026-11-25T03:05:00Z"
STATUSES = "open,acknowledged,recovered,resolved,closed,cancelled"


def at(minutes: float) -> str:
    """T0 plus some minutes, as INCIDENTCTL_NOW or --at."""
    moment = datetime.fromisoformat(T0.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def open_incident(cli, title="Checkout fails", *extra, level="2", service="payments", now=T0):
    return cli.json("open", title, "--level", level, "--service", service, *extra, now=now)


def everything(cli) -> list:
    """Every incident as ``show --json`` has it, cancelled ones included (``cli.snapshot``
    lists the statuses of the process without ``cancelled``)."""
    return [cli.json("show", str(i["id"])) for i in cli.json("list", "--status", STATUSES)]


def ids(rows) -> list[int]:
    return [row["id"] for row in rows]


def board_row(out: str, incident_id: int) -> str:
    """The board's (or list's) line of one incident."""
    [line] = [line for line in out.splitlines() if re.match(rf"^{incident_id} +│", line)]
    return line


# --------------------------------------------------------------------------- edit


def test_edit_records_each_old_and_new_value_in_one_edited_event(cli):
    open_incident(
        cli, "Checkout fails", "--details", "cards", "--channel", "hotline",
        "--reporter", "Wang Fang", "--contact", "+8613900000000",
    )  # fmt: skip
    edited = cli.json(
        "edit", "1",
        "--title", "Checkout fails with 502",
        "--details", "all card payments",
        "--service", "web-portal",
        "--reporter", "Li Na",
        "--contact", "li.na@example.org",
        "--channel", "hotline",  # the same as before: not a change
        "--occurred", "2026-11-25T02:40:00Z",
        now=at(10),
    )  # fmt: skip
    assert {
        k: edited[k]
        for k in ("title", "details", "service", "reporter", "contact", "channel", "occurred_at")
    } == {
        "title": "Checkout fails with 502",
        "details": "all card payments",
        "service": "web-portal",
        "reporter": "Li Na",
        "contact": "li.na@example.org",
        "channel": "hotline",
        "occurred_at": "2026-11-25T02:40:00Z",
    }
    shown = cli.json("show", "1", now=at(11))
    assert [e["kind"] for e in shown["events"]] == ["opened", "edited"]
    event = shown["events"][-1]
    assert (event["at"], event["actor"]) == (at(10), "tester")
    assert event["data"] == {
        "changes": {
            "title": {"previous": "Checkout fails", "to": "Checkout fails with 502"},
            "details": {"previous": "cards", "to": "all card payments"},
            "service": {"previous": "payments", "to": "web-portal"},
            "reporter": {"previous": "Wang Fang", "to": "Li Na"},
            "contact": {"previous": "+8613900000000", "to": "li.na@example.org"},
            "occurred_at": {"previous": T0, "to": "2026-11-25T02:40:00Z"},
        }
    }
    # the opening is kept as it was recorded: nothing is rewritten in place
    assert shown["events"][0]["data"]["service"] == "payments"
    human = cli("show", "1", now=at(11)).stdout
    assert "edited" in human and "'Checkout fails' → 'Checkout fails with 502'" in human


def test_edit_clears_an_optional_field_with_an_empty_value(cli):
    open_incident(cli, "Checkout fails", "--reporter", "Wang Fang")
    edited = cli.json("edit", "1", "--reporter", "", now=at(1))
    assert edited["reporter"] is None
    event = cli.json("show", "1", now=at(1))["events"][-1]
    assert event["data"] == {"changes": {"reporter": {"previous": "Wang Fang", "to": None}}}


def test_an_earlier_occurred_moves_a_stopped_recovery_clock_to_breached(cli):
    open_incident(cli)  # Level 2: recovery 6h from when the fault began
    recovered = cli.json("recover", "1", now=at(330))  # 08:30
    assert recovered["sla"]["recovery"] == {
        "due_at": "2026-11-25T09:00:00Z", "stopped_at": at(330), "state": "met",
    }  # fmt: skip
    # the monitoring graph shows the fault began an hour before the report
    edited = cli.json("edit", "1", "--occurred", "2026-11-25T02:00:00Z", now=at(340))
    assert edited["sla"]["recovery"] == {
        "due_at": "2026-11-25T08:00:00Z", "stopped_at": at(330), "state": "breached",
    }  # fmt: skip
    assert cli.json("show", "1", now=at(341))["sla"]["recovery"]["state"] == "breached"
    report = cli.json("report", "--month", "2026-11", "--tz", "UTC", now="2026-12-01T01:00:00Z")
    assert report["sla"]["2"]["recovery"] == {
        "met": 0, "breached": 1, "running": 0, "attainment": 0.0,
    }  # fmt: skip
    assert [(b["clock"], b["late_s"]) for b in report["breaches"] if b["clock"] == "recovery"] == [
        ("recovery", 1800)
    ]


def test_an_earlier_occurred_makes_a_running_recovery_clock_overdue_and_escalated(cli):
    open_incident(cli)
    cli("ack", "1", now=at(5))
    assert cli.json("list", "--overdue", now=at(50)) == []
    edited = cli.json("edit", "1", "--occurred", "2026-11-24T21:30:00Z", now=at(50))
    assert edited["sla"]["recovery"] == {
        "due_at": "2026-11-25T03:30:00Z", "stopped_at": None, "state": "breached",
    }  # fmt: skip
    assert ids(cli.json("list", "--overdue", now=at(50))) == [1]
    sent = cli.json("escalate", now=at(51))
    assert sorted((d["notice"], d["channel"]) for d in sent["deliveries"]) == [
        ("initial", "email"), ("initial", "phone"), ("initial", "sms"),
        ("overdue-recovery", "email"), ("overdue-recovery", "phone"), ("overdue-recovery", "sms"),
    ]  # fmt: skip


def test_a_corrected_service_sends_the_next_notices_to_its_owner(cli):
    open_incident(cli, "Portal slow")
    cli("edit", "1", "--service", "web-portal", now=at(1))
    sent = cli.json("escalate", now=at(2))
    assert sorted((d["channel"], d["to"]) for d in sent["deliveries"]) == [
        ("email", "wang.fang@example.com"),  # the owner of web-portal, not of payments
        ("phone", "+8613800000004"),
        ("sms", "+8613800000006"),
    ]


def test_an_edit_that_changes_nothing_is_refused_and_records_nothing(cli):
    open_incident(cli, "Checkout fails", "--channel", "hotline")
    before = everything(cli)
    out = cli("edit", "1", "--title", "Checkout fails", "--channel", "hotline", now=at(5),
              expect=4)  # fmt: skip
    assert out.stdout == ""
    assert out.stderr == "incidentctl: incident 1 already says so: nothing to change\n"
    as_json = cli("edit", "1", "--title", "Checkout fails", "--json", now=at(5), expect=4)
    assert as_json.error == {
        "error": "conflict",
        "message": "incident 1 already says so: nothing to change",
    }
    assert everything(cli) == before


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["edit", "1"], 2, "nothing to change: give at least one of --title"),
        # a valid title beside a bad time: neither is recorded
        (["edit", "1", "--title", "New", "--occurred", at(5)], 2, "after it was reported"),
        (["edit", "1", "--title", "New", "--occurred", "next week"], 2, "cannot read"),
        (["edit", "1", "--title", "New", "--occurred", at(60)], 2, "in the future"),
        (["edit", "1", "--title", "  "], 2, "the title must not be empty"),
        (["edit", "1", "--service", ""], 2, "the service must not be empty"),
        (["edit", "1", "--channel", "pigeon"], 2, "pigeon"),
        (["edit", "99", "--title", "New"], 3, "no incident 99"),
    ],
)
def test_bad_edit_input_is_refused_and_changes_nothing(cli, args, code, words):
    open_incident(cli)
    before = everything(cli)
    out = cli(*args, now=at(20), expect=code)
    assert out.stdout == ""
    assert words in out.stderr
    assert everything(cli) == before


# --------------------------------------------------------------------------- cancel


def test_cancel_with_a_reason_stops_the_clocks_and_says_why(cli):
    open_incident(cli, "Test page, please ignore", level="1")
    cancelled = cli.json("cancel", "1", "--reason", "opened by mistake", now=at(5))
    assert {
        k: cancelled[k] for k in ("status", "cancelled_at", "cancel_reason", "duplicate_of")
    } == {
        "status": "cancelled",
        "cancelled_at": at(5),
        "cancel_reason": "opened by mistake",
        "duplicate_of": None,
    }
    assert {name: clock["stopped_at"] for name, clock in cancelled["sla"].items()} == {
        "response": at(5), "recovery": at(5), "resolution": at(5),
    }  # fmt: skip
    shown = cli.json("show", "1", now=at(30))
    assert shown["status"] == "cancelled"
    event = shown["events"][-1]
    assert (event["kind"], event["at"]) == ("cancelled", at(5))
    assert event["data"] == {"reason": "opened by mistake", "previous_status": "open"}
    human = cli("show", "1", now=at(30)).stdout
    assert "#1 Test page, please ignore  [Level 1, cancelled]" in human
    assert "  cancelled 03:05: opened by mistake\n" in human


def test_cancel_as_a_duplicate_names_the_incident_it_repeats(cli):
    open_incident(cli, "Checkout fails")
    open_incident(cli, "Payments down", now=at(2))
    cancelled = cli.json("cancel", "2", "--duplicate-of", "1", now=at(4))
    assert (cancelled["status"], cancelled["duplicate_of"], cancelled["cancel_reason"]) == (
        "cancelled", 1, "duplicate of incident 1",
    )  # fmt: skip
    event = cli.json("show", "2", now=at(5))["events"][-1]
    assert event["data"] == {
        "reason": "duplicate of incident 1", "duplicate_of": 1, "previous_status": "open",
    }  # fmt: skip
    assert "  cancelled 03:04: duplicate of incident 1\n" in cli("show", "2", now=at(5)).stdout
    # a reason of one's own, and the original named beside it
    open_incident(cli, "Card payments fail", now=at(6))
    cli("cancel", "3", "--duplicate-of", "1", "--reason", "Wang Fang called twice", now=at(7))
    human = cli("show", "3", now=at(8)).stdout
    assert "  cancelled 03:07: Wang Fang called twice (duplicate of #1)\n" in human
    assert cli.json("show", "1", now=at(8))["status"] == "open"  # the original is untouched


def test_a_cancelled_incident_is_off_the_board_and_out_of_the_default_list(cli):
    open_incident(cli, "Checkout fails")
    open_incident(cli, "Payments down")
    cli("cancel", "2", "--duplicate-of", "1", now=at(1))
    assert ids(cli.json("board", now=at(2))) == [1]
    assert "Payments down" not in cli(now=at(2)).stdout  # `incidentctl` alone: the board
    assert "Checkout fails" in cli(now=at(2)).stdout
    assert ids(cli.json("list", now=at(2))) == [1]
    assert ids(cli.json("list", "--status", "cancelled", now=at(2))) == [2]
    assert ids(cli.json("list", "--overdue", now=at(600))) == [1]  # 2's clocks stopped


def test_a_cancelled_incident_sends_nothing_even_past_its_due_times(cli):
    open_incident(cli, "Test page", level="1")
    cli("cancel", "1", "--reason", "opened by mistake", now=at(1))
    assert cli.json("escalate", now=at(2))["deliveries"] == []
    assert cli.json("escalate", now=at(600))["deliveries"] == []  # no overdue, no progress
    assert cli.json("show", "1", now=at(600))["deliveries"] == []


def test_the_report_lists_cancelled_incidents_apart_and_counts_them_nowhere(cli):
    open_incident(cli, "Checkout fails", level="2")
    cli("ack", "1", now=at(5))  # met
    open_incident(cli, "Test page", level="1")
    cli("cancel", "2", "--reason", "opened by mistake", now=at(30))  # after its 10m response
    open_incident(cli, "Payments down", level="2", now=at(1))
    cli("cancel", "3", "--duplicate-of", "1", now=at(3))
    report = cli.json("report", "--month", "2026-11", "--tz", "UTC", now="2026-12-01T01:00:00Z")
    assert report["cancelled"] == [
        {
            "id": 2,
            "title": "Test page",
            "service": "payments",
            "level": 1,
            "reason": "opened by mistake",
            "duplicate_of": None,
        },
        {
            "id": 3,
            "title": "Payments down",
            "service": "payments",
            "level": 2,
            "reason": "duplicate of incident 1",
            "duplicate_of": 1,
        },
    ]
    assert report["total"] == 1
    assert report["by_level"] == {"1": 0, "2": 1, "3": 0}
    assert report["by_service"] == {"payments": 1}
    assert report["by_status"] == {
        "open": 0, "acknowledged": 1, "recovered": 0, "resolved": 0, "closed": 0,
    }  # fmt: skip
    for clock in ("response", "recovery", "resolution"):  # the cancelled Level 1: no verdict
        assert report["sla"]["1"][clock] == {
            "met": 0, "breached": 0, "running": 0, "attainment": None,
        }  # fmt: skip
    assert report["sla"]["2"]["response"] == {
        "met": 1, "breached": 0, "running": 0, "attainment": 100.0,
    }  # fmt: skip
    assert report["durations"]["response"]["count"] == 1
    # incident 2's late stop is no breach of the month; 1's recovery is still running late
    assert [(b["id"], b["clock"]) for b in report["breaches"]] == [(1, "recovery")]
    assert report["recurring"] == []
    human = cli("report", "--month", "2026-11", "--tz", "UTC", now="2026-12-01T01:00:00Z").stdout
    assert "Cancelled (in no other figure)" in human
    assert "opened by mistake" in human


@pytest.fixture
def four(cli):
    """1 open, 2 cancelled (opened by mistake), 3 closed, 4 open."""
    open_incident(cli, "Checkout fails")
    open_incident(cli, "Test page")
    cli("cancel", "2", "--reason", "opened by mistake", now=at(1))
    open_incident(cli, "Old question", level="3")
    cli("resolve", "3", "--solution", "answered", now=at(2))
    cli("close", "3", "--confirmed-by", "Wang Fang", now=at(3))
    open_incident(cli, "Payments down")
    return cli


@pytest.mark.parametrize(
    ("args", "code", "error", "message"),
    [
        (["cancel", "4", "--duplicate-of", "99"], 3, "not_found",
         "--duplicate-of 99: no incident 99"),
        (["cancel", "99", "--reason", "x"], 3, "not_found", "no incident 99"),
        (["cancel", "4", "--duplicate-of", "4"], 4, "conflict",
         "incident 4 is open: an incident cannot be a duplicate of itself"),
        (["cancel", "4", "--duplicate-of", "2"], 4, "conflict",
         "incident 2 is cancelled (opened by mistake): name the incident it repeats instead"),
        (["cancel", "2", "--reason", "again"], 4, "conflict",
         "incident 2 is cancelled: it was already cancelled"),
        (["cancel", "3", "--reason", "x"], 4, "conflict",
         "incident 3 is closed: its reporter confirmed the resolution; it stays in the record"),
        (["cancel", "4"], 2, "invalid_input", "say why: --reason TEXT, or --duplicate-of ID"),
        (["cancel", "4", "--reason", " "], 2, "invalid_input", "the reason must not be empty"),
        (["ack", "2"], 4, "conflict",
         "incident 2 is cancelled: it was cancelled (opened by mistake); "
         "reopen it before you acknowledge it"),
        (["resolve", "2", "--solution", "x"], 4, "conflict", "reopen it before you resolve it"),
        (["problem", "2", "--ref", "PRB-7", "--reason", "recurring"], 4, "conflict",
         "reopen it before you send it to problem management"),
    ],
)  # fmt: skip
def test_cancel_refusals_say_why_and_change_nothing(four, args, code, error, message):
    before = everything(four)
    out = four(*args, "--json", now=at(10), expect=code)
    assert out.stdout == ""
    assert out.error["error"] == error
    assert message in out.error["message"]
    assert everything(four) == before


def test_reopen_undoes_a_cancellation_and_the_clocks_run_from_their_start(cli):
    open_incident(cli)  # Level 2: response 30m
    cli("cancel", "1", "--reason", "looked like a test", now=at(5))
    reopened = cli.json("reopen", "1", "--reason", "it was real", now=at(40))
    fields = ("status", "cancelled_at", "cancel_reason", "duplicate_of")
    assert {k: reopened[k] for k in fields} == {
        "status": "open", "cancelled_at": None, "cancel_reason": None, "duplicate_of": None,
    }  # fmt: skip
    assert reopened["sla"]["response"] == {
        "due_at": at(30), "stopped_at": None, "state": "breached",
    }  # fmt: skip
    event = cli.json("show", "1", now=at(40))["events"][-1]
    assert (event["kind"], event["data"]) == (
        "reopened", {"reason": "it was real", "previous_status": "cancelled"},
    )  # fmt: skip
    assert ids(cli.json("board", now=at(41))) == [1]
    sent = cli.json("escalate", now=at(41))  # the notices it was spared are due now
    assert sorted({d["notice"] for d in sent["deliveries"]}) == ["initial", "overdue-response"]
    assert cli.json("ack", "1", now=at(42))["status"] == "acknowledged"


# --------------------------------------------------------------------------- standard input


def test_open_details_read_from_standard_input(cli):
    mail = "From: Wang Fang <wang.fang@example.com>\n\nAll card payments fail since 02:50.\n"
    opened = cli.json(
        "open", "Checkout fails", "--level", "2", "--service", "payments", "--details", "-",
        input=mail, now=T0,
    )  # fmt: skip
    assert opened["details"] == (
        "From: Wang Fang <wang.fang@example.com>\n\nAll card payments fail since 02:50."
    )
    assert cli.json("show", "1", now=at(1))["details"] == opened["details"]


def test_a_note_and_a_solution_read_from_standard_input(cli):
    open_incident(cli)
    cli("note", "1", "-", input="Rolled back 3.2.1\nerror rate back to 0.1%\n", now=at(5))
    event = cli.json("show", "1", now=at(5))["events"][-1]
    assert event["data"] == {
        "kind": "progress",
        "text": "Rolled back 3.2.1\nerror rate back to 0.1%",
    }
    resolved = cli.json("resolve", "1", "--solution", "-", input="pool size 20 -> 50\n", now=at(9))
    assert resolved["solution"] == "pool size 20 -> 50"
    edited = cli.json("edit", "1", "--details", "-", input="seen on every card\n", now=at(10))
    assert edited["details"] == "seen on every card"


def test_empty_standard_input_is_refused_like_an_empty_note(cli):
    open_incident(cli)
    before = everything(cli)
    out = cli("note", "1", "-", input="", now=at(5), expect=2)
    assert out.stderr == "incidentctl: the note must not be empty\n"
    assert everything(cli) == before


# --------------------------------------------------------------------------- item 5


def test_relevel_of_a_resolved_incident_is_refused_so_its_approval_stands(cli):
    open_incident(cli, level="1")
    cli("resolve", "1", "--solution", "failover", now=at(20))
    before = everything(cli)
    out = cli("relevel", "1", "--level", "2", "--reason", "not so bad", "--json", now=at(25),
              expect=4)  # fmt: skip
    assert out.error == {
        "error": "conflict",
        "message": "incident 1 is resolved: a solution was already provided; "
        "reopen it to change its level",
    }
    assert everything(cli) == before
    # the Level-1 solution still cannot close unapproved
    refused = cli("close", "1", "--confirmed-by", "Wang Fang", now=at(26), expect=4)
    assert "needs the approval of zhang.min" in refused.stderr
    # reopened, its level can change
    cli("reopen", "1", "--reason", "wrong level", now=at(27))
    assert cli.json("relevel", "1", "--level", "2", "--reason", "minor", now=at(28))["level"] == 2


@pytest.fixture
def waiting(cli):
    """1 Level-1 resolved, not approved; 2 Level-1 approved; 3 Level-2 resolved;
    4 Level-1 open; 5 Level-1 closed; 6 Level-1 resolved then cancelled."""
    for level in ("1", "1", "2", "1", "1", "1"):
        open_incident(cli, level=level)
    for n in ("1", "2", "3", "5", "6"):
        cli("resolve", n, "--solution", "fixed", now=at(10))
    for n in ("2", "5"):
        cli("--as", "zhang.min", "approve", n, now=at(11))
    cli("close", "5", "--confirmed-by", "Wang Fang", now=at(12))
    cli("cancel", "6", "--reason", "opened by mistake", now=at(13))
    return cli


def test_list_awaiting_selects_who_a_resolved_incident_waits_for(waiting):
    assert ids(waiting.json("list", "--awaiting", "approval", now=at(20))) == [1]
    assert ids(waiting.json("list", "--awaiting", "confirmation", now=at(20))) == [2, 3]
    waiting("--as", "zhang.min", "approve", "1", now=at(21))
    assert waiting.json("list", "--awaiting", "approval", now=at(22)) == []
    assert ids(waiting.json("list", "--awaiting", "confirmation", now=at(22))) == [1, 2, 3]
    assert waiting("list", "--awaiting", "payment", now=at(22), expect=2).stdout == ""


def test_the_board_marks_what_awaits_approval_and_what_awaits_confirmation(waiting):
    board = waiting(now=at(20)).stdout
    assert "awaits approval" in board_row(board, 1)
    assert "awaits confirmation" in board_row(board, 2)
    assert "awaits confirmation" in board_row(board, 3)
    assert "awaits" not in board_row(board, 4)
    assert [line for line in board.splitlines() if "awaits approval" in line] == [
        board_row(board, 1)
    ]
    assert "awaits approval" in board_row(waiting("list", now=at(20)).stdout, 1)
    waiting("--as", "zhang.min", "approve", "1", now=at(21))
    assert "awaits confirmation" in board_row(waiting("board", now=at(22)).stdout, 1)


def test_a_non_manager_who_approves_is_told_who_can(cli):
    open_incident(cli, level="1")
    cli("resolve", "1", "--solution", "failover", now=at(10))
    before = everything(cli)
    out = cli("--as", "wang.fang", "approve", "1", "--json", now=at(11), expect=4)
    assert out.error == {
        "error": "conflict",
        "message": "wang.fang is not an incident manager: the solution of incident 1 "
        "must be approved by zhang.min",
    }
    assert "--as" not in out.error["message"]  # not told to impersonate one
    assert everything(cli) == before


def test_with_two_managers_both_are_named(cli, tmp_path):
    policy = resources.files("incidentctl").joinpath("sla.toml").read_text()
    two = policy.replace(
        'incident_managers = ["zhang.min"]', 'incident_managers = ["zhang.min", "li.wei"]'
    )
    assert two != policy
    (tmp_path / "sla.toml").write_text(two)
    open_incident(cli, level="1")
    cli("resolve", "1", "--solution", "failover", now=at(10))
    out = cli("--as", "wang.fang", "approve", "1", now=at(11), expect=4)
    assert out.stderr == (
        "incidentctl: wang.fang is not an incident manager: the solution of incident 1 "
        "must be approved by one of zhang.min, li.wei\n"
    )
    close = cli("close", "1", "--confirmed-by", "Wang Fang", now=at(12), expect=4)
    assert "needs the approval of one of zhang.min, li.wei first" in close.stderr
    assert cli.json("--as", "li.wei", "approve", "1", now=at(13))["approved_by"] == "li.wei"


def test_the_loser_of_an_ack_race_is_told_who_acknowledged_and_when(cli):
    open_incident(cli)
    cli("--as", "wang.fang", "ack", "1", now=at(2))
    before = everything(cli)
    out = cli("--as", "liu.yang", "ack", "1", "--json", now=at(3), expect=4)
    assert out.error == {
        "error": "conflict",
        "message": "incident 1 is acknowledged: it was already acknowledged by wang.fang "
        f"at {at(2)}",
    }
    assert everything(cli) == before
    assert cli.json("show", "1", now=at(4))["assignee"] == "wang.fang"


def test_list_status_takes_a_comma_list(cli):
    for _ in range(4):
        open_incident(cli)
    cli("ack", "2", now=at(1))
    cli("resolve", "3", "--solution", "fixed", now=at(2))
    cli("recover", "4", now=at(3))
    assert ids(cli.json("list", "--status", "resolved,acknowledged", now=at(5))) == [2, 3]
    assert ids(cli.json("list", "--status", "resolved, open", "--status", "recovered",
                        now=at(5))) == [1, 3, 4]  # fmt: skip
    bad = cli("list", "--status", "resolved,bogus", now=at(5), expect=2)
    assert bad.stdout == ""
    assert "'bogus' is not a status" in bad.stderr


def test_clocks_stopped_by_a_cancellation_are_neither_met_nor_breached(cli):
    cli("open", "Opened by mistake", "--level", "2", "--service", "payments", now=T0)
    shown = cli.json("cancel", "1", "--reason", "not an incident", now=T0_PLUS_5)
    assert {clock: parts["state"] for clock, parts in shown["sla"].items()} == {
        "response": "cancelled",
        "recovery": "cancelled",
        "resolution": "cancelled",
    }
    text = cli("show", "1", now=T0_PLUS_5).stdout
    assert re.search(r"response +cancelled", text)
    assert not re.search(r"response +met", text)
