"""First run (issue 11 item 8): ``init`` writes the commented seed policy and creates the
database; ``policy show --format toml`` prints a policy that reads back as the same."""

from __future__ import annotations

import sqlite3
import stat
import tomllib
from importlib import resources
from pathlib import Path

from incidentctl.config import builtin_policy, parse_policy
from incidentctl.store.migrate import SCHEMA_HEAD

SEED = resources.files("incidentctl").joinpath("sla.toml").read_text(encoding="utf-8")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def schema_of(db: str) -> tuple[str, set[str]]:
    conn = sqlite3.connect(db)
    try:
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    return revision, tables


def test_init_writes_the_commented_seed_policy_and_creates_the_database(cli, tmp_path):
    assert not Path(cli.db).exists()
    out = cli("init").stdout
    policy = tmp_path / "sla.toml"  # the current directory: where the lookup looks first
    text = policy.read_text()
    assert text == SEED
    assert "# Severity levels and their SLA targets." in text  # with its comments
    assert parse_policy(text, str(policy)) == builtin_policy()
    assert tomllib.loads(text)["levels"]["1"]["response"] == "10m"
    assert mode(policy) == 0o600
    revision, tables = schema_of(cli.db)
    assert revision == SCHEMA_HEAD
    assert {"incidents", "events", "deliveries"} <= tables
    assert mode(Path(cli.db)) == 0o600
    assert out.splitlines() == [
        f"Wrote {policy}: the seed policy, with its comments, readable by you only.",
        f"Created the database {cli.db} (schema {SCHEMA_HEAD}).",
        "Next: set your services, roles and contacts in it (its comments explain each key),",
        "then check it: incidentctl policy check",
    ]
    # the next command reads it
    check = cli("policy", "check")
    assert check.stdout == "sla.toml: OK (3 levels, 4 services, 9 contacts)\n"


def test_init_refuses_to_overwrite_a_policy_and_changes_nothing(cli, tmp_path):
    policy = tmp_path / "sla.toml"
    mine = SEED.replace('owner = "chen.jie"', 'owner = "me"')
    policy.write_text(mine)
    policy.chmod(0o640)
    refused = cli("init", expect=4)
    assert refused.stdout == ""
    assert refused.stderr == (
        f"incidentctl: {policy} already exists and was left as it is: check it with "
        f"`incidentctl --config {policy} policy check`, or replace it with the seed policy "
        "with --force\n"
    )
    assert cli("init", "--json", expect=4).error["error"] == "conflict"
    assert policy.read_text() == mine
    assert mode(policy) == 0o640
    assert not Path(cli.db).exists()  # a refused command changes nothing: no database either


def test_init_force_replaces_the_policy_in_one_step(cli, tmp_path):
    policy = tmp_path / "sla.toml"
    policy.write_text("# my old policy\n")
    policy.chmod(0o644)
    doc = cli("init", "--force", "--json").json
    assert doc == {
        "policy": str(policy),
        "replaced": True,
        "in_effect": True,
        "database": cli.db,
        "from": None,
        "to": SCHEMA_HEAD,
    }
    assert policy.read_text() == SEED
    assert mode(policy) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".sla.toml")] == []


def test_init_on_an_existing_database_leaves_it_as_it_is(cli, tmp_path):
    cli("open", "Checkout fails", "--level", "1", "--service", "payments")
    out = cli("init").stdout
    assert (
        f"The database {cli.db} was already there (schema {SCHEMA_HEAD}); it is unchanged." in out
    )
    assert [i["id"] for i in cli.json("list")] == [1]


def test_init_writes_where_config_points(cli, tmp_path):
    team = tmp_path / "team.toml"
    out = cli("--config", str(team), "init").stdout
    assert team.read_text() == SEED
    assert not (tmp_path / "sla.toml").exists()
    assert out.splitlines()[-1] == "then check it: incidentctl policy check"
    # INCIDENTCTL_CONFIG likewise
    other = tmp_path / "other.toml"
    cli("init", env={"INCIDENTCTL_CONFIG": str(other)})
    assert other.read_text() == SEED


def test_init_path_elsewhere_says_how_to_use_it(cli, tmp_path):
    (tmp_path / "etc").mkdir()
    target = tmp_path / "etc" / "policy.toml"
    run = cli("init", "--path", str(target))
    assert target.read_text() == SEED
    assert run.stderr == (
        "Note: commands run here read the built-in policy first; pass "
        f"--config {target} or set INCIDENTCTL_CONFIG={target} to use the new file.\n"
    )
    assert (
        run.stdout.splitlines()[-1] == f"then check it: incidentctl --config {target} policy check"
    )
    assert cli("init", "--path", str(target), "--json", expect=4).error["error"] == "conflict"


def test_init_creates_only_the_user_config_directory(cli, tmp_path):
    missing = tmp_path / "nowhere" / "sla.toml"
    refused = cli("init", "--path", str(missing), expect=2)
    assert "no directory" in refused.stderr and "check --path" in refused.stderr
    assert not missing.parent.exists()
    assert not Path(cli.db).exists()
    # the user config directory is made (owner only): the lookup's fourth place
    user_file = tmp_path / "config" / "sla.toml"  # INCIDENTCTL_CONFIG_DIR in the tests
    assert not user_file.parent.exists()
    doc = cli("init", "--path", str(user_file), "--json").json
    assert doc["in_effect"] is True  # no ./sla.toml here: the user file is the one read
    assert user_file.read_text() == SEED
    assert mode(user_file.parent) == 0o700
    assert "config/sla.toml" in cli("policy", "show").stderr
    assert cli("init", "--path", str(tmp_path), expect=2).stderr.startswith(
        f"incidentctl: {tmp_path} is a directory"
    )


def test_init_with_a_database_in_a_missing_directory_writes_no_policy(cli, tmp_path):
    cli.use(str(tmp_path / "typo" / "incidents.db"))
    cli("init", expect=7)
    assert not (tmp_path / "sla.toml").exists()


# --------------------------------------------------------------------------- policy show


def test_policy_show_toml_reads_back_as_the_same_policy(cli, tmp_path):
    run = cli("policy", "show", "--format", "toml")
    assert run.stderr == "# effective policy, from built-in\n"
    assert parse_policy(run.stdout, "shown") == builtin_policy()
    assert 'response = "10m"' in run.stdout
    # through the CLI: loaded again as a config, the same policy is in effect
    shown = tmp_path / "shown.toml"
    shown.write_text(run.stdout)
    assert cli.json("--config", str(shown), "policy", "show") == cli.json("policy", "show")


RICH = """
relevel = "restart"

[levels.1]
name = "Major"
response = "10m"
recovery = "1h30m"
resolution = "7d"
notify = true
approval = true

[levels.4]
name = "Planned"
response = "1d"
recovery = "2d"
resolution = "90d"

[notifications.initial]
within = "45s"
sms = ["service_owner"]
email = { to = ["service_owner", "incident_managers"], cc = ["om_team"] }
phone = ["rd_leader"]

[notifications.progress]
every = "2h"
email = { to = ["service_owner"] }

[roles]
om_team = "om-team"
rd_leader = "li.wei"
incident_managers = ["zhang.min", "chen.jie"]

[services.default]
owner = "duty-officer"

[services."billing.eu"]
owner = "chen.jie"

[contacts."chen.jie"]
email = "chen.jie@example.com"

[contacts."duty-officer"]
phone = "+86 138 0000 0002"

[contacts.om-team]
email = "om-team@example.com"

[contacts."li.wei"]
email = "li.wei@example.com"
phone = "+8613800000004"

[contacts."zhang.min"]
email = "zhang.min@example.com"

[transports.email]
type = "smtp"
host = "smtp.example.com"
port = 587
from = "incidentctl@example.com"
username = "incidentctl"
password_env = "INCIDENTCTL_SMTP_PASSWORD"
security = "starttls"
timeout = "15s"

[transports.sms]
type = "webhook"
url = "https://sms.example.com/send"
headers = { "Content-Type" = "application/json" }
headers_env = { "Authorization" = "INCIDENTCTL_SMS_AUTH" }

[transports.phone]
type = "command"
argv = ["/usr/local/bin/call-out", "--voice"]

[retry]
first = "30s"
factor = 1.5
max_delay = "1h"
max_attempts = 4
"""


def test_policy_show_toml_round_trips_every_kind_of_key(cli, tmp_path):
    source = tmp_path / "rich.toml"
    source.write_text(RICH)
    original = parse_policy(RICH, "rich.toml")
    shown = cli("--config", str(source), "policy", "show", "--format", "toml").stdout
    again = parse_policy(shown, "shown")
    assert again == original
    assert again.transports["email"].from_ == "incidentctl@example.com"
    assert 'from = "incidentctl@example.com"' in shown  # the file's key, not from_
    assert "username" in shown and "ca_file" not in shown  # not set: left out (no null)
    assert '[contacts."chen.jie"]' in shown
    # and it is the same again when shown from the shown file
    copy = tmp_path / "copy.toml"
    copy.write_text(shown)
    assert cli("--config", str(copy), "policy", "show", "--format", "toml").stdout == shown


def test_policy_show_json_is_as_before(cli):
    plain = cli("policy", "show").json
    assert plain == cli("policy", "show", "--format", "json").json == cli.json("policy", "show")
    assert plain["levels"]["1"]["response"] == "10m"
