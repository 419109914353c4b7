"""Where the database is, how to connect, and how transactions begin.

SQLite is the embedded default: WAL, 16 KiB pages, a busy timeout, foreign keys on, write
transactions that take the write lock up front (``BEGIN IMMEDIATE``) and a file
readable by its owner only. PostgreSQL is reached by URL. Engine-specific SQL stays
in this room.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, Select, Table, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from incidentctl.errors import ConfigError, Conflict, DatabaseUnavailable

DEFAULT_BUSY_TIMEOUT_MS = 15000  # SQLite: how long a writer queues for the write lock
DEFAULT_CONNECT_TIMEOUT_MS = 5000  # PostgreSQL: how long an unreachable server is tried
PAGE_SIZE = 16384  # bytes; SQLite's default is 4096


def default_db_path(environ: Mapping[str, str] = os.environ) -> Path:
    """The embedded database: ``$INCIDENTCTL_DATA_DIR`` or the user data directory."""
    data_dir = environ.get("INCIDENTCTL_DATA_DIR")
    if data_dir:
        return Path(data_dir) / "incidents.db"
    import platformdirs

    return platformdirs.user_data_path("incidentctl") / "incidents.db"


def database_url(db: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """``--db`` else ``INCIDENTCTL_DB`` else the default file, as an SQLAlchemy URL."""
    value = db or environ.get("INCIDENTCTL_DB") or str(default_db_path(environ))
    if "://" not in value:
        return "sqlite:///" + str(Path(value).expanduser().absolute())
    if value.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + value.split("://", 1)[1]
    return value


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def exists(url: str) -> bool:
    """Whether there is a database to read without changing anything: an SQLite file
    with something in it (connecting creates a missing file, and makes an empty one a
    WAL database); a server's database is assumed to be there."""
    if not is_sqlite(url):
        return True
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return True
    file = Path(path)
    return file.is_file() and file.stat().st_size > 0


def _create_private_file(path: Path, environ: Mapping[str, str]) -> None:
    """Create the database file readable by its owner only (SQLite copies the mode to -wal/-shm).

    The default data directory is created when missing; another directory must exist:
    a mistyped ``--db`` would otherwise make a new, empty database that reads as "no
    incidents"."""
    try:
        if not path.parent.is_dir():
            if path.absolute() != default_db_path(environ).expanduser().absolute():
                raise DatabaseUnavailable(
                    f"no directory {path.parent} for the database {path.name}: "
                    "check the path (--db, INCIDENTCTL_DB, --to), or create the directory"
                )
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.is_file():  # (on a read-only disk, SQLite says what it can do with it)
            return
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:  # a name too long, a directory in the way, no permission
        raise DatabaseUnavailable(
            f"cannot open the database {path}: {exc.strerror or exc} "
            "(check the path: --db, INCIDENTCTL_DB, --to)"
        ) from None
    os.close(fd)


def _on_read_only_disk(path: Path) -> bool:
    """An existing database on a file system mounted read-only, with no write-ahead log
    beside it (whose transactions a read that ignores the log would miss)."""
    wal = path.with_name(path.name + "-wal")
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
        return read_only and (not wal.exists() or wal.stat().st_size == 0)
    except OSError:  # no such file yet
        return False


def make_engine(url: str, environ: Mapping[str, str] = os.environ) -> Engine:
    setting = environ.get("INCIDENTCTL_BUSY_TIMEOUT_MS")
    busy_ms = int(setting or DEFAULT_BUSY_TIMEOUT_MS)
    if is_sqlite(url):
        path = make_url(url).database  # also sqlite+pysqlite:///…, ?options
        location: str | URL = url
        if path and path != ":memory:" and not path.startswith("file:"):
            _create_private_file(Path(path), environ)
            if _on_read_only_disk(Path(path)):
                # Nothing can change it, and its -shm cannot be made: read it as it is.
                location = URL.create(
                    "sqlite",
                    database="file:" + quote(str(Path(path).absolute())),
                    query={"mode": "ro", "immutable": "1", "uri": "true"},
                )
        engine = create_engine(location, connect_args={"timeout": busy_ms / 1000})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event issue BEGIN itself, so writes can be IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # Only a new database takes it (before its first table): fewer, larger
            # writes for a large commit and its checkpoint (see docs/decisions.md).
            cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                "PostgreSQL needs the driver: pip install 'incidentctl[postgres]'"
            ) from None
        return create_engine(
            url,
            connect_args={
                "connect_timeout": max(1, int(setting or DEFAULT_CONNECT_TIMEOUT_MS) // 1000)
            },
            pool_pre_ping=False,
        )
    raise ConfigError(
        f"unsupported database URL {url!r}: use a file path or postgresql+psycopg://…"
    )


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL's SQLSTATE


@contextmanager
def translate_database_errors(url: str) -> Iterator[None]:
    """Turn "locked" and "unreachable" into exit 7 with a sentence, and a role's missing
    privilege (team mode: a viewer writing) into exit 4."""
    try:
        yield
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        detail = str(exc.orig).strip().splitlines()[0]
        raise Conflict(
            f"database {describe(url)} refused: {detail} (the role you connect as may not "
            "do this; docs/team.md lists what each role is granted); nothing was done"
        ) from None
    except OperationalError as exc:
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if "locked" in detail or "busy" in detail:
            raise DatabaseUnavailable(
                f"database {describe(url)} is locked (busy past its timeout): {detail}"
            ) from exc
        if "readonly" in detail:  # SQLite: a read-only file or disk
            raise DatabaseUnavailable(f"database {describe(url)} is read-only: {detail}") from exc
        if "full" in detail or "disk I/O error" in detail:  # SQLite: no room, or a failing disk
            raise DatabaseUnavailable(
                f"database {describe(url)} cannot be written: {detail} (is its disk full?)"
            ) from exc
        raise DatabaseUnavailable(f"database {describe(url)} is unreachable: {detail}") from exc


class Database:
    """An engine plus the two kinds of transaction the commands use."""

    def __init__(self, url: str, environ: Mapping[str, str] = os.environ) -> None:
        self.url = url
        self.engine = make_engine(url, environ)
        self.dialect = self.engine.dialect.name
        self.writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")

    @contextmanager
    def read(self) -> Iterator[Session]:
        with translate_database_errors(self.url), Session(self.engine) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: on SQLite the write lock is taken when it begins."""
        with (
            translate_database_errors(self.url),
            Session(self.writer, expire_on_commit=False) as session,
        ):
            with session.begin():
                yield session

    def ensure_schema(self) -> None:
        """Apply pending migrations (a new or older database), cheaply when up to date."""
        from incidentctl.store.migrate import ensure_current

        with translate_database_errors(self.url):
            ensure_current(self)

    def session_role(self) -> tuple[str, bool] | None:
        """Who connects, on a server: the login role (``session_user``) and whether it
        is a superuser. None for an SQLite file (one person's)."""
        if self.dialect != "postgresql":
            return None
        with self.read() as session:
            name, superuser = session.execute(
                text("SELECT session_user, rolsuper FROM pg_roles WHERE rolname = session_user")
            ).one()
        return str(name), bool(superuser)

    def dispose(self) -> None:
        self.engine.dispose()


# --------------------------------------------------------------------------- dialects
# What the two engines do differently, for the repository and the bulk copy.


def _postgresql(bind: Session | Connection) -> bool:
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    return bool(dialect.name == "postgresql")


def skip_locked(session: Session, stmt: Select[Any]) -> Select[Any]:
    """Lock the selected rows, skipping those another transaction holds (PostgreSQL);
    on SQLite the write transaction already holds the database's write lock."""
    return stmt.with_for_update(skip_locked=True) if _postgresql(session) else stmt


def insert_ignoring_duplicates(session: Session, table: Table) -> Any:
    """An INSERT that leaves a row whose unique key is already there alone."""
    if _postgresql(session):
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def read_one_snapshot(session: Session) -> None:
    """Make the rest of a read transaction see one snapshot (PostgreSQL's default
    isolation gives each statement its own; SQLite's read transaction is one already)."""
    if _postgresql(session):
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def lock_for_ids(conn: Connection, tables: Sequence[Table]) -> None:
    """Keep other writers from taking ids while a bulk load chooses them (PostgreSQL;
    SQLite's write transaction holds the write lock already)."""
    if _postgresql(conn):
        names = ", ".join(table.name for table in tables)
        conn.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))


MIGRATION_LOCK = 7242001
INTAKE_LOCK = 7242002


def advisory_lock(bind: Session | Connection, lock: int) -> None:
    """Let one transaction at a time past this point: PostgreSQL's advisory lock until
    the transaction ends (SQLite's write transaction, begun IMMEDIATE, holds the write
    lock already)."""
    if _postgresql(bind):
        bind.execute(text(f"SELECT pg_advisory_xact_lock({int(lock)})"))


def lock_for_migration(conn: Connection) -> None:
    """Let one process at a time migrate."""
    advisory_lock(conn, MIGRATION_LOCK)


def move_sequences_past(conn: Connection, tables: Sequence[Table]) -> None:
    """After rows went in with their own ids, PostgreSQL's id sequences must move past
    them (SQLite takes the next rowid from the table itself)."""
    if not _postgresql(conn):
        return
    for table in tables:
        if "id" not in table.c:
            continue
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 1), "
                f"(SELECT MAX(id) FROM {table.name}) IS NOT NULL)"
            )
        )
