"""Lifecycle commands on a database of 1,000,000 incidents against an empty one.

    .venv/bin/python bench/bench_lifecycle.py [--total 1000000] [--repeat 15]
    .venv/bin/python bench/bench_lifecycle.py --imported [--small 10000]

``--imported``: both databases come from the real import (``dataset.imported``) under
the policy with business calendars and pauses, ``--small`` incidents against
``--total``, with the same recent incidents (the same board). Otherwise the history is
bulk-inserted (``dataset.build``) and compared with an empty database.

Both databases get the same 20 open incidents; each command then runs in-process
(the real CLI through Typer's runner, no subprocess start-up) ``--repeat`` times,
alternating between the two databases so machine noise hits both alike. Reported: the
median per command and the ratio big/empty. The work of list, show, the board and the
actions must not grow with the history.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dataset import build, imported  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from incidentctl.cli.app import app  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def prepare(path: Path, total: int) -> None:
    if path.exists():
        return
    started = time.perf_counter()
    build(str(path), total).dispose()
    print(f"built {path.name} ({total:,} incidents) in {time.perf_counter() - started:.0f}s")


POLICY: dict[str, str] = {}  # INCIDENTCTL_CONFIG, with --imported


def invoke(db: Path, args: list[str], now: str) -> float:
    env = {"INCIDENTCTL_DB": str(db), "INCIDENTCTL_NOW": now, "INCIDENTCTL_USER": "bench"}
    env.update(POLICY)
    started = time.perf_counter()
    result = CliRunner().invoke(app, args, env=env)
    elapsed = time.perf_counter() - started
    if result.exit_code not in (0, 4):
        raise SystemExit(f"{args}: exit {result.exit_code}: {result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--imported", action="store_true", help="imported databases, calendars and pauses"
    )
    parser.add_argument("--small", type=int, default=20_000, help="with --imported")
    options = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    os.environ["COLUMNS"] = "200"
    if options.imported:
        small, policy = imported(OUT / "imported", options.small)
        big, _ = imported(OUT / "imported", options.total)
        POLICY["INCIDENTCTL_CONFIG"] = str(policy)
        baseline = f"{options.small:,} incidents"
    else:
        big = OUT / f"history-{options.total}.db"
        prepare(big, options.total)
        small, baseline = OUT / "empty.db", "empty"
    dbs = {"empty": small, "big": big}
    for name, db in dbs.items():
        copy = OUT / f"bench-{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(copy) + suffix).unlink(missing_ok=True)
        if db.exists():
            shutil.copyfile(db, copy)
        dbs[name] = copy
        for i in range(20):
            invoke(
                copy,
                ["open", f"open incident {i}", "--level", "2", "--service", "payments"],
                "2026-11-25T03:00:00Z",
            )
    first_open = {name: int(_last_id(db)) - 19 for name, db in dbs.items()}
    commands = {
        "list (not closed)": lambda n: ["list", "--json"],
        "list --overdue": lambda n: ["list", "--overdue", "--json"],
        "board": lambda n: ["board", "--json"],
        "show": lambda n: ["show", str(first_open[n]), "--json"],
        "note": lambda n: ["note", str(first_open[n]), "bench note"],
        "open": lambda n: ["open", "bench", "--level", "3", "--service", "x"],
    }
    timings: dict[str, dict[str, list[float]]] = {c: {"empty": [], "big": []} for c in commands}
    for _ in range(options.repeat):
        for command, args in commands.items():
            for name in ("empty", "big"):
                timings[command][name].append(invoke(dbs[name], args(name), "2026-11-25T03:45:00Z"))
    print(f"\n| command | {baseline} (ms) | {options.total:,} incidents (ms) | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for command, by_db in timings.items():
        small, large = (statistics.median(by_db[n]) * 1000 for n in ("empty", "big"))
        print(f"| {command} | {small:.1f} | {large:.1f} | {large / small:.2f} |")


def _last_id(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT MAX(id) FROM incidents").fetchone()[0]
    finally:
        conn.close()


if __name__ == "__main__":
    main()
