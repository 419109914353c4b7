"""Benchmark: ``incidentctl report`` for one month over a database of 1,000,000 incidents.

    .venv/bin/python bench/bench_report.py                 # builds the database once
    .venv/bin/python bench/bench_report.py --count 100000  # a smaller history
    .venv/bin/python bench/bench_report.py --imported [--small 10000]

The history (five years, ~16,700 incidents a month, four events each, one in ten
re-levelled) is written with bulk ``executemany`` straight into SQLite, its clock
columns computed by the pure policy, so every command sees a consistent database;
it is built once and reused. Each format of ``report --month 2026-10`` then runs as the
installed command line in a subprocess (a cold process, as cron runs it), three times;
the best and the median are printed, with the child's peak RSS. Also timed: ``export``
of that month.

``--imported``: the databases come from the real import (``dataset.imported``) under
the policy with business calendars and pauses, ``--small`` incidents against
``--count``, with the same incidents from September 2026 on (the month and the previous
one the report reads); ``report --month 2026-10 --format json`` runs on each,
alternately, ``--repeat`` times, and the ratio of the medians is printed. With
``--analyze``, also on copies of both after SQLite's ``ANALYZE`` (which nothing in
incidentctl runs): the query plans the statistics give.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
INCIDENTCTL = str(Path(sys.executable).parent / "incidentctl")
NOW = datetime(2026, 11, 25, 3, tzinfo=UTC)
SERVICES = (
    "payments",
    "web-portal",
    "accounts",
    "search",
    "billing",
    "auth",
    "storage",
    "mail",
    "orders",
    "cdn",
)
TITLES = (
    "Checkout fails with {n}",
    "Search slow on node {n}",
    "Login timeouts ({n}s)",
    "Disk full on db-{n}",
    "Queue backlog {n} messages",
    "Certificate expires in {n} days",
)
BATCH = 20_000


def text(moment: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME form of a UTC time."""
    return None if moment is None else moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def build(path: Path, count: int, seed: int = 3) -> None:
    from incidentctl.config import builtin_policy
    from incidentctl.policy.clocks import IncidentFacts, Relevel, compute_clocks, deadline
    from incidentctl.store.engine import Database, database_url

    policy = builtin_policy()
    db = Database(database_url(str(path)))
    db.ensure_schema()  # the real schema, migrations included
    db.dispose()
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-500000")
    columns = [row[1] for row in conn.execute("PRAGMA table_info(incidents)")]
    insert_incident = (
        f"INSERT INTO incidents ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    insert_event = (
        "INSERT INTO events (id, incident_id, kind, at, recorded_at, actor, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    span = 5 * 365 * 86400
    start = NOW - timedelta(seconds=span)
    event_id = 0
    incidents, events = [], []
    began = time.perf_counter()
    for number in range(1, count + 1):
        # ids in report order, as a real history has them
        reported = start + timedelta(seconds=span * (number - 0.5) / count + rng.uniform(-30, 30))
        level = rng.choice((1, 2, 2, 3, 3, 3))
        opened = 2 if level == 1 and rng.random() < 0.3 else level
        occurred = reported - timedelta(minutes=rng.randrange(30))
        ack = reported + timedelta(seconds=rng.randrange(30, 5400))
        transferred = (
            ack + timedelta(minutes=rng.randrange(5, 240)) if rng.random() < 0.15 else None
        )
        recovered = ack + timedelta(seconds=rng.randrange(60, 30 * 3600))
        resolved = recovered + timedelta(seconds=rng.randrange(0, 12 * 86400))
        closed = resolved + timedelta(hours=rng.randrange(1, 72))
        if closed > NOW:
            resolved = closed = None
        relevels = (
            (Relevel(reported + timedelta(minutes=rng.randrange(1, 30)), level),)
            if opened != level
            else ()
        )
        facts = IncidentFacts(
            level=opened,
            reported_at=reported,
            occurred_at=occurred,
            acknowledged_at=ack,
            transferred_at=transferred,
            recovered_at=recovered if recovered < NOW else None,
            resolved_at=resolved,
            relevels=relevels,
        )
        if facts.recovered_at is None:
            recovered = None
        clocks = compute_clocks(facts, levels=policy.levels, relevel=policy.relevel, now=NOW)
        status = (
            "closed"
            if closed
            else "resolved"
            if resolved
            else "recovered"
            if recovered
            else "acknowledged"
        )
        row = {
            "id": number,
            "title": rng.choice(TITLES).format(n=rng.randrange(600)),
            "details": None,
            "service": rng.choice(SERVICES),
            "level": level,
            "opened_level": opened,
            "channel": rng.choice(("hotline", "email", "monitoring")),
            "reporter": "reporter",
            "contact": None,
            "assignee": f"engineer{number % 40}",
            "team": "dev" if transferred else "om",
            "status": status,
            "occurred_at": text(occurred),
            "reported_at": text(reported),
            "acknowledged_at": text(ack),
            "transferred_at": text(transferred),
            "recovered_at": text(recovered),
            "resolved_at": text(resolved),
            "solution": "fixed" if resolved else None,
            "approved_at": None,
            "approved_by": None,
            "closed_at": text(closed),
            "confirmed_by": "reporter" if closed else None,
            "problem_ref": f"PRB-{number}" if rng.random() < 0.02 else None,
            "problem_reason": None,
            "updated_at": text(closed or ack),
            "deadline_at": None if closed else text(deadline(clocks.values())),
            "notify_at": None,
            "notices_handled": None,
        }
        if row["problem_ref"]:
            row["problem_reason"] = "recurring"
        for name, clock in clocks.items():
            row[f"{name}_due_at"] = text(clock.due_at)
            row[f"{name}_stopped_at"] = text(clock.stopped_at)
        incidents.append(tuple(row[c] for c in columns))
        timeline = [("opened", reported, {"level": opened}), ("acknowledged", ack, {})]
        timeline += [("relevelled", r.at, {"to": r.level, "previous": opened}) for r in relevels]
        if resolved:
            timeline.append(("resolved", resolved, {"solution": "fixed"}))
        if closed:
            timeline.append(("closed", closed, {"confirmed_by": "reporter"}))
        for kind, at, data in timeline:
            event_id += 1
            events.append((event_id, number, kind, text(at), text(at), "bench", json.dumps(data)))
        if len(incidents) >= BATCH:
            conn.executemany(insert_incident, incidents)
            conn.executemany(insert_event, events)
            incidents, events = [], []
            print(f"\r  {number:,} incidents", end="", file=sys.stderr)
    if incidents:
        conn.executemany(insert_incident, incidents)
        conn.executemany(insert_event, events)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    print(
        f"\rbuilt {count:,} incidents and {event_id:,} events in "
        f"{time.perf_counter() - began:.0f} s: {path}",
        file=sys.stderr,
    )


def run(argv: list[str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "INCIDENTCTL_NOW": NOW.isoformat(),
            "TZ": "UTC",
            "INCIDENTCTL_CONFIG_DIR": str(OUT / "no-config"),
        },
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, peak, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument(
        "--imported", action="store_true", help="imported databases, calendars and pauses"
    )
    parser.add_argument("--small", type=int, default=20_000, help="with --imported")
    parser.add_argument("--repeat", type=int, default=5, help="with --imported")
    parser.add_argument("--analyze", action="store_true", help="with --imported: and ANALYZEd")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    if args.imported:
        main_imported(args)
        return
    path = OUT / f"report-{args.count}.db"
    if not path.exists():
        build(path, args.count)
        # Measure from a fresh, small process: a child forked from this one, big from
        # the build, would report the build's memory as its peak.
        os.execv(sys.executable, [sys.executable, *sys.argv])
    base = [INCIDENTCTL, "--db", str(path)]
    for fmt in ("json", "table", "html"):
        times = []
        for _ in range(3):
            seconds, peak, out = run(
                [*base, "report", "--month", args.month, "--tz", "UTC", "--format", fmt]
            )
            times.append(seconds)
        extra = ""
        if fmt == "json":
            doc = json.loads(out)
            extra = (
                f"  ({doc['total']:,} incidents in the month, {len(doc['breaches']):,} breaches)"
            )
        print(
            f"report --format {fmt:<6} best {min(times):5.2f} s  median "
            f"{statistics.median(times):5.2f} s  peak RSS {peak:5.0f} MiB{extra}"
        )
    seconds, peak, out = run(
        [
            *base,
            "export",
            "--since",
            f"{args.month}-01T00:00:00Z",
            "--until",
            "2026-11-01T00:00:00Z",
        ]
    )
    lines = out.count("\n")
    print(
        f"export of the month: {seconds:5.2f} s for {lines:,} incidents ({lines / seconds:,.0f}/s)"
    )


def main_imported(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from dataset import imported

    small, policy = imported(OUT / "imported", args.small)
    big, _ = imported(OUT / "imported", args.count)
    dbs = {f"{args.small:,} incidents": small, f"{args.count:,} incidents": big}
    if args.analyze:
        for name, path in list(dbs.items()):
            copy = path.with_name(f"analyzed-{path.name}")
            shutil.copyfile(path, copy)
            conn = sqlite3.connect(copy)
            conn.execute("ANALYZE")
            conn.close()
            dbs[f"{name}, ANALYZEd"] = copy
    times: dict[str, list[float]] = {name: [] for name in dbs}
    docs = {}
    for _ in range(args.repeat):
        for name, path in dbs.items():
            argv = [INCIDENTCTL, "--db", str(path), "--config", str(policy), "report"]
            seconds, _peak, out = run([*argv, "--month", args.month, "--tz", "UTC", "--json"])
            times[name].append(seconds)
            docs[name] = json.loads(out)
    medians = {name: statistics.median(times[name]) for name in dbs}
    for name in dbs:
        doc = docs[name]
        print(
            f"report --month {args.month} --json, {name:>28}: median {medians[name]:5.2f} s, "
            f"best {min(times[name]):5.2f} s ({doc['total']:,} incidents in the month, "
            f"{len(doc['breaches']):,} breaches)"
        )
    names = list(dbs)
    for small_name, big_name in zip(names[::2], names[1::2], strict=True):
        ratio = medians[big_name] / medians[small_name]
        print(f"ratio {big_name} / {small_name}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
