"""``intake email``: real message files piped in become incidents; replies become notes
or acknowledgements; the same message twice opens nothing twice; hostile and malformed
messages are refused or shown literally."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_escalate import at, write_policy
from test_notify_transports import SmtpServer, smtp_running

MAIL = Path(__file__).parent / "data" / "mail"

ROUTING = """
[intake.email]
service = "web-portal"
level = 3
max_bytes = 4096

[[intake.email.rules]]
to = "payments-oncall@example.com"
service = "payments"
level = 1

[[intake.email.rules]]
keyword = "outage"
level = 2
"""


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with smtp_running() as server:
        yield server


@pytest.fixture
def routed(cli, tmp_path):
    """The shipped policy with intake rules (a 4 kB message limit), as ./sla.toml."""
    write_policy(tmp_path, extra=ROUTING)
    return cli


def take(cli, message: bytes | str, *args: str, now: str = at(0), expect: int = 0):
    data = message.encode() if isinstance(message, str) else message
    return cli("intake", "email", *args, "--json", input=data, now=now, expect=expect)


def mail(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def test_a_quoted_printable_message_becomes_an_incident_with_its_sender(routed):
    doc = take(routed, mail("quoted-printable.eml")).json
    assert doc["outcomes"] == [
        {
            "key": "email:<20261203095802.qp-1@client.example>",
            "action": "opened",
            "incident": 1,
            "title": "Le paiement échoue (erreur 502)",
            "follows": None,
        }
    ]
    shown = routed.json("show", "1")
    assert shown["title"] == "Le paiement échoue (erreur 502)"
    assert shown["details"] == (
        "Le paiement échoue : erreur 502 après la mise à jour de 10h.\n"
        "Merci de regarder — c'est urgent pour nos clients."
    )
    assert (shown["reporter"], shown["contact"]) == (
        "Claire Dubóis",
        "claire.dubois@client.example",
    )
    assert (shown["channel"], shown["service"], shown["level"]) == ("email", "web-portal", 3)


def test_multipart_takes_the_plain_part_and_lists_attachments_by_their_decoded_names(routed):
    take(routed, mail("multipart-attachment.eml"))
    shown = routed.json("show", "1")
    # Routed by its recipient: the payments rule.
    assert (shown["service"], shown["level"]) == ("payments", 1)
    assert shown["reporter"] == "Jürgen Müller"
    details = shown["details"]
    assert details.startswith("Die Anmeldung schlägt seit 09:12 fehl.\nFehler: 503")
    assert "HTML part" not in details  # the plain alternative is the one taken
    assert "Attachments (not stored):" in details
    assert "- Fehlerbericht Müller.pdf (application/pdf, 740 bytes)" in details
    assert "- screenshot.png (image/png, 70 bytes)" in details
    assert "JVBERi0" not in details  # (the attachment's base64 is not kept)


def test_an_html_only_message_is_turned_to_text_without_its_script_or_style(routed):
    take(routed, mail("html-only.eml"))
    shown = routed.json("show", "1")
    assert shown["title"] == "[Outage] Web portal unreachable from EU"
    assert shown["level"] == 2  # the "outage" keyword rule
    details = shown["details"]
    assert "Web portal unreachable" in details
    assert "Checks from Frankfurt and Paris fail since 07:55\xa0UTC." in details
    assert "Café & co: 100% packet loss." in details
    for hidden in ("alert(", "color: red", "ignored title", "<p>"):
        assert hidden not in details


def test_a_gb2312_message_with_crlf_line_ends_reads_as_chinese(routed):
    take(routed, mail("crlf-gb2312.eml"))
    shown = routed.json("show", "1")
    assert shown["title"] == "支付失败"
    assert shown["details"] == "支付失败，错误码 502。"


def test_a_recipient_given_by_the_mail_system_routes_the_message(routed):
    message = mail("quoted-printable.eml")
    take(routed, message, "--recipient", "Payments-Oncall@example.com")
    assert routed.json("show", "1")["service"] == "payments"


@pytest.mark.storage_contract
def test_the_same_message_delivered_twice_opens_one_incident(routed):
    first = take(routed, mail("quoted-printable.eml")).json
    again = take(routed, mail("quoted-printable.eml"), now=at(3)).json
    assert first["outcomes"][0]["action"] == "opened"
    assert again["outcomes"][0] == {**first["outcomes"][0], "action": "duplicate"}
    assert [i["id"] for i in routed.json("list")] == [1]
    # A message without a Message-ID is known by its bytes.
    bare = b"From: a@b.example\nSubject: no id\n\nbody\n"
    take(routed, bare, now=at(4))
    assert take(routed, bare, now=at(5)).json["outcomes"][0]["action"] == "duplicate"
    assert len(routed.json("list")) == 2


def reply(subject: str, body: str, *, sender: str, extra: str = "", message_id: str) -> str:
    return (
        f"From: {sender}\nTo: support@example.com\nSubject: {subject}\n"
        f"Message-ID: <{message_id}>\n{extra}\n{body}"
    )


def test_a_customer_reply_with_the_tag_is_a_customer_note_without_the_quoted_text(routed):
    take(routed, mail("quoted-printable.eml"))
    body = "It works again on our side.\n\nOn Thu, Support wrote:\n> the old text\n"
    doc = take(
        routed,
        reply(
            "Re: [#1] Le paiement",
            body,
            sender="Claire <claire.dubois@client.example>",
            message_id="r1@client.example",
        ),
        now=at(10),
    ).json
    assert doc["outcomes"][0]["action"] == "noted"
    notes = [e for e in routed.json("show", "1")["events"] if e["kind"] == "note"]
    assert [(n["data"]["kind"], n["data"]["text"]) for n in notes] == [
        (
            "customer",
            "Reply by email from Claire <claire.dubois@client.example>:\n"
            "It works again on our side.",
        )
    ]
    assert len(routed.json("list")) == 1  # a reply opens nothing


def test_a_known_persons_ack_reply_acknowledges_as_that_person(routed):
    take(routed, mail("quoted-printable.eml"))
    doc = take(
        routed,
        reply(
            "Re: [incidentctl] [#1] L3 web-portal: NEW - Le paiement",
            "ACK\nlooking at the gateway now\n> quoted",
            sender="Chen Jie <Chen.Jie@example.com>",
            message_id="r2@example.com",
        ),
        now=at(4),
    ).json
    assert doc["outcomes"][0]["action"] == "acknowledged"
    shown = routed.json("show", "1")
    assert shown["status"] == "acknowledged"
    assert shown["acknowledged_at"] == at(4)
    kinds = [(e["kind"], e["actor"]) for e in shown["events"]]
    assert ("acknowledged", "chen.jie") in kinds
    assert shown["events"][-1]["data"]["text"].endswith("looking at the gateway now")


def test_an_ack_from_a_stranger_or_a_forged_display_name_is_only_a_note(routed):
    take(routed, mail("quoted-printable.eml"))
    forged = "=?utf-8?q?Chen_Jie_=3Cchen=2Ejie=40example=2Ecom=3E?= <eve@evil.example>"
    doc = take(
        routed,
        reply("Re: [#1]", "ack", sender=forged, message_id="f1@evil.example"),
        now=at(4),
    ).json
    assert doc["outcomes"][0]["action"] == "noted"
    shown = routed.json("show", "1")
    assert shown["status"] == "open"
    assert shown["events"][-1]["data"]["kind"] == "customer"
    assert shown["events"][-1]["actor"] == "eve@evil.example"


def test_a_reply_to_a_notice_threads_by_in_reply_to(cli, tmp_path, smtp_server):
    write_policy(tmp_path, {"email": smtp_server.transport()})
    cli("open", "Checkout 502", "--level", "1", "--service", "payments", now=at(0))
    cli("escalate", now=at(1))
    sent = [m for _, m in smtp_server.messages]
    assert sent, "the initial notice was emailed"
    notice = sent[0]
    assert "[#1]" in notice["Subject"]
    message_id = notice["Message-ID"]
    assert message_id.startswith("<incidentctl.1.")
    doc = take(
        cli,
        reply(
            "Re: your message",  # no tag: the thread says which incident
            "On it.",
            sender="li.wei@example.com",
            message_id="t1@example.com",
            extra=f"In-Reply-To: {message_id}\nReferences: {message_id}\n",
        ),
        now=at(5),
    ).json
    assert doc["outcomes"][0] == {
        "key": "email:<t1@example.com>",
        "action": "noted",
        "incident": 1,
        "title": "Re: your message",
        "follows": None,
    }
    note = cli.json("show", "1")["events"][-1]
    assert (note["actor"], note["data"]["kind"]) == ("li.wei", "progress")


def test_a_reply_naming_an_unknown_incident_is_refused_and_records_nothing(routed):
    out = take(
        routed,
        reply("Re: [#99]", "hello", sender="a@b.example", message_id="u1@b.example"),
        expect=3,
    )
    assert "99" in out.stderr
    assert routed.json("list") == []


def test_a_customer_reply_resumes_a_pause_that_waits_for_the_customer(cli, tmp_path):
    from test_pauses import pausable_policy

    pausable_policy(tmp_path, extra=ROUTING)
    cli("open", "Card payments fail", "--level", "2", "--service", "payments", now=at(0))
    cli("pause", "1", "--reason", "awaiting-customer", now=at(10))
    take(
        cli,
        reply("Re: [#1]", "Here are the logs.", sender="c@client.example", message_id="p@c"),
        now=at(40),
    )
    shown = cli.json("show", "1")
    assert [e["kind"] for e in shown["events"]][-2:] == ["note", "resumed"]
    assert shown["paused_at"] is None


@pytest.mark.parametrize(
    ("message", "said"),
    [
        (b"", "no message on standard input"),
        (b"   \n\n", "no message on standard input"),
        (b"Subject: nobody sent this\n\nbody\n", "no From address"),
        (b"From: not an address\nSubject: x\n\nbody\n", "no From address"),
        (b"From: <>\nSubject: x\n\nbody\n", "no From address"),
        (b"\x00\xff\xfe binary garbage \x00" * 10, "no From address"),
    ],
)
def test_what_is_no_message_is_refused_with_exit_2_and_changes_nothing(routed, message, said):
    before = routed.snapshot()
    out = take(routed, message, expect=2)
    assert said in routed("intake", "email", input=message, expect=2).stderr
    assert json.loads(out.stderr)["error"] == "invalid_input"
    assert routed.snapshot() == before


def test_a_message_over_the_policys_limit_is_refused_and_changes_nothing(routed):
    huge = mail("quoted-printable.eml") + b"x" * 5000
    out = take(routed, huge, expect=2)
    assert "larger than 4,096 bytes" in out.stderr
    assert routed.json("list") == []


def test_an_encoded_subject_cannot_inject_headers_into_the_notices(cli, tmp_path, smtp_server):
    write_policy(
        tmp_path, {"email": smtp_server.transport()}, extra="\n[intake.email]\nlevel = 1\n"
    )
    evil = (
        "From: x@client.example\nTo: support@example.com\n"
        "Subject: =?utf-8?q?Help=0D=0ABcc:_victim@evil.example=0D=0A=0D=0Abody?=\n"
        "Message-ID: <inj@client.example>\n\nplease\n"
    )
    take(cli, evil)
    title = cli.json("show", "1")["title"]
    assert title == "Help Bcc: victim@evil.example body"
    cli("escalate", now=at(1))
    assert smtp_server.messages
    for recipients, message in smtp_server.messages:
        assert "victim@evil.example" not in recipients
        assert message["Bcc"] is None
        assert " ".join(message["Subject"].split()) == (
            "[incidentctl] [#1] L1 default: NEW - Help Bcc: victim@evil.example body"
        )


def test_terminal_escapes_in_a_subject_are_shown_literally(routed):
    message = (
        "From: x@client.example\nSubject: =?utf-8?q?Disk_=1B[31mRED=1B[0m_full?=\n"
        "Message-ID: <esc@client.example>\n\nbody\n"
    )
    out = routed("intake", "email", input=message.encode(), now=at(0))
    assert "\x1b" not in out.stdout
    assert "opened incident 1: Disk [31mRED [0m full" in out.stdout


def test_a_notices_message_id_is_the_same_at_every_attempt_and_names_its_incident():
    from incidentctl.notify.transports import REPLY_ID, Message, email_message

    message = Message(
        channel="email",
        to="chen.jie@example.com",
        cc=(),
        subject="[incidentctl] [#7] L1 payments: NEW - Checkout 502",
        text="…",
        incident=7,
        notice="initial",
        key="incidentctl:7:initial:0:email:chen.jie",
    )
    first = email_message("incidentctl@ops.example", message)["Message-ID"]
    again = email_message("incidentctl@ops.example", message)["Message-ID"]
    other = email_message("incidentctl@ops.example", Message(**{**message.__dict__, "key": "k2"}))[
        "Message-ID"
    ]
    assert first == again != other
    assert first.endswith("@ops.example>")
    found = REPLY_ID.search(first)
    assert found is not None and found[1] == "7"


def test_a_display_name_that_is_a_policy_name_is_not_taken_as_the_reporter(routed):
    message = (
        'From: "chen.jie" <eve@evil.example>\nSubject: please call me\n'
        "Message-ID: <dn@evil.example>\n\nhello\n"
    )
    take(routed, message)
    shown = routed.json("show", "1")
    assert (shown["reporter"], shown["contact"]) == ("eve@evil.example", "eve@evil.example")
    out = routed("note", "1", "we are on it", "--kind", "customer-update", "--send", now=at(2))
    assert "eve@evil.example" in out.stdout + out.stderr


@pytest.mark.parametrize(
    "header",
    [
        "X-Incidentctl-Key: incidentctl:1:initial:0:email:om-team",
        "Auto-Submitted: auto-replied",
    ],
)
def test_our_own_notices_and_auto_replies_are_ignored_so_nothing_loops(routed, header):
    take(routed, mail("quoted-printable.eml"))
    message = (
        f"From: om-team@example.com\nSubject: Re: [#1] Le paiement\n{header}\n"
        "Message-ID: <loop@example.com>\n\nOut of office\n"
    )
    doc = take(routed, message, now=at(3)).json
    assert doc["outcomes"][0]["action"] == "ignored"
    assert [e["kind"] for e in routed.json("show", "1")["events"]] == ["opened"]


def test_a_nul_in_a_body_is_stored_as_a_replacement_character(routed):
    take(routed, b"From: a@b.example\nSubject: nul\nMessage-ID: <n@b>\n\nbefore\x00after\n")
    assert routed.json("show", "1")["details"] == "before\ufffdafter"
