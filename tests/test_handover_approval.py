"""Issue 12 items 1 and 2: the people the process hands work to hear from it. A
transfer or assign tells the new owner (and, for a transfer to the developers, their
team's address) who handed it over, why, and the clocks; a solution that waits for an
incident manager's approval tells the managers, and reminds them ``remind_after``
later. Through the outbox and a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from test_escalate import write_policy
from test_notify_transports import SmtpServer, smtp_running

T0 = "2026-11-25T03:00:00Z"


def at(minutes: float) -> str:
    moment = datetime.fromisoformat(T0.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with smtp_running() as server:
        yield server


@pytest.fixture
def mailing(cli, tmp_path, smtp_server):
    """The shipped policy, email through the real SMTP server (sms and phone printed)."""
    write_policy(tmp_path, {"email": smtp_server.transport()})
    return cli


def mails(server: SmtpServer, notice: str) -> list[tuple[str, str | None, str]]:
    """(To, Cc, body) of each email of ``notice`` the server received."""
    return [
        (m["To"], m["Cc"], m.get_payload(decode=True).decode())
        for _, m in server.messages
        if m["X-Incidentctl-Notice"] == notice
    ]


def notices(cli, minutes: float) -> list[tuple[int, str, str]]:
    """What a real escalate pass at T0 + minutes sends."""
    document = cli.json("escalate", now=at(minutes))
    return sorted((d["incident"], d["notice"], d["channel"]) for d in document["deliveries"])


def keys(cli, incident_id: int, notice: str) -> list[int]:
    """The sequence numbers of an incident's deliveries of ``notice``."""
    shown = cli.json("show", str(incident_id), now=at(1000))
    return sorted({d["sequence"] for d in shown["deliveries"] if d["notice"] == notice})


def test_a_transfer_to_the_developers_tells_the_new_owner_and_their_team(mailing, smtp_server):
    cli = mailing
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    cli("--as", "wang.lei", "ack", "1", now=at(5))
    cli("escalate", now=at(6))
    cli(
        "--as", "wang.lei", "transfer", "1", "--to", "liu.yang", "--reason",
        "needs a code fix", now=at(20),
    )  # fmt: skip
    assert notices(cli, 21) == [(1, "handover", "email"), (1, "handover", "sms")]
    [(to, cc, body)] = mails(smtp_server, "handover")
    assert (to, cc) == ("liu.yang@example.com", "dev-team@example.com")
    assert (
        "Handed over to liu.yang (developers) by wang.lei at 2026-11-25 03:20 UTC: "
        "needs a code fix."
    ) in body
    assert "Recovery due in 5h39m (2026-11-25 09:00 UTC)." in body
    assert "incidentctl show 1" in body
    assert notices(cli, 30) == []  # once


def test_an_assign_tells_the_new_owner_without_the_developers(mailing, smtp_server):
    cli = mailing
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    cli("--as", "wang.lei", "assign", "1", "--to", "wang.fang", now=at(2))
    cli("escalate", now=at(3))
    [(to, cc, body)] = mails(smtp_server, "handover")
    assert (to, cc) == ("wang.fang@example.com", None)
    assert "Handed over to wang.fang by wang.lei at 2026-11-25 03:02 UTC." in body
    assert "Next: incidentctl ack 1" in body


def test_taking_an_incident_oneself_tells_nobody(mailing, smtp_server):
    cli = mailing
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    cli("--as", "wang.fang", "assign", "1", "--to", "wang.fang", now=at(2))
    cli("escalate", now=at(3))
    assert mails(smtp_server, "handover") == []


def test_handovers_are_told_at_a_level_that_notifies_nobody_else(mailing, smtp_server):
    cli = mailing
    cli("open", "How do I reset 2FA?", "--level", "3", "--service", "accounts", now=T0)
    cli("--as", "wang.lei", "transfer", "1", "--to", "liu.yang", "--reason", "bug", now=at(5))
    assert notices(cli, 6) == [(1, "handover", "email"), (1, "handover", "sms")]
    assert [m for m in smtp_server.messages if m[1]["X-Incidentctl-Notice"] != "handover"] == []


def test_two_handovers_between_passes_tell_whoever_holds_it_now(mailing, smtp_server):
    cli = mailing
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    cli("escalate", now=at(1))
    cli("--as", "wang.lei", "assign", "1", "--to", "wang.fang", now=at(2))
    cli("--as", "wang.lei", "assign", "1", "--to", "liu.yang", now=at(3))
    assert notices(cli, 4) == [(1, "handover", "email"), (1, "handover", "sms")]
    assert keys(cli, 1, "handover") == [1]  # the second handover's
    assert [to for to, _, _ in mails(smtp_server, "handover")] == ["liu.yang@example.com"]


def test_a_handover_rule_can_be_switched_off(cli, tmp_path):
    text = write_policy(tmp_path).read_text()
    start = text.index("[notifications.handover]")
    end = text.index("[notifications.approval]")
    (tmp_path / "sla.toml").write_text(text[:start] + "[notifications.handover]\n\n" + text[end:])
    cli("open", "Checkout fails", "--level", "3", "--service", "payments", now=T0)
    cli("--as", "wang.lei", "assign", "1", "--to", "wang.fang", now=at(2))
    assert notices(cli, 3) == []


def test_a_solution_waiting_for_approval_tells_the_managers_then_reminds_them(mailing, smtp_server):
    cli = mailing
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("ack", "1", now=at(2))
    cli("escalate", now=at(3))
    cli("resolve", "1", "--solution", "pool size fixed in 3.2.2", now=at(40))
    assert (1, "approval", "email") in notices(cli, 41)
    [(to, cc, body)] = mails(smtp_server, "approval")
    assert (to, cc) == ("zhang.min@example.com", None)
    assert "Solution provided 2026-11-25 03:40 UTC: pool size fixed in 3.2.2" in body
    assert "To approve: incidentctl --as NAME approve 1" in body
    assert notices(cli, 99) == []  # the reminder is not due before remind_after (1h)
    assert notices(cli, 100) == [(1, "approval-reminder", "email")]
    [(to, _, body)] = mails(smtp_server, "approval-reminder")
    assert to == "zhang.min@example.com"
    assert "Still not approved, 1h after the solution." in body
    assert notices(cli, 200) == []  # one reminder


def test_an_approval_in_time_stops_the_reminder(mailing, smtp_server):
    cli = mailing
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("resolve", "1", "--solution", "fixed", now=at(40))
    cli("escalate", now=at(41))
    cli("--as", "zhang.min", "approve", "1", now=at(50))
    cli("escalate", now=at(120))
    assert mails(smtp_server, "approval-reminder") == []
    assert len(mails(smtp_server, "approval")) == 1


def test_a_level_without_approval_asks_nobody(mailing, smtp_server):
    cli = mailing
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    cli("resolve", "1", "--solution", "fixed", now=at(40))
    cli("escalate", now=at(200))
    assert mails(smtp_server, "approval") == []
    assert mails(smtp_server, "approval-reminder") == []


def test_a_second_solution_after_a_reopen_asks_again(mailing, smtp_server):
    cli = mailing
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("resolve", "1", "--solution", "restarted", now=at(40))
    cli("escalate", now=at(41))
    cli("reopen", "1", "--reason", "back again", now=at(60))
    cli("resolve", "1", "--solution", "pool size fixed", now=at(70))
    assert (1, "approval", "email") in notices(cli, 71)
    assert keys(cli, 1, "approval") == [0, 1]
    bodies = [body for _, _, body in mails(smtp_server, "approval")]
    assert len(bodies) == 2
    assert "Solution provided 2026-11-25 04:10 UTC: pool size fixed" in bodies[1]


def test_policy_check_knows_the_new_rules(cli, tmp_path):
    text = write_policy(tmp_path).read_text()
    (tmp_path / "sla.toml").write_text(text.replace('dev_team = "dev-team"', 'dev_team = "devs"'))
    out = cli("policy", "check", expect=5)
    assert "notifications.handover.email: 'devs' (dev_team): no such contact" in out.stderr


def test_a_service_names_its_own_roles_and_the_others_use_the_global_ones(cli, tmp_path):
    """Issue 12 item 5: [services.NAME] may name its own rd_leader, om_team, dev_team."""
    text = write_policy(tmp_path).read_text()
    text = text.replace(
        '[services.payments]\nowner = "chen.jie"\n',
        '[services.payments]\nowner = "chen.jie"\nrd_leader = "wang.fang"\n'
        'om_team = "wang.lei"\ndev_team = "liu.yang"\n',
    )
    (tmp_path / "sla.toml").write_text(text)
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("open", "Login fails", "--level", "1", "--service", "accounts", now=T0)
    document = cli.json("escalate", now=at(1))
    calls = sorted(
        (d["incident"], d["to"]) for d in document["deliveries"] if d["channel"] == "phone"
    )
    assert calls == [(1, "+8613800000006"), (2, "+8613800000004")]  # wang.fang; li.wei
    emails = {d["incident"]: d["cc"] for d in document["deliveries"] if d["channel"] == "email"}
    assert emails == {1: ["wang.lei@example.com"], 2: ["om-team@example.com"]}
    cli("--as", "wang.lei", "transfer", "1", "--to", "chen.jie", "--reason", "bug", now=at(5))
    document = cli.json("escalate", now=at(6))
    [handover] = [d for d in document["deliveries"] if d["channel"] == "email"]
    assert (handover["to"], handover["cc"]) == ("chen.jie@example.com", ["liu.yang@example.com"])


@pytest.mark.storage_contract
def test_a_handover_claimed_by_a_pass_that_died_is_sent_once_when_its_lease_runs_out(
    cli, tmp_path, smtp_server, db_engine
):
    """The outbox's exactly-once, for the new notices: a pass that recorded and claimed a
    handover, then died, holds it until its lease runs out; then one pass sends it, once."""
    from incidentctl.config import load_policy
    from incidentctl.services import escalation
    from incidentctl.store import repository
    from incidentctl.store.engine import Database, database_url

    write_policy(tmp_path, {"email": smtp_server.transport()})
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("escalate", now=at(1))
    cli("--as", "wang.lei", "transfer", "1", "--to", "liu.yang", "--reason", "a bug", now=at(5))
    cli("resolve", "1", "--solution", "fixed", now=at(6))
    policy = load_policy(tmp_path / "sla.toml").policy
    db = Database(database_url(cli.db, {}))
    now = datetime.fromisoformat(at(7).replace("Z", "+00:00"))
    try:
        with db.write() as session:  # a pass that records and claims, then dies
            escalation.plan(session, policy, now=now)
        with db.write() as session:
            claimed = repository.lease_deliveries_due(
                session, owner="dead", now=now, until=now + timedelta(minutes=5), limit=100
            )
    finally:
        db.dispose()
    expected = [
        ("approval", "email"), ("handover", "email"), ("handover", "sms"),
        ("rectification", "email"), ("rectification", "sms"),  # (resolve implies recover)
    ]  # fmt: skip
    assert sorted((c.notice, c.channel) for c in claimed) == expected
    assert notices(cli, 8) == []  # held by the dead pass's lease
    assert notices(cli, 11.9) == []
    assert notices(cli, 12.5) == [(1, notice, channel) for notice, channel in expected]
    assert notices(cli, 20) == []
    # once each: the handover to liu.yang, the rectification to the owner, the approval
    headers = sorted(m["X-Incidentctl-Notice"] for _, m in smtp_server.messages)
    assert headers == ["approval", "handover", "initial", "rectification"]
