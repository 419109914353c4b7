"""Team mode: a SQLite database copied into PostgreSQL works the same."""

from __future__ import annotations

import pytest

from conftest import Cli, reset_pg

T0 = "2026-11-25T03:00:00Z"


@pytest.fixture
def pg_url(pg_database):
    reset_pg(pg_database)
    return pg_database


def _everything(cli: Cli, db: str) -> list[dict]:
    cli.monkeypatch.setenv("INCIDENTCTL_DB", db)
    return cli.snapshot()


@pytest.mark.storage_contract
def test_db_copy_moves_everything_and_ids_continue(tmp_path, monkeypatch, pg_url):
    sqlite = Cli(str(tmp_path / "team.db"), monkeypatch)
    sqlite.now = T0
    sqlite("open", "Payments down", "--level", "1", "--service", "payments")
    sqlite("open", "Slow search", "--level", "2", "--service", "web-portal")
    sqlite("ack", "1", now="2026-11-25T03:04:00Z")
    sqlite("note", "1", "rolled back", now="2026-11-25T03:05:00Z")
    sqlite("resolve", "2", "--solution", "cache warmed", now="2026-11-25T03:20:00Z")
    sqlite("escalate", now="2026-11-25T03:30:00Z", expect=None)
    before = _everything(sqlite, sqlite.db)
    assert any(doc["deliveries"] for doc in before)

    copied = sqlite.json("db", "copy", "--to", pg_url, now="2026-11-25T03:31:00Z")
    assert copied["rows"]["incidents"] == 2
    assert copied["rows"]["events"] == sum(len(doc["events"]) for doc in before)

    team = Cli(pg_url, monkeypatch)
    team.now = T0
    assert _everything(team, pg_url) == before
    # and `export` says the same on both, byte for byte
    sqlite.monkeypatch.setenv("INCIDENTCTL_DB", sqlite.db)
    exported = sqlite("export").stdout
    team.monkeypatch.setenv("INCIDENTCTL_DB", pg_url)
    assert team("export").stdout == exported
    assert exported.count("\n") == 3  # the policy version the clocks follow, two incidents
    # new ids continue after the copied ones
    assert team.json("open", "Third", "--level", "3", "--service", "a", now=T0)["id"] == 3
    # and a second copy into the now non-empty database is refused, changing nothing
    sqlite.monkeypatch.setenv("INCIDENTCTL_DB", sqlite.db)
    refused = sqlite("db", "copy", "--to", pg_url, "--json", now=T0, expect=4)
    assert "empty" in refused.error["message"]
    assert len(_everything(team, pg_url)) == 3


@pytest.mark.storage_contract
def test_postgresql_without_the_driver_says_how_to_install_it(monkeypatch, cli):
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    out = cli("--db", "postgresql+psycopg://postgres@127.0.0.1/x", "list", "--json", expect=5)
    assert "pip install 'incidentctl[postgres]'" in out.error["message"]
