"""Benchmark: a burst of 10,000 alerts through ``intake alert``, storm control on and off.

    .venv/bin/python bench/intake_storm.py [--alerts 10000] [--services 4] [--batch 100]
        [--rounds 1] [--profile DIR] [--keep DIR]
    .venv/bin/python bench/intake_storm.py --pg postgresql://postgres@127.0.0.1:5432/postgres

``--services`` services (the shipped policy's payments, web-portal, accounts, and one
that falls back to ``default``) get ``--alerts`` firing Alertmanager alerts between them
(round robin, distinct fingerprints, ``severity=critical``: level 1, whose initial
notice goes out at once by sms, email and phone). The burst is fed in-process through
``services.intake.take_alerts``, each call on ``rt.at(now)`` as a webhook post is:

- ``separate``: one alert per call (a version 4 payload holding one alert), 10,000
  calls, alert ``i`` at ``NOW + i ms``;
- ``payloads``: ``--batch`` alerts per payload, payload ``j`` at ``NOW + j * batch ms``;

under the shipped policy with the default storm control (``[intake.storm] enabled =
true, max_new = 10, window = "5m"``; the whole burst is within 10 s) and with
``[intake.storm] enabled = false``. Each run (four a round) has its own fresh database
(a temporary SQLite file, or a fresh PostgreSQL database with ``--pg``), migrated
before the clock starts. After the burst, one escalation pass
(``services.escalation.run_pass``, print transport to /dev/null) at ``NOW + 1 min``
sends what is due. Timed (medians of ``--rounds`` alternating rounds): the intake
(alerts/s) and the pass; counted: incidents, storm incidents, notes, deliveries. With
storm control on, a second pass an hour later counts the progress and overdue
notices, and the longest text among them.

With storm control on, the bound must hold, else the script exits 1: exactly
``services * (max_new + 1)`` incidents (``max_new`` each, then one storm incident),
``services`` storm incidents, one note per grouped alert, and no more deliveries than
those incidents' initial notices (``services * (max_new + 1) * 3``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import text  # noqa: E402

from incidentctl.domain import IntakeAction  # noqa: E402
from incidentctl.runtime import Runtime  # noqa: E402
from incidentctl.services.escalation import run_pass  # noqa: E402
from incidentctl.services.intake import take_alerts  # noqa: E402

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
SERVICES = ("payments", "web-portal", "accounts", "search")  # search: [services.default]
CHANNELS_OF_INITIAL = 3  # the shipped [notifications.initial]: sms, email, phone


def alert(n: int, service: str) -> dict[str, object]:
    fingerprint = f"{n:016x}"
    return {
        "status": "firing",
        "labels": {
            "alertname": "HighErrorRate",
            "service": service,
            "severity": "critical",
            "instance": f"{service}-{n % 50}:9100",
        },
        "annotations": {
            "summary": f"High error rate on {service} ({n})",
            "description": "5xx above 5% for 2 minutes",
        },
        "startsAt": (NOW - timedelta(minutes=2)).isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f'http://prometheus:9090/graph?g0.expr=errors{{n="{n}"}}',
        "fingerprint": fingerprint,
    }


def webhook(alerts: list[dict[str, object]], n: int) -> bytes:
    return orjson.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="HighErrorRate", batch="{n}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "incidentctl",
            "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": {"alertname": "HighErrorRate", "severity": "critical"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }
    )


def burst(count: int, services: int, batch: int) -> list[tuple[datetime, bytes]]:
    """The posts, each with its ``now``: ``batch`` alerts each, 1 ms apart per alert."""
    alerts = [alert(n, SERVICES[n % services]) for n in range(count)]
    return [
        (NOW + timedelta(milliseconds=start), webhook(alerts[start : start + batch], start))
        for start in range(0, count, batch)
    ]


@dataclass
class Result:
    name: str
    alerts: int
    posts: int
    intake_s: float
    pass_s: float
    opened: int
    grouped: int
    incidents: int
    storms: int
    notes: int
    deliveries: int
    sent: int
    failed: int
    later: int = 0  # deliveries of a second pass an hour later (storm control on only)
    longest: int = 0  # the longest text among them (characters)


class Store:
    """A fresh database per run: a temporary SQLite file, or a PostgreSQL database."""

    def __init__(self, where: Path, pg: str | None) -> None:
        self.where, self.pg, self.made = where, pg, []

    def new(self, name: str) -> str:
        if self.pg is None:
            return str(self.where / f"{name}.db")
        import psycopg

        admin = self.pg.replace("+psycopg", "")
        database = f"bench_intake_{name}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        self.made.append(database)
        return f"{admin.rsplit('/', 1)[0]}/{database}"

    def drop(self) -> None:
        if self.pg is None:
            return
        import psycopg

        with psycopg.connect(self.pg.replace("+psycopg", ""), autocommit=True) as conn:
            for database in self.made:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def run(
    name: str,
    store: Store,
    policy: Path,
    posts: list[tuple[datetime, bytes]],
    profile: Path | None,
) -> Result:
    environ = {"INCIDENTCTL_USER": "bench", "TZ": "UTC", "NO_COLOR": "1"}
    rt = Runtime(db_option=store.new(name), config_option=policy, environ=environ)
    rt.db  # noqa: B018  migrate (and read the policy) before the clock starts; rt.at shares both
    profiler = cProfile.Profile() if profile else None
    outcomes = []
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    for now, data in posts:  # each post as its own webhook call
        outcomes.extend(take_alerts(rt.at(now, actor="alertmanager"), data))
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile / f"{name}.prof")
    intake_s = time.perf_counter() - started
    with open(os.devnull, "w") as sink:
        started = time.perf_counter()
        report = run_pass(rt.db, rt.policy, now=NOW + timedelta(minutes=1), print_stream=sink)
        pass_s = time.perf_counter() - started
    with rt.db.read() as session:

        def count(sql: str) -> int:
            return int(session.execute(text(sql)).scalar_one())

        incidents = count("SELECT count(*) FROM incidents")
        storms = count(
            "SELECT count(DISTINCT incident_id) FROM intake_keys WHERE key LIKE 'storm:%'"
        )
        notes = count("SELECT count(*) FROM events WHERE kind = 'note'")
        stored = count("SELECT count(*) FROM deliveries")
    assert stored == len(report.deliveries), (stored, len(report.deliveries))
    later = longest = 0
    if rt.policy.intake.storm.enabled:  # an hour later: progress and overdue notices
        with open(os.devnull, "w") as sink:
            later = len(
                run_pass(
                    rt.db, rt.policy, now=NOW + timedelta(minutes=61), print_stream=sink
                ).deliveries
            )
        with rt.db.read() as session:
            longest = int(
                session.execute(
                    text("SELECT max(length(text)) FROM deliveries WHERE id > :n"), {"n": stored}
                ).scalar_one()
            )
    rt.close()
    return Result(
        name=name,
        alerts=len(outcomes),
        posts=len(posts),
        intake_s=intake_s,
        pass_s=pass_s,
        opened=sum(o.action == IntakeAction.OPENED for o in outcomes),
        grouped=sum(o.action == IntakeAction.GROUPED for o in outcomes),
        incidents=incidents,
        storms=storms,
        notes=notes,
        deliveries=len(report.deliveries),
        sent=report.sent,
        failed=report.failed,
        later=later,
        longest=longest,
    )


def check(result: Result, services: int, max_new: int, storm: bool) -> list[str]:
    """What breaks the bound (storm on), or the one-incident-per-alert count (off)."""
    broken = []

    def expect(what: str, got: int, want: int) -> None:
        if got != want:
            broken.append(f"{result.name}: {what} {got:,}, expected {want:,}")

    if storm:
        bound = services * (max_new + 1)
        expect("incidents", result.incidents, bound)
        expect("storm incidents", result.storms, services)
        expect("opened", result.opened, services * max_new)
        expect("grouped", result.grouped, result.alerts - services * max_new)
        expect("notes", result.notes, result.grouped)
        if result.deliveries > bound * CHANNELS_OF_INITIAL:
            broken.append(
                f"{result.name}: {result.deliveries:,} deliveries, more than "
                f"{bound * CHANNELS_OF_INITIAL:,} ({bound} initial notices)"
            )
    else:
        expect("incidents", result.incidents, result.alerts)
        expect("opened", result.opened, result.alerts)
        expect("storm incidents", result.storms, 0)
    expect("deliveries", result.deliveries, result.incidents * CHANNELS_OF_INITIAL)
    expect("deliveries sent", result.sent, result.deliveries)
    return broken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--services", type=int, default=4, choices=range(1, len(SERVICES) + 1))
    parser.add_argument("--batch", type=int, default=100, help="alerts per payload")
    parser.add_argument("--rounds", type=int, default=1, help="alternating; medians")
    parser.add_argument("--pg", help="a PostgreSQL admin URL: a fresh database per run")
    parser.add_argument("--profile", type=Path, help="write each run's intake cProfile here")
    parser.add_argument("--keep", type=Path, help="build the SQLite files here and keep them")
    args = parser.parse_args()

    where = args.keep or Path(tempfile.mkdtemp(prefix="bench-intake-"))
    where.mkdir(parents=True, exist_ok=True)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    shipped = resources.files("incidentctl").joinpath("sla.toml").read_text()
    policies = {"on": where / "storm-on.toml", "off": where / "storm-off.toml"}
    policies["on"].write_text(shipped)  # the defaults: enabled, max_new = 10, window = 5m
    policies["off"].write_text(shipped + "\n[intake.storm]\nenabled = false\n")
    max_new = Runtime(config_option=policies["on"]).policy.intake.storm.max_new

    feeds = {
        "separate": burst(args.alerts, args.services, 1),
        "payloads": burst(args.alerts, args.services, args.batch),
    }
    store = Store(where, args.pg)
    engine = "PostgreSQL" if args.pg else "SQLite"
    print(
        f"{args.alerts:,} alerts, {args.services} services, {engine}, {args.rounds} round(s), "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    runs: dict[tuple[str, str], list[Result]] = {}
    try:
        # alternating, round after round: storm on and off for one feed, then the other
        for round_ in range(args.rounds):
            for feed, posts in feeds.items():
                for storm in ("on", "off"):
                    name = f"{feed}-storm-{storm}-{round_ + 1}"
                    result = run(name, store, policies[storm], posts, args.profile)
                    runs.setdefault((feed, storm), []).append(result)
                    print(
                        f"  {name}: intake {result.intake_s:.2f} s, pass {result.pass_s:.2f} s",
                        flush=True,
                    )
    finally:
        store.drop()
        if not args.keep:
            shutil.rmtree(where, ignore_errors=True)
    results = {  # the medians of the rounds (the counts are checked in every round)
        key: replace(
            done[0],
            intake_s=statistics.median(r.intake_s for r in done),
            pass_s=statistics.median(r.pass_s for r in done),
        )
        for key, done in runs.items()
    }
    print(f"load average at the end {os.getloadavg()[0]:.1f}\n")

    print(
        "| feed | storm control | posts | intake | alerts/s | incidents | storm incidents "
        "| notes | deliveries | escalate pass |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (feed, storm), r in results.items():
        print(
            f"| {feed} | {storm} | {r.posts:,} | {r.intake_s:.2f} s "
            f"| {r.alerts / r.intake_s:,.0f} | {r.incidents:,} | {r.storms:,} | {r.notes:,} "
            f"| {r.deliveries:,} | {r.pass_s:.2f} s |"
        )
    print()
    for feed in feeds:
        on, off = results[(feed, "on")], results[(feed, "off")]
        print(
            f"- {feed}: intake storm on / off {on.intake_s / off.intake_s:.2f}, "
            f"pass on / off {on.pass_s / off.pass_s:.3f}, "
            f"intake + pass on / off {(on.intake_s + on.pass_s) / (off.intake_s + off.pass_s):.2f}"
        )
    for feed in feeds:
        on = results[(feed, "on")]
        print(
            f"- {feed}, storm on, a second pass an hour later (NOW + 61 min): "
            f"{on.later:,} deliveries, the longest text {on.longest:,} characters"
        )
    for storm in ("on", "off"):
        one, many = results[("separate", storm)], results[("payloads", storm)]
        print(
            f"- storm {storm}: intake separate / payloads of {args.batch} "
            f"{one.intake_s / many.intake_s:.2f}"
        )

    broken = [
        line
        for (_feed, storm), done in runs.items()
        for r in done
        for line in check(r, args.services, max_new, storm == "on")
    ]
    if args.profile:
        for name in sorted(args.profile.glob("*.prof")):
            print(f"\n{name.stem}: top of the intake profile (cumulative)")
            pstats.Stats(str(name)).sort_stats("cumulative").print_stats(12)
    if broken:
        print("\nBOUND BROKEN:\n" + "\n".join(f"  {line}" for line in broken))
        return 1
    print(
        f"\nbound holds: {args.services} x ({max_new} + 1) = "
        f"{args.services * (max_new + 1)} incidents with storm control on, "
        f"deliveries <= {args.services * (max_new + 1) * CHANNELS_OF_INITIAL}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
