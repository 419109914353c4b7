"""Benchmark: the load of tests/test_load.py (issue 15, item 4) with other counts.

    .venv/bin/python bench/load.py [--writers 8] [--writes 100] [--pause 2]
    .venv/bin/python bench/load.py --pg postgresql://postgres@127.0.0.1:5432/postgres

``--writers`` threads each make ``--writes`` writes (a multiple of 10), every one an
``incidentctl`` process of its own (open, ack, transfer, resolve, close, note) or a POST
to ``incidentctl serve``'s /intake/alert, while ``incidentctl watch --interval 1s`` runs
and ``incidentctl escalate`` runs every ``--pause`` seconds; every channel is a webhook
to a loopback server (tests/load_scenario.py has the rounds). The database is a fresh
temporary SQLite file, or with ``--pg`` a fresh database on that server, dropped after.

Printed: the wall time of the writes, writes/s, p50/p95/max latency of the processes,
the POSTs and all writes, the deliveries (by escalate, by watch, after the writes),
how many the webhook server received and how many needed a retry. Then the same checks
as the test: every call exited 0, "database is locked" and "unexpected" never shown,
the store holds exactly what was written, every delivery received once; else the
script lists what is wrong and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from load_scenario import load, problems  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--writes", type=int, default=100, help="per writer, a multiple of 10")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between escalates")
    parser.add_argument("--pg", help="a PostgreSQL admin URL: a fresh database for the run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="incidentctl-load-") as where:
        directory = Path(where)
        os.environ.update(TZ="UTC", NO_COLOR="1", INCIDENTCTL_DATA_DIR=str(directory / "data"))
        os.environ["INCIDENTCTL_CONFIG_DIR"] = str(directory / "config")
        if args.pg is None:
            db, drop = str(directory / "incidents.db"), None
        else:
            db, drop = fresh_pg(args.pg)
        try:
            run = load(
                db,
                directory,
                engine="PostgreSQL" if args.pg else "SQLite",
                writers=args.writers,
                writes=args.writes,
                pause=args.pause,
            )
        finally:
            if drop:
                drop()
    print(run.figures())
    wrong = problems(run)
    for problem in wrong:
        print(f"WRONG: {problem}", file=sys.stderr)
    return 1 if wrong else 0


def fresh_pg(admin: str):  # type: ignore[no-untyped-def]
    """A new database on the server of ``admin``: its URL, and how to drop it."""
    import psycopg

    admin = admin.replace("+psycopg", "")
    name = f"incidentctl_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    url = f"{admin.rsplit('/', 1)[0]}/{name}"
    return url.replace("postgresql://", "postgresql+psycopg://", 1), drop


if __name__ == "__main__":
    sys.exit(main())
