"""Issue 12 item 7: messages people can act on. Times in the policy's ``timezone``
(default UTC) with the zone named, durations rounded to what matters, the details, the
reporter and their contact, the command to run; every notice kind's SMS is one GSM-7
message. Through a real SMTP server (email) and a real webhook server (sms)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from incidentctl.domain import NoticeName
from incidentctl.notify.messages import SMS_LIMIT, gsm7_length
from test_escalate import write_policy
from test_notify_transports import HttpServer, SmtpServer, http_running, smtp_running

T0 = "2026-11-25T03:00:00Z"
# A title as people type them: long, with a middle dot and another script.
TITLE = (
    "Checkout · payments fail with 502 for card holders in the EU and Asia 支付失败, "
    "after the 3.2.1 deploy of the gateway; retries make it worse and the queue grows"
)


def at(minutes: float) -> str:
    moment = datetime.fromisoformat(T0.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def servers() -> Iterator[tuple[SmtpServer, HttpServer]]:
    with smtp_running() as smtp, http_running() as http:
        yield smtp, http


def policy(tmp_path, smtp: SmtpServer, http: HttpServer, extra: str = "") -> None:
    path = write_policy(
        tmp_path,
        {"email": smtp.transport(), "sms": {"type": "webhook", "url": http.url("/sms")}},
        extra,
    )
    text = path.read_text().replace(  # the approvers get an SMS too, to check its text
        'remind_after = "1h"\nemail = { to = ["incident_managers"] }',
        'remind_after = "1h"\nemail = { to = ["incident_managers"] }\nsms = ["incident_managers"]',
    )
    path.write_text(text)


def emails(smtp: SmtpServer, notice: str) -> list[str]:
    return [
        m.get_payload(decode=True).decode()
        for _, m in smtp.messages
        if notice in m["X-Incidentctl-Notice"].split("+")  # (one message may carry several)
    ]


def test_every_notice_kinds_sms_is_one_gsm7_message(cli, tmp_path, servers):
    smtp, http = servers
    # warnings at half of each target, and a fix clock of 2h at Level 1
    warning = (
        '[notifications.warning]\nat = ["50%"]\nsms = ["service_owner"]\n'
        'email = { to = ["service_owner"] }\n'
    )
    policy(tmp_path, smtp, http, "\n" + warning)
    path = tmp_path / "sla.toml"
    path.write_text(path.read_text().replace("[levels.1]\n", '[levels.1]\nfix = "2h"\n', 1))
    cli(
        "open", TITLE, "--level", "1", "--service", "payments",
        "--reporter", "Wang Fang", "--contact", "+86 138 0000 0099", now=T0,
    )  # fmt: skip
    cli("open", TITLE, "--level", "1", "--service", "payments", now=T0)  # left to breach
    for minutes in (1, 6, 11):
        cli("escalate", now=at(minutes), expect=None)
    cli("--as", "wang.lei", "ack", "1", now=at(12))
    cli("--as", "wang.lei", "transfer", "1", "--to", "liu.yang", "--reason", "a bug", now=at(13))
    for minutes in (14, 61, 121, 134):
        cli("escalate", now=at(minutes), expect=None)
    cli("recover", "1", now=at(130))
    cli("resolve", "1", "--solution", "gateway rolled back", now=at(140))
    cli("escalate", now=at(141), expect=None)
    cli("note", "1", f"{TITLE}: fixed", "--kind", "customer-update", "--send", now=at(142))
    for minutes in (143, 201):
        cli("escalate", now=at(minutes), expect=None)
    cli("--as", "zhang.min", "approve", "1", now=at(202))  # the reporter is asked to confirm
    for minutes in (203, 84 * 60 + 1, 7 * 24 * 60 + 1):
        cli("escalate", now=at(minutes), expect=None)
    texts: dict[str, list[str]] = {}
    for body in http.bodies("/sms"):
        for notice in body["notice"].split("+"):  # (one message may carry several)
            texts.setdefault(notice, []).append(body["text"])
    assert set(texts) == set(NoticeName)  # every kind was sent, and checked below
    # and every kind the team gets by email reached the SMTP server (the reporter, who
    # left a phone number, gets hers by SMS only)
    mailed = {n for _, m in smtp.messages for n in m["X-Incidentctl-Notice"].split("+")}
    assert mailed == set(NoticeName) - {NoticeName.CUSTOMER_UPDATE, NoticeName.CONFIRMATION}
    for notice, sent in texts.items():
        for text in sent:
            assert gsm7_length(text) is not None, (notice, text)
            assert gsm7_length(text) <= SMS_LIMIT, (notice, text)
            assert "·" not in text
            # the team's: "[KIND] #1 ..."; the customer's: "Incident #1 ..." (no jargon)
            assert text.startswith(("[", "Incident #1 ")), text
            assert "#1 " in text or "#2 " in text, text
    assert texts["handover"] == [
        "[HANDED OVER] #1 L1 payments: Checkout - payments fail with 502 for card "
        "holders... Handed to liu.yang by wang.lei. Recovery due in 1h46m. "
        "incidentctl show 1"
    ]
    assert "approve 1" in texts["approval"][0]
    # the email carries the whole title, in its own script
    [initial_email] = [e for e in emails(smtp, "initial") if "#1 " in e]
    assert TITLE in initial_email


def test_times_in_the_policys_zone_with_the_zone_named(cli, tmp_path, servers):
    smtp, http = servers
    policy(tmp_path, smtp, http, 'timezone = "Asia/Shanghai"\n')
    text = (tmp_path / "sla.toml").read_text()
    # (a top-level key goes before the first table)
    (tmp_path / "sla.toml").write_text(
        'timezone = "Asia/Shanghai"\n' + text.replace('\ntimezone = "Asia/Shanghai"\n', "\n")
    )
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("escalate", now=at(1))
    [body] = emails(smtp, "initial")
    assert "Reported 2026-11-25 11:00 CST." in body
    assert "Response due in 9m (2026-11-25 11:10 CST)." in body


def test_utc_by_default_named_too(cli, tmp_path, servers):
    smtp, http = servers
    policy(tmp_path, smtp, http)
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("escalate", now=at(1))
    [body] = emails(smtp, "initial")
    assert "Reported 2026-11-25 03:00 UTC." in body


def test_durations_are_rounded_to_what_matters(cli, tmp_path, servers):
    smtp, http = servers
    policy(tmp_path, smtp, http)
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    # the first pass runs 6h16m8s later: the initial notice is late by 5h46m8s (within 30m)
    cli("escalate", now="2026-11-25T09:16:08Z", expect=None)
    [body] = emails(smtp, "initial")
    assert "This notice is late by 5h46m." in body
    assert "5h46m8s" not in body
    assert "Response overdue by 6h6m (due 2026-11-25 03:10 UTC)." in body


def test_the_email_says_what_was_reported_by_whom_and_what_to_run(cli, tmp_path, servers):
    smtp, http = servers
    policy(tmp_path, smtp, http)
    cli(
        "open", "Checkout fails", "--level", "1", "--service", "payments",
        "--details", "502 on /pay since 02:55\nabout 30% of requests",
        "--reporter", "Wang Fang", "--contact", "+86 138 0000 0099", "--channel", "hotline",
        now=T0,
    )  # fmt: skip
    cli("escalate", now=at(1))
    [body] = emails(smtp, "initial")
    assert "Details: 502 on /pay since 02:55 about 30% of requests" in body
    assert "Reported by Wang Fang (+86 138 0000 0099), via hotline." in body
    assert "Next: incidentctl ack 1" in body
    cli("ack", "1", now=at(2))
    cli("escalate", now=at(11), expect=None)  # nothing overdue: nothing sent
    cli("escalate", now=at(121), expect=None)
    [overdue] = emails(smtp, "overdue-recovery")
    assert "Next: incidentctl show 1" in overdue  # acknowledged: nothing to ack


def test_progress_updates_count_from_one_after_a_late_recording(cli, tmp_path, servers):
    smtp, http = servers
    policy(tmp_path, smtp, http)
    # recorded at 09:00 for a report made at 03:00: six progress marks have passed
    cli(
        "open", "Checkout fails", "--level", "2", "--service", "payments",
        "--at", "2026-11-25T03:00:00Z", now="2026-11-25T09:00:30Z",
    )  # fmt: skip
    cli("escalate", now="2026-11-25T09:01:00Z", expect=None)
    cli("escalate", now="2026-11-25T10:00:10Z", expect=None)
    bodies = emails(smtp, "progress")
    assert [re.findall(r"^Update \d+:", b, re.MULTILINE) for b in bodies] == [
        ["Update 1:"],  # (with the late initial notice, in one email)
        ["Update 2:"],
    ]
    assert bodies[0].startswith(
        "4 notices at once: new, response overdue, recovery overdue, progress."
    )


def test_a_late_recording_sends_one_message_per_person_and_channel(cli, tmp_path, servers):
    """Issue 12 item 6: the notices due at once for one incident to one recipient on one
    channel go as one message; each keeps its own delivery (and key), sent once."""
    smtp, http = servers
    policy(tmp_path, smtp, http)
    text = (tmp_path / "sla.toml").read_text()
    (tmp_path / "sla.toml").write_text(
        text + f'\n[transports.phone]\ntype = "webhook"\nurl = "{http.url("/phone")}"\n'
    )
    cli(
        "open", "Checkout fails", "--level", "1", "--service", "payments",
        "--at", "2026-11-25T03:00:00Z", now="2026-11-25T06:00:00Z",
    )  # fmt: skip
    document = cli.json("escalate", now="2026-11-25T06:00:30Z")
    due = ["initial", "overdue-response", "overdue-recovery", "progress"]
    # the email: one, to the owner, its Cc everyone any of the four copies
    [(rcpt, mail)] = smtp.messages
    assert mail["To"] == "chen.jie@example.com"
    assert mail["Cc"] == "om-team@example.com, li.wei@example.com"
    assert mail["X-Incidentctl-Notice"] == "+".join(due)
    body = mail.get_payload(decode=True).decode()
    assert body.startswith("4 notices at once: new, response overdue, recovery overdue, progress.")
    assert "Update 1:" in body  # not "Update 3"
    # one SMS to the owner, one call to the R&D leader
    [sms] = http.bodies("/sms")
    assert (sms["to"], sms["notice"]) == ("+8613800000001", "+".join(due))
    assert sms["text"].startswith("[NEW + OVERDUE response + OVERDUE recovery + PROGRESS] #1 ")
    assert len(sms["text"]) <= 160
    [call] = http.bodies("/phone")
    assert (call["to"], call["notice"]) == (
        "+8613800000004",
        "initial+overdue-response+overdue-recovery",
    )
    # each notice has its own delivery, sent once, and the provider saw every key
    shown = cli.json("show", "1", now="2026-11-25T06:01:00Z")
    rows = sorted((d["notice"], d["channel"], d["status"]) for d in shown["deliveries"])
    assert rows == sorted(
        [(n, "email", "sent") for n in due]
        + [(n, "sms", "sent") for n in due]
        + [(n, "phone", "sent") for n in due[:3]]
    )
    assert len(document["deliveries"]) == len(rows) == 11
    assert sms["key"].count("incidentctl:1:") == 4
    cli("escalate", now="2026-11-25T06:02:00Z")
    assert len(smtp.messages) == 1 and len(http.bodies()) == 2  # nothing twice
