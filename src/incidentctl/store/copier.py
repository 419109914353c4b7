"""Copying staged parts into the database, in file order, inside the import's one
transaction (``store.bulk`` stages them).

On SQLite one ``INSERT … SELECT`` per table from the attached staging file (the engine
copies; no value passes through Python again); on PostgreSQL the staged rows streamed
with ``COPY``. A copy refused by a constraint is traced to its line.

Ids: a line's own id is kept. A line without one gets the next free id, exactly as if
the lines were inserted one by one in order (one more than the largest id in the
database and the lines before it); events without an id likewise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from incidentctl.domain import EVENT_COLUMNS, INCIDENT_COLUMNS
from incidentctl.store.bulk import Part, Refused, Row, Staged
from incidentctl.store.models import Event, Incident

__all__ = ["Copier", "fill_ids", "numbered"]

INCIDENTS = Incident.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]


class Copier:
    """Copies staged parts, in file order, into the database inside one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.first_line = 1  # the file's line number of the current part's first line
        self.attached: list[str] = []
        # the driver's own connection: COPY, and detaching after the transaction
        self.raw: Any = conn.connection.dbapi_connection
        self.refusals: tuple[type[Exception], ...] = (IntegrityError,)
        if self.sqlite:
            # A big page cache keeps the index updates of a large import in memory.
            conn.exec_driver_sql("PRAGMA cache_size=-262144")
        else:
            import psycopg

            self.refusals = (IntegrityError, psycopg.IntegrityError)  # COPY's own errors
            # The staged times are UTC without an offset; say so for this transaction.
            conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")

    def copy(self, staged: Staged) -> None:
        """Copy one part, or raise ``Refused`` naming its first bad line: one whose id is
        taken, or the line its worker refused (the lines before that one are copied)."""
        savepoint = self.conn.begin_nested()
        try:
            if self.sqlite:
                self._copy_sqlite(staged.part)
            else:
                self._copy_rows(staged.part)
        except self.refusals as exc:
            savepoint.rollback()
            raise Refused(self._clash(staged.part, exc)) from None
        savepoint.commit()
        if staged.error:
            line, why = staged.error
            raise Refused(f"line {self.first_line + line - 1}: {why}")
        self.first_line += staged.lines

    def close(self) -> None:
        """After the transaction: detach the staging files from the pooled connection."""
        if not self.attached:
            return
        raw = self.raw
        with suppress(sqlite3.Error):
            raw.execute("DROP TABLE IF EXISTS temp.import_ids")
            for name in self.attached:
                raw.execute(f"DETACH DATABASE {name}")

    def _next_id(self, table: Any) -> int:
        return (self.conn.execute(select(func.max(table.c.id))).scalar() or 0) + 1

    def _copy_sqlite(self, part: Part) -> None:
        name = f"part{part.index}"
        self.conn.exec_driver_sql(f"ATTACH DATABASE ? AS {name}", (str(part.staging),))
        self.attached.append(name)
        incident_id, owner, join = "p.id", "p.incident_id", ""
        missing = f"SELECT 1 FROM {name}.incidents WHERE id IS NULL LIMIT 1"
        if self.conn.exec_driver_sql(missing).first():
            # Lines without an id: choose theirs now, and their events follow them.
            ids = self.conn.exec_driver_sql(f"SELECT seq, id FROM {name}.incidents ORDER BY rowid")
            filled = fill_ids(ids.all(), self._next_id(INCIDENTS))
            self.conn.exec_driver_sql(
                "CREATE TEMP TABLE IF NOT EXISTS import_ids (seq INTEGER PRIMARY KEY, id INTEGER)"
            )
            self.conn.exec_driver_sql("DELETE FROM temp.import_ids")
            self.conn.exec_driver_sql(
                "INSERT INTO temp.import_ids VALUES (?, ?)", list(filled.items())
            )
            incident_id, owner = "coalesce(p.id, a.id)", "coalesce(p.incident_id, a.id)"
            join = " LEFT JOIN temp.import_ids a ON a.seq = p.seq"
        rest = ", ".join(f"p.{c}" for c in INCIDENT_COLUMNS[1:])
        self.conn.exec_driver_sql(
            f"INSERT INTO incidents ({', '.join(INCIDENT_COLUMNS)}) "
            f"SELECT {incident_id}, {rest} FROM {name}.incidents p{join} ORDER BY p.rowid"
        )
        # Events without an id take the next rowid as they go in, in file order.
        rest = ", ".join(f"p.{c}" for c in EVENT_COLUMNS[2:])
        self.conn.exec_driver_sql(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
            f"SELECT p.id, {owner}, {rest} FROM {name}.events p{join} ORDER BY p.rowid"
        )

    def _copy_rows(self, part: Part) -> None:
        """PostgreSQL: the staged rows, streamed with ``COPY``, their ids filled in here."""
        staging = sqlite3.connect(part.staging)
        try:
            owners = staging.execute("SELECT seq, id FROM incidents ORDER BY rowid").fetchall()
            if not owners:
                return
            filled = fill_ids(owners, self._next_id(INCIDENTS))
            rows = staging.execute(
                f"SELECT seq, {', '.join(INCIDENT_COLUMNS)} FROM incidents ORDER BY rowid"
            )
            self._copy_in(INCIDENTS, ((filled.get(r[0], r[1]), *r[2:]) for r in rows))
            rows = staging.execute(
                f"SELECT seq, {', '.join(EVENT_COLUMNS)} FROM events ORDER BY rowid"
            )
            events = numbered(rows, 1, self._next_id(EVENTS))
            self._copy_in(EVENTS, ((i, filled.get(r[0], r[2]), *r[3:]) for i, r in events))
        finally:
            staging.close()

    def _copy_in(self, table: Any, rows: Iterator[Row]) -> None:
        columns = INCIDENT_COLUMNS if table is INCIDENTS else EVENT_COLUMNS
        with (
            self.raw.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def _clash(self, part: Part, exc: Exception) -> str:
        """Which line of a refused part holds an id that is already taken."""
        staging = sqlite3.connect(part.staging)
        try:
            incidents = staging.execute("SELECT seq, id FROM incidents ORDER BY seq").fetchall()
            events = staging.execute("SELECT seq, id FROM events ORDER BY rowid").fetchall()
        finally:
            staging.close()
        clashes = []
        kinds = (("incident", INCIDENTS, incidents), ("event", EVENTS, events))
        for order, (kind, table, rows) in enumerate(kinds):
            # The ids the rows would have had, given or filled in (the copy was undone).
            ids = [i for i, _ in numbered(rows, 1, self._next_id(table))]
            taken = self._taken(table, ids)
            seen: set[int] = set()
            for (seq, _), given in zip(rows, ids, strict=True):
                if given in taken or given in seen:
                    clashes.append((seq, order, f"{kind} id {given} is already taken"))
                    break
                seen.add(given)
        if clashes:
            seq, _, why = min(clashes)
            return f"line {self.first_line + seq - 1}: {why}"
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        last = self.first_line + (incidents[-1][0] if incidents else 1) - 1
        return f"lines {self.first_line}-{last}: refused by the database: {detail}"

    def _taken(self, table: Any, ids: list[int]) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            found.update(
                self.conn.execute(select(table.c.id).where(table.c.id.in_(chunk))).scalars()
            )
        return found


def numbered(rows: Iterable[Row], at: int, next_id: int) -> Iterator[tuple[int, Row]]:
    """Each row with its id: the one at ``row[at]``, or if that is None the next free
    one: one more than the largest so far, in the database (``next_id``) and the rows
    before it."""
    for row in rows:
        given = row[at]
        if given is None:
            yield next_id, row
            next_id += 1
        else:
            next_id = max(next_id, given + 1)
            yield given, row


def fill_ids(pairs: Sequence[tuple[int, int | None]], next_id: int) -> dict[int, int]:
    """The ids ``numbered`` gives the (key, id) pairs that have none, by key."""
    return {row[0]: new for new, row in numbered(pairs, 1, next_id) if row[1] is None}
