"""Write docs/cli-reference.md from the commands' own --help, so the docs cannot drift.

.venv/bin/python scripts/cli_reference.py          # rewrite the file
.venv/bin/python scripts/cli_reference.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from typer.main import get_command
from typer.testing import CliRunner

from incidentctl.cli.app import app

TARGET = Path(__file__).resolve().parent.parent / "docs" / "cli-reference.md"


def command_paths(group, path):  # type: ignore[no-untyped-def]
    yield path
    for name in sorted(getattr(group, "commands", {})):
        yield from command_paths(group.commands[name], [*path, name])


def reference() -> str:
    os.environ.update({"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})
    parts = [
        "# Command reference\n",
        "Generated from `--help` by `scripts/cli_reference.py`; a test fails when it is out "
        "of date.\n",
    ]
    for path in command_paths(get_command(app), []):
        result = CliRunner().invoke(
            app, [*path, "--help"], prog_name="incidentctl", env={"COLUMNS": "100", "NO_COLOR": "1"}
        )
        title = " ".join(["incidentctl", *path])
        help_text = "\n".join(line.rstrip() for line in result.stdout.splitlines()).strip()
        parts.append(f"## `{title}`\n\n```text\n{help_text}\n```\n")
    return "\n".join(parts)


def main() -> int:
    text = reference()
    if "--check" in sys.argv:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run python scripts/cli_reference.py")
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
