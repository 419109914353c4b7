"""End to end: the installed `incidentctl` in a subprocess, through a whole
Level-2-becomes-Level-1 life, with INCIDENTCTL_NOW moving time and every clock checked
at every step."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def incidentctl_executable() -> list[str]:
    installed = Path(sys.executable).with_name("incidentctl")
    if installed.exists():
        return [str(installed)]
    found = shutil.which("incidentctl")
    if not found:
        pytest.fail("the incidentctl console script is not installed (pip install -e .)")
    return [found]


def z(hhmm: str) -> str:
    return f"2026-11-25T{hhmm}:00Z"


def clocks(doc: dict) -> dict:
    return {name: (c["due_at"], c["stopped_at"], c["state"]) for name, c in doc["sla"].items()}


@pytest.mark.storage_contract
def test_level_2_becomes_level_1_whole_life(db_url, tmp_path):
    env = {**os.environ, "INCIDENTCTL_DB": db_url, "INCIDENTCTL_USER": "wang.lei"}

    def run(now: str, *args: str, expect: int = 0) -> dict:
        proc = subprocess.run(
            [*incidentctl_executable(), *args, "--json"],
            env={**env, "INCIDENTCTL_NOW": now},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == expect, proc.stderr
        return json.loads(proc.stdout if expect == 0 else proc.stderr)

    # 03:00 reported by hotline; the fault began at 02:50. Level 2: 30m / 6h / 20d.
    doc = run(
        z("03:00"),
        "open",
        "Card payments failing for some users",
        "--level",
        "2",
        "--service",
        "payments",
        "--channel",
        "hotline",
        "--reporter",
        "Wang Fang",
        "--contact",
        "+8613900000000",
        "--occurred",
        "2026-11-25T02:50:00Z",
    )
    assert doc["status"] == "open"
    assert clocks(doc) == {
        "response": (z("03:30"), None, "running"),
        "recovery": (z("08:50"), None, "running"),
        "resolution": ("2026-12-15T03:00:00Z", None, "running"),
    }

    doc = run(z("03:08"), "ack", "1")
    assert doc["status"] == "acknowledged"
    assert clocks(doc)["response"] == (z("03:30"), z("03:08"), "met")

    # 03:20 it worsens: Level 1 (10m / 2h / 7d) from the original starts (keep-start).
    doc = run(z("03:20"), "relevel", "1", "--level", "1", "--reason", "all card payments fail")
    assert doc["level"] == 1
    assert clocks(doc) == {
        "response": (z("03:30"), z("03:08"), "met"),  # stopped before: keeps its verdict
        "recovery": (z("04:50"), None, "running"),
        "resolution": ("2026-12-02T03:00:00Z", None, "running"),
    }

    run(z("03:25"), "note", "1", "Rolled back release 3.2.1; no change")

    doc = run(z("03:40"), "transfer", "1", "--to", "liu.yang", "--reason", "needs a code fix")
    assert (doc["assignee"], doc["team"], doc["transferred_at"]) == ("liu.yang", "dev", z("03:40"))
    assert clocks(doc)["resolution"] == ("2026-12-02T03:00:00Z", z("03:40"), "met")
    assert clocks(doc)["recovery"] == (z("04:50"), None, "running")

    # The board at 05:00: recovery ran past 04:50.
    listed = run(z("05:00"), "list", "--overdue")
    assert [i["id"] for i in listed] == [1]
    assert clocks(listed[0])["recovery"] == (z("04:50"), None, "breached")

    doc = run(z("05:05"), "recover", "1", "--at", "2026-11-25T04:55:00Z")
    assert doc["status"] == "recovered"
    assert clocks(doc)["recovery"] == (z("04:50"), z("04:55"), "breached")

    doc = run(z("09:00"), "resolve", "1", "--solution", "Connection pool fixed in 3.2.2")
    assert doc["status"] == "resolved"
    # the resolution clock stopped at the transfer out to developers
    assert clocks(doc)["resolution"] == ("2026-12-02T03:00:00Z", z("03:40"), "met")

    refused = run(z("09:10"), "close", "1", "--confirmed-by", "Wang Fang", expect=4)
    assert refused["error"] == "conflict"

    proc = subprocess.run(
        [*incidentctl_executable(), "--as", "zhang.min", "approve", "1", "--json"],
        env={**env, "INCIDENTCTL_NOW": z("09:30")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["approved_by"] == "zhang.min"

    doc = run(z("10:00"), "close", "1", "--confirmed-by", "Wang Fang")
    assert doc["status"] == "closed"
    assert clocks(doc) == {
        "response": (z("03:30"), z("03:08"), "met"),
        "recovery": (z("04:50"), z("04:55"), "breached"),
        "resolution": ("2026-12-02T03:00:00Z", z("03:40"), "met"),
    }
    # closed: off the board and the default list, still shown
    assert run(z("10:01"), "list") == []
    shown = run(z("10:01"), "show", "1")
    assert [e["kind"] for e in shown["events"]] == [
        "opened",
        "acknowledged",
        "relevelled",
        "note",
        "transferred",
        "recovered",
        "resolved",
        "approved",
        "closed",
    ]
    # the verdicts do not drift as time passes
    later = run("2027-01-01T00:00:00Z", "show", "1")
    assert clocks(later) == clocks(doc)


def test_the_readme_demo_shows_the_board_and_sends_the_due_notices(tmp_path):
    """The README's first command ends in `incidentctl demo`: a throw-away database,
    the board with its countdowns, the escalations going out, and where to look next."""
    env = {
        **os.environ,
        "INCIDENTCTL_NOW": "2026-11-25T03:00:00Z",
        "TMPDIR": str(tmp_path),
        "INCIDENTCTL_CONFIG_DIR": str(tmp_path / "no-config"),
        "NO_COLOR": "1",
    }
    env.pop("INCIDENTCTL_DB", None)
    proc = subprocess.run(
        [*incidentctl_executable(), "demo"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    (database,) = tmp_path.glob("incidentctl-demo-*/incidents.db")
    assert out.startswith(f"Demo database: {database}\n")
    assert out.count("The board") == 2 and "overdue" in out and " in " in out
    assert out.count("[NEW] Incident #") >= 3 and "[OVERDUE " in out
    summary = out.splitlines()[-5]
    assert summary.endswith("sent or printed, 0 failed. Try:")
    # one printed message per incident, recipient and channel: several notices in some
    assert int(summary.split()[0]) > out.count("\n--- ") >= 9
    assert out.count("--- sms to +8613800000007\n") == 1  # #3's owner: one SMS for all
    assert f"  export INCIDENTCTL_DB={database}\n  incidentctl show 3\n" in out
    # what it says it did, the database holds
    listed = subprocess.run(
        [*incidentctl_executable(), "--db", str(database), "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert {i["id"] for i in json.loads(listed.stdout)} == {1, 2, 3, 4}


def test_the_demo_leaves_its_database_whole_in_its_file(tmp_path):
    """The process ends without the interpreter's teardown: the demo's steps share one
    database, closed (and its write-ahead log checkpointed) before that."""
    import sqlite3

    db = tmp_path / "demo.db"
    env = {**os.environ, "INCIDENTCTL_NOW": "2026-11-25T03:00:00Z", "NO_COLOR": "1"}
    env["INCIDENTCTL_CONFIG_DIR"] = str(tmp_path / "no-config")
    proc = subprocess.run(
        [*incidentctl_executable(), "--db", str(db), "demo"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "demo.db-wal").exists()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM incidents").fetchone() == (5,)


def test_the_demo_fits_an_80_column_terminal(tmp_path):
    """The README's first command, in tmux's default width: no line is longer than 80
    columns (tables fitted, long message lines folded), so nothing wraps mid-word."""
    env = {
        **os.environ,
        "INCIDENTCTL_NOW": "2026-11-25T03:00:00Z",
        "TMPDIR": str(tmp_path),
        "INCIDENTCTL_CONFIG_DIR": str(tmp_path / "no-config"),
        "NO_COLOR": "1",
        "COLUMNS": "80",
    }
    env.pop("INCIDENTCTL_DB", None)
    proc = subprocess.run(
        [*incidentctl_executable(), "demo"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    long = [line for line in proc.stdout.splitlines() if len(line) > 80]
    # (only the database's path, whole on its own line: this test's directory is long)
    assert [line for line in long if not line.startswith("  export INCIDENTCTL_DB=/")] == []
    # #3's owner gets one SMS for its four notices, folded, still whole
    unfolded = proc.stdout.replace("\n  ", " ")
    assert re.search(r"\n\[NEW \+ [^]]*HANDED OVER[^]]*\] #3 L1 accounts:", unfolded)
