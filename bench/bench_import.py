"""Benchmark: ``incidentctl import`` of 100,000 incidents, against taskwarrior's
``task import`` of the same records (when ``task`` is installed), on the same machine.

    .venv/bin/python bench/bench_import.py                 # 100,000 records, SQLite
    .venv/bin/python bench/bench_import.py --count 20000 --pg postgresql+psycopg://...
    .venv/bin/python bench/bench_import.py --one-process --no-export
    .venv/bin/python bench/bench_import.py --calendars --count 100000

Both tools run as their installed command lines in a subprocess, into an empty store,
timed from start to exit, alternating for ``--rounds`` rounds (the machine is shared and
noisy: compare the medians of one run, as a ratio). The incidents are plain objects
(SPEC §2, no events), so incidentctl also derives each timeline and recomputes the
clocks; the same records go to taskwarrior as tasks (description, project, priority,
entry/end, status). Then the export of the imported database is timed, and
re-imported (export's own lines, with events) into a second empty database.

``--one-process`` adds the import forced into one process (``import_variants.py``) to
the alternation: whether the worker processes pay for themselves.
``--calendars`` instead alternates two imports of the same history with events and
pauses (``dataset.history_lines``): under the built-in 24/7 policy and under the policy
with business calendars on levels 2 and 3 (``dataset.policy_text``): what computing
each clock's due time in business hours costs the import.
Each run's peak memory, sampled every 20 ms: the largest peak RSS of any one of its
processes, and the largest sum of the PSS of all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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
sys.path.insert(0, str(ROOT / "bench"))

from dataset import write_lines, write_policy  # noqa: E402

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


def _tree_memory_kib(pid: int) -> tuple[int, int]:
    """The sum of the PSS (shared pages split) of ``pid`` and its descendants, and the
    largest peak RSS (``VmHWM``) among them, in KiB (Linux ``/proc``)."""
    pss, peak, pending = 0, 0, [pid]
    while pending:
        p = pending.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                peak = max(peak, *(int(x.split()[1]) for x in f if x.startswith("VmHWM:")))
            with open(f"/proc/{p}/smaps_rollup") as f:
                pss += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
            with open(f"/proc/{p}/task/{p}/children") as f:
                pending.extend(int(c) for c in f.read().split())
        except (OSError, StopIteration, TypeError):
            pass
    return pss, peak


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, float, float]:
    """Wall seconds; the peak RSS in MiB of the child or any one of its children, and
    the peak sum of their PSS in MiB, both sampled every 20 ms (``wait4``'s ru_maxrss
    would not do: a child started with vfork inherits this process's high-water mark);
    and the CPU seconds (user + system) of the child and its children."""
    start = time.perf_counter()
    errors = tempfile.TemporaryFile()  # not a pipe: nobody reads it while the child runs
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    pss = peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        tree_pss, tree_peak = _tree_memory_kib(proc.pid)
        pss, peak = max(pss, tree_pss), max(peak, tree_peak)
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    errors.seek(0)
    stderr = errors.read().decode(errors="replace")
    errors.close()
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {stderr[-2000:]}")
    return elapsed, peak / 1024, pss / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs of each tool")
    parser.add_argument("--pg", help="also import into this (emptied) PostgreSQL database")
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="also today's import forced into one process (one part: nothing forks)",
    )
    parser.add_argument("--no-export", action="store_true", help="skip export and re-import")
    parser.add_argument(
        "--calendars",
        action="store_true",
        help="only the history with events and pauses, 24/7 against business calendars",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    env = {
        **os.environ,
        "INCIDENTCTL_NOW": NOW,
        "INCIDENTCTL_USER": "bench",
        "TZ": "UTC",
        "INCIDENTCTL_CONFIG_DIR": str(work / "config"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: cached bytecode
    if args.calendars:
        calendars(args, work, env)
        return
    data = records(args.count)
    plain = work / "plain.ndjson"
    plain.write_text("".join(json.dumps(r) + "\n" for r in data))
    print(
        f"{args.count:,} records, {plain.stat().st_size / 2**20:.1f} MiB of NDJSON, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )

    task = shutil.which("task")
    tasks = work / "tasks.json"
    tasks.write_text("\n".join(json.dumps(as_task(r)) for r in data) + "\n")
    taskrc = work / "taskrc"

    variants = str(ROOT / "bench" / "import_variants.py")
    contenders: dict[str, list[str]] = {"incidentctl import": [INCIDENTCTL]}
    if args.one_process:
        contenders["one process"] = [sys.executable, variants, "one-process"]

    def incidentctl_import(command: list[str]) -> tuple[float, float, float, float]:
        db = work / "imported.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        return timed([*command, "--db", str(db), "import", str(plain)], env)

    def task_import() -> tuple[float, float, float, float]:
        shutil.rmtree(work / "task", ignore_errors=True)
        (work / "task").mkdir()
        taskrc.write_text(
            f"data.location={work / 'task'}\nconfirmation=off\nhooks=off\n"
            "verbose=nothing\ngc=off\nrecurrence=off\n"
        )
        assert task is not None
        return timed(
            [task, f"rc:{taskrc}", "import", str(tasks)],
            {**os.environ, "TASKRC": str(taskrc), "TASKDATA": str(work / "task")},
        )

    # The machine is shared and noisy: alternate the contenders, round after round (the
    # order rotating), and compare medians of the same run.
    names = [*contenders, *(["task import"] if task else [])]
    results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            if name == "task import":
                results[name].append(task_import())
            else:
                results[name].append(incidentctl_import(contenders[name]))
        print(
            f"round {round_ + 1}: "
            + "   ".join(f"{name} {results[name][-1][0]:6.2f} s" for name in names),
            flush=True,
        )
    medians = {name: statistics.median(r[0] for r in results[name]) for name in names}
    for name in names:
        rss = max(r[1] for r in results[name])
        pss = max(r[2] for r in results[name])
        cpu = statistics.median(r[3] for r in results[name])
        print(
            f"{name:20} median of {len(results[name])}: {medians[name]:6.2f} s "
            f"{args.count / medians[name]:9,.0f} records/s, CPU {cpu:5.2f} s; peak RSS "
            f"{rss:4.0f} MiB (one process), peak PSS {pss:4.0f} MiB (all its processes)"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    median = medians["incidentctl import"]
    if "one process" in medians:
        print(f"workers' speed-up over one process: {medians['one process'] / median:.2f}×")
    if task is None:
        print("taskwarrior: not installed (Debian: apt-get install taskwarrior); skipped")
    else:
        version = subprocess.run([task, "--version"], capture_output=True, text=True).stdout
        print(f"taskwarrior {version.strip()}")
        for name in contenders:
            print(f"ratio {name} / taskwarrior: {medians[name] / medians['task import']:.2f}")

    if args.pg:
        from sqlalchemy import create_engine, text

        engine = create_engine(args.pg)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        seconds, *_ = timed([INCIDENTCTL, "--db", args.pg, "import", str(plain)], env)
        print(
            f"incidentctl import (PostgreSQL): {seconds:5.1f} s  "
            f"{args.count / seconds:9,.0f} incidents/s"
        )

    if args.no_export:
        shutil.rmtree(work, ignore_errors=True)
        return
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
    seconds, *_ = timed([INCIDENTCTL, "--db", str(work / "again.db"), "import", str(exported)], env)
    print(
        f"incidentctl import of export:  {seconds:7.1f} s  "
        f"{args.count / seconds:9,.0f} incidents/s (events given, not derived)"
    )
    shutil.rmtree(work, ignore_errors=True)


def calendars(args: argparse.Namespace, work: Path, env: dict[str, str]) -> None:
    """The same history imported under the 24/7 policy and the calendar one, alternately."""
    lines = write_lines(work / "history.ndjson", args.count)
    print(
        f"{args.count:,} incidents with events, {lines.stat().st_size / 2**20:.1f} MiB, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    policies = {
        name: write_policy(work / f"{name.replace('/', 'x')}.toml", calendars=name == "calendars")
        for name in ("24/7", "calendars")
    }
    results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in policies}
    for round_ in range(args.rounds):
        for name in list(policies)[round_ % 2 :] + list(policies)[: round_ % 2]:
            db = work / "imported.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            argv = [INCIDENTCTL, "--db", str(db), "--config", str(policies[name])]
            results[name].append(timed([*argv, "import", str(lines)], env))
        print(
            f"round {round_ + 1}: "
            + "   ".join(f"{name} {results[name][-1][0]:6.2f} s" for name in policies),
            flush=True,
        )
    medians = {name: statistics.median(r[0] for r in results[name]) for name in policies}
    for name in policies:
        cpu = statistics.median(r[3] for r in results[name])
        print(
            f"{name:10} median of {args.rounds}: {medians[name]:6.2f} s "
            f"{args.count / medians[name]:9,.0f} incidents/s, CPU {cpu:5.2f} s"
        )
    print(f"ratio calendars / 24/7: {medians['calendars'] / medians['24/7']:.2f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
