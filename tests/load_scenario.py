"""The load of issue 15: writers whose every call is an ``incidentctl`` process of its own
or a POST to ``serve``, while ``escalate`` (in a loop), ``watch`` and ``serve`` run on the
same database; then what the store and the webhook server hold is checked, exactly.

tests/test_load.py runs it at 8 writers x 50 writes on each engine; bench/load.py runs it
with other counts and prints the figures.

Each writer does rounds of ten writes, four ``incidentctl`` processes and six POSTs to
``serve``'s /intake/alert, on incidents of its own (so that each call is allowed and exits
0) and on one incident they all share:

    even round: open X, ack X, transfer X --to wang.lei, note on the shared incident
    odd round:  open X, resolve X, close X, note on the shared incident
    each round: POST alert a firing (opens A), b firing (opens B), a firing again (a repeat:
                a note on A), a resolved (recovers A), b again, b resolved

X is reported 40 minutes before "now" at level 2 (its 30-minute response clock is
breached: an overdue notice, unless X is handled before a pass sees it), A is level 1
and B level 2, so notices fall due all the time the writes go on: initial, overdue,
handover, rectification. Every process sees the same "now" (``INCIDENTCTL_NOW``); the
policy sends every channel to a loopback webhook server.

Four processes a round, not more, because each costs about 0.75 s of CPU, nearly all of
it start-up (Python, SQLAlchemy and pydantic imported): 8 x 50 writes take 145-175 s of
CPU in all, with escalate, watch and serve, which is 75-90 s on two idle cores.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from serving import Served, serving
from test_e2e import incidentctl_executable
from test_notify_transports import HttpServer, http_running

NOW = "2026-11-25T03:00:00Z"
REPORTED = "2026-11-25T02:20:00Z"  # a level 2 response clock (30m) is breached at NOW
ROUND = 10  # writes a round: four processes, six POSTs
HANDED_TO = "wang.lei"
NEVER_SHOWN = ("database is locked", "unexpected", "Traceback")


def policy_text(webhook: HttpServer) -> str:
    """The shipped policy with every channel a webhook to ``webhook``, an alert's repeat
    kept as a note, and storm control off (each alert its own incident: exact counts)."""
    text = resources.files("incidentctl").joinpath("sla.toml").read_text()
    for channel in ("email", "sms", "phone"):
        url = webhook.url(f"/{channel}")
        text += f'\n[transports.{channel}]\ntype = "webhook"\nurl = "{url}"\ntimeout = "30s"\n'
    return text + '\n[intake.alert]\nrepeat = "note"\n\n[intake.storm]\nenabled = false\n'


def alert(key: str, level: int, status: str) -> bytes:
    """A plain alert (docs/intake.md) of the payments service."""
    body = {"key": key, "title": f"5xx above 5% ({key})", "service": "payments"}
    return json.dumps({**body, "level": level, "status": status}).encode()


@dataclass
class Call:
    """One call as its caller saw it: a process (exit status) or a POST (HTTP status)."""

    who: str
    op: str
    args: tuple[str, ...]
    seconds: float
    status: int  # the exit status, or for a POST 0 when it answered 200
    stdout: str
    stderr: str

    @property
    def post(self) -> bool:
        return self.op.startswith("POST")

    def document(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Written:
    """What the writers did: each incident's events, in order, as (kind, actor)."""

    events: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    shared: int = 0  # the incident every writer notes on
    shared_notes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # a writer that could not go on


class Scene:
    """The database, its policy, and how a writer calls: ``process`` and ``post``."""

    def __init__(self, db: str, directory: Path, webhook: HttpServer) -> None:
        self.db, self.directory, self.webhook = db, directory, webhook
        self.config = directory / "sla.toml"
        self.executable = incidentctl_executable()
        self.served: Served | None = None
        self.calls: list[Call] = []
        self.escalations: list[Call] = []
        self.lock = threading.Lock()

    def env(self, who: str) -> dict[str, str]:
        return {
            **os.environ,
            "INCIDENTCTL_DB": self.db,
            "INCIDENTCTL_CONFIG": str(self.config),
            "INCIDENTCTL_NOW": NOW,
            "INCIDENTCTL_USER": who,
        }

    def run(self, who: str, *args: str) -> Call:
        """``incidentctl ARGS`` as ``who``, in a process of its own."""
        started = time.monotonic()
        done = subprocess.run(
            [*self.executable, *args],
            env=self.env(who),
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=300,
        )
        seconds = time.monotonic() - started
        return Call(who, args[0], args, seconds, done.returncode, done.stdout, done.stderr)

    def process(self, who: str, *args: str) -> Call:
        """One write: ``incidentctl ARGS`` (kept for the checks and the figures)."""
        call = self.run(who, *args)
        with self.lock:
            self.calls.append(call)
        return call

    def post(self, who: str, body: bytes) -> Call:
        """One write: POST /intake/alert to serve."""
        assert self.served is not None
        started = time.monotonic()
        status, document = self.served.post("/intake/alert", body)
        seconds = time.monotonic() - started
        sent = json.loads(body)
        call = Call(
            who,
            "POST /intake/alert",
            (sent["key"], sent["status"]),
            seconds,
            0 if status == 200 else status,
            json.dumps(document),
            "",
        )
        with self.lock:
            self.calls.append(call)
        return call


@dataclass
class Run:
    """Everything a run left to check and to measure."""

    engine: str
    writers: int
    writes: int
    wall: float  # from the first write to the last
    written: Written
    calls: list[Call]
    escalations: list[Call]  # the loop's passes during the writes
    drain: Call  # escalate once more after the writes
    due: Call  # escalate --dry-run after that: nothing may be left
    watch: Call  # the watch process, stopped by SIGTERM (stdout: one JSON line a pass)
    serve: Call  # serve, stopped by SIGTERM
    received: list[str]  # every delivery key the webhook server was sent, in order
    cpu: float  # CPU seconds of every process of the run (writes, escalate, watch, serve)
    load_average: tuple[float, float]  # of the machine (1 minute) as the writes began, ended
    incidents: list[dict[str, Any]]  # `export`: each incident with its events
    deliveries: dict[int, list[dict[str, Any]]]  # `show --json`, incident by incident

    @property
    def watch_passes(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.watch.stdout.splitlines() if line.strip()]

    def latency(self, kind: str) -> dict[str, float]:
        """n, p50, p95 and max of the writes' seconds: of ``process``es, ``post``s or ``all``."""
        seconds = sorted(
            c.seconds for c in self.calls if kind == "all" or c.post == (kind == "post")
        )
        return {
            "n": len(seconds),
            "p50": statistics.median(seconds),
            "p95": seconds[round(0.95 * (len(seconds) - 1))],
            "max": seconds[-1],
        }

    def figures(self) -> str:
        """The figures of the run, as docs/reliability.md gives them."""
        deliveries = [d for found in self.deliveries.values() for d in found]
        retried = sum(1 for d in deliveries if d["attempts"] > 1)
        by_loop = sum(_sent(c.stdout) for c in self.escalations)
        by_watch = sum(_sent(line) for line in self.watch.stdout.splitlines())
        lines = [
            f"{self.engine}: {self.writers} writers x {self.writes} writes = {len(self.calls)} "
            f"in {self.wall:.1f} s, {len(self.calls) / self.wall:.1f} writes/s",
        ]
        for kind in ("process", "post", "all"):
            f = self.latency(kind)
            lines.append(
                f"  {kind:7} n={f['n']:<5} p50 {f['p50'] * 1000:6.0f} ms   "
                f"p95 {f['p95'] * 1000:6.0f} ms   max {f['max'] * 1000:6.0f} ms"
            )
        lines.append(
            f"  deliveries {len(deliveries)}: escalate {by_loop} in {len(self.escalations)} "
            f"passes, watch {by_watch} in {len(self.watch_passes)} passes, "
            f"{_sent(self.drain.stdout)} after the writes; received "
            f"{len(self.received)}; retried {retried}"
        )
        notices = Counter(d["notice"] for d in deliveries)
        lines.append("  by notice: " + ", ".join(f"{n} {c}" for n, c in sorted(notices.items())))
        lines.append(
            f"  CPU {self.cpu:.0f} s in all processes ({self.cpu / len(self.calls):.2f} s a "
            f"write); load average {self.load_average[0]:.1f} as the writes began, "
            f"{self.load_average[1]:.1f} as they ended"
        )
        return "\n".join(lines)


def _sent(document: str) -> int:
    """How many deliveries a pass (``escalate --json``, a line of ``watch --json``) sent."""
    try:
        return int(json.loads(document)["sent"])
    except (ValueError, KeyError, TypeError):
        return 0


def writer(scene: Scene, number: int, rounds: int, written: Written) -> None:
    """One writer's rounds (the module docstring): every call is kept in ``scene.calls``;
    a call that fails where the next one needs its answer ends the writer."""
    who = f"worker{number}"
    events: dict[int, list[tuple[str, str]]] = {}
    notes: list[str] = []

    def opened(call: Call) -> int:
        if call.status != 0:
            raise RuntimeError(f"{call.op} {call.args} ended {call.status}: {call.stderr}")
        document = call.document()
        return int(document["outcomes"][0]["incident"] if call.post else document["id"])

    try:
        for r in range(rounds):
            name = f"w{number}r{r}"
            x = opened(
                scene.process(
                    who, "open", f"{name} checkout 502", "--level", "2", "--service", "payments",
                    "--at", REPORTED, "--json",
                )
            )  # fmt: skip
            events[x] = [("opened", who)]
            a = opened(scene.post(who, alert(f"{name}a", 1, "firing")))
            events[a] = [("opened", "monitoring")]
            if r % 2 == 0:
                scene.process(who, "ack", str(x))
                events[x].append(("acknowledged", who))
            else:
                scene.process(who, "resolve", str(x), "--solution", "rolled back")
                events[x] += [("recovered", who), ("resolved", who)]
            b = opened(scene.post(who, alert(f"{name}b", 2, "firing")))
            events[b] = [("opened", "monitoring")]
            scene.post(who, alert(f"{name}a", 1, "firing"))
            events[a].append(("note", "monitoring"))
            if r % 2 == 0:
                scene.process(who, "transfer", str(x), "--to", HANDED_TO, "--reason", "a fix")
                events[x].append(("transferred", who))
            else:
                scene.process(who, "close", str(x), "--confirmed-by", "reporter")
                events[x].append(("closed", who))
            scene.post(who, alert(f"{name}a", 1, "resolved"))
            events[a].append(("recovered", "monitoring"))
            text = f"{name}: seen by {who}"
            scene.process(who, "note", str(written.shared), text)
            notes.append(text)
            scene.post(who, alert(f"{name}b", 2, "firing"))
            events[b].append(("note", "monitoring"))
            scene.post(who, alert(f"{name}b", 2, "resolved"))
            events[b].append(("recovered", "monitoring"))
    except RuntimeError as error:
        with scene.lock:
            written.failed.append(f"{who}: {error}")
    with scene.lock:
        written.events.update(events)
        written.shared_notes += notes


@contextmanager
def watched(scene: Scene, *, pause: float) -> Iterator[dict[str, Call]]:
    """``serve``, ``watch --interval 1s --json`` and ``escalate --json`` every ``pause``
    seconds, until the block ends; watch and serve are then stopped with SIGTERM, and
    what they wrote is in the dict (``watch``, ``serve``)."""
    stopped: dict[str, Call] = {}
    env = {"INCIDENTCTL_CONFIG": str(scene.config), "INCIDENTCTL_NOW": NOW}
    with ExitStack() as stack:
        scene.served = stack.enter_context(serving(scene.db, scene.directory, env=env))
        out = stack.enter_context((scene.directory / "watch.out").open("w+"))
        err = stack.enter_context((scene.directory / "watch.err").open("w+"))
        started = time.monotonic()
        watch = subprocess.Popen(
            [*scene.executable, "watch", "--interval", "1s", "--json"],
            env=scene.env("watch"),
            cwd=scene.directory,
            stdout=out,
            stderr=err,
        )
        stop = threading.Event()

        def escalate_loop() -> None:
            while not stop.is_set():
                scene.escalations.append(scene.run("cron", "escalate", "--json"))
                stop.wait(pause)

        loop = threading.Thread(target=escalate_loop)
        loop.start()
        try:
            yield stopped
        finally:
            stop.set()
            loop.join()
            watch.send_signal(signal.SIGTERM)
            try:
                watch.wait(timeout=30)
            except subprocess.TimeoutExpired:
                watch.kill()
                watch.wait()
            out.seek(0)
            err.seek(0)
            seconds = time.monotonic() - started
            stopped["watch"] = Call(
                "watch", "watch", (), seconds, watch.returncode, out.read(), err.read()
            )
            served = scene.served
            stack.close()  # serve stops here: its output is read as it ends
            stopped["serve"] = Call(
                "serve", "serve", (), seconds, served.process.returncode, "", served.stderr
            )


def load(
    db: str,
    directory: Path,
    *,
    engine: str,
    writers: int = 8,
    writes: int = 50,
    pause: float = 2.0,
) -> Run:
    """The whole run on ``db`` (fresh), in ``directory``: the scene, the writes, the
    drain, then what the store holds, read with ``export`` and ``show --json``."""
    if writes % ROUND:
        raise ValueError(f"writes per writer: a multiple of {ROUND}")
    written = Written()
    with http_running() as webhook:
        scene = Scene(db, directory, webhook)
        scene.config.write_text(policy_text(webhook))
        first = scene.run(
            "lead", "open", "Shared", "--level", "2", "--service", "payments", "--json"
        )
        if first.status != 0:  # (this also makes the schema before anything runs at once)
            raise RuntimeError(f"the first open failed: {first.stderr}")
        written.shared = int(first.document()["id"])
        written.events[written.shared] = [("opened", "lead")]
        cpu = _children_cpu()
        with watched(scene, pause=pause) as stopped:
            threads = [
                threading.Thread(target=writer, args=(scene, n, writes // ROUND, written))
                for n in range(writers)
            ]
            started, began = time.monotonic(), os.getloadavg()[0]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall, ended = time.monotonic() - started, os.getloadavg()[0]
        drain = scene.run("cron", "escalate", "--json")
        due = scene.run("cron", "escalate", "--dry-run", "--json")
        received = [key for body in webhook.bodies() for key in str(body["key"]).split("+")]
        cpu = _children_cpu() - cpu
    exported = read(scene, "export", "--format", "ndjson").splitlines()[1:]  # (1: the policy)
    incidents = [json.loads(line) for line in exported]
    deliveries = {
        i["id"]: json.loads(read(scene, "show", str(i["id"]), "--json"))["deliveries"]
        for i in incidents
    }
    return Run(
        engine, writers, writes, wall, written, scene.calls, scene.escalations, drain, due,
        stopped["watch"], stopped["serve"], received, cpu, (began, ended), incidents, deliveries,
    )  # fmt: skip


def _children_cpu() -> float:
    """CPU seconds (user and system) of the processes this one started and waited for."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read(scene: Scene, *args: str) -> str:
    """What ``incidentctl ARGS`` prints (run in this process: a process for each
    incident's ``show`` would take longer than the load)."""
    from typer.testing import CliRunner

    from incidentctl.cli.app import app

    env = {"INCIDENTCTL_DB": scene.db, "INCIDENTCTL_CONFIG": str(scene.config)}
    result = CliRunner().invoke(app, list(args), env={**env, "INCIDENTCTL_NOW": NOW})
    if result.exit_code != 0:
        raise RuntimeError(f"incidentctl {' '.join(args)}: {result.stderr}")
    return result.stdout


def delivery_key(incident: int, delivery: dict[str, Any]) -> str:
    """The key the webhook is sent for a delivery (SPEC §4: incident, notice, sequence,
    channel, recipient)."""
    d = delivery
    return f"incidentctl:{incident}:{d['notice']}:{d['sequence']}:{d['channel']}:{d['recipient']}"


def problems(run: Run) -> list[str]:
    """What is wrong with a run, one sentence each: nothing, when it is right."""
    found: list[str] = []
    every = [*run.calls, *run.escalations, run.drain, run.due, run.watch, run.serve]
    found += run.written.failed
    found += [
        f"{c.who} {c.op} {c.args} ended {c.status}: {c.stderr.strip()[:300]}"
        for c in every
        if c.status != 0
    ]
    found += [
        f"{c.who} {c.op} {c.args} said {text!r}: {c.stderr.strip()[:300]}"
        for c in every
        for text in NEVER_SHOWN
        if text in c.stderr or text in c.stdout
    ]
    expected_writes = run.writers * run.writes
    if len(run.calls) != expected_writes:
        found.append(f"{len(run.calls)} writes made, not {expected_writes}")

    # counts: every incident opened, every event, once; nothing else
    events = {
        i["id"]: [(e["kind"], e["actor"]) for e in i["events"] if e["kind"] != "notified"]
        for i in run.incidents
    }
    expected = dict(run.written.events)
    if len(events) != len(expected):
        found.append(f"{len(events)} incidents in the store, {len(expected)} opened")
    shared = run.written.shared
    shared_notes = sorted(
        e["data"]["text"] for i in run.incidents if i["id"] == shared for e in i["events"]
        if e["kind"] == "note"
    )  # fmt: skip
    if shared_notes != sorted(run.written.shared_notes):
        found.append(
            f"the shared incident has {len(shared_notes)} notes, "
            f"{len(run.written.shared_notes)} were written"
        )
    expected[shared] = expected[shared] + [
        ("note", f"worker{n}") for n in range(run.writers) for _ in range(run.writes // ROUND)
    ]
    for incident, kinds in expected.items():
        if shared == incident:
            kinds, have = sorted(kinds), sorted(events.get(incident, []))
        else:
            have = events.get(incident, [])
        if have != kinds:
            found.append(f"incident {incident}: events {have}, expected {kinds}")
    found += [f"incident {i} was not opened by a writer" for i in set(events) - set(expected)]
    notes = sum(k == "note" for kinds in events.values() for k, _ in kinds)
    written_notes = sum(k == "note" for kinds in expected.values() for k, _ in kinds)
    if notes != written_notes:
        found.append(f"{notes} notes in the store, {written_notes} written")

    # deliveries: each recorded once in the outbox as its notice said, sent, received once
    keys = []
    for i in run.incidents:
        deliveries = run.deliveries[i["id"]]
        planned = sum(e["data"]["deliveries"] for e in i["events"] if e["kind"] == "notified")
        if planned != len(deliveries):
            found.append(f"incident {i['id']}: {planned} deliveries notified, {len(deliveries)}")
        for d in deliveries:
            keys.append(delivery_key(i["id"], d))
            if d["status"] != "sent":
                found.append(f"incident {i['id']}: {d['notice']} {d['channel']} is {d['status']}")
    twice = {key: n for key, n in Counter(run.received).items() if n > 1}
    if twice:
        found.append(f"{len(twice)} deliveries reached the webhook more than once: {twice}")
    if set(run.received) != set(keys):
        found.append(
            f"received {len(set(run.received))} deliveries, the store has {len(keys)}: "
            f"not recorded {sorted(set(run.received) - set(keys))[:5]}, "
            f"never received {sorted(set(keys) - set(run.received))[:5]}"
        )
    if run.due.status == 0 and run.due.document()["deliveries"]:
        found.append(f"still due after the drain: {run.due.document()['deliveries'][:3]}")

    # what was due did go out: every incident not closed had its initial notice (sms
    # and email to the service owner, a call to the R&D leader), every recovered one its
    # rectification, every handed-over one its handover to wang.lei
    for i in run.incidents:
        sent = {(d["notice"], d["channel"], d["recipient"]) for d in run.deliveries[i["id"]]}
        wanted = set()
        if i["status"] != "closed":
            wanted |= {("initial", c, "chen.jie") for c in ("sms", "email")}
            wanted.add(("initial", "phone", "li.wei"))
        if i["recovered_at"]:
            wanted |= {("rectification", c, "chen.jie") for c in ("sms", "email")}
        if i["transferred_at"]:
            wanted |= {("handover", c, HANDED_TO) for c in ("sms", "email")}
        if wanted - sent:
            found.append(f"incident {i['id']} ({i['status']}): never sent {sorted(wanted - sent)}")
    if not keys:
        found.append("no delivery was due: the scenario must make notices due")
    return found
