"""Build a large incident history for the benchmarks, one of two ways.

``build``: bulk inserts through SQLAlchemy Core, never one ORM object at a time; the
stored clock columns follow the built-in policy's 24/7 targets.

``imported``: NDJSON lines with their events (``history_lines``) through the real
``incidentctl import``, so every stored column (due times, ``deadline_at``,
``notify_at``, ``policy_version``) is derived by the real code, under the built-in
policy or ``policy_text(calendars=True)``: business hours on levels 2 and 3 and
``pausable = ["resolution"]``. A share of the incidents (``PAUSED_SHARE``) has a
pause; the open ones among them are still paused about half the time.

Either history has the same recent part, whatever its size: the last ``recent``
incidents (September 2026 to ``NOW``, among them the open ones) come from their own
seeded generator, so a small and a large database hold the same open incidents and the
same month to report, and only the closed history before it grows.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import insert

from incidentctl.config import builtin_policy, seed_text
from incidentctl.store.engine import Database, database_url
from incidentctl.store.models import Event, Incident

BATCH = 10_000
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
SERVICES = ("payments", "web-portal", "accounts", "search", "billing", "auth", "storage")


def _closed(i: int, rng: random.Random, policy) -> tuple[dict, list[dict]]:  # type: ignore[no-untyped-def]
    level = rng.choice((1, 2, 2, 3, 3, 3))
    targets = policy.levels[level]
    reported = NOW - timedelta(days=30 + rng.randrange(3 * 365), minutes=rng.randrange(1440))
    ack = reported + timedelta(minutes=rng.randrange(1, 90))
    resolved = ack + timedelta(minutes=rng.randrange(5, 3000))
    closed = resolved + timedelta(hours=rng.randrange(1, 48))
    row = {
        "id": i,
        "title": f"historic incident {i}",
        "service": rng.choice(SERVICES),
        "level": level,
        "opened_level": level,
        "channel": "monitoring",
        "team": "om",
        "assignee": f"engineer{i % 40}",
        "status": "closed",
        "occurred_at": reported,
        "reported_at": reported,
        "acknowledged_at": ack,
        "recovered_at": resolved,
        "resolved_at": resolved,
        "solution": "fixed",
        "closed_at": closed,
        "confirmed_by": "reporter",
        "updated_at": closed,
        "response_due_at": reported + targets.response,
        "response_stopped_at": ack,
        "recovery_due_at": reported + targets.recovery,
        "recovery_stopped_at": resolved,
        "resolution_due_at": reported + targets.resolution,
        "resolution_stopped_at": resolved,
        "deadline_at": None,
    }
    events = [
        {
            "incident_id": i,
            "kind": "opened",
            "at": reported,
            "recorded_at": reported,
            "actor": "bench",
            "data": {"level": level},
        },
        {
            "incident_id": i,
            "kind": "acknowledged",
            "at": ack,
            "recorded_at": ack,
            "actor": "bench",
            "data": {},
        },
        {
            "incident_id": i,
            "kind": "resolved",
            "at": resolved,
            "recorded_at": resolved,
            "actor": "bench",
            "data": {"solution": "fixed"},
        },
        {
            "incident_id": i,
            "kind": "closed",
            "at": closed,
            "recorded_at": closed,
            "actor": "bench",
            "data": {"confirmed_by": "reporter"},
        },
    ]
    return row, events


def build(path: str, total: int, *, seed: int = 7) -> Database:
    """A database at ``path`` holding ``total`` closed historical incidents."""
    db = Database(database_url(path))
    db.ensure_schema()
    policy = builtin_policy()
    rng = random.Random(seed)
    with db.engine.begin() as conn:
        for start in range(1, total + 1, BATCH):
            rows, events = [], []
            for i in range(start, min(start + BATCH, total + 1)):
                row, evs = _closed(i, rng, policy)
                rows.append(row)
                events.extend(evs)
            conn.execute(insert(Incident.__table__), rows)
            conn.execute(insert(Event.__table__), events)
    return db


# --- through the real import -------------------------------------------------------

INCIDENTCTL = str(Path(sys.executable).parent / "incidentctl")
RECENT_FROM = datetime(2026, 9, 1, tzinfo=UTC)  # the month reported and its previous one
PAUSED_SHARE = 0.10  # incidents with a pause, as in a ServiceNow log
REASONS = ("awaiting-customer", "awaiting-vendor", "awaiting-change")
OFFICE = """
[calendars.office]
timezone = "Europe/Berlin"
mon = "09:00-18:00"
tue = "09:00-18:00"
wed = "09:00-18:00"
thu = "09:00-18:00"
fri = "09:00-17:00"
holidays = ["2026-12-24", "2026-12-31"]
country = "DE"
"""


def policy_text(*, calendars: bool) -> str:
    """The built-in policy; with ``calendars``, levels 2 and 3 count business hours
    (``office``, all three clocks) and a pause stops their resolution clock."""
    text = seed_text()
    if not calendars:
        return text
    for level in (2, 3):
        header = f"[levels.{level}]\n"
        assert header in text, header
        text = text.replace(header, f'{header}calendar = "office"\npausable = ["resolution"]\n', 1)
    return text + OFFICE


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _line(number: int, reported: datetime, rng: random.Random) -> bytes:
    """One incident as an export line, its milestones and its events, cut at ``NOW``."""
    level = rng.choice((1, 2, 2, 3, 3, 3))
    assignee = f"engineer{number % 40}"
    ack = reported + timedelta(minutes=rng.randrange(1, 90))
    timeline: list[tuple[str, datetime, dict[str, object]]] = [
        ("opened", reported, {"level": level}),
        ("acknowledged", ack, {"assignee": assignee}),
    ]
    worked_from = ack
    if rng.random() < PAUSED_SHARE:
        reason = rng.choice(REASONS)
        paused = ack + timedelta(minutes=rng.randrange(10, 600))
        resumed = paused + timedelta(minutes=rng.randrange(60, 3 * 1440))
        timeline.append(("paused", paused, {"reason": reason}))
        timeline.append(("resumed", resumed, {"reason": reason}))
        worked_from = resumed
    resolved = worked_from + timedelta(minutes=rng.randrange(5, 3000))
    timeline.append(("recovered", resolved, {"implied_by": "resolve"}))
    timeline.append(("resolved", resolved, {"solution": "fixed"}))
    done = resolved
    if level == 1:
        done += timedelta(minutes=30)
        timeline.append(("approved", done, {}))
    done += timedelta(hours=rng.randrange(1, 48))
    timeline.append(("closed", done, {"confirmed_by": "reporter"}))
    timeline = [(kind, at, data) for kind, at, data in timeline if at <= NOW]
    line: dict[str, object] = {
        "id": number,
        "title": f"incident {number}",
        "service": SERVICES[number % len(SERVICES)],
        "level": level,
        "channel": "monitoring",
        "reporter": "reporter",
        "assignee": assignee,
        "reported_at": _z(reported),
    }
    for kind, at, _ in timeline[1:]:  # the milestones the events make (as export has them)
        if kind in _MILESTONES:
            line[f"{kind}_at"] = _z(at)
    if "resolved_at" in line:
        line["solution"] = "fixed"
    if "approved_at" in line:
        line["approved_by"] = "bench"
    if "closed_at" in line:
        line["confirmed_by"] = "reporter"
    line["events"] = [
        {"kind": kind, "at": _z(at), "recorded_at": _z(at), "actor": "bench", "data": data}
        for kind, at, data in timeline
    ]
    return orjson.dumps(line)


_MILESTONES = ("acknowledged", "recovered", "resolved", "approved", "closed")


def history_lines(total: int, *, recent: int = 10_000, seed: int = 7) -> Iterator[bytes]:
    """``total`` incidents, oldest first: ``total - recent`` closed ones over the three
    years before September 2026, then the same ``recent`` ones for any ``total``."""
    history = max(total - recent, 0)
    rng = random.Random(seed)
    span = timedelta(days=3 * 365).total_seconds()
    start = RECENT_FROM - timedelta(seconds=span)
    for number in range(1, history + 1):
        moment = start + timedelta(seconds=span * (number - rng.random()) / history)
        yield _line(number, moment, rng)
    rng = random.Random(seed + 1)  # not shifted by the history's size
    span = (NOW - timedelta(hours=1) - RECENT_FROM).total_seconds()
    count = total - history
    for k in range(1, count + 1):
        moment = RECENT_FROM + timedelta(seconds=span * (k - rng.random()) / count)
        yield _line(history + k, moment, rng)


def write_policy(path: Path, *, calendars: bool) -> Path:
    path.write_text(policy_text(calendars=calendars))
    return path


def import_lines(db: Path, lines: Path, policy: Path) -> float:
    """``incidentctl import`` of ``lines`` into the new database ``db`` under ``policy``
    at ``NOW``, by the installed command line; its wall seconds."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    env = {
        **os.environ,
        "INCIDENTCTL_NOW": _z(NOW),
        "INCIDENTCTL_USER": "bench",
        "INCIDENTCTL_CONFIG_DIR": str(db.parent / "no-config"),
    }
    started = time.perf_counter()
    proc = subprocess.run(
        [INCIDENTCTL, "--db", str(db), "--config", str(policy), "import", str(lines)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"import into {db} failed: {proc.stderr[-2000:]}")
    return elapsed


def write_lines(path: Path, total: int, *, recent: int = 10_000) -> Path:
    if not path.exists():
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            for line in history_lines(total, recent=recent):
                out.write(line + b"\n")
        partial.rename(path)
    return path


def imported(
    where: Path, total: int, *, calendars: bool = True, recent: int = 10_000
) -> tuple[Path, Path]:
    """The database of ``total`` incidents imported under the calendar (or 24/7) policy,
    built once in ``where`` and reused; and its policy file."""
    where.mkdir(parents=True, exist_ok=True)
    tag = "calendars" if calendars else "24x7"
    policy = write_policy(where / f"policy-{tag}.toml", calendars=calendars)
    db = where / f"imported-{tag}-{total}-{recent}.db"
    if not db.exists():
        lines = write_lines(where / f"history-{total}-{recent}.ndjson", total, recent=recent)
        partial = db.with_suffix(".partial.db")
        seconds = import_lines(partial, lines, policy)
        partial.rename(db)
        print(
            f"imported {total:,} incidents ({tag}) in {seconds:.0f} s "
            f"({total / seconds:,.0f}/s): {db}",
            file=sys.stderr,
        )
    return db, policy
