"""Bulk loading for ``import``: parts, worker processes, staging files, one transaction.

The input file is cut into parts at line ends. Worker processes (one per core, each
taking the next part until none is left) turn a part's lines into rows, already in
the stored form, and write them to a staging SQLite file of their own: the Python work
of validating, deriving and binding values runs on every core. The importing process
then copies the parts into the database in file order, inside its single write
transaction: on SQLite one ``INSERT … SELECT`` per table from the attached staging
file (the engine copies; no value passes through Python again), on PostgreSQL the
staged rows streamed with ``COPY``. A part whose lines were refused stops the import
with the first bad line; a copy refused by a constraint is traced to its line.
Nothing is kept unless everything went in.

Ids: a line's own id is kept. A line without one gets the next free id, exactly as if
the lines were inserted one by one in order (one more than the largest id in the
database and the lines before it); events without an id likewise.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import apsw
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from incidentctl.errors import IncidentctlError
from incidentctl.store.models import Event, Incident

__all__ = ["MAX_PARTS", "PART_BYTES", "Copier", "Part", "Refused", "Staged", "cut", "staging"]

PART_BYTES = 2 * 2**20  # smaller files are one part, read in this process
MAX_PARTS = 8  # SQLite attaches at most ten databases, and a part stays attached to commit
BATCH = 2000  # lines per executemany into a staging file
BOM = b"\xef\xbb\xbf"

INCIDENTS = Incident.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]
# The staged column orders: the ids first, as the copy fills in the missing ones.
INCIDENT_COLUMNS = ("id", *(c.name for c in INCIDENTS.columns if c.name != "id"))
EVENT_COLUMNS = (
    "id",
    "incident_id",
    *(c.name for c in EVENTS.columns if c.name not in ("id", "incident_id")),
)

# One line becomes one incident row and its event rows, each a tuple in the column
# order above, or is refused. The bool says whether the timeline was derived.
Row = tuple[Any, ...]
Convert = Callable[[bytes], tuple[Row, list[Row], bool]]


class Refused(Exception):
    """This line is wrong; the message says why (the caller adds the line number)."""


@dataclass(frozen=True)
class Part:
    index: int
    source: Path
    start: int  # byte offsets: [start, end), cut just after a newline
    end: int
    staging: Path


@dataclass(frozen=True)
class Staged:
    """What a worker made of one part."""

    part: Part
    lines: int  # lines read, blank ones included (line numbers count them)
    incidents: int
    events: int
    derived: int
    error: tuple[int, str] | None = None  # (line within the part, why)


def cut(source: Path, workdir: Path, *, part_bytes: int = PART_BYTES) -> list[Part]:
    """Cut ``source`` into at most ``MAX_PARTS`` parts of about ``part_bytes``, at line ends.

    The parts shrink towards the end of the file (the first is about four times the
    last): the copy of the last part, which nothing runs beside, is then short, and the
    workers finish together."""
    size = source.stat().st_size
    count = max(1, min(MAX_PARTS, -(-size // max(1, part_bytes))))
    weights = [count + 2 - k for k in range(count)]  # 10, 9, ... 3 for eight parts
    bounds = [0]
    with source.open("rb") as handle:
        for k in range(1, count):
            target = max(bounds[-1], size * sum(weights[:k]) // sum(weights))
            handle.seek(target)
            handle.readline()  # to the end of the line the target falls in
            bounds.append(min(size, handle.tell()))
    bounds.append(size)
    return [
        Part(k, source, start, end, workdir / f"part{k}.db")
        for k, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False))
        if end > start or k == 0
    ]


# --------------------------------------------------------------------------- workers


@contextmanager
def staging(
    parts: Sequence[Part], convert: Convert, *, workers: int | None = None
) -> Iterator[Iterator[Staged]]:
    """The parts staged, in file order, each as soon as it and those before it are.

    With more than one part, worker processes (one per core) start at once, so the
    parts are read while the caller opens the database. One part is staged in this
    process when it is asked for. Leaving the block stops the workers.
    """
    if len(parts) == 1:
        yield (_stage_with(convert, part) for part in parts)
        return
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    pool = _Workers(parts, convert, max(1, workers or os.cpu_count() or 1))
    try:
        yield iter(pool)
    finally:
        pool.stop()


class _Workers:
    """``count`` worker processes, each taking the next part in file order until none is
    left, so a core never waits for the importing process to hand it work.

    Rather than ``multiprocessing.Pool``: a worker that dies (the OOM killer, a signal)
    is noticed at once and stops the import with a sentence, where a pool would wait
    for its lost result for ever, holding the database's write lock.
    """

    def __init__(self, parts: Sequence[Part], convert: Convert, count: int) -> None:
        # fork where it is safe: the workers start with the policy already loaded
        context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
        self.parts = list(parts)
        self.done: set[int] = set()
        self.holding: dict[int, int] = {}  # worker pid -> the part it is staging
        taken = context.Value("i", 0)  # how many parts the workers have taken
        self.running: list[tuple[Any, Any]] = []  # (process, the pipe it reports on)
        for _ in range(min(count, len(self.parts))):
            reports, report = context.Pipe(duplex=False)
            process = context.Process(
                target=_work, args=(convert, self.parts, taken, report), daemon=True
            )
            process.start()
            report.close()  # the worker's end: EOF here once the worker is gone
            self.running.append((process, reports))

    def __iter__(self) -> Iterator[Staged]:
        for part in self.parts:
            while part.index not in self.done:
                self._wait()
            yield _recorded(part)

    def _wait(self) -> None:
        """Until a worker reports or ends; a worker that failed stops the import."""
        wait([reports for _, reports in self.running])
        for process, reports in list(self.running):
            try:
                while reports.poll():
                    what, index = reports.recv()
                    if what == "taking":
                        self.holding[process.pid] = index
                    else:
                        self.done.add(index)
                        del self.holding[process.pid]
            except EOFError:  # the worker is gone: it ended or it died
                process.join()
                self.running.remove((process, reports))
                reports.close()
                if process.exitcode != 0:
                    self._failed(process.pid, process.exitcode)

    def _failed(self, pid: int, code: int) -> None:
        how = f"was killed by signal {-code}" if code < 0 else f"failed (exit {code})"
        index = self.holding.get(pid)
        if index is None:
            raise IncidentctlError(f"an import worker process {how}; nothing was imported")
        part = self.parts[index]
        raise IncidentctlError(
            f"the worker process reading bytes {part.start}-{part.end} of "
            f"{part.source} {how}; nothing was imported"
        )

    def stop(self) -> None:
        for process, _ in self.running:
            process.terminate()
        for process, reports in self.running:
            process.join()
            reports.close()
        self.running.clear()


def _work(convert: Convert, parts: Sequence[Part], taken: Any, report: Any) -> None:
    """A worker process: stage the next part not yet taken, until none is left."""
    # A worker's rows hold no reference cycles, and what it inherited is never garbage:
    # the cycle collector would only walk the same objects again and again.
    gc.disable()
    # Ctrl-C reaches the whole process group: the importing process stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        with taken.get_lock():
            index = taken.value
            taken.value = index + 1
        if index >= len(parts):
            return
        report.send(("taking", index))
        _stage_with(convert, parts[index])  # its summary is recorded in the staging file
        report.send(("staged", index))


def _recorded(part: Part) -> Staged:
    """The summary a worker recorded in the part's staging file."""
    db = sqlite3.connect(part.staging)
    try:
        lines, incidents, events, derived, line, why = db.execute(
            "SELECT lines, incidents, events, derived, error_line, error FROM staged"
        ).fetchone()
    finally:
        db.close()
    return Staged(part, lines, incidents, events, derived, None if line is None else (line, why))


def _stage_with(convert: Convert, part: Part) -> Staged:
    """Convert the part's lines and write their rows to the part's staging file."""
    # apsw rather than sqlite3 here: it binds values about twice as fast, and binding
    # is a third of a worker's time. The file is read back by the sqlite3 module.
    db = apsw.Connection(str(part.staging))
    try:
        db.execute("PRAGMA journal_mode=OFF")  # a throw-away file: no journal, no syncs
        db.execute("PRAGMA synchronous=OFF")
        # No declared types: values keep the form they were given (no affinity work).
        db.execute(f"CREATE TABLE incidents (seq, {', '.join(INCIDENT_COLUMNS)})")
        db.execute(f"CREATE TABLE events (seq, {', '.join(EVENT_COLUMNS)})")
        add_incidents = f"INSERT INTO incidents VALUES (?{', ?' * len(INCIDENT_COLUMNS)})"
        add_events = f"INSERT INTO events VALUES (?{', ?' * len(EVENT_COLUMNS)})"
        db.execute("BEGIN")
        incidents: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        counts = {"incidents": 0, "events": 0, "derived": 0}

        def flush() -> None:
            counts["incidents"] += len(incidents)
            counts["events"] += len(events)
            db.executemany(add_incidents, incidents)
            db.executemany(add_events, events)
            incidents.clear()
            events.clear()

        number = 0
        error = None
        with part.source.open("rb") as handle:
            handle.seek(part.start)
            left = part.end - part.start
            while left > 0:
                raw = handle.readline(left)
                number += 1
                if not raw:
                    error = (number, "the file ended early: it changed while it was read")
                    break
                left -= len(raw)
                if number == 1 and part.start == 0 and raw.startswith(BOM):
                    raw = raw[len(BOM) :]
                if not raw.strip():
                    continue
                try:
                    incident, timeline, derived = convert(raw)
                except Refused as exc:
                    # The lines before it are staged too: an id they take may be the
                    # import's first error.
                    error = (number, str(exc))
                    break
                incidents.append((number, *incident))
                events.extend((number, *event) for event in timeline)
                counts["derived"] += derived
                if len(incidents) >= BATCH:
                    flush()
        flush()
        staged = Staged(part, number, **counts, error=error)
        db.execute("CREATE TABLE staged (lines, incidents, events, derived, error_line, error)")
        db.execute(
            "INSERT INTO staged VALUES (?, ?, ?, ?, ?, ?)",
            (number, staged.incidents, staged.events, staged.derived, *(error or (None, None))),
        )
        db.execute("COMMIT")
        return staged
    finally:
        db.close()


# --------------------------------------------------------------------------- copying


class Copier:
    """Copies staged parts, in file order, into the database inside one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.first_line = 1  # the file's line number of the current part's first line
        self.attached: list[str] = []
        self.raw = conn.connection.dbapi_connection  # COPY; detaching after the transaction
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
