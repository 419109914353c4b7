"""The store: aware UTC times, a private WAL file, the write lock up front, migrations."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, insert, inspect, select

from incidentctl.store.engine import Database, database_url
from incidentctl.store.types import UTCDateTime


def _roundtrip_db(url: str):
    db = Database(url)
    metadata = MetaData()
    table = Table(
        "t", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime())
    )
    metadata.drop_all(db.engine)
    metadata.create_all(db.engine)
    return db, table


@settings(max_examples=50, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_any_offset_round_trips_as_the_same_instant_on_sqlite(
    tmp_path_factory, moment, offset_minutes
):
    path = tmp_path_factory.mktemp("tz") / "t.db"
    db, table = _roundtrip_db(database_url(str(path)))
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    with db.engine.begin() as conn:
        conn.execute(insert(table).values(id=1, at=aware))
        back = conn.execute(select(table.c.at)).scalar_one()
    db.dispose()
    assert back.tzinfo is not None and back.utcoffset() == timedelta(0)
    assert back == aware


@pytest.mark.storage_contract
def test_offset_round_trips_on_both_engines(db_url):
    db, table = _roundtrip_db(database_url(db_url))
    aware = datetime(2026, 11, 25, 13, 30, tzinfo=timezone(timedelta(hours=-8)))
    with db.engine.begin() as conn:
        conn.execute(insert(table).values(id=1, at=aware))
        back = conn.execute(select(table.c.at)).scalar_one()
    db.dispose()
    assert back == datetime(2026, 11, 25, 21, 30, tzinfo=UTC)
    assert back.tzinfo is not None


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), None)  # type: ignore[arg-type]


def test_the_database_file_is_private_in_wal_mode_with_16k_pages(cli, tmp_path):
    if not cli.db.endswith(".db"):
        pytest.skip("SQLite only")
    os.umask(0o022)
    cli("open", "x", "--level", "3", "--service", "a", now="2026-11-25T03:00:00Z")
    mode = stat.S_IMODE(os.stat(cli.db).st_mode)
    assert mode == 0o600
    conn = sqlite3.connect(cli.db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 16384
    conn.close()


def test_an_existing_database_keeps_its_page_size(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE t (x)")  # made by SQLite's default: 4 KiB pages
    old.close()
    db = Database(database_url(str(path)))
    db.ensure_schema()
    db.dispose()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert conn.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0
    conn.close()


def test_default_database_lives_in_the_data_directory(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from incidentctl.cli.app import app

    result = CliRunner().invoke(app, ["open", "x", "--level", "3", "--service", "a"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "data" / "incidents.db").is_file()


def test_a_database_path_in_a_missing_directory_is_refused(cli, tmp_path):
    """A mistyped --db must not make a new, empty database that reads as "all quiet"."""
    if not cli.db.endswith(".db"):
        pytest.skip("SQLite paths")
    wrong = tmp_path / "no-such-dir" / "incidents.db"
    out = cli("--db", str(wrong), "list", now="2026-11-25T03:00:00Z", expect=7)
    assert f"no directory {wrong.parent}" in out.stderr and out.stdout == ""
    assert not wrong.parent.exists()
    # the same in URL form; a driver-qualified URL to an existing directory still works
    cli("--db", f"sqlite:///{wrong}", "list", now="2026-11-25T03:00:00Z", expect=7)
    assert not wrong.parent.exists()
    url = f"sqlite+pysqlite:///{tmp_path / 'driver.db'}"
    cli("--db", url, "list", now="2026-11-25T03:00:00Z")
    assert (tmp_path / "driver.db").is_file()
    # a new file in an existing directory is still created (zero set-up)
    cli("--db", str(tmp_path / "new.db"), "list", now="2026-11-25T03:00:00Z")
    assert (tmp_path / "new.db").is_file()


def test_a_locked_database_is_exit_7_and_changes_nothing(cli):
    if not cli.db.endswith(".db"):
        pytest.skip("SQLite lock semantics")
    cli("open", "x", "--level", "3", "--service", "a", now="2026-11-25T03:00:00Z")
    before = cli.snapshot()
    holder = sqlite3.connect(cli.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        out = cli(
            "ack",
            "1",
            "--json",
            now="2026-11-25T03:01:00Z",
            expect=7,
            env={"INCIDENTCTL_BUSY_TIMEOUT_MS": "200"},
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert out.error["error"] == "database"
    assert "locked" in out.error["message"]
    assert cli.snapshot() == before


def test_writes_take_the_lock_up_front(tmp_path):
    """Two writers never deadlock on an upgrade from a read lock: BEGIN IMMEDIATE."""
    db = Database(database_url(str(tmp_path / "x.db")))
    db.ensure_schema()
    statements = []
    from sqlalchemy import event

    @event.listens_for(db.engine, "before_cursor_execute")
    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with db.write() as session:
        session.execute(select(1))
    db.dispose()
    assert "BEGIN IMMEDIATE" in statements


def test_unreachable_postgresql_is_exit_7(cli):
    out = cli("--db", "postgresql+psycopg://nobody@127.0.0.1:1/none", "list", "--json", expect=7)
    assert out.error["error"] == "database"
    assert "unreachable" in out.error["message"]


def test_schema_head_constant_matches_the_migrations():
    from alembic.script import ScriptDirectory

    from incidentctl.store.migrate import MIGRATIONS, SCHEMA_HEAD, alembic_config

    script = ScriptDirectory.from_config(alembic_config(None))
    assert script.get_current_head() == SCHEMA_HEAD
    assert MIGRATIONS.is_dir()


@pytest.mark.storage_contract
def test_migrations_build_exactly_the_models(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from incidentctl.store.models import SQLModel

    db = Database(database_url(db_url))
    db.ensure_schema()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    db.dispose()
    assert diff == []


@pytest.mark.storage_contract
def test_an_older_database_is_upgraded_automatically(db_url):
    """A database left at the first revision, with an incident in it, comes up to head."""
    from incidentctl.store import migrate

    url = database_url(db_url)
    db = Database(url)
    migrate.upgrade(db, "0001")
    with db.engine.begin() as conn:
        assert migrate.current_revision(conn) == "0001"
    db.dispose()
    env = {**os.environ, "INCIDENTCTL_DB": db_url, "INCIDENTCTL_NOW": "2026-11-25T03:00:00Z"}
    run = subprocess.run(
        [sys.executable, "-m", "incidentctl", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "[]\n"
    db = Database(url)
    with db.engine.begin() as conn:
        assert migrate.current_revision(conn) == migrate.SCHEMA_HEAD
    db.dispose()


@pytest.mark.storage_contract
def test_migration_0003_goes_down_and_up_again_with_incidents_in_place(cli, db_url):
    """Its downgrade is a plain DROP COLUMN: a batch copy of the incidents table would
    trip over the events' foreign keys on SQLite."""
    from alembic import command

    from incidentctl.store import migrate

    cli("open", "x", "--level", "1", "--service", "payments", now="2026-11-25T03:00:00Z")
    db = Database(database_url(db_url))
    with db.writer.connect() as conn, conn.begin():
        command.downgrade(migrate.alembic_config(conn), "0002")
        assert migrate.current_revision(conn) == "0002"
    with db.engine.connect() as conn:
        names = [column["name"] for column in inspect(conn).get_columns("incidents")]
    assert "notices_handled" not in names
    db.dispose()
    shown = cli.json("show", "1", now="2026-11-25T03:05:00Z")  # upgraded again on the way
    assert shown["title"] == "x" and [e["kind"] for e in shown["events"]] == ["opened"]


@pytest.mark.storage_contract
def test_db_upgrade_command(cli):
    from incidentctl.store.migrate import SCHEMA_HEAD

    first = cli.json("db", "upgrade")
    assert first["to"] == SCHEMA_HEAD and first["from"] is None
    again = cli.json("db", "upgrade")
    assert again["from"] == again["to"] == first["to"]
