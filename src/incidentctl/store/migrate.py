"""Alembic migrations, applied automatically and by ``db upgrade``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from incidentctl.store.engine import Database

# The newest revision in store/migrations/versions; a test checks they agree.
SCHEMA_HEAD = "0009"
MIGRATIONS = Path(__file__).parent / "migrations"


def current_revision(conn: Connection) -> str | None:
    try:
        with conn.begin_nested():
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def alembic_config(conn: Connection):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade under the write lock (so two processes never migrate at once)."""
    from alembic import command

    from incidentctl.store.engine import lock_for_migration

    with db.writer.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # A migration that rebuilds a table (SQLite cannot alter a column) must not
            # trip over the foreign keys that point at it; this is only ever switched
            # outside a transaction. Checked before the commit, switched back after.
            _foreign_keys(conn, on=False)
        try:
            with conn.begin():
                lock_for_migration(conn)
                before = current_revision(conn)
                command.upgrade(alembic_config(conn), revision)
                after = current_revision(conn)
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("the migration left rows whose foreign keys are broken")
        finally:
            if sqlite:
                _foreign_keys(conn, on=True)
    return before, after


def _foreign_keys(conn: Connection, *, on: bool) -> None:
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def ensure_current(db: Database) -> None:
    with db.engine.connect() as conn:
        revision = current_revision(conn)
        conn.rollback()
    if revision != SCHEMA_HEAD:
        upgrade(db)
