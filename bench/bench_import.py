"""Benchmark: ``incidentctl import`` of 100,000 incidents, against taskwarrior's
``task import`` of the same records (when ``task`` is installed), on the same machine.

    .venv/bin/python bench/bench_import.py                 # 100,000 records, SQLite
    .venv/bin/python bench/bench_import.py --count 20000 --pg postgresql+psycopg://...

Both tools run as their installed command lines in a subprocess, into an empty store,
timed from start to exit, alternating for ``--rounds`` rounds (the machine is shared and
noisy: compare the medians of one run, as a ratio). The incidents are plain objects
(SPEC §2, no events), so incidentctl also derives each timeline and recomputes the
clocks; the same records go to taskwarrior as tasks (description, project, priority,
entry/end, status). Then the export of the imported database is timed, and
re-imported (export's own lines, with events) into a second empty database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INCIDENTCTL = str(Path(sys.executable).parent / "incidentctl")
NOW = "2026-11-25T03:00:00Z"
SERVICES = ("payments", "web-portal", "accounts", "search", "billing", "auth", "storage")


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def records(count: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    now = datetime(2026, 11, 25, 3, tzinfo=UTC)
    out = []
    for i in range(1, count + 1):
        reported = now - timedelta(days=1 + rng.randrange(365), seconds=rng.randrange(86400))
        rec = {
            "id": i,
            "title": f"Incident {i}: {rng.choice(('502s', 'slow', 'down'))}",
            "service": rng.choice(SERVICES),
            "level": rng.choice((1, 2, 2, 3, 3, 3)),
            "channel": rng.choice(("hotline", "email", "monitoring")),
            "reporter": "Wang Fang",
            "reported_at": z(reported),
            "assignee": "wang.lei",
        }
        t = reported + timedelta(minutes=rng.randrange(1, 60))
        rec["acknowledged_at"] = z(t)
        if rng.random() < 0.9:
            t += timedelta(minutes=rng.randrange(5, 600))
            rec["resolved_at"] = z(t)
            rec["solution"] = "fixed"
            if rec["level"] != 1 and rng.random() < 0.8:
                rec["closed_at"] = z(t + timedelta(hours=2))
                rec["confirmed_by"] = "Wang Fang"
        out.append(rec)
    return out


def as_task(rec: dict) -> dict:
    def tw(value: str) -> str:  # taskwarrior's date form
        return value.replace("-", "").replace(":", "")

    task = {
        "uuid": str(uuid.UUID(int=rec["id"])),
        "description": rec["title"],
        "project": rec["service"],
        "priority": {1: "H", 2: "M", 3: "L"}[rec["level"]],
        "entry": tw(rec["reported_at"]),
        "status": "pending",
    }
    if "closed_at" in rec:
        task["status"], task["end"] = "completed", tw(rec["closed_at"])
    return task


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and the child's peak RSS in MiB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    run = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if run.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({run.returncode}): {run.stderr[-2000:]}")
    return elapsed, max(peak, before) / 1024, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs of each tool")
    parser.add_argument("--pg", help="also import into this (emptied) PostgreSQL database")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    env = {
        **os.environ,
        "INCIDENTCTL_NOW": NOW,
        "INCIDENTCTL_USER": "bench",
        "TZ": "UTC",
        "INCIDENTCTL_CONFIG_DIR": str(work / "config"),
    }
    data = records(args.count)
    plain = work / "plain.ndjson"
    plain.write_text("".join(json.dumps(r) + "\n" for r in data))
    print(
        f"{args.count:,} records, {plain.stat().st_size / 2**20:.1f} MiB of NDJSON, "
        f"{os.cpu_count()} cores"
    )

    task = shutil.which("task")
    tasks = work / "tasks.json"
    tasks.write_text("\n".join(json.dumps(as_task(r)) for r in data) + "\n")
    taskrc = work / "taskrc"

    def incidentctl_import() -> float:
        db = work / "imported.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        seconds, _, _ = timed([INCIDENTCTL, "--db", str(db), "import", str(plain)], env)
        return seconds

    def task_import() -> float:
        shutil.rmtree(work / "task", ignore_errors=True)
        (work / "task").mkdir()
        taskrc.write_text(
            f"data.location={work / 'task'}\nconfirmation=off\nhooks=off\n"
            "verbose=nothing\ngc=off\nrecurrence=off\n"
        )
        assert task is not None
        seconds, _, _ = timed(
            [task, f"rc:{taskrc}", "import", str(tasks)],
            {**os.environ, "TASKRC": str(taskrc), "TASKDATA": str(work / "task")},
        )
        return seconds

    # The machine is shared and noisy: alternate the two tools, round after round, and
    # compare medians of the same run.
    ours: list[float] = []
    theirs: list[float] = []
    for round_ in range(args.rounds):
        order = (
            [incidentctl_import, task_import]
            if round_ % 2 == 0
            else [task_import, incidentctl_import]
        )
        for run in order:
            if run is task_import and task is None:
                continue
            if run is incidentctl_import:
                ours.append(run())
            else:
                theirs.append(run())
        line = f"round {round_ + 1}: incidentctl import {ours[-1]:6.2f} s"
        if theirs:
            line += f"   task import {theirs[-1]:6.2f} s"
        print(line, flush=True)
    median = statistics.median(ours)
    print(
        f"incidentctl import (SQLite), median of {len(ours)}: {median:6.2f} s "
        f"{args.count / median:9,.0f} incidents/s"
    )
    if task is None:
        print("taskwarrior: not installed (Debian: apt-get install taskwarrior); skipped")
    else:
        version = subprocess.run([task, "--version"], capture_output=True, text=True).stdout
        theirs_median = statistics.median(theirs)
        print(
            f"taskwarrior {version.strip()} task import, median of {len(theirs)}: "
            f"{theirs_median:6.2f} s {args.count / theirs_median:9,.0f} tasks/s"
        )
        print(f"ratio incidentctl / taskwarrior: {median / theirs_median:.2f}")

    if args.pg:
        from sqlalchemy import create_engine, text

        engine = create_engine(args.pg)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        seconds, _, _ = timed([INCIDENTCTL, "--db", args.pg, "import", str(plain)], env)
        print(
            f"incidentctl import (PostgreSQL): {seconds:5.1f} s  "
            f"{args.count / seconds:9,.0f} incidents/s"
        )

    db = work / "imported.db"
    exported = work / "export.ndjson"
    start = time.perf_counter()
    with exported.open("w") as out:
        run = subprocess.run(
            [INCIDENTCTL, "--db", str(db), "export"],
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
    export_s = time.perf_counter() - start
    assert run.returncode == 0, run.stderr
    print(
        f"incidentctl export:            {export_s:7.1f} s  "
        f"{args.count / export_s:9,.0f} incidents/s "
        f"({exported.stat().st_size / 2**20:.0f} MiB, with events)"
    )
    seconds, _, _ = timed(
        [INCIDENTCTL, "--db", str(work / "again.db"), "import", str(exported)], env
    )
    print(
        f"incidentctl import of export:  {seconds:7.1f} s  "
        f"{args.count / seconds:9,.0f} incidents/s (events given, not derived)"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
