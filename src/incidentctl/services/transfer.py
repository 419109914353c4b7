"""Moving incidents in and out: streamed export, validated all-or-nothing import.

Export yields each incident's public document (SPEC §7) with its events, in id order,
a batch at a time, so memory stays flat however large the history is.

Import reads NDJSON: export's own lines (with ``events``), or plain incident objects
with the fields of SPEC §2 and no events, whose timeline is then derived from the
milestone timestamps. Every line is validated (``services.lines``, in worker processes:
see ``store.bulk``) and everything goes in inside one transaction, so one bad line
(even the last of a million) rolls everything back and the error names its line. Ids
in the file are kept; lines without one get the next free id. The stored clocks,
status and deadline are recomputed with the pure policy. On PostgreSQL the id
sequences are moved past the imported ids.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incidentctl.errors import ConfigError, InvalidInput
from incidentctl.services.lines import LineReader, read_version_lines, version_line
from incidentctl.services.versions import rules_of, version_of
from incidentctl.store import bulk

if TYPE_CHECKING:
    from incidentctl.store.engine import Database
    from incidentctl.store.repository import IncidentFilter

__all__ = ["ImportSummary", "export_records", "import_file", "version_records"]

EXPORT_BATCH = 1000


def export_records(
    db: Database, flt: IncidentFilter, now: datetime
) -> Iterator[tuple[Any, list[Any]]]:
    """The incidents ``flt`` selects, each as its row and its event rows, in id order.

    Plain rows (no ORM objects), streamed in batches; each batch's events come from one
    indexed query, in the same snapshot as the incidents.
    """
    from incidentctl.store import engine, repository

    with db.read() as session:
        engine.read_one_snapshot(session)
        batches = repository.incident_rows_matching(session, flt=flt, now=now, batch=EXPORT_BATCH)
        for rows in batches:
            ids = [row.id for row in rows]
            timeline: dict[int, list[Any]] = {i: [] for i in ids}
            for event in repository.event_rows_of(session, incident_ids=ids):
                timeline[event.incident_id].append(event)
            for row in rows:
                yield row, timeline[row.id]


def version_records(db: Database, flt: IncidentFilter, now: datetime) -> list[dict[str, Any]]:
    """The policy versions the incidents ``flt`` selects follow, as an export's first
    lines: an import reads them first, so the incidents keep the versions of their clocks."""
    from incidentctl.store import repository

    with db.read() as session:
        texts = repository.versions_matching(session, flt=flt, now=now)
    return [version_line(version, text) for version, text in sorted(texts.items())]


# --------------------------------------------------------------------------- import


@dataclass
class ImportSummary:
    incidents: int = 0
    events: int = 0
    derived: int = 0  # incidents whose timeline was derived from their milestones
    # imported incidents with a notice due at once: the next escalate sends them
    notices_due: int = 0
    dry_run: bool = False


def import_file(
    open_db: Callable[[], Database],
    source: Path,
    *,
    policy: Any,
    now: datetime,
    actor: str,
    dry_run: bool = False,
    past_notices: bool = True,
    part_bytes: int = bulk.PART_BYTES,
    workers: int | None = None,
) -> ImportSummary:
    """Validate and insert an NDJSON file of incidents, all or nothing (module docstring).

    The workers start before ``open_db`` is called, so they read while the database is
    opened (and migrated). ``--dry-run`` runs the very same import, constraints
    included, and rolls it back. ``past_notices=False`` (``--no-past-notices``): the
    notices already due are taken as sent where the incidents come from; only those
    that fall due later go out. Raises ``InvalidInput`` naming the first bad line.
    """
    summary = ImportSummary(dry_run=dry_run)
    reader = LineReader(policy=policy, now=now, actor=actor, past_notices=past_notices)
    try:
        texts = read_version_lines(source)
        reader.versions = {version: rules_of(text=text) for version, text in texts.items()}
    except bulk.Refused as exc:
        raise InvalidInput(f"{exc}; nothing was imported") from None
    except ConfigError as exc:
        raise InvalidInput(f"a policy version line: {exc.message}; nothing was imported") from None
    with tempfile.TemporaryDirectory(prefix="incidentctl-import-") as workdir:
        parts = bulk.cut(source, Path(workdir), part_bytes=part_bytes)
        with bulk.staging(parts, reader.convert, workers=workers) as staged_parts:
            # SQLAlchemy is loaded only now, while the workers read.
            from incidentctl.store import engine, repository
            from incidentctl.store.copier import Copier

            db = open_db()
            copier: Copier | None = None
            try:
                with db.write() as session:
                    conn = session.connection()
                    # Ids are chosen here, so no other writer may take one meanwhile.
                    engine.lock_for_ids(conn, (repository.INCIDENTS, repository.EVENTS))
                    copier = Copier(conn)
                    # Incidents with a notice due now: counted before and after, in the
                    # transaction that holds the write lock.
                    due_before = repository.count_due_for_notice(session, before=now)
                    for staged in staged_parts:
                        try:
                            copier.copy(staged)
                        except bulk.Refused as exc:
                            raise InvalidInput(f"{exc}; nothing was imported") from None
                        summary.incidents += staged.incidents
                        summary.events += staged.events
                        summary.derived += staged.derived
                    # the versions the imported clocks follow, beside the incidents
                    current, current_text = version_of(policy)
                    for version, text in {**texts, current: current_text}.items():
                        repository.add_policy_version(session, version=version, text=text, now=now)
                    due_after = repository.count_due_for_notice(session, before=now)
                    summary.notices_due = due_after - due_before
                    if dry_run:
                        session.rollback()
                        return summary
                    if summary.incidents:
                        engine.move_sequences_past(conn, (repository.INCIDENTS, repository.EVENTS))
            finally:
                if copier is not None:
                    copier.close()
    return summary
