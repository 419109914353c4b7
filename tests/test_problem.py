"""Problem management with the consequences a team expects (issue 11, item 7): the
reference corrected by an event, the problem (its history and the other incidents under
it) in show, and the report's recurring incidents grouped by similar titles."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

T0 = "2026-11-25T03:00:00Z"
NOW = "2026-12-20T00:00:00Z"


def at(minutes: int) -> str:
    base = datetime.fromisoformat(T0.replace("Z", "+00:00"))
    return (base + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def opened(cli, title: str = "Checkout fails", service: str = "payments", minute: int = 0):
    return cli.json("open", title, "--level", "2", "--service", service, now=at(minute))


# --------------------------------------------------------------------------- corrections


@pytest.mark.storage_contract
def test_a_second_problem_corrects_the_reference_with_an_event(cli):
    opened(cli)
    cli("problem", "1", "--ref", "PRB-7", "--reason", "known-defect", now=at(3))
    out = cli("problem", "1", "--ref", "PRB-77", now=at(5))  # a typo put right
    assert out.stdout.splitlines()[0] == (
        "Incident 1: problem reference corrected to PRB-77 (known-defect), "
        "was PRB-7 (known-defect)."
    )
    shown = cli.json("show", "1", now=at(6))
    assert (shown["problem_ref"], shown["problem_reason"]) == ("PRB-77", "known-defect")
    problems = [e for e in shown["events"] if e["kind"] == "problem"]
    assert [(e["at"], e["data"]) for e in problems] == [
        (at(3), {"ref": "PRB-7", "reason": "known-defect"}),
        (
            at(5),
            {
                "ref": "PRB-77",
                "reason": "known-defect",
                "previous_ref": "PRB-7",
                "previous_reason": "known-defect",
            },
        ),
    ]
    assert shown["problem"] == {
        "ref": "PRB-77",
        "reason": "known-defect",
        "history": [
            {
                "at": at(3),
                "actor": "tester",
                "ref": "PRB-7",
                "reason": "known-defect",
                "previous_ref": None,
                "previous_reason": None,
            },
            {
                "at": at(5),
                "actor": "tester",
                "ref": "PRB-77",
                "reason": "known-defect",
                "previous_ref": "PRB-7",
                "previous_reason": "known-defect",
            },
        ],
        "incidents": [],
    }


def test_a_correction_may_change_the_reason_alone(cli):
    opened(cli)
    cli("problem", "1", "--ref", "PRB-7", "--reason", "unknown-cause", now=at(3))
    shown = cli.json("problem", "1", "--ref", "PRB-7", "--reason", "known-defect", now=at(4))
    assert (shown["problem_ref"], shown["problem_reason"]) == ("PRB-7", "known-defect")


def test_a_correction_that_changes_nothing_is_refused_and_changes_nothing(cli):
    opened(cli)
    cli("problem", "1", "--ref", "PRB-7", "--reason", "recurring", now=at(3))
    before = cli.snapshot()
    for extra in ((), ("--reason", "recurring")):
        out = cli("problem", "1", "--ref", "PRB-7", *extra, "--json", now=at(4), expect=4)
        assert out.error == {
            "error": "conflict",
            "message": "incident 1 is already with problem PRB-7 (recurring): nothing to correct",
        }
    assert cli.snapshot() == before


def test_the_first_transfer_needs_a_reason(cli):
    opened(cli)
    out = cli("problem", "1", "--ref", "PRB-7", "--json", now=at(3), expect=2)
    assert out.error["error"] == "invalid_input"
    assert "--reason is required" in out.error["message"]
    assert cli.json("show", "1", now=at(4))["problem"] is None


def test_a_cancelled_incident_is_not_sent_but_its_reference_can_be_corrected(cli):
    opened(cli)
    opened(cli, minute=1)
    cli("problem", "2", "--ref", "PRB-7", "--reason", "recurring", now=at(2))
    cli("cancel", "1", "--reason", "opened by mistake", now=at(3))
    cli("cancel", "2", "--reason", "a test alert", now=at(3))
    refused = cli("problem", "1", "--ref", "PRB-7", "--reason", "recurring", expect=4)
    assert "cancelled" in refused.stderr
    assert cli.json("problem", "2", "--ref", "PRB-8", now=at(4))["problem_ref"] == "PRB-8"


# --------------------------------------------------------------------------- show


@pytest.mark.storage_contract
def test_show_lists_the_other_incidents_under_the_same_problem(cli):
    for minute in range(4):
        opened(cli, minute=minute)
    cli("problem", "1", "--ref", "PRB-12", "--reason", "recurring", now=at(5))
    cli("problem", "3", "--ref", "PRB-12", "--reason", "recurring", now=at(6))
    cli("problem", "4", "--ref", "PRB-99", "--reason", "recurring", now=at(7))
    cli("problem", "4", "--ref", "PRB-12", now=at(8))  # corrected onto the same problem
    assert cli.json("show", "1", now=at(9))["problem"]["incidents"] == [3, 4]
    assert cli.json("show", "4", now=at(9))["problem"]["incidents"] == [1, 3]
    assert cli.json("show", "2", now=at(9))["problem"] is None

    human = cli("show", "4", now=at(9)).stdout
    assert "  problem: PRB-12 (recurring), earlier PRB-99; also incidents 1, 3\n" in human
    assert "PRB-12 (recurring), corrected from PRB-99 (recurring)" in human  # timeline
    assert "  problem: PRB-12 (recurring); also incidents 3, 4\n" in cli("show", "1").stdout


def test_the_report_lists_the_current_reference(cli):
    opened(cli)
    cli("problem", "1", "--ref", "PRB-7", "--reason", "recurring", now=at(3))
    cli("problem", "1", "--ref", "PRB-8", now=at(4))
    report = cli.json("report", "--month", "2026-11", "--tz", "UTC", now=NOW)
    assert [(p["id"], p["ref"], p["reason"]) for p in report["problems"]] == [
        (1, "PRB-8", "recurring")
    ]


# --------------------------------------------------------------------------- recurring


def recurring_of(cli, *incidents: tuple[str, str]) -> list[tuple[str, list[int]]]:
    for minute, (service, title) in enumerate(incidents):
        opened(cli, title, service, minute)
    report = cli.json("report", "--month", "2026-11", "--tz", "UTC", now=NOW)
    return [(g["service"], g["ids"]) for g in report["recurring"]]


def test_a_title_and_the_same_title_again_recur(cli):
    """The issue's example: "… not delivered" and "… not delivered again" are one group
    (equal title keys could not say so: "again" is a word of the second only)."""
    assert recurring_of(
        cli,
        ("mail", "Order confirmation email not delivered"),
        ("mail", "Order confirmation email not delivered again"),
        ("mail", "SMS not delivered"),
        ("mail", "SMS still not delivered again"),
    ) == [("mail", [1, 2]), ("mail", [3, 4])]


def test_typos_numbers_and_word_order_recur(cli):
    assert recurring_of(
        cli,
        ("payments", "Checkout fails with 502"),
        ("payments", "checkout fails: 503"),
        ("payments", "Chekout fails"),
        ("payments", "Fails at checkout"),
    ) == [("payments", [1, 2, 3, 4])]


def test_different_titles_do_not_recur(cli):
    assert (
        recurring_of(
            cli,
            ("payments", "Checkout fails with 502"),
            ("payments", "Refund emails delayed"),
            ("payments", "Login slow"),
            ("payments", "Login fails"),
            ("payments", "Invoice PDF not generated"),
            ("payments", "Invoice email not delivered"),
            ("payments", "Outage"),
            ("payments", "Outage of the card vault"),  # one word is not a pattern
        )
        == []
    )


def test_similar_titles_of_two_services_do_not_recur_together(cli):
    assert recurring_of(
        cli,
        ("mail", "SMS not delivered"),
        ("sms", "SMS not delivered again"),
        ("sms", "SMS not delivered"),
    ) == [("sms", [2, 3])]


def test_each_title_joins_the_group_it_is_most_like():
    from incidentctl.services.reporting import recurring_groups

    titles = [
        ("mail", "Order confirmation email not delivered"),  # 0
        ("mail", "Password reset email not delivered"),  # 1: a group of its own
        ("mail", "Password reset email not delivered again"),  # 2: joins 1, not 0
        ("mail", "order confirmation email NOT delivered!"),  # 3: the same key as 0
        ("mail", "Outage"),  # 4
        ("mail", "outage"),  # 5: the same word
    ]
    assert recurring_groups(titles) == [[0, 3], [1, 2], [4, 5]]
