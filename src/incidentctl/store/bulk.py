"""Bulk loading for ``import``: parts, worker processes, staging files.

The input file is cut into parts at line ends. Worker processes (one per core, each
taking the next part until none is left) turn a part's lines into rows, already in
the stored form, and write them to a staging SQLite file of their own: the Python work
of validating, deriving and binding values runs on every core. The importing process
then copies the parts into the database in file order, inside its single write
transaction (``store.copier``). A part whose lines were refused stops the import with
the first bad line. Nothing is kept unless everything went in.

Nothing here imports SQLAlchemy: the workers start before the importing process has
loaded it.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import apsw

from incidentctl.domain import EVENT_COLUMNS, INCIDENT_COLUMNS
from incidentctl.errors import IncidentctlError

__all__ = [
    "MAX_PARTS",
    "PART_BYTES",
    "Part",
    "Refused",
    "Row",
    "Staged",
    "cut",
    "staging",
    "stored_rows",
    "stored_time",
]

PART_BYTES = 2 * 2**20  # smaller files are one part, read in this process
MAX_PARTS = 8  # SQLite attaches at most ten databases, and a part stays attached to commit
BATCH = 2000  # lines per executemany into a staging file
BOM = b"\xef\xbb\xbf"

# One line becomes one incident row and its event rows, each a tuple in the column
# order of ``domain`` (times as aware datetimes), or is refused. The bool says whether
# the timeline was derived.
Row = tuple[Any, ...]
Convert = Callable[[bytes], tuple[Row, list[Row], bool] | None]  # None: not an incident
_INCIDENT_TIMES = [i for i, name in enumerate(INCIDENT_COLUMNS) if name.endswith("_at")]
_EVENT_TIMES = [i for i, name in enumerate(EVENT_COLUMNS) if name == "at" or name.endswith("_at")]


def stored_time(moment: datetime) -> str:
    """A time as the store keeps it on SQLite: UTC, no offset, in SQLAlchemy's DATETIME
    text (``UTCDateTime``), so range queries compare alike; PostgreSQL reads it in a
    UTC session. Formatted by hand: ``isoformat`` of an aware time is slower."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 (faster than isoformat)
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
    )


def stored_rows(incident: Row, events: list[Row]) -> tuple[list[Any], list[list[Any]]]:
    """A line's rows with their times in the stored form; a time object shared by
    several columns (the report and the opened event, say) is formatted once."""
    texts: dict[int, str] = {}
    known = texts.get
    row = list(incident)
    for i in _INCIDENT_TIMES:
        moment = row[i]
        if moment is not None:
            text = known(id(moment))
            if text is None:
                text = texts[id(moment)] = stored_time(moment)
            row[i] = text
    stored_events = []
    for event in events:
        values = list(event)
        for i in _EVENT_TIMES:
            moment = values[i]
            text = known(id(moment))
            if text is None:
                text = texts[id(moment)] = stored_time(moment)
            values[i] = text
        stored_events.append(values)
    return row, stored_events


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
    is noticed and stops the import with a sentence when the parts before the one it
    held are through (so the first bad line of the file still wins), where a pool would
    wait for its lost result for ever, holding the database's write lock.
    """

    def __init__(self, parts: Sequence[Part], convert: Convert, count: int) -> None:
        # fork where it is safe: the workers start with the policy already loaded
        context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
        self.parts = list(parts)
        self.done: set[int] = set()
        self.lost: dict[int, str] = {}  # part index -> how its worker ended
        self.lost_elsewhere: str | None = None  # a worker that died holding no part
        self.taken = context.Value("i", 0)  # how many parts the workers have taken
        count = min(count, len(self.parts))
        # Each worker's part, written before it is taken: read when the worker dies.
        self.holding = context.Array("i", [-1] * count, lock=False)
        self.running: list[tuple[Any, Any, int]] = []  # (process, its report pipe, slot)
        for slot in range(count):
            reports, report = context.Pipe(duplex=False)
            process = context.Process(
                target=_work,
                args=(convert, self.parts, self.taken, self.holding, slot, report),
                daemon=True,
            )
            process.start()
            report.close()  # the worker's end: EOF here once the worker is gone
            self.running.append((process, reports, slot))

    def __iter__(self) -> Iterator[Staged]:
        for part in self.parts:
            while part.index not in self.done and part.index not in self.lost:
                if not self.running:  # cannot happen: a worker leaves only when all are taken
                    break
                self._wait()
            if part.index in self.lost or part.index not in self.done:
                how = self.lost.get(part.index) or self.lost_elsewhere or "ended early"
                raise IncidentctlError(
                    f"the worker process reading bytes {part.start}-{part.end} of "
                    f"{part.source} {how}; nothing was imported"
                )
            yield _recorded(part)
        if self.lost_elsewhere:
            raise IncidentctlError(
                f"an import worker process {self.lost_elsewhere}; nothing was imported"
            )

    def _wait(self) -> None:
        """Until a worker reports or ends; a worker that failed loses the part it held."""
        wait([reports for _, reports, _ in self.running])
        for process, reports, slot in list(self.running):
            try:
                while reports.poll():
                    self.done.add(reports.recv())
            except EOFError:  # the worker is gone: it ended or it died
                process.join()
                self.running.remove((process, reports, slot))
                reports.close()
                code = process.exitcode
                if code != 0:
                    how = f"was killed by signal {-code}" if code < 0 else f"failed (exit {code})"
                    self._lose(self.holding[slot], how)

    def _lose(self, held: int, how: str) -> None:
        if held < 0 or held in self.done:
            # Killed before it wrote down a new part: the one it was about to take
            # (read without the lock, which the dead worker may hold).
            held = self.taken.get_obj().value
        if held < len(self.parts):
            self.lost.setdefault(held, how)
        else:
            self.lost_elsewhere = self.lost_elsewhere or how

    def stop(self) -> None:
        for process, _, _ in self.running:
            process.terminate()
        for process, reports, _ in self.running:
            process.join()
            reports.close()
        self.running.clear()


def _work(
    convert: Convert, parts: Sequence[Part], taken: Any, holding: Any, slot: int, report: Any
) -> None:
    """A worker process: stage the next part not yet taken, until none is left."""
    # A worker's rows hold no reference cycles, and what it inherited is never garbage:
    # the cycle collector would only walk the same objects again and again.
    gc.disable()
    # Ctrl-C reaches the whole process group: the importing process stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_parent()
    while True:
        with taken.get_lock():
            index = taken.value
            holding[slot] = index  # first: a worker killed now is known to hold it
            taken.value = index + 1
        if index >= len(parts):
            return
        _stage_with(convert, parts[index])  # its summary is recorded in the staging file
        report.send(index)


def _end_with_parent() -> None:
    """A worker whose importing process was killed (SIGKILL, the OOM killer), and which
    therefore nobody waits for, ends at once rather than reading on and filling TMPDIR
    (Linux: the kernel's parent-death signal)."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before prctl
        os._exit(1)


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
                    converted = convert(raw)
                    if converted is None:  # (a line that is not an incident: skipped)
                        continue
                    incident, timeline, derived = converted
                except Refused as exc:
                    # The lines before it are staged too: an id they take may be the
                    # import's first error.
                    error = (number, str(exc))
                    break
                row, stored_events = stored_rows(incident, timeline)
                incidents.append((number, *row))
                events.extend((number, *event) for event in stored_events)
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
