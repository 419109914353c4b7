"""Issue 12 item 3: the customer. ``note --kind customer-update --send`` sends the text
to the reporter's contact (email or SMS by its form) through the outbox; at a notifying
level the owner is reminded when no customer update went out for ``every`` (2h); the
solution asks the reporter to confirm. Through real SMTP and webhook servers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from test_escalate import write_policy
from test_notify_transports import HttpServer, SmtpServer, http_running, smtp_running

T0 = "2026-11-25T03:00:00Z"


def at(minutes: float) -> str:
    moment = datetime.fromisoformat(T0.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def servers(cli, tmp_path) -> Iterator[tuple[SmtpServer, HttpServer]]:
    with smtp_running() as smtp, http_running() as http:
        write_policy(
            tmp_path,
            {"email": smtp.transport(), "sms": {"type": "webhook", "url": http.url("/sms")}},
        )
        yield smtp, http


def customer_mails(smtp: SmtpServer, notice: str) -> list[tuple[str, str, str]]:
    return [
        (m["To"], m["Subject"], m.get_payload(decode=True).decode())
        for _, m in smtp.messages
        if notice in m["X-Incidentctl-Notice"].split("+")
    ]


def opened(cli, contact: str, level: str = "2") -> None:
    cli(
        "open", "Checkout fails", "--level", level, "--service", "payments",
        "--reporter", "Wang Fang", "--contact", contact, now=T0,
    )  # fmt: skip
    cli("--as", "wang.lei", "ack", "1", now=at(2))
    cli("escalate", now=at(3))


def test_a_customer_update_goes_to_the_reporters_email(cli, servers):
    smtp, http = servers
    opened(cli, "wang.fang@customer.example")
    out = cli(
        "note", "1", "We found the cause; a fix is being deployed", "--kind",
        "customer-update", "--send", now=at(30),
    )  # fmt: skip
    assert "queued for wang.fang@customer.example" in out.stdout
    cli("escalate", now=at(31))
    [(to, subject, body)] = customer_mails(smtp, "customer-update")
    assert to == "wang.fang@customer.example"
    assert subject == "[#1] Update on your report: Checkout fails"
    assert "We found the cause; a fix is being deployed" in body
    assert "owner" not in body and "incidentctl" not in body  # nothing of the team's internals
    assert [b for b in http.bodies("/sms") if "customer-update" in b["notice"]] == []
    shown = cli.json("show", "1", now=at(32))
    updates = [d for d in shown["deliveries"] if d["notice"] == "customer-update"]
    assert [(d["channel"], d["status"]) for d in updates] == [("email", "sent")]
    cli("escalate", now=at(40))
    assert len(customer_mails(smtp, "customer-update")) == 1  # once


def test_a_customer_update_goes_by_sms_to_a_phone_number(cli, servers):
    smtp, http = servers
    opened(cli, "+86 138 0000 0099")
    cli(
        "note", "1", "Fix deployed, please retry", "--kind", "customer-update", "--send", now=at(30)
    )
    cli("escalate", now=at(31))
    [sms] = [b for b in http.bodies("/sms") if b["notice"] == "customer-update"]
    assert sms["to"] == "+86 138 0000 0099"
    assert sms["text"] == "Incident #1 update: Fix deployed, please retry"
    assert customer_mails(smtp, "customer-update") == []


def test_send_needs_a_contact_and_a_customer_update(cli, servers):
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    before = cli.json("show", "1", now=at(1))
    out = cli("note", "1", "hello", "--kind", "customer-update", "--send", now=at(1), expect=4)
    assert "the reporter left no email address or phone number" in out.stderr
    out = cli("note", "1", "hello", "--send", now=at(1), expect=2)
    assert "use it with --kind customer-update" in out.stderr
    assert cli.json("show", "1", now=at(1)) == before


def test_the_owner_is_reminded_when_no_customer_update_went_out_for_2h(cli, servers):
    smtp, http = servers
    opened(cli, "wang.fang@customer.example")
    cli("escalate", now=at(119))
    assert customer_mails(smtp, "customer-reminder") == []
    cli("escalate", now=at(121))
    [(to, _, body)] = customer_mails(smtp, "customer-reminder")
    assert to == "wang.lei@example.com"  # the owner
    assert "No customer update sent for 2h: Wang Fang (wang.fang@customer.example)" in body
    assert "incidentctl note 1 TEXT --kind customer-update --send" in body
    # an update restarts the wait
    cli("note", "1", "Still on it", "--kind", "customer-update", "--send", now=at(130))
    cli("escalate", now=at(249))
    assert len(customer_mails(smtp, "customer-reminder")) == 1
    cli("escalate", now=at(251))
    assert len(customer_mails(smtp, "customer-reminder")) == 2


def test_no_reminder_at_a_level_that_notifies_nobody(cli, servers):
    smtp, _ = servers
    opened(cli, "wang.fang@customer.example", level="3")
    cli("escalate", now=at(300))
    assert customer_mails(smtp, "customer-reminder") == []


def test_the_solution_asks_the_reporter_to_confirm_and_says_how(cli, servers):
    smtp, _ = servers
    opened(cli, "wang.fang@customer.example")
    cli("resolve", "1", "--solution", "Pool size fixed in 3.2.2", now=at(60))
    cli("escalate", now=at(61))
    [(to, subject, body)] = customer_mails(smtp, "confirmation")
    assert to == "wang.fang@customer.example"
    assert subject == "[#1] Resolved: Checkout fails - please confirm"
    assert "is resolved: Pool size fixed in 3.2.2" in body
    assert "Please confirm that it works for you: reply to this message." in body


def test_at_a_level_that_asks_approval_the_reporter_is_asked_once_approved(cli, servers):
    smtp, _ = servers
    opened(cli, "wang.fang@customer.example", level="1")
    cli("resolve", "1", "--solution", "Pool size fixed", now=at(60))
    cli("escalate", now=at(61))
    assert customer_mails(smtp, "confirmation") == []
    cli("--as", "zhang.min", "approve", "1", now=at(70))
    cli("escalate", now=at(71))
    assert [to for to, _, _ in customer_mails(smtp, "confirmation")] == [
        "wang.fang@customer.example"
    ]


def test_what_the_customer_was_sent_is_not_sent_again_after_an_import(cli, servers, tmp_path):
    """An export moved to a new database (past notices owed, the default) carries its
    customer updates; the customer does not get them a second time."""
    smtp, _ = servers
    opened(cli, "wang.fang@customer.example")
    cli("note", "1", "A fix is on its way", "--kind", "customer-update", "--send", now=at(30))
    cli("escalate", now=at(31))
    assert len(customer_mails(smtp, "customer-update")) == 1
    (tmp_path / "out.ndjson").write_text(cli("export", now=at(40)).stdout)
    cli.use(str(tmp_path / "moved.db"))
    cli("import", str(tmp_path / "out.ndjson"), now=at(41))
    cli("escalate", now=at(42), expect=None)
    assert len(customer_mails(smtp, "customer-update")) == 1
    # what is new after the move still goes
    cli("note", "1", "Fixed", "--kind", "customer-update", "--send", now=at(50))
    cli("escalate", now=at(51), expect=None)
    assert [b.splitlines()[1] for _, _, b in customer_mails(smtp, "customer-update")] == [
        "A fix is on its way",
        "Fixed",
    ]


def test_a_customer_update_queued_before_the_close_still_goes(cli, servers):
    smtp, _ = servers
    opened(cli, "wang.fang@customer.example")
    cli("note", "1", "Fixed, closing", "--kind", "customer-update", "--send", now=at(30))
    cli("resolve", "1", "--solution", "fixed", now=at(31))
    cli("close", "1", "--confirmed-by", "Wang Fang", now=at(32))
    cli("escalate", now=at(33), expect=None)
    assert [b.splitlines()[1] for _, _, b in customer_mails(smtp, "customer-update")] == [
        "Fixed, closing"
    ]
    assert customer_mails(smtp, "confirmation") == []  # confirmed already: not asked


def test_send_needs_an_address_not_only_a_name(cli, servers):
    cli("open", "x", "-l", "2", "-s", "payments", "--reporter", "bob", now=T0)
    out = cli("note", "1", "hi", "--kind", "customer-update", "--send", now=at(1), expect=4)
    assert "left no email address or phone number" in out.stderr


def test_no_reminder_to_send_what_cannot_be_sent(cli, servers):
    smtp, _ = servers
    cli("open", "x", "-l", "2", "-s", "payments", "--reporter", "bob", now=T0)  # no contact
    cli("--as", "wang.lei", "ack", "1", now=at(2))
    cli("escalate", now=at(200), expect=None)
    assert customer_mails(smtp, "customer-reminder") == []


def test_two_messages_to_the_customer_at_once_go_whole_each(cli, servers):
    smtp, http = servers
    opened(cli, "+86 138 0000 0099")
    cli("note", "1", "First news", "--kind", "customer-update", "--send", now=at(30))
    cli("note", "1", "Second news", "--kind", "customer-update", "--send", now=at(31))
    cli("escalate", now=at(32))
    texts = [b["text"] for b in http.bodies("/sms") if "customer-update" in b["notice"]]
    assert texts == ["Incident #1 update: First news", "Incident #1 update: Second news"]
