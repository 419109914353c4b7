"""Build a large incident history quickly, for the benchmarks: bulk inserts through
SQLAlchemy Core, never one ORM object at a time.

Most incidents are old and closed (the history); ``open_count`` are recent and still
being handled. Stored clock columns follow the built-in policy's targets, so every
command sees a consistent database.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from incidentctl.config import builtin_policy
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
