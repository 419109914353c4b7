"""Shared fixtures: an isolated environment for every test, and the CLI on both engines."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

PG_ADMIN_URL = os.environ.get(
    "INCIDENTCTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def env_setup(tmp_path, monkeypatch):
    """Every test gets its own data and config directories, UTC, no colour, wide tables."""
    for name in list(os.environ):
        if name.startswith("INCIDENTCTL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("INCIDENTCTL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INCIDENTCTL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("INCIDENTCTL_USER", "tester")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'incidentctl[postgres]')"
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
            return None
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL answers at {PG_ADMIN_URL}: {str(exc).strip().splitlines()[0]}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    reason = _pg_available()
    if reason:
        if os.environ.get("INCIDENTCTL_REQUIRE_PG") == "1":
            pytest.fail(f"INCIDENTCTL_REQUIRE_PG=1 but {reason}")
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    import psycopg

    name = f"incidentctl_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reset_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """The database the CLI runs against: a fresh SQLite file, or a clean PostgreSQL schema."""
    if request.param == "sqlite":
        return str(tmp_path / "incidents.db")
    url = request.getfixturevalue("pg_database")
    reset_pg(url)
    return url


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error(self) -> Any:
        return json.loads(self.stderr)


class Cli:
    """Runs ``incidentctl`` in-process through its real entry point (Typer's CliRunner)."""

    def __init__(self, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.db = db
        self.monkeypatch = monkeypatch
        self.now: str | None = None
        monkeypatch.setenv("INCIDENTCTL_DB", db)

    def __call__(
        self,
        *args: str,
        now: str | None = None,
        input: str | None = None,
        expect: int | None = 0,
        env: dict[str, str] | None = None,
    ) -> Outcome:
        from incidentctl.cli.app import app

        environment = dict(env or {})
        when = now or self.now
        if when:
            environment["INCIDENTCTL_NOW"] = when
        result = CliRunner().invoke(
            app, list(args), input=input, env=environment, catch_exceptions=False
        )
        outcome = Outcome(result.exit_code, result.stdout, result.stderr)
        if expect is not None:
            assert outcome.exit_code == expect, (
                f"incidentctl {' '.join(args)} exited {outcome.exit_code}, expected {expect}\n"
                f"stdout: {outcome.stdout}\nstderr: {outcome.stderr}"
            )
        return outcome

    def json(self, *args: str, **kwargs: Any) -> Any:
        return self(*args, "--json", **kwargs).json

    def snapshot(self) -> Any:
        """Everything the store holds, as the user can see it: for "nothing changed" checks."""
        incidents = self.json(
            "list",
            "--status",
            "open",
            "--status",
            "acknowledged",
            "--status",
            "recovered",
            "--status",
            "resolved",
            "--status",
            "closed",
        )
        return [self.json("show", str(i["id"])) for i in incidents]


@pytest.fixture
def cli(db_url, monkeypatch) -> Cli:
    return Cli(db_url, monkeypatch)
