"""Bench only: the ``incidentctl`` command line with its import changed, for
``bench_import.py --one-process --core-insert``. Nothing in src/ uses this.

    .venv/bin/python bench/import_variants.py one-process --db X.db import FILE
    .venv/bin/python bench/import_variants.py core-insert --db X.db import FILE

``one-process``: today's import (``store.portable.import_file``) with one part of any
size (``part_bytes`` 2**62): ``bulk.staging`` then stages it in the importing process,
so nothing forks; the staging file and its copy stay.

``core-insert`` — EXPERIMENT, a prototype, not the product: one process, no apsw, no
staging file. Each line goes through today's ``_LineReader.convert`` (the same
validation, derived timeline, clocks and stored texts) and the rows are inserted with
SQLAlchemy Core, ``conn.execute(insert(table), list_of_dicts)`` in batches of
``BATCH`` lines, all in the one write transaction (sqlite-utils' ``insert_all`` style).
The tables are untyped ``table()``/``column()`` constructs: the values are already in
their stored form, so no bind processing. Prototype limits: every line must carry its
``id`` (the bench's records do); a constraint error is not traced to its line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from incidentctl.store import portable

BATCH = 2000  # lines per executemany


def core_insert_import(
    open_db: Any,
    source: Path,
    *,
    policy: Any,
    now: Any,
    actor: str,
    dry_run: bool = False,
    past_notices: bool = True,
    **_: Any,
) -> portable.ImportSummary:
    from sqlalchemy import column, func, insert, select, table
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import col

    from incidentctl.errors import InvalidInput
    from incidentctl.store.bulk import BOM, Refused
    from incidentctl.store.columns import EVENT_COLUMNS, INCIDENT_COLUMNS
    from incidentctl.store.models import Incident

    incidents = table("incidents", *(column(c) for c in INCIDENT_COLUMNS))
    events = table("events", *(column(c) for c in EVENT_COLUMNS))
    reader = portable._LineReader(policy=policy, now=now, actor=actor, past_notices=past_notices)
    summary = portable.ImportSummary(dry_run=dry_run)
    due_now = select(func.count()).where(col(Incident.notify_at) <= now)
    db = open_db()
    with db.write() as session:
        conn = session.connection()
        conn.exec_driver_sql("PRAGMA cache_size=-262144")  # as store.copier does
        due_before = conn.execute(due_now).scalar_one()
        incident_rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []

        def flush() -> None:
            try:
                if incident_rows:
                    conn.execute(insert(incidents), incident_rows)
                if event_rows:
                    conn.execute(insert(events), event_rows)
            except IntegrityError as exc:
                raise InvalidInput(f"refused by the database: {exc.orig}") from None
            summary.incidents += len(incident_rows)
            summary.events += len(event_rows)
            incident_rows.clear()
            event_rows.clear()

        with source.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                if number == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM) :]
                if not raw.strip():
                    continue
                try:
                    incident, timeline, derived = reader.convert(raw)
                except Refused as exc:
                    raise InvalidInput(f"line {number}: {exc}; nothing was imported") from None
                if incident[0] is None:
                    raise NotImplementedError("the prototype needs an id on every line")
                incident_rows.append(dict(zip(INCIDENT_COLUMNS, incident, strict=True)))
                event_rows.extend(dict(zip(EVENT_COLUMNS, e, strict=True)) for e in timeline)
                summary.derived += derived
                if len(incident_rows) >= BATCH:
                    flush()
        flush()
        summary.notices_due = conn.execute(due_now).scalar_one() - due_before
        if dry_run:
            session.rollback()
    return summary


def main() -> None:
    variant = sys.argv.pop(1)
    if variant == "one-process":
        portable.import_file.__kwdefaults__["part_bytes"] = 2**62
    elif variant == "core-insert":
        portable.import_file = core_insert_import  # type: ignore[assignment]
    else:
        raise SystemExit(f"unknown variant {variant!r}: one-process or core-insert")
    from incidentctl.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
