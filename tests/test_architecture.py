"""The layers point one way (the import-linter contracts in pyproject.toml), and the
domain's words are spelled in one module."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "incidentctl"


def test_the_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_event_kinds_and_delivery_statuses_are_spelled_only_in_the_domain():
    """``"relevelled"`` was compared in 8 files and ``"printed"`` in 5: now only
    ``domain.py`` (and the migrations, which are history) spell a status, an event kind,
    a notice or a delivery status where code compares or records one."""
    words = re.compile(
        r"""(==|!=|\bin \(|kind=|status=|\bnotice=)\s*["']"""
        r"(open|acknowledged|recovered|resolved|closed|opened|relevelled|transferred|note"
        r"|notified|printed|sent|failed|retry|pending|initial|progress|overdue-\w+)[\"']"
    )
    spelled = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "migrations" not in path.parts and words.search(path.read_text(encoding="utf-8"))
    )
    assert spelled == ["domain.py"]
