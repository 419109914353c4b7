"""The month, complete (issue 11, item 10): the report's lessons learned and the major
incidents still owing a review, in every format."""

from __future__ import annotations

import csv
import io
from importlib import resources

import pytest

NOW = "2026-12-20T00:00:00Z"
LESSON = "Alert on pool saturation, not on 502s; the pool was full for 40 minutes first"


def major_month(cli) -> None:
    """November 2026 (UTC): two major incidents, one with its review written."""
    cli("open", "Old outage", "--level", "1", "--service", "payments", now="2026-10-30T10:00:00Z")
    for title, level, when in (
        ("Checkout fails with 502", "1", "2026-11-02T01:00:00Z"),  # 2: reviewed
        ("Card vault down", "1", "2026-11-10T09:00:00Z"),  # 3: root cause only
        ("Search slow", "2", "2026-11-11T09:00:00Z"),  # 4: not major
        ("Test alert", "1", "2026-11-12T09:00:00Z"),  # 5: cancelled
    ):
        cli("open", title, "--level", level, "--service", "payments", now=when)
    cli("cancel", "5", "--reason", "a test", now="2026-11-12T09:05:00Z")
    for kind, text in (("impact", "All card payments"), ("root-cause", "Pool too small")):
        cli("note", "2", text, "--kind", kind, now="2026-11-02T05:00:00Z")
    cli(
        "note", "2", "Size the pool from load tests", "--kind", "action", now="2026-11-03T05:00:00Z"
    )
    cli("note", "2", "Rolled back", now="2026-11-02T01:30:00Z")  # progress: not a lesson
    # a lesson written in December about a November incident is November's
    cli("--as", "zhang.min", "note", "2", LESSON, "--kind", "lesson", now="2026-12-01T08:00:00Z")
    cli("note", "3", "HSM firmware bug", "--kind", "root-cause", now="2026-11-11T08:00:00Z")
    # a lesson written in November about an October incident is October's
    cli("note", "1", "Keep the runbook current", "--kind", "lesson", now="2026-11-01T08:00:00Z")
    cli("note", "5", "Tests go to staging", "--kind", "lesson", now="2026-11-12T09:10:00Z")


def report(cli, *args: str) -> str:
    return cli("report", "--month", "2026-11", "--tz", "UTC", *args, now=NOW).stdout


@pytest.mark.storage_contract
def test_the_months_lessons_and_the_major_incidents_owing_a_review(cli):
    major_month(cli)
    document = cli.json("report", "--month", "2026-11", "--tz", "UTC", now=NOW)
    assert document["lessons"] == [
        {
            "id": 2,
            "title": "Checkout fails with 502",
            "service": "payments",
            "level": 1,
            "at": "2026-12-01T08:00:00Z",
            "actor": "zhang.min",
            "text": LESSON,
        }
    ]
    assert document["reviews_owed"] == [
        {
            "id": 3,
            "title": "Card vault down",
            "service": "payments",
            "level": 1,
            "status": "open",
            "reported_at": "2026-11-10T09:00:00Z",
            "missing": ["impact", "action"],
        }
    ]
    october = cli.json("report", "--month", "2026-10", "--tz", "UTC", now=NOW)
    assert [lesson["text"] for lesson in october["lessons"]] == ["Keep the runbook current"]
    assert [r["id"] for r in october["reviews_owed"]] == [1]
    assert [r["missing"] for r in october["reviews_owed"]] == [["impact", "root-cause", "action"]]
    # the month after counts them as its previous period's
    december = cli.json("report", "--month", "2026-12", "--tz", "UTC", now=NOW)
    assert (december["previous"]["lessons"], december["previous"]["reviews_owed"]) == (1, 1)
    assert (december["previous"]["change"]["lessons"], december["reviews_owed"]) == (-1, [])


def test_the_review_is_owed_while_any_part_is_missing_and_no_longer_after(cli):
    major_month(cli)
    cli("note", "3", "Card payments failed for 3h", "--kind", "impact", now=NOW)
    assert [
        r["missing"] for r in cli.json("report", "--month", "2026-11", now=NOW)["reviews_owed"]
    ] == [["action"]]
    cli("note", "3", "Upgrade the HSM firmware", "--kind", "action", now=NOW)
    assert cli.json("report", "--month", "2026-11", "--tz", "UTC", now=NOW)["reviews_owed"] == []


def test_major_means_the_levels_whose_solutions_need_approval(cli, tmp_path, monkeypatch):
    text = resources.files("incidentctl").joinpath("sla.toml").read_text(encoding="utf-8")
    head, rest = text.split("[levels.2]", 1)
    two, tail = rest.split("[levels.3]", 1)
    assert "approval = false" in two
    policy = tmp_path / "sla.toml"
    policy.write_text(
        head
        + "[levels.2]"
        + two.replace("approval = false", "approval = true")
        + "[levels.3]"
        + tail
    )
    monkeypatch.setenv("INCIDENTCTL_CONFIG", str(policy))
    major_month(cli)
    owed = cli.json("report", "--month", "2026-11", "--tz", "UTC", now=NOW)["reviews_owed"]
    assert [r["id"] for r in owed] == [3, 4]


def test_the_human_formats_carry_them(cli, monkeypatch):
    major_month(cli)
    monkeypatch.setenv("COLUMNS", "60")
    table = report(cli)
    owed = table.split("Major incidents owing a review (1)", 1)[1]
    assert owed.splitlines()[3].split("│")[0].strip() == "3"
    assert "impact, action items" in owed.split("\n\n")[0]
    lessons = table.split("Lessons learned (1)\n", 1)[1].split("\n\n")[0]
    # the lesson whole, not cut to the 60 columns, with where it comes from
    assert "".join(line.strip() + " " for line in lessons.splitlines()).startswith(
        "• " + LESSON + " incident 2 (payments, Level 1): Checkout fails with 502 — "
        "zhang.min, 2026-12-01 08:00"
    )
    assert "reviews_owed 1 → 1 (0)" in table and "lessons 1 → 1 (0)" in table  # October's

    markdown = report(cli, "--format", "markdown")
    assert (
        "## Major incidents owing a review (1)\n\n"
        "| ID | Level | Service | Status | Reported | Missing | Title |\n"
        "|---|---|---|---|---|---|---|\n"
        "| 3 | 1 | payments | open | 2026-11-10 09:00 | impact, action items | Card vault down |"
    ) in markdown
    assert (
        "## Lessons learned (1)\n\n- " + LESSON + " — *incident 2 (payments, Level 1): "
        "Checkout fails with 502 — zhang.min, 2026-12-01 08:00*\n"
    ) in markdown

    rows = list(csv.reader(io.StringIO(report(cli, "--format", "csv"))))
    assert ["reviews_owed", "3", "missing", "impact action"] in rows
    assert ["lessons", "2", "2026-12-01T08:00:00Z", LESSON] in rows

    page = report(cli, "--format", "html")
    assert "<h2>Major incidents owing a review (1)</h2>" in page
    assert "<h2>Lessons learned (1)</h2>" in page and LESSON in page
    assert "<b>1</b><span>major incidents owing a review</span>" in page


def test_a_month_without_them_says_so(cli):
    cli("open", "Search slow", "--level", "3", "--service", "search", now="2026-11-02T01:00:00Z")
    table = report(cli)
    assert "Major incidents owing a review: none" in table
    assert "Lessons learned: none" in table
    markdown = report(cli, "--format", "markdown")
    assert "## Lessons learned (0)\n\nNone.\n" in markdown
    assert "## Major incidents owing a review (0)\n\nNone.\n" in markdown


def test_the_report_is_in_the_policys_zone_unless_tz_is_given(cli, tmp_path, monkeypatch):
    text = resources.files("incidentctl").joinpath("sla.toml").read_text(encoding="utf-8")
    policy = tmp_path / "sla.toml"
    policy.write_text('timezone = "Asia/Shanghai"\n' + text)
    monkeypatch.setenv("INCIDENTCTL_CONFIG", str(policy))
    cli("open", "Late", "--level", "3", "--service", "search", now="2026-10-31T17:30:00Z")
    november = cli.json("report", "--month", "2026-11", now=NOW)  # TZ=UTC, the policy wins
    assert (november["tz"], november["since"], november["total"]) == (
        "Asia/Shanghai",
        "2026-10-31T16:00:00Z",
        1,
    )
    assert cli.json("report", "--month", "2026-11", "--tz", "UTC", now=NOW)["total"] == 0
