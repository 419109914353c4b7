"""Bad input and refused actions: the documented exit code, a clear message on stderr,
and nothing changed (the whole store, as `show --json` sees it, is identical)."""

from __future__ import annotations

import pytest

from conftest import ENGINES

T0 = "2026-11-25T03:00:00Z"
LATER = "2026-11-25T03:20:00Z"


def three_incidents(cli):
    """Incident 1 open (Level 2), incident 2 resolved Level 1 awaiting approval, 3 closed."""
    cli("open", "Checkout fails", "--level", "2", "--service", "payments", now=T0)
    cli("open", "DB down", "--level", "1", "--service", "db", now=T0)
    cli("resolve", "2", "--solution", "failover", now="2026-11-25T03:05:00Z")
    cli("open", "Old", "--level", "3", "--service", "db", now=T0)
    cli("resolve", "3", "--solution", "answered", now="2026-11-25T03:06:00Z")
    cli("close", "3", "--confirmed-by", "x", now="2026-11-25T03:07:00Z")


@pytest.fixture
def seeded(cli, seeds):
    """The three incidents, built once per module and copied for each test."""
    return seeds.load(cli, "three-incidents", three_incidents)


CASES = [
    # (arguments, exit code, JSON error code, words the message must contain)
    (["open", "", "--level", "1", "--service", "a"], 2, "invalid_input", "title"),
    (["open", "x", "--level", "7", "--service", "a"], 2, "invalid_input", "no level 7"),
    (["open", "x", "--level", "one", "--service", "a"], 2, "usage", "level"),
    (["open", "x", "--service", "a"], 2, "usage", "--level"),
    (["open", "x", "--level", "1", "--service", "a", "--channel", "pigeon"], 2, "usage", "pigeon"),
    (
        ["open", "x", "--level", "1", "--service", "a", "--at", "2026-11-25T04:00:00Z"],
        2,
        "invalid_input",
        "future",
    ),
    (
        ["open", "x", "--level", "1", "--service", "a", "--occurred", "03/04/2026 10:00"],
        2,
        "invalid_input",
        "YYYY-MM-DD",
    ),
    (
        ["open", "x", "--level", "1", "--service", "a", "--at", "10m ago", "--occurred", "5m ago"],
        2,
        "invalid_input",
        "after it was reported",
    ),
    (["list", "--status", "lost"], 2, "usage", "lost"),
    (["list", "--since", "yesterday-ish"], 2, "invalid_input", "yesterday-ish"),
    (["list", "--limit", "-1"], 2, "invalid_input", "--limit"),
    (["show", "99"], 3, "not_found", "no incident 99"),
    (["show", "abc"], 2, "usage", "not an incident id"),
    (["ack", "99"], 3, "not_found", "no incident 99"),
    (["ack", "1", "--at", "2026-11-25T02:59:00Z"], 2, "invalid_input", "before incident 1"),
    (["ack", "1", "--at", "in a bit"], 2, "invalid_input", "in a bit"),
    (["ack", "1", "--at", "2026-11-25T03:21:00Z"], 2, "invalid_input", "future"),
    (["ack", "2"], 4, "conflict", "incident 2 is resolved"),
    (["assign", "1"], 2, "usage", "--to"),
    (["assign", "3", "--to", "x"], 4, "conflict", "closed"),
    (["assign", "1", "--to", " "], 2, "invalid_input", "owner"),
    (["note", "1", ""], 2, "invalid_input", "note"),
    (["note", "1", "x", "--kind", "gossip"], 2, "usage", "gossip"),
    (["note", "99", "x"], 3, "not_found", "99"),
    (["transfer", "1", "--to", "dev1"], 2, "usage", "--reason"),
    (["transfer", "1", "--to", "dev1", "--reason", "x", "--team", "ops"], 2, "usage", "ops"),
    (["transfer", "2", "--to", "dev1", "--reason", "x"], 4, "conflict", "resolved"),
    (["relevel", "1", "--level", "2", "--reason", "x"], 4, "conflict", "already at Level 2"),
    (["relevel", "1", "--level", "5", "--reason", "x"], 2, "invalid_input", "no level 5"),
    (["relevel", "1", "--level", "1", "--reason", ""], 2, "invalid_input", "reason"),
    (["relevel", "3", "--level", "1", "--reason", "x"], 4, "conflict", "closed"),
    (["recover", "2"], 4, "conflict", "resolved"),
    (["recover", "1", "--at", "2026-11-25T02:00:00Z"], 2, "invalid_input", "before"),
    (["resolve", "1"], 2, "usage", "--solution"),
    (["resolve", "2", "--solution", "again"], 4, "conflict", "already provided"),
    (
        ["resolve", "1", "--solution", "x", "--at", "2027-01-01T00:00:00Z"],
        2,
        "invalid_input",
        "future",
    ),
    (["approve", "2"], 4, "conflict", "not an incident manager"),
    (["--as", "zhang.min", "approve", "1"], 4, "conflict", "only a resolved"),
    (["close", "2", "--confirmed-by", "x"], 4, "conflict", "approval"),
    (["close", "1", "--confirmed-by", "x"], 4, "conflict", "resolve it"),
    (["close", "2"], 2, "usage", "--confirmed-by"),
    (["reopen", "1", "--reason", "x"], 4, "conflict", "only a resolved or closed"),
    (["reopen", "2"], 2, "usage", "--reason"),
    (["problem", "1", "--ref", "P-1", "--reason", "boredom"], 2, "usage", "boredom"),
    (["problem", "1", "--ref", "", "--reason", "recurring"], 2, "invalid_input", "--ref"),
    (["problem", "99", "--ref", "P", "--reason", "recurring"], 3, "not_found", "99"),
    (["frobnicate"], 2, "usage", "frobnicate"),
]


def engine_cases() -> list:
    """Every case on SQLite; the refusals the store decides inside the write transaction
    (no such incident, a conflict with its state) on PostgreSQL too: storage contract."""
    out = []
    for engine in ENGINES:
        for case in CASES:
            decided_by_the_store = case[2] in ("not_found", "conflict")
            if engine == "sqlite" or decided_by_the_store:
                out.append(
                    pytest.param(
                        engine,
                        *case,
                        id=f"{engine}-{' '.join(case[0])[:60]}",
                        marks=[pytest.mark.storage_contract] if decided_by_the_store else [],
                    )
                )
    return out


@pytest.mark.parametrize(
    ("db_engine", "args", "code", "error", "words"), engine_cases(), indirect=["db_engine"]
)
def test_refused_and_nothing_changed(seeded, args, code, error, words):
    before = seeded.snapshot()
    plain = seeded(*args, now=LATER, expect=code)
    assert plain.stdout == ""
    assert plain.stderr.startswith("incidentctl: ") or plain.stderr.startswith("Usage")
    assert words.lower() in plain.stderr.lower()
    as_json = seeded(*args, "--json", now=LATER, expect=code)
    assert as_json.error["error"] == error
    assert words.lower() in as_json.error["message"].lower()
    assert seeded.snapshot() == before


def test_bad_policy_file_is_exit_5_and_names_file_and_key(cli, tmp_path):
    before = cli.snapshot()
    (tmp_path / "sla.toml").write_text('relevel = "sometimes"\n')
    out = cli("open", "x", "--level", "1", "--service", "a", "--json", now=T0, expect=5)
    assert out.error["error"] == "config"
    assert "sla.toml" in out.error["message"] and "relevel" in out.error["message"]
    (tmp_path / "sla.toml").unlink()
    assert cli.snapshot() == before


def test_missing_config_named_by_option(cli, tmp_path):
    out = cli("--config", str(tmp_path / "nope.toml"), "list", now=T0, expect=5)
    assert "nope.toml" in out.stderr and "no such file" in out.stderr


def test_bad_now_variable(cli):
    out = cli("list", "--json", now="tomorrow", expect=2)
    assert "INCIDENTCTL_NOW" in out.error["message"]
