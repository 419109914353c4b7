"""``reopen ID --reason … --down`` (issue 11 item 6): the service is down again. The
incident is not recovered any more: it returns to the board counting down to a
down-again recovery deadline, progress notices resume (a real ``escalate``), and the
next ``recover`` sends a new rectification. Without ``--down`` a reopen keeps its old
meaning, and either way the SLA clocks keep their first verdicts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from test_escalate import write_policy
from test_notify_transports import SmtpServer, smtp_running

T0 = "2026-11-25T03:00:00Z"


def at(minutes: float) -> str:
    """T0 plus some minutes, as INCIDENTCTL_NOW or --at."""
    moment = datetime.fromisoformat(T0.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sent(cli, minutes: float) -> list[tuple[str, str, str]]:
    """What a real ``escalate`` run sends at T0 + minutes."""
    document = cli.json("escalate", now=at(minutes))
    return sorted((d["notice"], d["channel"], d["status"]) for d in document["deliveries"])


def board_row(out: str, incident_id: int) -> str:
    [line] = [line for line in out.splitlines() if re.match(rf"^{incident_id} +│", line)]
    return line


def ids(rows) -> list[int]:
    return [row["id"] for row in rows]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with smtp_running() as server:
        yield server


@pytest.fixture
def closed(cli):
    """Level 2 (recovery 6h) reported at 03:00, acknowledged 03:10, recovered 03:30,
    resolved 04:00, confirmed 04:10: off the board. Its initial and rectification
    notices went out (print)."""
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    cli("escalate", now=at(1))
    cli("ack", "1", now=at(10))
    cli("recover", "1", now=at(30))
    cli("escalate", now=at(31))
    cli("resolve", "1", "--solution", "rolled back 3.2.1", now=at(60))
    cli("close", "1", "--confirmed-by", "Wang Fang", now=at(70))
    return cli


def test_down_again_returns_to_the_board_with_a_recovery_deadline_from_then(closed):
    cli = closed
    assert cli.json("board", now=at(110)) == []
    reopened = cli.json(
        "reopen", "1", "--reason", "502s are back", "--down", "--at", "05:00", now=at(130)
    )
    assert {
        k: reopened[k]
        for k in ("status", "acknowledged_at", "recovered_at", "resolved_at", "closed_at")
    } == {
        "status": "acknowledged",
        "acknowledged_at": at(10),
        "recovered_at": None,
        "resolved_at": None,
        "closed_at": None,
    }
    # the clocks keep their first verdicts
    assert reopened["sla"]["recovery"] == {
        "due_at": "2026-11-25T09:00:00Z",
        "stopped_at": at(30),
        "state": "met",
    }
    event = cli.json("show", "1", now=at(130))["events"][-1]
    assert (event["kind"], event["at"]) == ("reopened", at(120))
    assert event["data"] == {
        "reason": "502s are back",
        "solution": "rolled back 3.2.1",
        "previous_status": "closed",
        "down": True,
    }
    # back on the board, counting down to 05:00 + the level's 6h recovery target
    assert ids(cli.json("board", now=at(130))) == [1]
    row = board_row(cli(now=at(130)).stdout, 1)
    assert "recovery in 5h50m" in row and "acknowledged" in row
    assert "the service is down again" in cli("show", "1", now=at(130)).stdout
    # overdue exactly when that deadline comes
    assert cli.json("list", "--overdue", now="2026-11-25T10:59:00Z") == []
    assert ids(cli.json("list", "--overdue", now="2026-11-25T11:00:00Z")) == [1]
    assert "recovery due now" in board_row(cli("board", now="2026-11-25T11:00:00Z").stdout, 1)


def test_the_down_again_incident_comes_first_on_the_board_when_its_deadline_is_nearest(cli):
    cli("open", "Slow search", "--level", "2", "--service", "search", now=T0)
    cli("ack", "1", now=at(1))  # next: recovery at 09:00
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("resolve", "2", "--solution", "failover", now=at(20))
    assert ids(cli.json("board", now=at(30))) == [1, 2]  # 2 has no running clock
    cli("reopen", "2", "--reason", "failed over back", "--down", now=at(30))
    assert ids(cli.json("board", now=at(31))) == [2, 1]  # Level 1: 2h from 03:30


def test_progress_resumes_and_the_next_recovery_sends_a_new_rectification(cli):
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    assert sent(cli, 1) == [(n, c, "printed") for n, c in [
        ("initial", "email"), ("initial", "phone"), ("initial", "sms"),
    ]]  # fmt: skip
    cli("ack", "1", now=at(10))
    cli("recover", "1", now=at(30))
    assert sent(cli, 31) == [
        ("rectification", "email", "printed"),
        ("rectification", "sms", "printed"),
    ]
    cli("resolve", "1", "--solution", "rolled back", now=at(60))
    assert sent(cli, 121) == []  # recovered: no progress
    cli("reopen", "1", "--reason", "502s are back", "--down", now=at(130))
    # the latest progress mark (05:00) is due at once, then one an hour
    assert sent(cli, 131) == [("progress", "email", "printed"), ("progress", "sms", "printed")]
    assert sent(cli, 150) == []
    assert sent(cli, 181) == [("progress", "email", "printed"), ("progress", "sms", "printed")]
    recovered = cli.json("recover", "1", now=at(210))
    assert (recovered["status"], recovered["recovered_at"]) == ("recovered", at(210))
    assert sent(cli, 211) == [
        ("rectification", "email", "printed"),
        ("rectification", "sms", "printed"),
    ]
    assert sent(cli, 400) == []  # recovered again: progress stops
    shown = cli.json("show", "1", now=at(400))
    assert sorted({(d["notice"], d["sequence"]) for d in shown["deliveries"]}) == [
        ("initial", 0), ("progress", 2), ("progress", 3),
        ("rectification", 0), ("rectification", 1),
    ]  # fmt: skip
    # the first verdict stands: recovered once within 6h of the fault
    assert shown["sla"]["recovery"]["stopped_at"] == at(30)


def test_a_new_rectification_reaches_a_real_smtp_server(cli, tmp_path, smtp_server):
    write_policy(tmp_path, {"email": smtp_server.transport()})
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    cli("resolve", "1", "--solution", "rolled back", now=at(30))  # implies the recovery
    cli("escalate", now=at(31))
    cli("reopen", "1", "--reason", "502s are back", "--down", now=at(40))
    cli("recover", "1", now=at(50))
    cli("escalate", now=at(51))
    mails = [(m["X-Incidentctl-Notice"], m["To"], m["Cc"]) for _, m in smtp_server.messages]
    assert mails == [  # (the first pass finds both due: one email)
        ("initial+rectification", "chen.jie@example.com", "om-team@example.com"),
        ("rectification", "chen.jie@example.com", "om-team@example.com"),
    ]
    body = smtp_server.messages[-1][1].get_payload(decode=True).decode()
    assert "Service recovered 2026-11-25 03:50 UTC" in body


def test_a_reopen_without_down_keeps_the_service_recovered(closed):
    cli = closed
    reopened = cli.json("reopen", "1", "--reason", "the fix was incomplete", now=at(130))
    assert (reopened["status"], reopened["recovered_at"], reopened["resolved_at"]) == (
        "recovered",
        at(30),
        None,
    )
    event = cli.json("show", "1", now=at(130))["events"][-1]
    assert "down" not in event["data"]
    row = board_row(cli(now=at(130)).stdout, 1)
    assert "recovery in" not in row  # no clock runs, no down-again deadline
    assert cli.json("list", "--overdue", now="2026-11-26T03:00:00Z") == []
    assert sent(cli, 131) == [] and sent(cli, 300) == []  # no progress notices
    refused = cli("recover", "1", now=at(140), expect=4)
    assert "already recovered" in refused.stderr


def test_a_recovery_before_the_service_went_down_again_is_refused(closed):
    cli = closed
    cli("reopen", "1", "--reason", "502s are back", "--down", "--at", "05:00", now=at(130))
    before = cli.json("show", "1", now=at(130))
    for args in (("recover", "1"), ("resolve", "1", "--solution", "restarted")):
        out = cli(*args, "--at", "04:50", now=at(130), expect=2)
        assert out.stderr == (
            "incidentctl: 2026-11-25T04:50:00Z is before the service went down again "
            "(2026-11-25T05:00:00Z)\n"
        )
    assert cli.json("show", "1", now=at(130)) == before
    assert cli.json("recover", "1", "--at", "05:05", now=at(130))["recovered_at"] == at(125)


def test_reopen_down_refusals(cli):
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    out = cli("reopen", "1", "--reason", "x", "--down", now=at(5), expect=4)
    assert "only a resolved or closed incident" in out.stderr
    cli("cancel", "1", "--reason", "opened by mistake", now=at(6))
    never = cli("reopen", "1", "--reason", "real", "--down", now=at(7), expect=4)
    assert "its service was never recovered; reopen it without --down" in never.stderr
    assert cli.json("show", "1", now=at(8))["status"] == "cancelled"


def test_the_report_counts_the_first_recovery_verdict(closed):
    cli = closed
    cli("reopen", "1", "--reason", "502s are back", "--down", now=at(130))
    cli("recover", "1", now=at(130 + 12 * 60))  # long after the down-again deadline
    report = cli.json("report", "--month", "2026-11", "--tz", "UTC", now="2026-12-01T01:00:00Z")
    assert report["sla"]["2"]["recovery"] == {
        "met": 1, "breached": 0, "running": 0, "attainment": 100.0,
    }  # fmt: skip
    assert report["breaches"] == []
    assert report["durations"]["recovery"]["mean_s"] == 1800.0  # to the first recovery


def test_show_and_the_json_say_why_a_down_again_incident_is_overdue(closed):
    """The first verdict stays "met"; the outage that came back is its own deadline, in
    ``show``, in every incident JSON document, and escalated when it passes."""
    cli = closed
    cli("reopen", "1", "--reason", "502s are back", "--down", "--at", "05:00", now=at(130))
    shown = cli.json("show", "1", now=at(130))
    assert shown["down_again"] == {
        "since": "2026-11-25T05:00:00Z",
        "due_at": "2026-11-25T11:00:00Z",
        "state": "running",
    }
    assert shown["sla"]["recovery"]["state"] == "met"  # the first verdict
    [listed] = cli.json("list", "--overdue", now="2026-11-25T11:00:00Z")
    assert listed["down_again"]["state"] == "breached"
    text = cli("show", "1", now="2026-11-25T11:30:00Z").stdout
    assert re.search(r"recovery +again +due 11:00 \(30m overdue\), down again since 05:00", text)
    # escalated once when it passes: overdue-recovery #1 (the first outage's is #0)
    assert ("overdue-recovery", "email", "printed") not in sent(cli, 479)  # 10:59
    assert ("overdue-recovery", "email", "printed") in sent(cli, 481)  # 11:01
    assert ("overdue-recovery", "email", "printed") not in sent(cli, 540)
    shown = cli.json("show", "1", now=at(540))
    # (the first outage back: 1 * STEP_BASE + its first step)
    assert {d["sequence"] for d in shown["deliveries"] if d["notice"] == "overdue-recovery"} == {
        1000
    }
    # a recovery ends it
    cli("recover", "1", now=at(545))
    assert cli.json("show", "1", now=at(545))["down_again"] is None


def test_a_never_recovered_incident_has_no_down_again(cli):
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    assert cli.json("show", "1", now=at(1))["down_again"] is None


def test_a_cancelled_incident_is_not_down_again(closed):
    cli = closed
    cli("reopen", "1", "--reason", "502s are back", "--down", now=at(130))
    cli("cancel", "1", "--reason", "a duplicate report after all", now=at(140))
    shown = cli.json("show", "1", now=at(900))
    assert shown["down_again"] is None
    assert "again" not in cli("show", "1", now=at(900)).stdout.split("Timeline")[0]
