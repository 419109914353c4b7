"""Issue 13 through the CLI: business calendars on the clocks (items 2), warnings before
the breach (3), policy versions (5) and the developers' fix clock (7). The arithmetic
of the calendars themselves is checked minute by minute in test_calendar.py."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from importlib import resources

import pytest

from test_export_import import empty_the_database

CALENDAR = """
[calendars.office]
timezone = "Europe/Berlin"
mon = "09:00-18:00"
tue = "09:00-18:00"
wed = "09:00-18:00"
thu = "09:00-18:00"
fri = "09:00-18:00"
holidays = ["2026-12-24", "2026-12-25"]
"""
PRINTED = '\n[transports.email]\ntype = "print"\n[transports.sms]\ntype = "print"\n'


def policy(tmp_path, levels: dict[int, str] | None = None, extra: str = ""):
    """The shipped policy with keys added to levels, plus ``extra``, as ./sla.toml."""
    text = resources.files("incidentctl").joinpath("sla.toml").read_text()
    for level, keys in (levels or {}).items():
        text = text.replace(f"[levels.{level}]\n", f"[levels.{level}]\n{keys}\n", 1)
    path = tmp_path / "sla.toml"
    path.write_text(text + extra)
    return path


@pytest.fixture(autouse=True)
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def z(text: str) -> str:
    return text.replace("+00:00", "Z")


def open_at(cli, when: str, level: int = 2, **kw) -> dict:
    return cli.json("open", "Card payments fail", "--level", str(level), "--service",
                    "payments", now=when)  # fmt: skip


# --------------------------------------------------------------------------- calendars


@pytest.mark.storage_contract
def test_business_hours_start_at_the_next_opening_and_skip_the_weekend(cli, tmp_path):
    policy(tmp_path, {3: 'calendar = "office"\nrecovery_calendar = "24/7"'}, CALENDAR)
    # Saturday 10:00 in Berlin: counting starts Monday 09:00; 60m of response -> 10:00
    doc = open_at(cli, "2026-11-28T09:00:00Z", level=3)
    assert doc["sla"]["response"]["due_at"] == "2026-11-30T09:00:00Z"
    # recovery stays 24/7: 24h from the fault
    assert doc["sla"]["recovery"]["due_at"] == "2026-11-29T09:00:00Z"
    # Friday 17:30 (CET): 30 minutes on Friday, 30 on Monday
    doc = open_at(cli, "2026-11-27T16:30:00Z", level=3)
    assert doc["sla"]["response"]["due_at"] == "2026-11-30T08:30:00Z"


def test_a_weekend_across_the_autumn_change_counts_real_hours(cli, tmp_path):
    policy(tmp_path, {3: 'calendar = "office"'}, CALENDAR)
    # Friday 2026-10-23 17:30 CEST (15:30Z); Monday 26 is CET: 09:30 there is 08:30Z
    doc = open_at(cli, "2026-10-23T15:30:00Z", level=3)
    assert doc["sla"]["response"]["due_at"] == "2026-10-26T08:30:00Z"


def test_holidays_are_skipped(cli, tmp_path):
    policy(tmp_path, {3: 'calendar = "office"'}, CALENDAR)
    # Wednesday 23 Dec 17:30 CET: 30m that day; 24th and 25th are holidays; then the
    # weekend; Monday 28th 09:30
    doc = open_at(cli, "2026-12-23T16:30:00Z", level=3)
    assert doc["sla"]["response"]["due_at"] == "2026-12-28T08:30:00Z"


def test_a_pause_in_business_hours_moves_the_due_by_the_open_time_it_took(cli, tmp_path):
    policy(tmp_path, {3: 'calendar = "office"\npausable = ["response"]'}, CALENDAR)
    n = open_at(cli, "2026-11-30T08:00:00Z", level=3)["id"]  # Monday 09:00 CET
    cli("pause", str(n), "--reason", "awaiting-customer", now="2026-11-30T08:20:00Z", expect=0)
    # resumed after closing: the pause took 20m..18:00 of open time, none after
    doc = cli.json("resume", str(n), now="2026-11-30T19:00:00Z")
    # 20 minutes counted before the pause; 40 more from Tuesday 09:00
    assert doc["sla"]["response"]["due_at"] == "2026-12-01T08:40:00Z"


def test_an_unknown_calendar_is_a_config_error(cli, tmp_path):
    policy(tmp_path, {3: 'calendar = "ofice"'}, CALENDAR)
    out = cli("policy", "check", expect=5)
    assert "levels.3.calendar" in out.stderr and "ofice" in out.stderr


# --------------------------------------------------------------------------- warnings


T0 = "2026-11-25T03:00:00Z"


def at(minutes: float) -> str:
    moment = datetime.fromisoformat(T0.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


WARNING = '\n[notifications.warning]\nat = ["75%"]\nsms = ["service_owner"]\n'


def warnings(cli, minutes: float) -> list[tuple[int, str]]:
    doc = cli.json("escalate", now=at(minutes))
    return sorted((d["incident"], d["notice"]) for d in doc["deliveries"]
                  if d["notice"].startswith("warning-"))  # fmt: skip


@pytest.mark.storage_contract
def test_a_warning_goes_once_before_the_breach_and_never_after(cli, tmp_path):
    policy(tmp_path, extra=WARNING + PRINTED)
    open_at(cli, T0, level=1)  # response 10m: warned at 7m30s
    open_at(cli, T0, level=1)  # acknowledged first: never warned
    cli("ack", "2", now=at(2), expect=0)
    assert warnings(cli, 5) == []
    assert warnings(cli, 8) == [(1, "warning-response")]
    assert warnings(cli, 9) == []  # once
    open_at(cli, at(20), level=1)  # nobody looked before its breach: no late warning
    assert warnings(cli, 31) == []
    shown = cli.json("show", "3", now=at(31))
    assert {d["notice"] for d in shown["deliveries"]} >= {"overdue-response"}
    assert not any(d["notice"].startswith("warning-") for d in shown["deliveries"])


def test_warning_percentages_are_checked(cli, tmp_path):
    policy(tmp_path, extra='\n[notifications.warning]\nat = ["120%"]\nsms = ["service_owner"]\n')
    out = cli("policy", "check", expect=5)
    assert "notifications.warning.at" in out.stderr and "before the breach" in out.stderr


# --------------------------------------------------------------------------- fix clock


@pytest.mark.storage_contract
def test_the_fix_clock_measures_the_developers_part(cli, tmp_path):
    policy(tmp_path, {1: 'fix = "4h"'})
    n = open_at(cli, T0, level=1)["id"]
    assert "fix" not in cli.json("show", str(n), now=at(0))["sla"]  # not before a transfer
    cli("transfer", str(n), "--to", "liu.yang", "--reason", "a bug", now=at(1), expect=0)
    doc = cli.json("show", str(n), now=at(2))
    assert doc["sla"]["resolution"]["state"] == "met"  # O&M handed it over in a minute
    assert doc["sla"]["fix"] == {"due_at": at(1 + 240), "stopped_at": None, "state": "running"}
    doc = cli.json("resolve", str(n), "--solution", "patched", now=at(300))
    assert doc["sla"]["fix"] == {"due_at": at(241), "stopped_at": at(300), "state": "breached"}
    shown = cli("show", str(n), now=at(301), expect=0).stdout
    assert re.search(r"fix +breached +due .*stopped", shown)
    report = cli.json("report", "--month", "2026-11", "--tz", "UTC", now=at(301))
    assert report["sla"]["1"]["fix"]["breached"] == 1
    assert report["durations"]["fix"]["count"] == 1


def test_without_fix_targets_there_is_no_fix_clock(cli, tmp_path):
    n = open_at(cli, T0, level=1)["id"]
    cli("transfer", str(n), "--to", "liu.yang", "--reason", "a bug", now=at(1), expect=0)
    doc = cli.json("show", str(n), now=at(2))
    assert list(doc["sla"]) == ["response", "recovery", "resolution"]
    assert (
        "fix" not in cli.json("report", "--month", "2026-11", "--tz", "UTC", now=at(2))["sla"]["1"]
    )


# --------------------------------------------------------------------------- versions


@pytest.mark.storage_contract
def test_editing_the_policy_never_changes_a_counted_verdict(cli, tmp_path):
    path = policy(tmp_path)
    n = open_at(cli, T0, level=2)["id"]
    cli("ack", str(n), now=at(25), expect=0)  # response 30m: met
    first = cli.json("show", str(n), now=at(26))
    version = first["policy_version"]
    assert re.fullmatch(r"[0-9a-f]{12}", version)
    # the team tightens Level 2's response to 20m
    path.write_text(path.read_text().replace('response = "30m"', 'response = "20m"', 1))
    doc = cli.json("note", str(n), "still looking", now=at(30))  # a write re-derives it
    assert doc["sla"]["response"] == first["sla"]["response"]
    assert doc["sla"]["response"]["state"] == "met"
    assert doc["policy_version"] == version
    m = open_at(cli, at(40), level=2)  # a new incident follows the new policy
    assert m["sla"]["response"]["due_at"] == at(60)
    assert m["policy_version"] != version
    shown = cli("show", str(n), now=at(41), expect=0).stdout
    assert f"policy version: {version}" in shown
    report = cli.json("report", "--month", "2026-11", "--tz", "UTC", now=at(41))
    assert report["policy_versions"] == {version: 1, m["policy_version"]: 1}


@pytest.mark.storage_contract
def test_export_and_import_carry_pauses_and_policy_versions(cli, tmp_path):
    path = policy(tmp_path, {2: 'pausable = ["resolution"]'})
    n = open_at(cli, T0, level=2)["id"]
    cli("pause", str(n), "--reason", "awaiting-vendor", now=at(60), expect=0)
    cli("resume", str(n), now=at(180), expect=0)
    m = open_at(cli, T0, level=2)["id"]
    cli("pause", str(m), "--reason", "awaiting-customer", now=at(90), expect=0)
    before = [cli.json("show", str(i), now=at(200)) for i in (n, m)]
    exported = cli("export", now=at(200)).stdout
    first = exported.splitlines()[0]
    assert json.loads(first)["policy_version"] == before[0]["policy_version"]

    # into a new database whose policy in force is another: Level 2 pauses nothing now
    path.write_text(path.read_text().replace('pausable = ["resolution"]\n', "", 1))
    source = tmp_path / "incidents.ndjson"
    source.write_text(exported)
    empty_the_database(cli)
    cli.json("import", str(source), now=at(200))
    after = [cli.json("show", str(i), now=at(200)) for i in (n, m)]
    for was, now_ in zip(before, after, strict=True):
        for key in ("sla", "paused_at", "pause_reason", "policy_version"):
            assert now_[key] == was[key], key
    assert after[1]["sla"]["resolution"]["state"] == "paused"
    assert [e["kind"] for e in after[0]["events"]][-2:] == ["paused", "resumed"]
    # and they keep following their version when they change again
    doc = cli.json("resume", str(m), now=at(210))
    assert doc["sla"]["resolution"]["due_at"] == at(20 * 24 * 60 + 120)


def test_a_version_line_that_does_not_add_up_is_refused(cli, tmp_path):
    open_at(cli, T0, level=2)
    lines = cli("export", now=at(1)).stdout.splitlines()
    version = json.loads(lines[0])
    version["policy"]["levels"]["2"]["response"] = "1m"  # tampered
    source = tmp_path / "bad.ndjson"
    source.write_text("\n".join([json.dumps(version), *lines[1:]]) + "\n")
    cli.use(str(tmp_path / "other.db"))
    out = cli("import", str(source), now=at(2), expect=2)
    assert "line 1: policy_version" in out.stderr and "nothing was imported" in out.stderr
