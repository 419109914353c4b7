"""What reaches the terminal and the scripts: literal user text, JSON errors, no colour
when asked, and a fast --help."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

T0 = "2026-11-25T03:00:00Z"
HOSTILE = "[link=https://x]click[/link] [bold]x[/bold] \x1b[31mred\x07 \x9b2J \u202eevil"


def test_user_text_is_shown_literally_with_no_control_bytes(cli):
    cli("open", HOSTILE, "--level", "2", "--service", "pay[red]ments", now=T0)
    cli("note", "1", "note \x1b]0;title\x07", now=T0)
    for args in (["show", "1"], ["list"], []):
        out = cli(*args, now=T0).stdout
        assert "[link=https://x]click[/link]" in out
        assert "[bold]x[/bold]" in out
        assert "pay[red]ments" in out
        assert "\\x1b[31mred\\x07" in out
        for byte in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert byte not in out
    csv_out = cli("list", "--format", "csv", now=T0).stdout
    assert "\x1b" not in csv_out and "\\x1b[31mred" in csv_out


def test_json_keeps_the_exact_text(cli):
    cli("open", HOSTILE, "--level", "2", "--service", "a", now=T0)
    raw = cli("show", "1", "--json", now=T0).stdout
    assert "\x1b" not in raw and "\x9b" not in raw and "\u202e" not in raw
    assert json.loads(raw)["title"] == HOSTILE
    line = cli("list", "--format", "ndjson", now=T0).stdout
    assert json.loads(line)["title"] == HOSTILE


def test_no_colour_without_a_terminal(cli):
    cli("open", "x", "--level", "1", "--service", "a", now=T0)
    out = cli(now="2026-11-25T03:30:00Z").stdout
    assert "\x1b[" not in out
    assert "20m overdue" in out


def test_json_error_is_one_object_on_stderr(cli):
    out = cli("show", "5", "--json", now=T0, expect=3)
    assert out.stdout == ""
    assert json.loads(out.stderr) == {"error": "not_found", "message": "no incident 5"}


@pytest.mark.storage_contract
def test_times_in_json_are_utc_with_z(cli):
    doc = cli.json(
        "open", "x", "--level", "1", "--service", "a", "--at", "2026-11-25T10:00:00+08:00", now=T0
    )
    assert doc["reported_at"] == "2026-11-25T02:00:00Z"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_help_and_version_do_not_import_sqlalchemy():
    probe = (
        "import sys\n"
        "from incidentctl.cli import main\n"
        "sys.argv = ['incidentctl', sys.argv[1]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'sqlmodel', 'alembic', 'pydantic'))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    for flag in ("--help", "--version"):
        run = _run("-c", probe, flag)
        assert "HEAVY []" in run.stderr, run.stderr[-500:]
    assert _run("-m", "incidentctl", "--version").stdout.startswith("incidentctl ")


def test_every_command_help_shows_an_example():
    from typer.main import get_command

    from incidentctl.cli.app import app

    root = get_command(app)

    def commands(group, path):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from commands(command, [*path, name])
            else:
                yield [*path, name]

    for path in commands(root, []):
        run = _run("-m", "incidentctl", *path, "--help", env={"COLUMNS": "200"})
        assert run.returncode == 0, path
        assert "Example" in run.stdout, f"{' '.join(path)} --help has no example"
        assert f"incidentctl {path[-1]}" in run.stdout or "incidentctl " in run.stdout
