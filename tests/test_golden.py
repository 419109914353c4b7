"""Golden outputs: the JSON of show, list, report, escalate --dry-run, export and board,
and the Markdown of two reviews and of the report, on a recorded corpus stays
byte-identical (the guard of a refactor that promises "behaviour stays exactly as it
is").

The scenario (``tests/golden/scenario.py``) is played through the real CLI on a fresh
database, at fixed times; then every recording's stdout is compared, byte for byte,
with its file in ``tests/golden/outputs/``, and the steps' transcript (each step's exit
status, stdout and stderr) with ``outputs/scenario.txt``.

Both engines: the outputs are the same on SQLite and PostgreSQL, so both are compared
with the same files (the PostgreSQL run is skipped, with the reason, when no server
answers; see tests/conftest.py).

To re-record after a change that is *meant* to change the output:

    INCIDENTCTL_GOLDEN_RECORD=1 .venv/bin/pytest tests/test_golden.py

rewrites the files from the SQLite run (the PostgreSQL run then compares with them), and
removes files no recording produces any more. Review the diff (git diff tests/golden)
before committing it. Without the variable a difference fails the test, and a missing
file is a failure too: nothing is ever re-recorded by default.
"""

from __future__ import annotations

import difflib
import json
import os
import unicodedata
from functools import cache
from importlib import resources
from pathlib import Path

import pytest
import typer.testing
from typer.main import get_command
from typer.testing import CliRunner

from golden import scenario

OUTPUTS = Path(__file__).parent / "golden" / "outputs"
# Read at import, before the autouse fixture removes every INCIDENTCTL_* variable.
RECORD = os.environ.get("INCIDENTCTL_GOLDEN_RECORD") == "1"
TRANSCRIPT = "scenario.txt"


@cache
def _command(app):  # type: ignore[no-untyped-def]
    """The Click command Typer builds from the app, built once: CliRunner builds it again
    for every run, which is half the test's time over a hundred runs."""
    return get_command(app)


def invoke(args: tuple[str, ...], now: str, stdin: bytes | None = None):  # type: ignore[no-untyped-def]
    """One run of incidentctl, in-process through its real entry point, as bytes."""
    from incidentctl.cli.app import app

    return CliRunner().invoke(
        app, list(args), input=stdin, env={"INCIDENTCTL_NOW": now}, catch_exceptions=False
    )


def transcript_entry(step: scenario.Step, args: tuple[str, ...], result) -> bytes:  # type: ignore[no-untyped-def]
    """A step as the transcript holds it; the command line is JSON (its text may hold
    control characters), ``--config PATH`` shown as ``--config <failing policy>``."""
    shown = list(args)
    if shown[0] == "--config":
        shown[1] = "<failing policy>"
    head = (
        f"$ INCIDENTCTL_NOW={step.now} incidentctl "
        f"{json.dumps(shown, ensure_ascii=True)}\n"
        f"exit {result.exit_code}\n"
    ).encode()
    return (
        head + b"--- stdout\n" + result.stdout_bytes + b"--- stderr\n" + result.stderr_bytes + b"\n"
    )


def play(tmp_path: Path) -> dict[str, bytes]:
    """The scenario on the database INCIDENTCTL_DB names: every output, by file name."""
    builtin = resources.files("incidentctl").joinpath("sla.toml").read_text()
    failing = tmp_path / "failing-sla.toml"
    failing.write_text(scenario.failing_policy(builtin))
    transcript = []
    for step in scenario.STEPS:
        args = step.args
        if step.policy == "failing":
            args = ("--config", str(failing), *args)
        result = invoke(args, step.now, step.stdin)
        assert result.exit_code == step.expect, (
            f"step incidentctl {' '.join(args)} at {step.now} exited {result.exit_code}, "
            f"expected {step.expect}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
        transcript.append(transcript_entry(step, args, result))
    outputs = {TRANSCRIPT: b"".join(transcript)}
    for recording in scenario.RECORDINGS:
        result = invoke(recording.args, recording.now)
        assert result.exit_code == 0, (
            f"incidentctl {' '.join(recording.args)} exited {result.exit_code}\n"
            f"stderr: {result.stderr}"
        )
        assert result.stderr_bytes == b"", (recording.name, result.stderr)
        outputs[recording.name] = result.stdout_bytes
    return outputs


def visible(line: bytes) -> str:
    """A line as text with its control characters (the newline too) escaped, so that a
    change in invisible bytes still shows in the diff; other text stays readable."""
    text = line.decode("utf-8", "backslashreplace")
    return "".join(
        c.encode("unicode_escape").decode() if unicodedata.category(c)[0] == "C" else c
        for c in text
    )


def difference(name: str, expected: bytes, actual: bytes) -> str:
    """A unified diff of one file, by lines, at most 80 lines of it."""
    lines = list(
        difflib.unified_diff(
            [visible(line) for line in expected.splitlines(keepends=True)],
            [visible(line) for line in actual.splitlines(keepends=True)],
            fromfile=f"recorded/{name}",
            tofile=f"now/{name}",
            lineterm="",
        )
    )
    if len(lines) > 80:
        lines = [*lines[:80], f"... ({len(lines) - 80} more diff lines)"]
    return "\n".join(lines)


def record(outputs: dict[str, bytes]) -> None:
    OUTPUTS.mkdir(parents=True, exist_ok=True)
    for stale in OUTPUTS.iterdir():
        if stale.name not in outputs:
            stale.unlink()
    for name, data in outputs.items():
        (OUTPUTS / name).write_bytes(data)


@pytest.mark.storage_contract
def test_outputs_are_byte_identical_to_the_recorded_corpus(db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("INCIDENTCTL_DB", db_url)
    monkeypatch.setattr(typer.testing, "_get_command", _command)
    outputs = play(tmp_path)
    if RECORD and not db_url.startswith("postgresql"):
        record(outputs)
        return
    problems = []
    recorded = {p.name for p in OUTPUTS.iterdir()} if OUTPUTS.is_dir() else set()
    for name, actual in outputs.items():
        path = OUTPUTS / name
        if not path.exists():
            problems.append(f"{name}: no recorded file (record with INCIDENTCTL_GOLDEN_RECORD=1)")
            continue
        expected = path.read_bytes()
        if actual != expected:
            problems.append(f"{name} differs:\n{difference(name, expected, actual)}")
    for name in sorted(recorded - set(outputs)):
        problems.append(f"{name}: recorded, but no recording produces it any more")
    engine = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
    if problems:
        pytest.fail(
            f"{len(problems)} of {len(outputs)} golden outputs differ on {engine} "
            "(if the change is meant, re-record: see this file's docstring):\n\n"
            + "\n\n".join(problems),
            pytrace=False,
        )


def test_the_scenario_covers_what_it_promises():
    """The corpus keeps covering each lifecycle step, note kind, status and outcome."""
    commands = [s.args[2] if s.args[0] == "--as" else s.args[0] for s in scenario.STEPS]
    for command in (
        "open",
        "ack",
        "assign",
        "note",
        "transfer",
        "relevel",
        "recover",
        "resolve",
        "approve",
        "close",
        "reopen",
        "problem",
        "import",
        "escalate",
    ):
        assert command in commands, command
    kinds = {s.args[s.args.index("--kind") + 1] for s in scenario.STEPS if "--kind" in s.args}
    assert kinds == {"progress", "customer-update", "lesson", "impact", "root-cause", "action"}
    statuses = {r.args[2] for r in scenario.RECORDINGS if r.args[:2] == ("list", "--status")}
    assert statuses == set(scenario.STATUSES)
    # the recorded files themselves hold every clock state and every delivery status
    shows = [
        json.loads((OUTPUTS / f"show-{i:02d}.json").read_bytes()) for i in scenario.INCIDENT_IDS
    ]
    assert {c["state"] for s in shows for c in s["sla"].values()} == {"running", "met", "breached"}
    assert {d["status"] for s in shows for d in s["deliveries"]} == {"printed", "retry", "failed"}
    assert {s["status"] for s in shows} == set(scenario.STATUSES)
    assert len(shows) >= 12
