"""``incidentctl serve``: the intake inputs over real HTTP on loopback, with its token,
its limits and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from serving import TOKEN, serving
from test_e2e import incidentctl_executable
from test_escalate import write_policy
from test_intake_alert import am_alert, webhook

MAIL = Path(__file__).parent / "data" / "mail"


@pytest.fixture
def served(cli, tmp_path):
    write_policy(tmp_path, extra="\n[intake.alert]\nmax_bytes = 4096\n")
    with serving(cli.db, tmp_path) as server:
        yield server


def test_alerts_over_http_open_repeat_and_recover(cli, served):
    status, doc = served.post("/intake/alert", webhook(am_alert("h1")).encode())
    assert (status, [(o["action"], o["incident"]) for o in doc["outcomes"]]) == (
        200,
        [("opened", 1)],
    )
    status, doc = served.post("/intake/alert", webhook(am_alert("h1")).encode())
    assert (status, doc["counts"]) == (200, {"repeat": 1})
    resolved = am_alert("h1", status="resolved", ends="2026-01-01T00:00:00Z")
    status, doc = served.post("/intake/alert", webhook(resolved).encode())
    assert (status, doc["counts"]) == (200, {"recovered": 1})
    assert [i["status"] for i in cli.json("list")] == ["recovered"]


def test_an_email_over_http_opens_an_incident_routed_by_its_recipient(cli, served):
    message = (MAIL / "quoted-printable.eml").read_bytes()
    status, doc = served.post("/intake/email?recipient=x@example.com", message)
    assert (status, doc["outcomes"][0]["action"]) == (200, "opened")
    assert cli.json("show", "1")["title"] == "Le paiement échoue (erreur 502)"
    status, doc = served.post("/intake/email", message)
    assert doc["outcomes"][0]["action"] == "duplicate"


def test_an_sms_ack_from_a_known_number_acknowledges_as_that_person(cli, served):
    served.post("/intake/alert", json.dumps({"key": "k", "title": "Disk full"}).encode())
    form = {"From": "+8613800000001", "Body": "ACK 1"}  # chen.jie's phone, as Twilio posts
    status, doc = served.post(
        "/intake/sms",
        urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (status, doc["action"], doc["by"]) == (200, "acknowledged", "chen.jie")
    shown = cli.json("show", "1")
    assert shown["status"] == "acknowledged"
    assert [e["actor"] for e in shown["events"] if e["kind"] == "acknowledged"] == ["chen.jie"]
    # Again: already acknowledged, a conflict (409) that says by whom.
    status, doc = served.post(
        "/intake/sms",
        json.dumps({"from": "+8613800000001", "text": "ack 1"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 409
    assert "already acknowledged by chen.jie" in doc["message"]


def test_sms_from_strangers_or_not_understood_is_refused(cli, served):
    served.post("/intake/alert", json.dumps({"key": "k", "title": "Disk full"}).encode())
    json_sms = {"Content-Type": "application/json"}
    status, doc = served.post(
        "/intake/sms",
        json.dumps({"from": "+15550000000", "text": "ACK 1"}).encode(),
        headers=json_sms,
    )
    assert (status, doc["error"]) == (403, "unknown_sender")
    status, doc = served.post(
        "/intake/sms",
        json.dumps({"from": "+8613800000001", "text": "on it"}).encode(),
        headers=json_sms,
    )
    assert (status, doc["message"]) == (422, "send ACK <incident id>, e.g. ACK 42")
    status, doc = served.post(
        "/intake/sms",
        json.dumps({"from": "+8613800000001", "text": "ACK 99"}).encode(),
        headers=json_sms,
    )
    assert status == 404
    assert cli.json("show", "1")["status"] == "open"


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
def test_without_the_token_nothing_is_taken(cli, served, token):
    status, doc = served.post(
        "/intake/alert", json.dumps({"key": "k", "title": "t"}).encode(), token=token
    )
    assert (status, doc["error"]) == (401, "unauthorized")
    assert cli.json("list") == []


def test_a_body_over_the_limit_or_bad_json_is_refused_and_changes_nothing(cli, served):
    big = webhook(*[am_alert(f"f{i}") for i in range(10)]).encode()
    status, doc = served.post("/intake/alert", big)
    assert (status, doc["error"]) == (413, "too_large")
    status, doc = served.post("/intake/alert", b"{not json")
    assert (status, doc["error"]) == (400, "invalid_input")
    assert cli.json("list") == []


def test_sigterm_stops_it_promptly_and_cleanly(cli, served):
    served.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert served.process.wait(timeout=10) == 0
    assert time.monotonic() - started < 10


def test_it_refuses_to_start_without_a_token(cli, tmp_path):
    env = {"INCIDENTCTL_DB": cli.db, "INCIDENTCTL_SERVE_TOKEN": "", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [*incidentctl_executable(), "serve", "--listen", "127.0.0.1:1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 5
    assert "INCIDENTCTL_SERVE_TOKEN is not set" in done.stderr
    bad = cli("serve", "--listen", "localhost", expect=2)
    assert "write HOST:PORT" in bad.stderr
