"""Docs that cannot drift: the command reference is the commands' own --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_up_to_date():
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_command_is_in_the_spec_table_of_the_readme_or_docs():
    reference = (ROOT / "docs" / "cli-reference.md").read_text()
    for command in (
        "open",
        "list",
        "show",
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
        "policy check",
        "policy show",
        "db upgrade",
        "db copy",
        "demo",
        "board",
    ):
        assert f"## `incidentctl {command}`" in reference, command


def test_the_readme_lists_every_exit_code_with_its_json_error():
    import re

    from incidentctl import errors

    readme = (ROOT / "README.md").read_text()
    rows = {
        cells[0]: cells[2]
        for line in readme.splitlines()
        if re.match(r"\| \d+ \|", line)
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert sorted(map(int, rows)) == sorted(int(s) for s in errors.ExitStatus)
    for error in vars(errors).values():
        if isinstance(error, type) and issubclass(error, errors.IncidentctlError):
            assert f"`{error.code}`" in rows[str(int(error.exit_status))], error.__name__
