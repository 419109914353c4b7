"""Docs that cannot drift: the command reference is the commands' own --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_up_to_date():
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_command_is_in_the_spec_table_of_the_readme_or_docs():
    reference = (ROOT / "docs" / "cli-reference.md").read_text()
    for command in (
        "open",
        "list",
        "show",
        "ack",
        "assign",
        "note",
        "transfer",
        "relevel",
        "recover",
        "resolve",
        "approve",
        "close",
        "reopen",
        "problem",
        "policy check",
        "policy show",
        "db upgrade",
        "db copy",
        "demo",
        "board",
        "init",
    ):
        assert f"## `incidentctl {command}`" in reference, command


def test_the_readme_lists_every_exit_code_with_its_json_error():
    import re

    from incidentctl import errors

    readme = (ROOT / "README.md").read_text()
    rows = {
        cells[0]: cells[2]
        for line in readme.splitlines()
        if re.match(r"\| \d+ \|", line)
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert sorted(map(int, rows)) == sorted(int(s) for s in errors.ExitStatus)
    for error in vars(errors).values():
        if isinstance(error, type) and issubclass(error, errors.IncidentctlError):
            assert f"`{error.code}`" in rows[str(int(error.exit_status))], error.__name__


# --------------------------------------------------------------------------- docs/policy.md

# How docs/policy.md names the keys of a table of tables (a dict of models), and the
# notification rules (one model, four fields): `levels.N.response`, `notifications.RULE.sms`.
PLACEHOLDERS = {
    "levels": "N",
    "services": "NAME",
    "contacts": "NAME",
    "transports": "CHANNEL",
    "calendars": "NAME",
}


def _models_in(annotation):
    """The pydantic models a field's type holds (a model, a dict of them, a union)."""
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict:
        args = args[1:]  # the values, not the keys
    return [model for arg in args for model in _models_in(arg)]


def policy_keys():
    """Every key of the policy file, as docs/policy.md writes it, with its field."""
    from incidentctl.config import Notifications, Policy

    keys: dict[str, list] = {}

    def walk(model, prefix):
        for name, field in model.model_fields.items():
            key = f"{prefix}{field.alias or name}"
            if model is Notifications:
                key = f"{prefix}RULE"
            if key in PLACEHOLDERS:
                key = f"{key}.{PLACEHOLDERS[key]}"
            keys.setdefault(key, []).append(field)
            for inner in _models_in(field.annotation):
                walk(inner, f"{key}.")

    walk(Policy, "")
    return keys


def documented_rows():
    """``key -> [default cell, ...]`` from the tables of docs/policy.md."""
    import re

    rows: dict[str, list[str]] = {}
    for line in (ROOT / "docs" / "policy.md").read_text().splitlines():
        match = re.match(r"\| `([^`]+)` \| (.*?) \| (.*?) \| (.*) \|$", line)
        if match:
            rows.setdefault(match[1], []).append(match[3])
    return rows


def expected_default(field) -> str | None:
    """The default cell a leaf key must show, as TOML writes it; None: not checked."""
    from datetime import timedelta
    from enum import Enum

    from incidentctl.times import format_duration

    if field.is_required():
        return "*required*"
    value = field.default
    if value is None:
        return "not set"
    if isinstance(value, timedelta):
        return f'`"{format_duration(value)}"`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum | str):
        return f'`"{value}"`'
    if isinstance(value, int | float):
        return f"`{value}`"
    if value == [] or value == {}:
        return f"`{value}`"
    return None  # a table of defaults: described in words


def test_docs_policy_lists_every_key_of_the_policy_and_its_default():
    keys = policy_keys()
    rows = documented_rows()
    missing = sorted(set(keys) - set(rows))
    assert not missing, f"docs/policy.md does not document {missing}"
    stale = sorted(set(rows) - set(keys))
    assert not stale, f"docs/policy.md documents keys the policy does not have: {stale}"
    for key, fields in keys.items():
        if key.endswith(".type") and key.startswith("transports."):
            assert rows[key] == ["*required*"]  # the transport's tag must be given
            continue
        for field in fields:
            if _models_in(field.annotation):
                continue  # a table: its default is said in words
            expected = expected_default(field)
            if expected is None:
                continue
            cells = rows[key]
            assert any(cell == expected or cell.startswith(expected) for cell in cells), (
                f"docs/policy.md: {key} default is {cells}, the model's is {expected}"
            )


def test_docs_policy_key_walk_sees_the_nested_models():
    keys = policy_keys()
    for key in (
        "relevel",
        "levels.N.response",
        "notifications.RULE.email.cc",
        "services.NAME.owner",
        "contacts.NAME.phone",
        "transports.CHANNEL.from",
        "transports.CHANNEL.headers_env",
        "transports.CHANNEL.argv",
        "retry.max_attempts",
    ):
        assert key in keys, key


def test_the_readme_links_the_policy_reference_and_mentions_init_and_completion():
    readme = (ROOT / "README.md").read_text()
    use = readme.split("## Use", 1)[1].split("\n## ", 1)[0]
    assert "docs/policy.md" in use
    assert "incidentctl init" in use
    assert "--install-completion" in use
