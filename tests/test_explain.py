"""``sla explain``: a clock's due time as arithmetic a person can check. The steps'
counted time adds up to the target at the due, in every case below."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from importlib import resources

import pytest

from test_sla_clocks import CALENDAR

T0 = "2026-11-25T03:00:00Z"
FRIDAY_17_BERLIN = "2026-11-27T16:00:00Z"


def at(minutes: float, start: str = T0) -> str:
    moment = datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def policy(tmp_path, *, level1: str = "", level2: str = "", top: str = "", extra: str = ""):
    """The shipped policy with keys added to Levels 1 and 2; written as ./sla.toml."""
    text = resources.files("incidentctl").joinpath("sla.toml").read_text()
    text = text.replace("[levels.1]\n", f"[levels.1]\n{level1}", 1)
    text = text.replace("[levels.2]\n", f"[levels.2]\n{level2}", 1)
    if top:
        text = text.replace('relevel = "keep-start"\n', top, 1)
    (tmp_path / "sla.toml").write_text(text + extra)


OFFICE = CALENDAR  # office hours in Berlin, Monday to Friday (holidays at Christmas)


def opened(cli, level: int, now: str = T0) -> int:
    doc = cli.json("open", "Card payments fail", "--level", str(level), "-s", "payments", now=now)
    return doc["id"]


def explained(cli, n: int, clock: str, now: str) -> dict:
    doc = cli.json("sla", "explain", str(n), "--clock", clock, now=now)
    assert doc["id"] == n
    [one] = doc["clocks"]
    assert one["clock"] == clock
    return one


def assert_adds_up(clock: dict) -> None:
    """The counted steps sum to the target and end at the due; each total is the sum so
    far; the due step's total is the target."""
    steps = clock["steps"]
    total = 0
    for step in steps:
        total += step["counted"]
        assert step["total"] == total, step
        if step["kind"] == "counted":
            start = datetime.fromisoformat(step["from"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(step["to"].replace("Z", "+00:00"))
            assert (end - start).total_seconds() == step["counted"], step
        else:
            assert step["counted"] == 0, step
    spans = [s for s in steps if s["kind"] in ("counted", "closed", "paused")]
    assert spans[0]["from"] == clock["counted_from"]
    for before, after in zip(spans, spans[1:], strict=False):
        assert before["to"] == after["from"], (before, after)  # no gap, no overlap
    if clock["due_at"] is not None:
        [due] = [s for s in steps if s["kind"] == "due"]
        assert due["from"] == clock["due_at"] == spans[-1]["to"]
        assert due["total"] == clock["target"] == clock["counted"]
        assert spans[-1]["kind"] == "counted"


def kinds(clock: dict) -> list[str]:
    return [s["kind"] for s in clock["steps"]]


@pytest.mark.storage_contract
def test_a_24_7_clock_is_start_counted_due_and_its_verdict(cli):
    n = opened(cli, level=1)
    cli("ack", str(n), now=at(6), expect=0)
    clock = explained(cli, n, "response", now=at(30))
    assert_adds_up(clock)
    assert kinds(clock) == ["start", "counted", "due", "stopped", "verdict"]
    assert clock["steps"][0] == {
        "kind": "start",
        "from": T0,
        "to": T0,
        "counted": 0,
        "total": 0,
        "note": "reported",
    }
    assert clock["steps"][1] == {
        "kind": "counted",
        "from": T0,
        "to": at(10),
        "counted": 600,
        "total": 600,
        "note": "",
    }
    assert clock["steps"][3]["note"] == "acknowledged"
    assert clock["verdict"] == {"state": "met", "spare": 240}
    assert (clock["level"], clock["target"], clock["calendar"]) == (1, 600, "24/7")

    out = cli("sla", "explain", str(n), "--clock", "response", now=at(30)).stdout
    assert out.splitlines()[-1] == (
        "  counted 10m of 10m target → due Wed 25 Nov 03:10 (UTC); stopped Wed 25 Nov "
        "03:06: met, 4m to spare"
    )


def test_every_clock_by_default_and_the_json_shape(cli):
    n = opened(cli, level=1)
    doc = cli.json("sla", "explain", str(n), now=at(30))
    assert list(doc) == ["id", "clocks"]
    assert [c["clock"] for c in doc["clocks"]] == ["response", "recovery", "resolution"]
    for clock in doc["clocks"]:
        assert list(clock) == [
            "clock",
            "level",
            "target",
            "calendar",
            "relevel",
            "started_at",
            "counted_from",
            "due_at",
            "stopped_at",
            "counted",
            "verdict",
            "steps",
        ]
        for step in clock["steps"]:
            assert list(step) == ["kind", "from", "to", "counted", "total", "note"]
        assert_adds_up(clock)
    response, recovery, _ = doc["clocks"]
    assert response["verdict"] == {"state": "breached", "over": 1200}  # 20m past its due
    assert recovery["verdict"] == {"state": "running", "left": 90 * 60}
    text = cli("sla", "explain", str(n), now=at(30)).stdout
    assert [line for line in text.splitlines() if line and not line.startswith(" ")] == [
        "response clock: level 1, target 10m, calendar 24/7, started 2026-11-25 03:00 (UTC)",
        "recovery clock: level 1, target 2h, calendar 24/7, started 2026-11-25 03:00 (UTC)",
        "resolution clock: level 1, target 7d, calendar 24/7, started 2026-11-25 03:00 (UTC)",
    ]
    assert "breached, 20m overdue" in text and "running, 1h30m left" in text


def test_a_pause_is_listed_and_moves_the_due_by_its_length(cli, tmp_path):
    policy(tmp_path, level2='pausable = ["resolution"]\n')
    n = opened(cli, level=2)
    cli("pause", str(n), "--reason", "awaiting-customer", now=at(60), expect=0)
    paused = explained(cli, n, "resolution", now=at(90))
    assert_adds_up(paused)
    assert kinds(paused) == ["start", "counted", "paused", "verdict"]
    assert paused["steps"][2] == {
        "kind": "paused",
        "from": at(60),
        "to": None,
        "counted": 0,
        "total": 3600,
        "note": "awaiting-customer",
    }
    assert paused["verdict"] == {"state": "paused", "left": 20 * 86400 - 3600}

    cli("resume", str(n), now=at(180), expect=0)
    clock = explained(cli, n, "resolution", now=at(200))
    assert_adds_up(clock)
    assert kinds(clock) == ["start", "counted", "paused", "counted", "due", "verdict"]
    assert clock["steps"][2]["to"] == at(180)
    assert clock["due_at"] == at(20 * 24 * 60 + 120)  # moved by the two hours paused
    assert clock["verdict"] == {"state": "running", "left": 20 * 86400 - 3600 - 20 * 60}


def test_business_hours_from_friday_17_00_skip_the_weekend(cli, tmp_path):
    policy(
        tmp_path, level1='calendar = "office"\n', top='timezone = "Europe/Berlin"\n', extra=OFFICE
    )
    n = opened(cli, level=1, now=FRIDAY_17_BERLIN)
    cli("recover", str(n), now=at(60 * 64 + 40, FRIDAY_17_BERLIN), expect=0)  # Mon 09:40
    clock = explained(cli, n, "recovery", now=at(60 * 70, FRIDAY_17_BERLIN))
    assert_adds_up(clock)
    spans = [(s["kind"], s["from"], s["to"], s["note"]) for s in clock["steps"][1:4]]
    assert spans == [
        ("counted", "2026-11-27T16:00:00Z", "2026-11-27T17:00:00Z", ""),  # Fri 17:00-18:00
        ("closed", "2026-11-27T17:00:00Z", "2026-11-30T08:00:00Z", "weekend"),
        ("counted", "2026-11-30T08:00:00Z", "2026-11-30T09:00:00Z", ""),  # Mon 09:00-10:00
    ]
    assert clock["due_at"] == "2026-11-30T09:00:00Z"  # Monday 10:00 in Berlin
    assert clock["verdict"] == {"state": "met", "spare": 20 * 60}

    out = cli(
        "sla",
        "explain",
        str(n),
        "--clock",
        "recovery",
        now=at(60 * 70, FRIDAY_17_BERLIN),
        env={"COLUMNS": "80"},
    ).stdout
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert re.search(r"closed +Fri 27 Nov 18:00 → Mon 30 Nov 09:00 +weekend", out)
    summary = " ".join(line.strip() for line in out.splitlines()[-2:])
    assert summary == (
        "counted 2h of 2h target → due Mon 30 Nov 10:00 (Europe/Berlin); stopped Mon 30 Nov "
        "09:40: met, 20m to spare"
    )


def test_a_long_business_clock_is_told_short_in_the_terminal_and_whole_in_json(cli, tmp_path):
    policy(
        tmp_path, level1='calendar = "office"\n', top='timezone = "Europe/Berlin"\n', extra=OFFICE
    )
    n = opened(cli, level=1, now=FRIDAY_17_BERLIN)
    clock = explained(cli, n, "resolution", now=FRIDAY_17_BERLIN)
    assert_adds_up(clock)  # 7 days of 9-hour days: weeks of steps
    assert len(clock["steps"]) > 30
    out = cli(
        "sla",
        "explain",
        str(n),
        "--clock",
        "resolution",
        now=FRIDAY_17_BERLIN,
        env={"COLUMNS": "80"},
    ).stdout
    assert len(out.splitlines()) < 30
    assert "closed (--json)" in out
    assert all(len(line) <= 80 for line in out.splitlines()), out


@pytest.mark.parametrize(
    ("mode", "counted_from", "due"),
    [("keep-start", T0, at(120)), ("restart", at(30), at(150))],
)
def test_a_relevelled_clock_counts_the_new_target(cli, tmp_path, mode, counted_from, due):
    policy(tmp_path, top=f'relevel = "{mode}"\n')
    n = opened(cli, level=2)
    cli("relevel", str(n), "--level", "1", "--reason", "worse", now=at(30), expect=0)
    clock = explained(cli, n, "recovery", now=at(60))
    assert_adds_up(clock)
    assert (clock["level"], clock["target"], clock["relevel"]) == (1, 7200, mode)
    assert (clock["counted_from"], clock["due_at"]) == (counted_from, due)
    [relevel] = [s for s in clock["steps"] if s["kind"] == "relevel"]
    assert relevel["from"] == at(30)
    assert relevel["note"].startswith("level 2 → 1")
    if mode == "keep-start":  # the counted hour is split where the re-level happened
        assert kinds(clock) == ["start", "counted", "relevel", "counted", "due", "verdict"]
    else:
        assert kinds(clock) == ["start", "relevel", "counted", "due", "verdict"]
        assert relevel["note"] == "level 2 → 1; the target counts again from here"


def test_a_cancelled_clock_is_neither_met_nor_breached(cli):
    n = opened(cli, level=1)
    cli("cancel", str(n), "--reason", "duplicate", now=at(5), expect=0)
    clock = explained(cli, n, "response", now=at(6))
    assert_adds_up(clock)
    assert clock["verdict"] == {"state": "cancelled"}
    assert clock["steps"][-2]["note"] == "cancelled"


def test_errors(cli):
    out = cli("sla", "explain", "7", "--json", expect=3)
    assert out.error == {"error": "not_found", "message": "no incident 7"}
    n = opened(cli, level=1)
    out = cli("sla", "explain", str(n), "--clock", "fix", now=at(1), expect=2)
    assert f"incident #{n} has no fix clock" in out.stderr
    assert "its clocks: response, recovery, resolution" in out.stderr
    out = cli("sla", "explain", str(n), "--clock", "speed", now=at(1), expect=2)
    assert "'speed' is not one of" in out.stderr
