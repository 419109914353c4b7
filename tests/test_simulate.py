"""``policy simulate`` through the real CLI: a period's incidents replayed under another
policy, side by side with the policy their clocks follow; refusals; nothing written."""

from __future__ import annotations

from importlib import resources

import pytest

NOW = "2026-12-01T00:00:00Z"


def level2_recovery(tmp_path, target: str, name: str = "new.toml"):
    """The shipped policy with Level 2's recovery target changed, written as ``name``."""
    text = resources.files("incidentctl").joinpath("sla.toml").read_text()
    start = text.index("[levels.2]\n")
    section_end = text.index("\n[", start + 1)
    section = text[start:section_end]
    assert 'recovery = "6h"' in section
    text = (
        text[:start]
        + section.replace('recovery = "6h"', f'recovery = "{target}"')
        + text[section_end:]
    )
    path = tmp_path / name
    path.write_text(text)
    return path


def recovered_after(cli, hours: int, *, day: int, title: str, level: int = 2) -> int:
    opened_at = f"2026-11-{day:02d}T08:00:00Z"
    n = cli.json("open", title, "--level", str(level), "--service", "payments", now=opened_at)["id"]
    cli("ack", str(n), now=f"2026-11-{day:02d}T08:05:00Z")
    cli("recover", str(n), now=f"2026-11-{day:02d}T{8 + hours:02d}:00:00Z")
    return n


@pytest.mark.storage_contract
def test_a_shorter_level_2_recovery_target_halves_its_attainment(cli, tmp_path):
    fast = recovered_after(cli, 3, day=3, title="Checkout slow")
    slow = recovered_after(cli, 5, day=10, title="Checkout down")
    new = level2_recovery(tmp_path, "4h", "new.toml")
    before = cli.snapshot()

    doc = cli.json("policy", "simulate", "--config", str(new), "--month", "2026-11", now=NOW)

    assert doc["since"] == "2026-11-01T00:00:00Z"
    assert doc["until"] == "2026-12-01T00:00:00Z"
    assert doc["month"] == "2026-11" and doc["tz"] == "UTC"
    assert doc["incidents"] == 2
    assert doc["current"]["source"] == "built-in"
    assert len(doc["current"]["versions"]) == 1
    assert doc["simulated"]["source"] == str(new)
    assert doc["simulated"]["version"] != doc["current"]["versions"][0]
    recovery = doc["sla"]["2"]["recovery"]
    assert recovery == {
        "current": {"met": 2, "breached": 0, "running": 0, "attainment": 100.0},
        "simulated": {"met": 1, "breached": 1, "running": 0, "attainment": 50.0},
        "change": -50.0,
    }
    # the other clocks are the same under both
    response = doc["sla"]["2"]["response"]
    assert response["current"] == response["simulated"] and response["change"] == 0.0
    assert doc["sla"]["1"]["recovery"]["current"]["attainment"] is None
    assert doc["sla"]["1"]["recovery"]["change"] is None
    assert set(doc["sla"]["2"]) == {"response", "recovery", "resolution"}  # no fix anywhere
    assert doc["changed"] == [
        {
            "id": slow,
            "title": "Checkout down",
            "service": "payments",
            "level": 2,
            "clock": "recovery",
            "current": "met",
            "simulated": "breached",
        }
    ]
    assert doc["changed_total"] == 1
    assert fast not in [c["id"] for c in doc["changed"]]
    assert doc["not_simulated"] == {"count": 0, "levels": [], "ids": [], "note": None}

    assert cli.snapshot() == before  # nothing written


def test_the_table_fits_80_columns_and_shows_no_markup(cli, tmp_path):
    recovered_after(cli, 3, day=3, title="Checkout slow")
    recovered_after(cli, 5, day=10, title="[bold]Checkout[/bold] \x1b[31mdown")
    new = level2_recovery(tmp_path, "4h", "new.toml")
    out = cli(
        "policy",
        "simulate",
        "--config",
        str(new),
        "--month",
        "2026-11",
        now=NOW,
        env={"COLUMNS": "80"},
    ).stdout
    lines = out.splitlines()
    assert lines[0] == "Policy simulation — November 2026 (UTC)"
    assert "1 verdict changes." in out
    assert all(len(line) <= 80 for line in lines), out
    rows = [[cell for cell in line.split() if cell != "│"] for line in lines]
    [row] = [cells for cells in rows if cells[:2] == ["2", "recovery"]]
    assert row[2:] == ["100.0%", "(2/2)", "50.0%", "(1/2)", "-50.0"]
    assert "[bold]Checkout[/bold]" in out  # shown as typed, not as markup
    assert "\x1b" not in out and "\\x1b" in out


def test_a_custom_period_and_another_zone(cli, tmp_path):
    recovered_after(cli, 5, day=10, title="Checkout down")
    new = level2_recovery(tmp_path, "4h", "new.toml")
    doc = cli.json(
        "policy",
        "simulate",
        "--config",
        str(new),
        "--since",
        "2026-11-10 00:00",
        "--until",
        "2026-11-11 00:00",
        "--tz",
        "Asia/Shanghai",
        now=NOW,
    )
    assert doc["since"] == "2026-11-09T16:00:00Z" and doc["month"] is None
    assert doc["tz"] == "Asia/Shanghai"
    assert doc["incidents"] == 1
    assert doc["sla"]["2"]["recovery"]["simulated"]["attainment"] == 0.0


def test_a_running_clock_is_undecided_and_a_cancelled_incident_not_counted(cli, tmp_path):
    late = "2026-11-30T21:00:00Z"
    n = cli.json("open", "Still down", "--level", "2", "-s", "payments", now=late)
    gone = cli.json("open", "Opened twice", "--level", "2", "-s", "payments", now=late)
    cli("cancel", str(gone["id"]), "--reason", "mistake", now="2026-11-30T21:01:00Z")
    new = level2_recovery(tmp_path, "2h", "new.toml")
    doc = cli.json("policy", "simulate", "--config", str(new), "--month", "2026-11", now=NOW)
    assert doc["incidents"] == 1 and doc["cancelled"] == 1
    recovery = doc["sla"]["2"]["recovery"]
    # 3h down at "now": within 6h (running), past 2h (breached)
    assert recovery["current"] == {"met": 0, "breached": 0, "running": 1, "attainment": None}
    assert recovery["simulated"] == {"met": 0, "breached": 1, "running": 0, "attainment": 0.0}
    assert recovery["change"] is None
    assert [(c["id"], c["current"], c["simulated"]) for c in doc["changed"]] == [
        (n["id"], "running", "breached")
    ]


def test_the_fix_clock_is_shown_where_a_level_of_either_policy_sets_it(cli, tmp_path):
    recovered_after(cli, 3, day=3, title="Checkout slow")
    text = resources.files("incidentctl").joinpath("sla.toml").read_text()
    path = tmp_path / "fix.toml"
    path.write_text(text.replace("[levels.2]\n", '[levels.2]\nfix = "5d"\n', 1))
    doc = cli.json("policy", "simulate", "--config", str(path), "--month", "2026-11", now=NOW)
    assert "fix" in doc["sla"]["2"] and "fix" not in doc["sla"]["1"]
    assert doc["sla"]["2"]["fix"]["simulated"]["attainment"] is None  # never transferred


def test_incidents_at_a_level_the_simulated_policy_lacks_are_not_simulated(cli, tmp_path):
    recovered_after(cli, 3, day=3, title="Checkout slow")
    high = recovered_after(cli, 1, day=4, title="Everything down", level=1)
    text = resources.files("incidentctl").joinpath("sla.toml").read_text()
    start = text.index("[levels.1]\n")
    end = text.index("[levels.2]\n")
    path = tmp_path / "two.toml"
    path.write_text(text[:start] + text[end:])
    doc = cli.json("policy", "simulate", "--config", str(path), "--month", "2026-11", now=NOW)
    assert doc["incidents"] == 1
    assert doc["not_simulated"]["count"] == 1
    assert doc["not_simulated"]["ids"] == [high]
    assert doc["not_simulated"]["levels"] == [1]
    assert "not simulated" in doc["not_simulated"]["note"]
    # in neither side's figures
    assert doc["sla"]["1"]["recovery"]["current"] == doc["sla"]["1"]["recovery"]["simulated"]
    assert doc["sla"]["1"]["recovery"]["current"]["met"] == 0
    table = cli("policy", "simulate", "--config", str(path), "--month", "2026-11", now=NOW)
    assert "Note: 1 incidents are at a level one of the policies lacks" in table.stdout


@pytest.mark.parametrize(
    "period, message",
    [
        ((), "give the period"),
        (("--month", "2026-11", "--since", "2026-11-01"), "not both"),
        (("--until", "2026-11-20"), "--until needs --since"),
        (("--month", "Nov"), "use YYYY-MM"),
    ],
)
def test_the_period_is_required_and_unambiguous(cli, tmp_path, period, message):
    new = level2_recovery(tmp_path, "4h", "new.toml")
    out = cli("policy", "simulate", "--config", str(new), *period, now=NOW, expect=2)
    assert message in out.stderr
    assert out.stdout == ""


def test_a_missing_or_invalid_file_exits_5_with_the_config_error(cli, tmp_path):
    recovered_after(cli, 3, day=3, title="Checkout slow")
    before = cli.snapshot()
    missing = tmp_path / "nope.toml"
    out = cli("policy", "simulate", "--config", str(missing), "--month", "2026-11", expect=5)
    assert f"{missing}: no such file" in out.stderr and out.stdout == ""
    bad = level2_recovery(tmp_path, "soon", "bad.toml")
    out = cli("policy", "simulate", "--config", str(bad), "--month", "2026-11", expect=5)
    assert str(bad) in out.stderr and "levels.2.recovery" in out.stderr
    assert cli.snapshot() == before


def test_the_global_config_still_picks_the_policy_in_force(cli, tmp_path):
    recovered_after(cli, 5, day=10, title="Checkout down")
    in_force = level2_recovery(tmp_path, "4h", "in-force.toml")
    same = level2_recovery(tmp_path, "6h", "shipped.toml")
    doc = cli.json(
        "--config",
        str(in_force),
        "policy",
        "simulate",
        "--config",
        str(same),
        "--month",
        "2026-11",
        now=NOW,
    )
    # the incident's clocks follow the version recorded when it was opened (the built-in)
    assert doc["current"]["source"] == str(in_force)
    assert doc["sla"]["2"]["recovery"]["change"] == 0.0
    assert doc["changed"] == []
