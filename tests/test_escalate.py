"""escalate and watch through the real CLI, on SQLite and PostgreSQL, against real servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from test_notify_transports import (
    HttpServer,
    SmtpServer,
    calls,
    free_port,
    http_running,
    recorder,
    silent_listener,
    smtp_running,
)

T0 = "2026-11-25T03:00:00Z"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with smtp_running() as server:
        yield server


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    with http_running() as server:
        yield server


@pytest.fixture
def silent_port() -> Iterator[int]:
    with silent_listener() as port:
        yield port


def at(minutes: float) -> str:
    from datetime import datetime, timedelta

    moment = datetime.fromisoformat(T0.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_policy(
    tmp_path: Path, transports: dict[str, dict[str, Any]] | None = None, extra: str = ""
) -> Path:
    """The shipped policy plus the given transports, as ./sla.toml."""
    text = resources.files("incidentctl").joinpath("sla.toml").read_text()
    for channel, table in (transports or {}).items():
        text += f"\n[transports.{channel}]\n"
        for key, value in table.items():
            text += f"{key} = {json.dumps(value)}\n"
    text += extra
    path = tmp_path / "sla.toml"
    path.write_text(text)
    return path


def escalate(cli, minutes: float, expect: int | None = 0) -> dict[str, Any]:
    out = cli("escalate", "--json", now=at(minutes), expect=expect)
    return json.loads(out.stdout)


def summary(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (d["incident"], d["notice"], d["channel"], d["status"]) for d in document["deliveries"]
    )


def test_level1_history_reaches_real_smtp_http_and_a_program(
    cli, tmp_path, smtp_server, http_server
):
    argv, log = recorder(tmp_path)
    write_policy(
        tmp_path,
        {
            "email": smtp_server.transport(),
            "sms": {"type": "webhook", "url": http_server.url("/sms"), "timeout": "3s"},
            "phone": {"type": "command", "argv": argv},
        },
    )
    cli("open", "Checkout fails with 502", "--level", "1", "--service", "payments", now=at(0))

    first = escalate(cli, 0.5)
    assert summary(first) == [
        (1, "initial", "email", "sent"),
        (1, "initial", "phone", "sent"),
        (1, "initial", "sms", "sent"),
    ]
    assert (first["sent"], first["failed"], first["now"]) == (3, 0, at(0.5))
    email = next(d for d in first["deliveries"] if d["channel"] == "email")
    assert (email["to"], email["cc"]) == ("chen.jie@example.com", ["om-team@example.com"])
    assert escalate(cli, 1)["deliveries"] == []  # nothing twice

    overdue = escalate(cli, 11)  # the 10m response target is missed
    assert summary(overdue) == [
        (1, "overdue-response", c, "sent") for c in ("email", "phone", "sms")
    ]
    cli("note", "1", "Rolled back release 3.2.1", now=at(40))
    cli("ack", "1", now=at(50))
    progress = escalate(cli, 61)
    assert summary(progress) == [(1, "progress", "email", "sent"), (1, "progress", "sms", "sent")]
    cli("recover", "1", now=at(90))
    assert summary(escalate(cli, 91)) == [
        (1, "rectification", "email", "sent"),
        (1, "rectification", "sms", "sent"),
    ]
    assert escalate(cli, 200)["deliveries"] == []  # recovered: no progress, no more overdue

    got = [
        (m["X-Incidentctl-Notice"], m["X-Incidentctl-Incident"], m["To"], m["Cc"], rcpts)
        for rcpts, m in smtp_server.messages
    ]
    assert got == [
        (
            "initial",
            "1",
            "chen.jie@example.com",
            "om-team@example.com",
            ["chen.jie@example.com", "om-team@example.com"],
        ),
        (
            "overdue-response",
            "1",
            "chen.jie@example.com",
            "om-team@example.com, li.wei@example.com",
            ["chen.jie@example.com", "om-team@example.com", "li.wei@example.com"],
        ),
        (
            "progress",
            "1",
            "chen.jie@example.com",
            "om-team@example.com",
            ["chen.jie@example.com", "om-team@example.com"],
        ),
        (
            "rectification",
            "1",
            "chen.jie@example.com",
            "om-team@example.com",
            ["chen.jie@example.com", "om-team@example.com"],
        ),
    ]
    progress_text = smtp_server.messages[2][1].get_payload(decode=True).decode()
    assert "Rolled back release 3.2.1" in progress_text and "#1" in progress_text
    sms = http_server.bodies("/sms")
    assert [(b["notice"], b["to"], b["incident"]) for b in sms] == [
        (n, "+8613800000001", 1)
        for n in ("initial", "overdue-response", "progress", "rectification")
    ]
    assert all(b["key"].startswith("incidentctl:1:") and b["text"] for b in sms)
    phone = calls(log)
    assert [(c["env"]["INCIDENTCTL_NOTICE"], c["env"]["INCIDENTCTL_TO"]) for c in phone] == [
        ("initial", "+8613800000004"),
        ("overdue-response", "+8613800000004"),
    ]
    assert "Checkout fails with 502" in phone[0]["stdin"]

    shown = cli.json("show", "1", now=at(200))
    assert len(shown["deliveries"]) == 10
    assert {d["status"] for d in shown["deliveries"]} == {"sent"}
    assert {
        "notice",
        "sequence",
        "channel",
        "recipient",
        "status",
        "sent_at",
        "next_attempt_at",
        "error",
    } <= set(shown["deliveries"][0])
    assert [e["data"]["notice"] for e in shown["events"] if e["kind"] == "notified"] == [
        "initial",
        "overdue-response",
        "progress",
        "rectification",
    ]
    # the human view names each notice one way, in the timeline and the deliveries
    human = cli("show", "1", now=at(200)).stdout
    timeline, deliveries = human.split("Deliveries")
    for notice in ("initial #0", "overdue-response #0", "progress #1", "rectification #0"):
        assert notice in timeline and notice in deliveries, notice


def test_level3_sends_nothing_and_level2_relevelled_to_1_gets_its_initial(cli, tmp_path):
    cli("open", "Slow report page", "--level", "3", "--service", "web-portal", now=at(0))
    cli("open", "Some cards declined", "--level", "2", "--service", "payments", now=at(0))
    first = escalate(cli, 1)
    assert summary(first) == [(2, "initial", c, "printed") for c in ("email", "phone", "sms")]
    cli("ack", "2", now=at(2))
    cli("relevel", "2", "--level", "1", "--reason", "all card payments failing", now=at(5))
    again = escalate(cli, 5.5)
    assert summary(again) == [(2, "initial", c, "printed") for c in ("email", "phone", "sms")]
    shown = cli.json("show", "2", now=at(6))
    assert sorted({(d["notice"], d["sequence"]) for d in shown["deliveries"]}) == [
        ("initial", 0),
        ("initial", 1),
    ]
    assert cli.json("show", "1", now=at(6))["deliveries"] == []


def test_print_transport_human_output_and_dry_run_records_nothing(cli, tmp_path):
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=at(0))
    before = cli.snapshot()
    dry = cli("escalate", "--dry-run", "--json", now=at(1)).json
    assert summary(dry) == [(1, "initial", c, "due") for c in ("email", "phone", "sms")]
    assert cli.snapshot() == before
    human = cli("escalate", now=at(1)).stdout
    assert "Checkout fails" in human and "--- sms to +8613800000001" in human
    assert "3 sent" in human
    assert cli("escalate", now=at(2)).stdout.strip() == "Nothing due."


def test_smtp_451_then_250_one_message_on_a_later_run(cli, tmp_path, smtp_server):
    write_policy(tmp_path, {"email": smtp_server.transport()})
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=at(0))
    smtp_server.replies = ["451 4.3.0 greylisted"]
    first = cli("escalate", "--json", now=at(0.5), expect=6)
    email = next(d for d in first.json["deliveries"] if d["channel"] == "email")
    assert email["status"] == "retry" and "451" in email["error"]
    assert first.json["failed"] == 1
    assert json.loads(first.stderr.splitlines()[-1])["error"] == "delivery"
    assert escalate(cli, 1)["deliveries"] == []  # not before its retry time (1m)
    assert summary(escalate(cli, 1.6)) == [(1, "initial", "email", "sent")]
    assert len(smtp_server.messages) == 1
    [delivery] = [
        d for d in cli.json("show", "1", now=at(2))["deliveries"] if d["channel"] == "email"
    ]
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)


def test_smtp_550_fails_for_good_and_is_not_retried(cli, tmp_path, smtp_server):
    write_policy(tmp_path, {"email": smtp_server.transport()})
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=at(0))
    smtp_server.replies = ["550 5.1.1 mailbox unavailable"]
    first = cli("escalate", "--json", now=at(0.5), expect=6).json
    cli("ack", "1", now=at(1))
    assert [
        (d["status"], "550" in d["error"]) for d in first["deliveries"] if d["channel"] == "email"
    ] == [("failed", True)]
    later = escalate(cli, 60)["deliveries"]  # progress #1 goes out; initial is not retried
    assert [(d["notice"], d["channel"]) for d in later if d["channel"] == "email"] == [
        ("progress", "email")
    ]
    assert [m["X-Incidentctl-Notice"] for _, m in smtp_server.messages] == ["progress"]
    [initial] = [
        d
        for d in cli.json("show", "1", now=at(61))["deliveries"]
        if d["channel"] == "email" and d["notice"] == "initial"
    ]
    assert (initial["status"], initial["attempts"], initial["next_attempt_at"]) == (
        "failed",
        1,
        None,
    )


def test_webhook_500_then_200_retried_and_accepted_once(cli, tmp_path, http_server):
    write_policy(tmp_path, {"sms": {"type": "webhook", "url": http_server.url("/sms")}})
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=at(0))
    http_server.statuses = [500]
    first = cli("escalate", "--json", now=at(0.5), expect=6).json
    assert [d["status"] for d in first["deliveries"] if d["channel"] == "sms"] == ["retry"]
    assert [d["status"] for d in escalate(cli, 2)["deliveries"]] == ["sent"]
    assert escalate(cli, 10)["deliveries"] == []
    assert [b["notice"] for b in http_server.bodies("/sms")] == ["initial"]


def test_down_or_hung_servers_end_within_the_timeout_and_lose_nothing(
    cli, tmp_path, silent_port, http_server, smtp_server
):
    write_policy(
        tmp_path,
        {
            "email": {**smtp_server.transport(), "port": free_port(), "timeout": "1s"},
            "sms": {
                "type": "webhook",
                "url": f"http://127.0.0.1:{silent_port}/sms",
                "timeout": "1s",
            },
        },
    )
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=at(0))
    started = time.monotonic()
    first = cli("escalate", "--json", now=at(0.5), expect=6).json
    assert time.monotonic() - started < 10
    assert sorted((d["channel"], d["status"]) for d in first["deliveries"]) == [
        ("email", "retry"),
        ("phone", "printed"),
        ("sms", "retry"),
    ]
    write_policy(
        tmp_path,
        {
            "email": smtp_server.transport(),
            "sms": {"type": "webhook", "url": http_server.url("/sms")},
        },
    )
    assert summary(escalate(cli, 2)) == [
        (1, "initial", "email", "sent"),
        (1, "initial", "sms", "sent"),
    ]
    assert len(smtp_server.messages) == 1 and len(http_server.bodies("/sms")) == 1


def test_retries_back_off_and_give_up_after_max_attempts(cli, tmp_path):
    write_policy(
        tmp_path,
        {"sms": {"type": "webhook", "url": f"http://127.0.0.1:{free_port()}/", "timeout": "1s"}},
        extra="",
    )
    text = (tmp_path / "sla.toml").read_text().replace("max_attempts = 10", "max_attempts = 3")
    (tmp_path / "sla.toml").write_text(text)
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=at(0))
    escalate(cli, 0, expect=6)  # attempt 1; next after 1m
    assert escalate(cli, 0.9)["deliveries"] == []
    assert [d["status"] for d in escalate(cli, 1, expect=6)["deliveries"]] == ["retry"]
    assert escalate(cli, 2.9)["deliveries"] == []  # then after 2m
    last = escalate(cli, 3, expect=6)["deliveries"]
    assert [d["status"] for d in last] == ["failed"] and "gave up after 3" in last[0]["error"]
    assert escalate(cli, 20)["deliveries"] == []  # given up: never tried again


def test_a_recipient_without_an_address_is_reported_by_policy_check_and_fails(cli, tmp_path):
    path = write_policy(tmp_path)
    text = path.read_text().replace('phone = "+8613800000004"\n', "", 1)  # li.wei's phone
    path.write_text(text)
    out = cli("policy", "check", "--json", expect=5).json
    assert any("li.wei" in p and "phone" in p for p in out["problems"])
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=at(0))
    run = cli("escalate", "--json", now=at(1), expect=6).json
    assert [
        (d["channel"], d["status"], d["error"])
        for d in run["deliveries"]
        if d["status"] == "failed"
    ] == [("phone", "failed", "no phone number for li.wei")]


def test_watch_once_json(cli):
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=at(0))
    out = cli("watch", "--once", "--json", now=at(1))
    document = json.loads(out.stdout.strip())
    assert summary(document) == [(1, "initial", c, "printed") for c in ("email", "phone", "sms")]
    assert cli("watch", "--interval", "soon", now=at(1), expect=2)


# --------------------------------------------------------------------------- processes


def _env(db: str, tmp_path: Path, now: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTCTL_")}
    env.update(
        INCIDENTCTL_DB=db,
        INCIDENTCTL_CONFIG=str(tmp_path / "sla.toml"),
        INCIDENTCTL_NOW=now,
        INCIDENTCTL_USER="tester",
        NO_COLOR="1",
    )
    return env


INCIDENTCTL = [sys.executable, "-m", "incidentctl"]


@pytest.mark.storage_contract
def test_two_escalate_processes_send_every_delivery_exactly_once(
    cli, db_url, tmp_path, http_server
):
    hook = {"type": "webhook", "url": http_server.url("/n"), "timeout": "5s"}
    write_policy(tmp_path, {"email": hook, "sms": hook, "phone": hook})
    open_many(db_url, tmp_path, 200)
    env = _env(cli.db, tmp_path, at(1))
    runs = [
        subprocess.Popen(
            [*INCIDENTCTL, "escalate", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    documents = [json.loads(out) for out, _ in outputs]
    keys = [b["key"] for b in http_server.bodies()]
    assert len(keys) == 600 and len(set(keys)) == 600
    assert sum(d["sent"] for d in documents) == 600


def open_many(db_url: str, tmp_path: Path, count: int) -> None:
    """Record ``count`` Level-2 incidents quickly through the core (one process)."""
    from datetime import datetime

    from incidentctl.runtime import Runtime
    from incidentctl.services import handling

    env = _env(db_url, tmp_path, T0)
    rt = Runtime(db_option=db_url, config_option=tmp_path / "sla.toml", environ=env)
    rt.__dict__["now"] = datetime.fromisoformat(T0.replace("Z", "+00:00"))
    try:
        for n in range(count):
            handling.open_incident(rt, title=f"incident {n}", level=2, service="payments")
    finally:
        rt.close()


def test_watch_stops_on_sigterm_within_two_seconds(cli, db_url, tmp_path):
    write_policy(tmp_path)
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=at(0))
    env = _env(cli.db, tmp_path, at(1))
    watch = subprocess.Popen(
        [*INCIDENTCTL, "watch", "--interval", "1h"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        seen = ""
        while "printed" not in seen and time.monotonic() < deadline:
            line = watch.stdout.readline()  # type: ignore[union-attr]
            seen += line
        assert "printed  #1 initial" in seen
        time.sleep(0.3)
        stopped = time.monotonic()
        watch.send_signal(signal.SIGTERM)
        watch.wait(timeout=5)
        assert time.monotonic() - stopped < 2
        assert watch.returncode == 0
    finally:
        if watch.poll() is None:
            watch.kill()


def test_open_incidents_from_before_schema_0002_are_notified_after_the_upgrade(
    tmp_path, monkeypatch
):
    import sqlite3

    from incidentctl.store import migrate
    from incidentctl.store.engine import Database

    path = tmp_path / "old.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db, "0001")
    db.dispose()
    with sqlite3.connect(path) as conn:
        stamp = "2026-11-25 03:00:00.000000"
        for n, (level, closed) in enumerate([(1, None), (1, stamp), (3, None)], start=1):
            conn.execute(
                "INSERT INTO incidents (id, title, service, level, opened_level, channel, team, "
                "status, occurred_at, reported_at, closed_at, updated_at, response_due_at, "
                "recovery_due_at, resolution_due_at) VALUES "
                "(?, 'old', 'payments', ?, ?, 'other', 'om', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    n,
                    level,
                    level,
                    "closed" if closed else "open",
                    stamp,
                    stamp,
                    closed,
                    stamp,
                    "2026-11-25 03:10:00.000000",
                    "2026-11-25 05:00:00.000000",
                    "2026-12-02 03:00:00.000000",
                ),
            )
    from conftest import Cli

    cli = Cli(str(path), monkeypatch)
    assert summary(escalate(cli, 1)) == [
        (1, "initial", c, "printed") for c in ("email", "phone", "sms")
    ]
    assert escalate(cli, 2)["deliveries"] == []


@pytest.mark.storage_contract
def test_watch_stopped_mid_send_gives_back_its_claim(
    cli, db_url, tmp_path, silent_port, http_server
):
    write_policy(
        tmp_path,
        {"sms": {"type": "webhook", "url": f"http://127.0.0.1:{silent_port}/", "timeout": "30s"}},
    )
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=at(0))
    env = _env(cli.db, tmp_path, at(1))
    watch = subprocess.Popen(
        [*INCIDENTCTL, "watch"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = ""
        while "printed  #1 initial email" not in line:
            line = watch.stdout.readline()  # type: ignore[union-attr]
            assert line or watch.poll() is None
        time.sleep(0.5)  # now waiting on the silent server for the sms
        stopped = time.monotonic()
        watch.send_signal(signal.SIGTERM)
        watch.wait(timeout=10)
        assert time.monotonic() - stopped < 2 and watch.returncode == 0
    finally:
        if watch.poll() is None:
            watch.kill()
    # Given back at once, with the phone call it had not reached: the next pass, at the
    # same moment, sends both.
    write_policy(tmp_path, {"sms": {"type": "webhook", "url": http_server.url("/sms")}})
    assert summary(escalate(cli, 1)) == [
        (1, "initial", "phone", "printed"),
        (1, "initial", "sms", "sent"),
    ]
    assert [b["notice"] for b in http_server.bodies("/sms")] == ["initial"]


def test_messages_read_well_and_say_how_late_or_overdue(cli):
    cli(
        "open",
        "Checkout\x1b[31m fails",
        "--level",
        "1",
        "--service",
        "payments",
        "--at",
        at(0),
        now=at(45),
    )
    text = cli("escalate", now=at(45)).stdout
    initial = text.split("--- email to chen.jie@example.com\n", 1)[1].split("\n---", 1)[0]
    lines = initial.splitlines()
    # (the late initial notice and the overdue one are due at once: one email)
    assert lines[1] == "2 notices at once: new, response overdue."
    start = lines.index("[NEW] Incident #1 L1 Major · payments")
    assert lines[start + 1 : start + 3] == [
        "Checkout [31m fails",  # no control byte reaches a phone or a terminal
        "Reported 2026-11-25 03:00 UTC.",
    ]
    sms = text.split("--- sms to +8613800000001\n", 1)[1].splitlines()[0]
    assert sms == (
        "[NEW + OVERDUE response] #1 L1 payments: Checkout [31m fails. Response overdue 35m. "
        "incidentctl ack 1"
    )
    assert "This notice is late by 15m." in initial
    assert "Response overdue by 35m (due 2026-11-25 03:10 UTC)." in initial
    assert "Response overdue by 35m: was due 2026-11-25 03:10 UTC (10m target)." in text


def test_watch_outlives_a_locked_database_and_sends_once_it_is_free(tmp_path, monkeypatch):
    import sqlite3

    from conftest import Cli

    path = tmp_path / "watched.db"
    cli = Cli(str(path), monkeypatch)
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=at(0))
    write_policy(tmp_path)
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    env = {**_env(str(path), tmp_path, at(1)), "INCIDENTCTL_BUSY_TIMEOUT_MS": "300"}
    watch = subprocess.Popen(
        [*INCIDENTCTL, "watch", "--interval", "1s"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        complaint = watch.stderr.readline()  # type: ignore[union-attr]
        assert "locked" in complaint, complaint
        assert watch.poll() is None  # still watching
        lock.execute("ROLLBACK")
        lines = [watch.stdout.readline() for _ in range(10)]  # type: ignore[union-attr]
        assert "printed  #1 initial email chen.jie@example.com (cc om-team@example.com)\n" in lines
        watch.send_signal(signal.SIGTERM)
        watch.wait(timeout=10)
        assert watch.returncode == 0
    finally:
        lock.close()
        if watch.poll() is None:
            watch.kill()


def test_assignee_reporter_and_managers_as_recipients(cli, tmp_path):
    path = write_policy(tmp_path)
    text = path.read_text().replace(
        'sms = ["service_owner"]\nemail = { to = ["service_owner"], cc = ["om_team"] }\n'
        'phone = ["rd_leader"]',
        'sms = ["assignee", "reporter"]\n'
        'email = { to = ["reporter"], cc = ["incident_managers", "reporter"] }\n'
        'phone = ["rd_leader"]',
        1,
    )
    path.write_text(text)
    assert cli.json("policy", "check")["ok"] is True  # resolved per incident, not here
    cli(
        "open",
        "Checkout fails",
        "--level",
        "1",
        "--service",
        "payments",
        "--assignee",
        "wang.fang",
        "--reporter",
        "Ann Lee",
        "--contact",
        "ann@example.org",
        now=at(0),
    )
    run = escalate(cli, 1, expect=6)
    got = sorted(
        (d["channel"], d["to"], tuple(d["cc"]), d["status"], d["error"]) for d in run["deliveries"]
    )
    assert got == [
        ("email", "ann@example.org", ("zhang.min@example.com",), "printed", None),
        ("phone", "+8613800000004", (), "printed", None),
        ("sms", "+8613800000006", (), "printed", None),
        # the reporter left an email address, not a phone number
        ("sms", "Ann Lee", (), "failed", "no phone number for Ann Lee"),
    ]


@pytest.mark.storage_contract
def test_a_claim_of_a_process_that_died_runs_out_and_is_sent_once(cli, tmp_path):
    from datetime import datetime, timedelta

    from incidentctl.config import builtin_policy
    from incidentctl.services import escalation
    from incidentctl.store import repository
    from incidentctl.store.engine import Database, database_url

    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=at(0))
    db = Database(database_url(cli.db, {}))
    now = datetime.fromisoformat(at(1).replace("Z", "+00:00"))
    try:
        with db.write() as session:  # a pass that records and claims, then dies
            escalation.plan(session, builtin_policy(), now=now)
        with db.write() as session:
            claimed = repository.lease_deliveries_due(
                session, owner="dead", now=now, until=now + timedelta(minutes=5), limit=1
            )
    finally:
        db.dispose()
    assert [c.channel for c in claimed] == ["email"]
    first = escalate(cli, 2)  # the other two go; the claimed one waits for its lease
    assert sorted(d["channel"] for d in first["deliveries"]) == ["phone", "sms"]
    assert escalate(cli, 5.9)["deliveries"] == []
    assert summary(escalate(cli, 6)) == [(1, "initial", "email", "printed")]
    assert escalate(cli, 7)["deliveries"] == []
