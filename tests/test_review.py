"""The major-incident review: show ID --format markdown, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

T0 = "2026-11-25T03:00:00Z"


def at(minutes: int) -> str:
    from datetime import datetime, timedelta

    base = datetime.fromisoformat(T0.replace("Z", "+00:00"))
    return (base + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def section(document: str, title: str) -> str:
    """The text under one ``## title`` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", document, re.S | re.M)
    assert match, f"no section {title!r} in:\n{document}"
    return match.group(1).strip()


def major_incident(cli) -> None:
    cli(
        "open",
        "Checkout fails with 502",
        "--level",
        "2",
        "--service",
        "payments",
        "--reporter",
        "Wang Fang",
        "--occurred",
        "2026-11-25T02:50:00Z",
        now=T0,
    )
    cli("ack", "1", now=at(5))
    cli("relevel", "1", "--level", "1", "--reason", "all card payments failing", now=at(8))
    cli("escalate", now=at(9), expect=None)
    cli("note", "1", "Rolled back 3.2.1", now=at(20))
    cli("recover", "1", now=at(150))
    cli("resolve", "1", "--solution", "Pool size fixed in 3.2.2", now=at(200))
    cli("note", "1", "Alert on pool saturation, not on 502s", "--kind", "lesson", now=at(210))
    cli("note", "1", "Keep the *rollback* runbook | current", "--kind", "lesson", now=at(211))


def test_review_has_every_part_of_a_major_incident_report(cli):
    major_incident(cli)
    review = cli("show", "1", "--format", "markdown", now=at(300)).stdout
    assert review.startswith("# Incident 1: Checkout fails with 502\n")
    assert "Level 1 (Major) · resolved · service payments" in review

    clocks = section(review, "SLA clocks")
    # acknowledged before the re-level: keeps its Level-2 due time and verdict
    assert (
        "| response | 2026-11-25T03:00:00Z | 2026-11-25T03:30:00Z | "
        "2026-11-25T03:05:00Z | 5m | met, 25m to spare |"
    ) in clocks
    # recovery runs from when the fault began; re-levelled to Level 1: due 02:50 + 2h
    assert (
        "| recovery | 2026-11-25T02:50:00Z | 2026-11-25T04:50:00Z | "
        "2026-11-25T05:30:00Z | 2h40m | **breached**, 40m late |"
    ) in clocks
    assert "| resolution | " in clocks and "met, " in clocks

    timeline = section(review, "Timeline")
    shown = cli.json("show", "1", now=at(300))
    rows = [line for line in timeline.splitlines()[2:] if line.startswith("| ")]
    assert len(rows) == len(shown["events"])
    assert [row.split(" | ")[1] for row in rows] == [e["kind"] for e in shown["events"]]
    assert "Level 2 → 1: all card payments failing" in timeline

    notifications = section(review, "Notifications")
    assert len(shown["deliveries"]) > 0
    assert notifications.count("\n| initial") + notifications.count("\n| overdue") == len(
        shown["deliveries"]
    )

    solution = section(review, "Solution and approval")
    assert "Pool size fixed in 3.2.2" in solution
    assert "**Not yet approved** — Level 1 (Major) solutions need an incident manager's" in solution

    lessons = section(review, "Lessons learned").splitlines()
    assert lessons == [
        "- Alert on pool saturation, not on 502s — *tester, 2026-11-25T06:30:00Z*",
        "- Keep the \\*rollback\\* runbook \\| current — *tester, 2026-11-25T06:31:00Z*",
    ]
    assert "Rolled back 3.2.1" not in section(review, "Lessons learned")


def test_review_after_approval_and_close(cli):
    major_incident(cli)
    cli("--as", "zhang.min", "approve", "1", now=at(220))
    cli("close", "1", "--confirmed-by", "Wang Fang", now=at(230))
    solution = section(
        cli("show", "1", "--format", "markdown", now=at(300)).stdout, "Solution and approval"
    )
    assert "Approved by zhang.min at 2026-11-25T06:40:00Z." in solution
    assert "Closed 2026-11-25T06:50:00Z, confirmed by Wang Fang." in solution


def test_review_of_a_fresh_minor_incident_says_what_is_missing(cli):
    cli("open", "Search slow", "--level", "3", "--service", "search", now=T0)
    review = cli("show", "1", "--format", "markdown", now=at(20)).stdout
    assert (
        "| response | 2026-11-25T03:00:00Z | 2026-11-25T04:00:00Z | — | 20m so far | "
        "running, due in 40m |" in review
    )
    assert section(review, "Notifications") == "No notifications recorded."
    assert "No solution recorded yet." in section(review, "Solution and approval")
    assert "No approval required at Level 3" in section(review, "Solution and approval")
    assert section(review, "Lessons learned").startswith("None recorded yet")


def test_typed_text_is_shown_literally(cli):
    cli(
        "open",
        "<script>alert(1)</script> **bold** [x](http://e.x) | pipe",
        "--level",
        "3",
        "--service",
        "web",
        "--details",
        "line one\n# not a heading\x1b[31m",
        now=T0,
    )
    review = cli("show", "1", "--format", "markdown", now=at(1)).stdout
    assert review.splitlines()[0] == (
        "# Incident 1: \\<script\\>alert(1)\\</script\\> \\*\\*bold\\*\\* "
        "\\[x\\](http://e.x) \\| pipe"
    )
    # rendered, this reads "# not a heading\x1b[31m": no heading, no control byte
    assert r"\# not a heading\\x1b\[31m" in review
    assert "\x1b" not in review and "<script>" not in review


def test_show_format_json_is_the_json_and_an_unknown_incident_is_exit_3(cli):
    cli("open", "Search slow", "--level", "3", "--service", "search", now=T0)
    assert cli("show", "1", "--format", "json", now=at(1)).json == cli.json("show", "1", now=at(1))
    out = cli("show", "9", "--format", "markdown", now=at(1), expect=3)
    assert "no incident 9" in out.stderr
