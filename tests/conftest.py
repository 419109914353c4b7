"""Shared fixtures: an isolated environment for every test, the CLI, and the storage contract.

Which engine a test runs on
---------------------------
Most tests check what the CLI does with the data (lifecycle rules, clocks, refusals,
output, notices, transports); that does not depend on the engine, so ``cli`` and
``db_url`` are a fresh SQLite file by default.

The *storage contract* is what each engine has to get right itself; those tests carry
``@pytest.mark.storage_contract`` and run on SQLite and PostgreSQL (``pytest -m
storage_contract`` runs just them, ``-m "storage_contract and not slow"`` too):

* transactions, all or nothing: a refusal the store decides (not found, conflict, an id
  already taken) leaves it unchanged (test_cli_refusals, test_export_import);
* locking and concurrency: four writers and two escalations (test_concurrency);
* migrations and upgrades: migrations equal the models, an old database is upgraded,
  0003 down and up, ``db upgrade`` (test_store);
* delivery claims, leases, SKIP LOCKED, exactly once: two escalate processes, a claim
  given back or run out (test_escalate);
* import and export: round trips, the ids that follow, ids taken, parts in parallel,
  dry runs (test_export_import, test_import_parts);
* time storage: offsets stored as the same UTC instant and range queries at the edges
  of a period (test_store, test_output, test_import_parts, test_report), and the whole
  life of an incident through the installed command (test_e2e);
* team mode: ``db copy`` into PostgreSQL, the driver message (test_team).

A test that checks one engine's own behaviour (the SQLite file's mode and page size, its
write lock, a locked file) runs on that engine only.

Seeded databases
----------------
Where several tests of a module start from the same data set, ``seeds.copy(...)`` builds
it once per module (through the CLI, in an isolated environment like every test's) and
gives each test a copy: the SQLite file, checkpointed, or ``CREATE DATABASE ... TEMPLATE``.

Hypothesis budgets
------------------
Two profiles: ``ci`` (the default: 100 examples a property, no deadline, since a shared
machine's timing is no property of ours) and ``fuzz`` (10,000 examples: the large budget
of tests/test_fuzz.py), chosen with ``HYPOTHESIS_PROFILE=fuzz``. A test's own ``@settings``
still wins.

Parallel runs
-------------
The suite runs under pytest-xdist (``-n auto`` in pyproject.toml). Each worker has its own
PostgreSQL database (the worker id is in its name) and its own temporary directories;
the loopback servers bind port 0.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

PG_ADMIN_URL = os.environ.get(
    "INCIDENTCTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
)


ENGINES = ("sqlite", "postgresql")

settings.register_profile("ci", max_examples=100, deadline=None, print_blob=True)
settings.register_profile(
    "fuzz",
    max_examples=10_000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Secrets every test runs with (issue 15): in the environment of every command, under
# the names the tests' policies use, and never in anything a command prints. Every
# output of the suite is grepped for SECRET_MARK: the in-process CLI's (``Cli``), each
# captured ``subprocess.run`` (``outputs_never_hold_secrets``) and serve's log.
SECRET_MARK = "sekrit-"
TEST_SECRETS = {
    "INCIDENTCTL_SMTP_PASSWORD": f"{SECRET_MARK}smtp-5b1f",
    "INCIDENTCTL_SMS_AUTH": f"Bearer {SECRET_MARK}sms-93ce",
    "SMTP_PW": f"{SECRET_MARK}smtp-pw-0d27",
    "SMS_AUTH": f"Bearer {SECRET_MARK}sms-auth-a4e8",
    "PGPASSWORD": f"{SECRET_MARK}pg-6f30",
}


def assert_no_secret(*outputs: str | bytes | None, what: str = "an output") -> None:
    for output in outputs:
        text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
        assert SECRET_MARK not in (text or ""), f"{what} shows a secret:\n{text}"


def isolate(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Own data and config directories, UTC, no colour, wide tables, ``directory`` as cwd."""
    for name in list(os.environ):
        if name.startswith("INCIDENTCTL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("INCIDENTCTL_DATA_DIR", str(directory / "data"))
    monkeypatch.setenv("INCIDENTCTL_CONFIG_DIR", str(directory / "config"))
    monkeypatch.setenv("INCIDENTCTL_USER", "tester")
    for name, value in TEST_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(directory)


@pytest.fixture(autouse=True)
def env_setup(tmp_path, monkeypatch):
    """Every test gets its own data and config directories, UTC, no colour, wide tables."""
    isolate(monkeypatch, tmp_path)


@pytest.fixture(autouse=True, scope="session")
def command_built_once() -> Iterator[None]:
    """Typer's CliRunner builds the click command from the app on every ``invoke``: two
    thirds of an in-process call. The app does not change during a run, so it is built
    once, as the console script builds it once per process."""
    import typer.testing

    built: dict[int, Any] = {}
    build = typer.testing._get_command

    def once(app: Any) -> Any:
        if id(app) not in built:
            built[id(app)] = build(app)
        return built[id(app)]

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(typer.testing, "_get_command", once)  # fails loudly if renamed
        yield


@pytest.fixture(autouse=True, scope="session")
def outputs_never_hold_secrets() -> Iterator[None]:
    """Every ``subprocess.run`` of the suite that captures output is grepped for the test
    secrets: the installed command's stdout and stderr, a watch's log, a program's."""
    import subprocess

    run = subprocess.run

    def checked(*args: Any, **kwargs: Any) -> Any:
        done = run(*args, **kwargs)
        assert_no_secret(done.stdout, done.stderr, what=f"{done.args!r}")
        return done

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(subprocess, "run", checked)
        yield


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A ``storage_contract`` test that uses the database runs on both engines."""
    if "db_engine" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("storage_contract") is None:
        return
    named = {
        name.strip()
        for mark in metafunc.definition.iter_markers("parametrize")
        for name in (mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0])
    }
    if "db_engine" not in named:  # a test may choose the engine per case itself
        metafunc.parametrize("db_engine", ENGINES, indirect=True)


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

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")  # one database per xdist worker
    name = f"incidentctl_test_{worker}_{uuid.uuid4().hex[:10]}"
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


@pytest.fixture
def db_engine(request) -> str:
    """SQLite, unless the test is in the storage contract (see the module docstring)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def db_url(request, db_engine, tmp_path) -> str:
    """The database the CLI runs against: a fresh SQLite file, or a clean PostgreSQL schema."""
    if db_engine == "sqlite":
        return str(tmp_path / "incidents.db")
    url = request.getfixturevalue("pg_database")
    reset_pg(url)
    return url


@pytest.fixture
def own_db(request, db_engine, tmp_path) -> Iterator[str]:
    """A database of this test's own, for servers and processes that keep connections
    open: a new SQLite file, or a new PostgreSQL database, dropped with them after."""
    if db_engine == "sqlite":
        yield str(tmp_path / "incidents.db")
        return
    url = create_pg(request.getfixturevalue("pg_database"), "own")
    yield url
    _admin(f'DROP DATABASE IF EXISTS "{_pg_name(url)}" WITH (FORCE)')


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

    def use(self, db: str) -> None:
        """Run against another database from now on."""
        self.db = db
        self.monkeypatch.setenv("INCIDENTCTL_DB", db)

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
        assert_no_secret(outcome.stdout, outcome.stderr, what=f"incidentctl {' '.join(args)}")
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


# --------------------------------------------------------------------------- seeded databases


class Seeds:
    """Data sets built once per module and copied for each test that starts from them."""

    def __init__(self, request: pytest.FixtureRequest, directory: Path) -> None:
        self.request = request
        self.directory = directory
        self.templates: dict[tuple[str, str], str] = {}
        self.databases: list[str] = []  # PostgreSQL templates and copies, dropped at the end

    def load(self, cli: Cli, name: str, build: Callable[[Cli], Any]) -> Cli:
        """Point ``cli`` (on a fresh, empty database) at a copy of the data set ``build``
        makes; the data set is built on first use, once per module and engine."""
        engine = "postgresql" if cli.db.startswith("postgresql") else "sqlite"
        key = (engine, name)
        if key not in self.templates:
            self.templates[key] = self._build(name, build, engine)
        template = self.templates[key]
        if engine == "sqlite":
            target = Path(cli.db)
            assert not target.exists(), "a seeded database is copied onto a fresh one"
            for suffix in ("", "-wal"):
                if Path(template + suffix).exists():
                    shutil.copyfile(template + suffix, str(target) + suffix)
            target.chmod(0o600)  # as the CLI makes it
        else:
            cli.use(self._create_pg(f"c{len(self.databases)}", template=template))
        return cli

    def _build(self, name: str, build: Callable[[Cli], Any], engine: str) -> str:
        directory = self.directory / f"{engine}-{name}"
        directory.mkdir()
        if engine == "sqlite":
            location = str(directory / "incidents.db")
        else:
            location = self._create_pg(f"s_{name}")
        with pytest.MonkeyPatch.context() as monkeypatch:
            isolate(monkeypatch, directory)
            build(Cli(location, monkeypatch))
        if engine == "sqlite":
            conn = sqlite3.connect(location)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
            conn.close()
        else:
            _admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{_pg_name(location)}' AND pid <> pg_backend_pid()"
            )
        return location

    def _create_pg(self, suffix: str, template: str | None = None) -> str:
        url = create_pg(self.request.getfixturevalue("pg_database"), suffix, template)
        self.databases.append(_pg_name(url))
        return url

    def drop(self) -> None:
        """Drop the PostgreSQL copies side by side: each DROP waits for a checkpoint."""
        statements = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in self.databases]
        threads = [threading.Thread(target=_admin, args=(s,)) for s in statements]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def create_pg(session: str, suffix: str, template: str | None = None) -> str:
    """A new PostgreSQL database beside the session's (a copy of ``template``): its URL."""
    name = f"{_pg_name(session)}_{uuid.uuid4().hex[:6]}_{suffix}"
    source = f' TEMPLATE "{_pg_name(template)}"' if template else ""
    _admin(f'CREATE DATABASE "{name}"{source}')
    return f"{session.rsplit('/', 1)[0]}/{name}"


def _pg_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="module")
def seeds(request, tmp_path_factory) -> Iterator[Seeds]:
    """This module's seeded databases (see the module docstring)."""
    found = Seeds(request, tmp_path_factory.mktemp("seeds"))
    yield found
    found.drop()
