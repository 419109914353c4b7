"""The board and ``list`` fit the terminal: one line per incident at every width of 60
columns or more; the id, level, status and nearest deadline are never cut, the title
is shortened with …, and the other columns go as the width shrinks."""

from __future__ import annotations

import re

import pytest
from rich.cells import cell_len

NOW = "2026-11-25T03:00:00Z"
TITLE = "Checkout fails with 502 for every card payment in the north region"
ROW = re.compile(r"^(\d+) +│ +(\d) +│ +(\w+) +│ +(\S.*?) +│ +(.*?)(?: +│|$)")


@pytest.fixture
def fourteen(cli):
    for n in range(1, 15):
        cli(
            "open", f"{TITLE} {n}", "--level", str(1 + n % 3), "--service",
            "payments-gateway-eu", "--assignee", f"engineer.number.{n}", now=NOW,
        )  # fmt: skip
    return cli


@pytest.mark.parametrize("width", [60, 80, 100, 160])
@pytest.mark.parametrize("command", [("board",), ("list",)])
def test_every_incident_is_one_whole_line(fourteen, width, command):
    out = fourteen(*command, now="2026-11-25T03:20:00Z", env={"COLUMNS": str(width)})
    lines = out.stdout.splitlines()
    assert all(cell_len(line.rstrip()) <= width for line in lines), out.stdout
    rows = [ROW.match(line) for line in lines if re.match(r"^\d+ ", line)]
    assert len(rows) == 14 and all(rows), out.stdout  # one line each, nothing wrapped
    assert sorted(int(row[1]) for row in rows) == list(range(1, 15))  # every id whole
    for row in rows:
        assert row[3] == "open"
        assert re.fullmatch(r"(response|recovery|resolution) (in \w+|\w+ overdue)", row[4])
    header = lines[1] if "Open incidents" in lines[0] else lines[0]
    if width < 100:
        assert all("…" in line for line in lines if re.match(r"^\d+ ", line))
    if width >= 160:
        for name in ("Service", "Assignee", "Response", "Recovery", "Resolution"):
            assert name in header
    if width == 60:
        assert "Assignee" not in header and "Resolution" not in header


def test_the_reports_breaches_keep_every_id_whole_at_80_columns(fourteen):
    out = fourteen(
        "report", "--month", "2026-11", "--tz", "UTC", now="2026-11-26T03:00:00Z",
        env={"COLUMNS": "80"},
    )  # fmt: skip
    lines = out.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Breaches ("))
    rows = []
    for line in lines[start + 3 :]:
        if not re.match(r"^\d", line):
            break
        rows.append(line)
    assert all(cell_len(line.rstrip()) <= 80 for line in lines), out.stdout
    ids = [int(line.split("│")[0]) for line in rows]
    # 28 breaches (a response and a recovery clock each), the first 20 listed: one line
    # a breach, each id whole (the two-digit ones were cut to one digit)
    assert len(rows) == 20 and lines[start + 3 + 20].startswith("… and 8 more"), out.stdout
    assert sorted(set(ids)) == list(range(1, 11)), out.stdout


def test_at_60_columns_the_title_gives_way_with_an_ellipsis_never_the_deadline(cli):
    """The widest whole columns (acknowledged, an overdue recovery) leave the title a few
    cells: it is cut with …, and the line still fits."""
    cli("open", TITLE, "--level", "1", "--service", "payments", now=NOW)
    cli("ack", "1", now="2026-11-25T03:05:00Z")
    out = cli("board", now="2026-11-25T06:10:00Z", env={"COLUMNS": "60"})
    [line] = [line for line in out.stdout.splitlines() if re.match(r"^1 ", line)]
    assert cell_len(line.rstrip()) <= 60, line
    row = ROW.match(line)
    assert row and row[3] == "acknowledged" and row[4] == "recovery 1h10m overdue", line
    assert row[5].endswith("…") and TITLE.startswith(row[5][:-1]), line


def test_the_title_keeps_30_cells_before_any_other_column_is_shown(fourteen):
    """From 80 columns on, the title is shown to at least 30 cells (or whole): the
    optional columns take only what is left."""
    for width in (80, 100, 120, 160):
        out = fourteen("board", now="2026-11-25T03:20:00Z", env={"COLUMNS": str(width)})
        rows = [ROW.match(line) for line in out.stdout.splitlines() if re.match(r"^\d+ ", line)]
        assert all(row and cell_len(row[5]) >= 30 for row in rows), (width, out.stdout)
