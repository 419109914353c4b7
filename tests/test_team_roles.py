"""Who may do what in team mode (issue 15, item 2): the grants of docs/team.md, run on a
real PostgreSQL server, and a command connecting as each role.

On PostgreSQL the actor is the database role (``session_user``) mapped to a person by
the policy's ``[team] roles``; ``--as`` is refused unless the role may act for others;
``approve`` checks the mapped person; a role's missing privilege is exit 4.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs" / "team.md"
SEED = Path(__file__).resolve().parents[1] / "src" / "incidentctl" / "sla.toml"


def _grant_blocks(prefix: str) -> tuple[str, str]:
    """The two SQL blocks of docs/team.md "Create the database and roles", with this
    run's names (roles are the server's, shared by every database and worker)."""
    text = DOCS.read_text()
    section = text[text.index("## Create the database and roles") : text.index("## Who acts")]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2, "docs/team.md gives the roles, then the grants"
    renamed = []
    for block in blocks:
        block = re.sub(r"\b(incidentctl_|wang_lei|zhang_min|dashboard)", rf"{prefix}\1", block)
        renamed.append(re.sub(r"\bincidents\b", f"{prefix}incidents", block))
    return renamed[0], renamed[1]


@pytest.fixture
def team(pg_database, tmp_path, monkeypatch):
    """A database set up exactly as docs/team.md says, and a way to run as each role."""
    import psycopg

    from conftest import PG_ADMIN_URL, Cli

    prefix = f"t{uuid.uuid4().hex[:6]}_"
    roles_sql, grants_sql = _grant_blocks(prefix)
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    database = f"{prefix}incidents"
    roles = re.findall(r"CREATE ROLE (\w+)", roles_sql)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        for statement in filter(str.strip, roles_sql.split(";")):
            admin.execute(statement)
    policy = tmp_path / "sla.toml"
    policy.write_text(
        SEED.read_text()
        + f"""
[team]
roles = {{ {prefix}wang_lei = "wang.lei", {prefix}zhang_min = "zhang.min" }}
act_for_others = ["{prefix}incidentctl_cron"]
"""
    )
    monkeypatch.setenv("INCIDENTCTL_CONFIG", str(policy))
    monkeypatch.delenv("INCIDENTCTL_USER")  # who acts is the role, not the environment
    cli = Cli(f"{base.replace('postgres@', f'{prefix}incidentctl_owner@')}/{database}", monkeypatch)
    cli("db", "upgrade")
    admin_db = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    with psycopg.connect(admin_db, autocommit=True) as admin:
        for statement in filter(str.strip, grants_sql.split(";")):
            admin.execute(statement)

    def as_role(role: str) -> Cli:
        cli.use(f"{base.replace('postgres@', f'{prefix}{role}@')}/{database}")
        return cli

    yield as_role
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        for role in reversed(roles):
            admin.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.storage_contract
def test_the_actor_is_the_database_role_mapped_to_a_person(team):
    engineer = team("wang_lei")
    opened = engineer.json("open", "Checkout fails", "--level", "1", "--service", "payments")
    shown = engineer.json("ack", str(opened["id"]))
    assert shown["assignee"] == "wang.lei"
    events = engineer.json("show", str(opened["id"]))["events"]
    assert [e["actor"] for e in events] == ["wang.lei", "wang.lei"]


@pytest.mark.storage_contract
def test_an_engineer_may_not_act_as_someone_else(team):
    engineer = team("wang_lei")
    opened = engineer.json("open", "Checkout fails", "--level", "1", "--service", "payments")
    before = engineer.snapshot()
    refused = engineer("--as", "li.wei", "ack", str(opened["id"]), expect=4)
    assert "database role" in refused.stderr and "act_for_others" in refused.stderr
    assert "may act as 'li.wei' (--as); nothing was done" in refused.stderr
    by_env = engineer("note", str(opened["id"]), "hi", env={"INCIDENTCTL_USER": "li.wei"}, expect=4)
    assert "(INCIDENTCTL_USER)" in by_env.stderr
    assert engineer.snapshot() == before
    engineer("--as", "wang.lei", "ack", str(opened["id"]))  # naming oneself is no claim


@pytest.mark.storage_contract
def test_the_cron_account_acts_for_others(team):
    cron = team("incidentctl_cron")
    opened = cron.json("--as", "li.wei", "open", "Disk full", "--level", "2", "--service", "db")
    assert cron.json("show", str(opened["id"]))["events"][0]["actor"] == "li.wei"
    passed = cron.json("escalate")
    assert {d["notice"] for d in passed["deliveries"]} == {"initial"}
    assert cron.json("escalate")["deliveries"] == []  # recorded: sent once


@pytest.mark.storage_contract
def test_approve_checks_the_mapped_person(team):
    engineer = team("wang_lei")
    opened = engineer.json("open", "Checkout fails", "--level", "1", "--service", "payments")
    number = str(opened["id"])
    for step in (("ack", number), ("recover", number), ("resolve", number, "--solution", "fix")):
        engineer(*step)
    refused = engineer("approve", number, expect=4)
    assert "wang.lei is not an incident manager" in refused.stderr
    manager = team("zhang_min")
    assert manager.json("approve", number)["approved_by"] == "zhang.min"


@pytest.mark.storage_contract
def test_a_viewer_reads_and_is_refused_every_change(team):
    engineer = team("wang_lei")
    opened = engineer.json("open", "Checkout fails", "--level", "1", "--service", "payments")
    before = engineer.snapshot()
    viewer = team("dashboard")
    assert [i["id"] for i in viewer.json("list")] == [opened["id"]]
    exported = viewer("export").stdout.splitlines()  # the policy, then each incident
    assert [json.loads(line)["id"] for line in exported[1:]] == [opened["id"]]
    for change in (
        ("open", "x", "--level", "2", "--service", "db"),
        ("ack", str(opened["id"])),
        ("note", str(opened["id"]), "look"),
    ):
        refused = viewer(*change, expect=4)
        assert "refused: permission denied for table" in refused.stderr, refused.stderr
        assert "nothing was done" in refused.stderr and "unexpected" not in refused.stderr
    assert viewer("escalate", "--json", expect=4).error["error"] == "conflict"
    assert engineer.snapshot() == before


def test_on_an_sqlite_file_as_is_trusted(cli):
    """One person's file: today's trust model stays (docs/team.md, "Who acts")."""
    opened = cli.json("--as", "li.wei", "open", "x", "--level", "2", "--service", "db")
    assert cli.json("show", str(opened["id"]))["events"][0]["actor"] == "li.wei"
