"""The major-incident review: show ID --format markdown, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from importlib import resources

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

T0 = "2026-11-25T03:00:00Z"


def at(minutes: int) -> str:
    from datetime import datetime, timedelta

    base = datetime.fromisoformat(T0.replace("Z", "+00:00"))
    return (base + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def headings(document: str) -> list[str]:
    return re.findall(r"^## (.+)$", document, re.M)


def render(document: str) -> str:
    """The HTML a CommonMark renderer with GitHub's tables and strikethrough makes."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(document)


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
    assert (
        "*Level 1 (Major) · resolved · service payments · review generated "
        "2026-11-25 08:00 UTC · times in UTC*"
    ) in review
    assert headings(review) == [
        "Summary",
        "Impact",
        "SLA clocks",
        "Timeline",
        "Notifications",
        "Solution and approval",
        "Root cause",
        "Problem management",
        "Action items",
        "Lessons learned",
    ]

    clocks = section(review, "SLA clocks")
    # acknowledged before the re-level: keeps its Level-2 due time and verdict
    assert (
        "| response | 2026-11-25 03:00 UTC | 2026-11-25 03:30 UTC | "
        "2026-11-25 03:05 UTC | 5m | met, 25m to spare |"
    ) in clocks
    # recovery runs from when the fault began; re-levelled to Level 1: due 02:50 + 2h
    assert (
        "| recovery | 2026-11-25 02:50 UTC | 2026-11-25 04:50 UTC | "
        "2026-11-25 05:30 UTC | 2h40m | **breached**, 40m late |"
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
        "- Alert on pool saturation, not on 502s — *tester, 2026-11-25 06:30 UTC*",
        "- Keep the \\*rollback\\* runbook \\| current — *tester, 2026-11-25 06:31 UTC*",
    ]
    assert "Rolled back 3.2.1" not in section(review, "Lessons learned")


def test_review_after_approval_and_close(cli):
    major_incident(cli)
    cli("--as", "zhang.min", "approve", "1", now=at(220))
    cli("close", "1", "--confirmed-by", "Wang Fang", now=at(230))
    solution = section(
        cli("show", "1", "--format", "markdown", now=at(300)).stdout, "Solution and approval"
    )
    assert "Approved by zhang.min at 2026-11-25 06:40 UTC." in solution
    assert "Closed 2026-11-25 06:50 UTC, confirmed by Wang Fang." in solution


def test_review_of_a_fresh_minor_incident_says_what_is_missing(cli):
    cli("open", "Search slow", "--level", "3", "--service", "search", now=T0)
    review = cli("show", "1", "--format", "markdown", now=at(20)).stdout
    assert (
        "| response | 2026-11-25 03:00 UTC | 2026-11-25 04:00 UTC | — | 20m so far | "
        "running, due in 40m |" in review
    )
    assert section(review, "Notifications") == "No notifications recorded."
    assert "No solution recorded yet." in section(review, "Solution and approval")
    assert "No approval required at Level 3" in section(review, "Solution and approval")
    for title, kind in (
        ("Impact", "impact"),
        ("Root cause", "root-cause"),
        ("Action items", "action"),
        ("Lessons learned", "lesson"),
    ):
        assert section(review, title) == (
            f"None recorded yet (`incidentctl note 1 TEXT --kind {kind}`)."
        )
    assert section(review, "Problem management") == (
        "Not transferred to problem management (`incidentctl problem 1 --ref REF "
        "--reason recurring|unknown-cause|known-defect`)."
    )


def test_typed_text_is_shown_literally(cli):
    cli(
        "open",
        "<script>alert(1)</script> **bold** [x](http://e.x) | pipe",
        "--level",
        "3",
        "--service",
        "web",
        "--details",
        "line one\n# not a heading\x1b[31m\n> not a quote\n---",
        now=T0,
    )
    review = cli("show", "1", "--format", "markdown", now=at(1)).stdout
    assert review.splitlines()[0] == (
        "# Incident 1: \\<script>alert(1)\\</script> \\*\\*bold\\*\\* \\[x](http://e.x) \\| pipe"
    )
    # rendered, these read "# not a heading\x1b[31m", "> not a quote" and "---": no
    # heading, no quote, no control byte, and no underline that makes "line one" a heading
    assert "\n\\# not a heading\\x1b\\[31m\n\\> not a quote\n\\---\n" in review
    assert "\x1b" not in review
    rendered = render(review)
    assert rendered.splitlines()[0] == (
        "<h1>Incident 1: &lt;script&gt;alert(1)&lt;/script&gt; **bold** [x](http://e.x) | pipe</h1>"
    )
    assert "<script>" not in rendered and "<a " not in rendered
    assert "<p><strong>Details:</strong></p>\n<p>line one\n# not a heading\\x1b[31m\n" in rendered


def test_ordinary_text_is_not_over_escaped(cli):
    """#, ~, _ inside words, > and & read as typed in the Markdown source too."""
    cli(
        "open",
        "Order #0 not delivered to ~5% of users",
        "--level",
        "1",
        "--service",
        "orders",
        "--details",
        "queue_depth > 10k & rising; ticket #12 ~ 3 min",
        now=T0,
    )
    cli("escalate", now=at(1), expect=None)  # notified events: "initial #0, N deliveries"
    cli("note", "1", "p95 ~800ms after #4411 (see the_runbook)", "--kind", "impact", now=at(2))
    review = cli("show", "1", "--format", "markdown", now=at(3)).stdout
    assert review.startswith("# Incident 1: Order #0 not delivered to ~5% of users\n")
    assert "queue_depth > 10k & rising; ticket #12 ~ 3 min" in review
    assert "initial #0" in section(review, "Timeline")
    assert section(review, "Impact") == (
        "- p95 ~800ms after #4411 (see the_runbook) — *tester, 2026-11-25 03:02 UTC*"
    )
    assert "\\#" not in review and "\\~" not in review and "\\_" not in review
    assert "\\>" not in review and "\\&" not in review


def review_of(cli, **env: str) -> str:
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("ack", "1", now=at(5))
    return cli("show", "1", "--format", "markdown", now=at(30), env=env).stdout


def policy_with(tmp_path, line: str):
    text = resources.files("incidentctl").joinpath("sla.toml").read_text(encoding="utf-8")
    path = tmp_path / "sla.toml"
    path.write_text(line + "\n" + text, encoding="utf-8")
    return path


def test_review_is_in_the_policys_zone_named(cli, tmp_path, monkeypatch):
    monkeypatch.setenv(
        "INCIDENTCTL_CONFIG", str(policy_with(tmp_path, 'timezone = "Asia/Shanghai"'))
    )
    review = review_of(cli, TZ="Europe/Berlin")  # the policy's zone wins over TZ
    assert "review generated 2026-11-25 11:30 CST · times in Asia/Shanghai*" in review
    assert "| Reported | 2026-11-25 11:00 CST |" in review
    assert "| 2026-11-25 11:05 CST | acknowledged | tester | owner tester |" in review


def test_review_is_in_tz_without_a_policy_zone_and_in_utc_without_tz(cli, monkeypatch):
    review = review_of(cli, TZ="Europe/Berlin")
    assert "review generated 2026-11-25 04:30 CET · times in Europe/Berlin*" in review
    assert "| Reported | 2026-11-25 04:00 CET |" in review
    monkeypatch.delenv("TZ")
    review = cli("show", "1", "--format", "markdown", now=at(30)).stdout
    assert "review generated 2026-11-25 03:30 UTC · times in UTC*" in review


def test_a_zone_the_policy_does_not_know_is_refused(cli, tmp_path, monkeypatch):
    monkeypatch.setenv(
        "INCIDENTCTL_CONFIG", str(policy_with(tmp_path, 'timezone = "Mars/Olympus"'))
    )
    out = cli("show", "1", "--format", "markdown", now=T0, expect=5)
    assert "timezone: 'Mars/Olympus' is not a known time zone" in out.stderr


def test_impact_root_cause_and_action_items_come_from_their_notes(cli):
    major_incident(cli)
    cli("note", "1", "All card payments failed for 2h40m", "--kind", "impact", now=at(212))
    cli("note", "1", "~3,000 orders lost", "--kind", "impact", now=at(213))
    cli(
        "note",
        "1",
        "Pool of 20 for a peak of 400\nsized in 2019",
        "--kind",
        "root-cause",
        now=at(214),
    )
    cli("note", "1", "Size the pool from load tests", "--kind", "action", now=at(215))
    cli("note", "1", "Alert on saturation", "--kind", "action", now=at(216))
    review = cli("show", "1", "--format", "markdown", now=at(300)).stdout
    assert section(review, "Impact").splitlines() == [
        "- All card payments failed for 2h40m — *tester, 2026-11-25 06:32 UTC*",
        "- ~3,000 orders lost — *tester, 2026-11-25 06:33 UTC*",
    ]
    assert section(review, "Root cause").splitlines() == [
        "- Pool of 20 for a peak of 400",
        "  sized in 2019 — *tester, 2026-11-25 06:34 UTC*",
    ]
    assert section(review, "Action items").splitlines() == [
        "- Size the pool from load tests — *tester, 2026-11-25 06:35 UTC*",
        "- Alert on saturation — *tester, 2026-11-25 06:36 UTC*",
    ]
    # progress notes and lessons stay where they were
    assert "Rolled back 3.2.1" not in section(review, "Impact") + section(review, "Root cause")
    assert "[impact] All card payments failed for 2h40m" in section(review, "Timeline")


def test_problem_references_and_their_corrections_in_the_review(cli):
    major_incident(cli)
    cli("open", "Checkout fails again", "--level", "2", "--service", "payments", now=at(201))
    cli("problem", "2", "--ref", "PRB-12", "--reason", "recurring", now=at(202))
    cli("problem", "1", "--ref", "PRB-21", "--reason", "known-defect", now=at(203))
    cli("problem", "1", "--ref", "PRB-12", "--reason", "recurring", now=at(204))
    review = cli("show", "1", "--format", "markdown", now=at(300)).stdout
    assert "| Problem management | PRB-12 (recurring) |" in review
    assert section(review, "Problem management").splitlines() == [
        "Problem PRB-12 (recurring).",
        "",
        "- Transferred to PRB-21 (known-defect) — *tester, 2026-11-25 06:23 UTC*",
        "- Corrected to PRB-12 (recurring), was PRB-21 (known-defect) — "
        "*tester, 2026-11-25 06:24 UTC*",
        "",
        "Other incidents under PRB-12: 2.",
    ]
    assert "PRB-12 (recurring), corrected from PRB-21 (known-defect)" in section(review, "Timeline")


def test_show_format_json_is_the_json_and_an_unknown_incident_is_exit_3(cli):
    cli("open", "Search slow", "--level", "3", "--service", "search", now=T0)
    assert cli("show", "1", "--format", "json", now=at(1)).json == cli.json("show", "1", now=at(1))
    out = cli("show", "9", "--format", "markdown", now=at(1), expect=3)
    assert "no incident 9" in out.stderr


# What user text may hold, heavy on what Markdown reads as markup.
MARKUP_TEXT = st.text(
    alphabet=st.sampled_from(list("ab1 \n\t#*_~`[]()<>!|\\&;=-+.:/\"'")),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(MARKUP_TEXT)
@example("# heading")
@example("a\n===")
@example("a\n-")
@example("> quote")
@example("[x](http://e.x) ![i](y) <http://e.x>")
@example("[ref]: http://e.x\n[ref]")
@example("<b>x</b> &amp; &#35;")
@example("~~gone~~ ~x~ a~~b~~")
@example("~~~\ncode\n~~~")
@example("```\ncode")
@example("__a__ _b_ *c* **d** pool_size")
@example("| a | b |\n|---|---|")
@example("line\\\nnext \\* \\_")
@example("1. one\n- two")
@example("a\n\n\t<b> *x*\n\n        y_")
@example("- >")
@example("- # x\n+ 1. ## y\n  ===\n-      # z")
@example("a\n-")
def test_user_text_renders_as_the_text_it_is(text):
    """Whatever a user typed, the Markdown renders as that text: no heading, quote, list
    of our making, emphasis, strikethrough, code span, link, image, HTML or table."""
    from incidentctl.output.text import md
    from incidentctl.text import literal

    rendered = render(md(text))
    tags = set(re.findall(r"</?([a-z0-9]+)", rendered))
    # Lists the user began (- x, 1. x) and rules (- - -) show the text as it is.
    assert tags <= {"p", "br", "ul", "ol", "li", "hr"}, rendered
    shown = html.unescape(re.sub(r"<[^>]+>", " ", rendered)).split()
    typed = literal(text).split()
    if tags & {"ul", "ol", "hr"}:  # their markers are the rendering's, not text
        shown, typed = (
            [t for t in words if not LIST_MARKER.fullmatch(t)] for words in (shown, typed)
        )
    assert shown == typed, rendered


LIST_MARKER = re.compile(r"[-+]+|[0-9]{1,9}[.)]|(?:- *)+")


def test_a_heading_keeps_a_hash_at_its_end():
    from incidentctl.output.text import md_heading

    assert md_heading("Broken build #") == "Broken build \\#"
    assert render("# Incident 1: " + md_heading("Broken build #")).strip() == (
        "<h1>Incident 1: Broken build #</h1>"
    )
    assert md_heading("Order #0 for C#") == "Order #0 for C#"


@pytest.mark.parametrize(
    ("typed", "source"),
    [
        ("Order #0", "Order #0"),
        ("~5% of users", "~5% of users"),
        ("pool_size", "pool_size"),
        ("a > b & c", "a > b & c"),
        ("C:\\temp", "C:\\temp"),
        ("**x**", "\\*\\*x\\*\\*"),
        ("a~~b~~", "a\\~\\~b\\~\\~"),
        ("_x_", "\\_x\\_"),
        ("[x](y)", "\\[x](y)"),
        ("<b>", "\\<b>"),
        ("&amp;", "\\&amp;"),
        ("# x", "\\# x"),
        ("> x", "\\> x"),
        ("x\n---", "x\n\\---"),
    ],
)
def test_escaped_only_where_markdown_would_read_markup(typed, source):
    from incidentctl.output.text import md

    assert md(typed) == source
