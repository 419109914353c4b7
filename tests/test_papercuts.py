"""Issue 11 item 9: the small things a new team tripped over on its first day."""

from __future__ import annotations

import re

import pytest

T0 = "2026-11-25T03:00:00Z"


def open_one(cli, title: str = "Checkout fails", *extra: str) -> None:
    cli("open", title, "--level", "2", "--service", "payments", *extra, now=T0)


def test_list_takes_s_for_service_as_open_does(cli):
    open_one(cli)
    cli("open", "Search slow", "-l", "3", "-s", "search", now=T0)
    assert [i["title"] for i in cli.json("list", "-s", "search", now=T0)] == ["Search slow"]


def test_an_id_may_be_written_as_the_board_shows_it(cli):
    open_one(cli)
    shown = cli.json("ack", "#1", now=T0)
    assert (shown["id"], shown["status"]) == (1, "acknowledged")
    assert cli.json("show", "#1", now=T0)["id"] == 1


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("99999999999", "ids run from 1 to 2147483647"),
        ("0", "ids run from 1 to 2147483647"),
        ("forty-two", "write a number, 42 or #42"),
        ("#", "write a number, 42 or #42"),
    ],
)
def test_a_value_that_is_no_id_is_bad_usage_not_a_crash(cli, value, says):
    open_one(cli)
    before = cli.snapshot()
    out = cli("ack", value, now=T0, expect=2)
    assert says in out.stderr
    assert "unexpected" not in out.stderr
    assert cli.snapshot() == before


@pytest.mark.storage_contract
def test_a_huge_id_is_refused_on_postgresql_too(cli, db_engine):
    # the ids are 32-bit on PostgreSQL: a larger number never reaches the database
    out = cli("show", "3000000000", now=T0, expect=2)
    assert "ids run from 1 to 2147483647" in out.stderr


def test_duplicate_of_takes_the_same_ids(cli):
    open_one(cli)
    open_one(cli, "Checkout fails again")
    assert cli.json("cancel", "2", "--duplicate-of", "#1", now=T0)["duplicate_of"] == 1


def test_as_after_the_command_name(cli):
    open_one(cli)
    shown = cli.json("ack", "1", "--as", "wang.lei", now=T0)
    assert shown["assignee"] == "wang.lei"
    events = cli.json("show", "1", now=T0)["events"]
    assert [e["actor"] for e in events if e["kind"] == "acknowledged"] == ["wang.lei"]


def test_as_given_twice_with_two_names_is_refused(cli):
    open_one(cli)
    before = cli.snapshot()
    out = cli("--as", "wang.lei", "ack", "1", "--as", "liu.yang", now=T0, expect=2)
    assert "given twice" in out.stderr
    assert cli.snapshot() == before


def test_a_note_that_begins_with_a_dash_is_text(cli):
    open_one(cli)
    cli("note", "1", "- restarted the pod", now=T0)
    notes = [e for e in cli.json("show", "1", now=T0)["events"] if e["kind"] == "note"]
    assert [n["data"]["text"] for n in notes] == ["- restarted the pod"]


def test_a_title_that_begins_with_a_dash_is_text_before_the_options(cli):
    shown = cli.json("open", "-5% conversions", "--level", "2", "--service", "shop", now=T0)
    assert shown["title"] == "-5% conversions"


def test_dash_text_that_looks_like_an_option_is_refused_with_the_way_out(cli):
    open_one(cli)
    before = cli.snapshot()
    out = cli("note", "1", "-restarted", now=T0, expect=2)
    assert "No such option" in out.stderr
    assert "goes after '--'" in out.stderr
    assert cli.snapshot() == before
    cli("note", "1", "--", "-restarted", now=T0)  # the way out it names works
    notes = [e for e in cli.json("show", "1", now=T0)["events"] if e["kind"] == "note"]
    assert [n["data"]["text"] for n in notes] == ["-restarted"]


def all_commands(cli) -> list[list[str]]:
    from typer.main import get_command

    from incidentctl.cli.app import app

    root = get_command(app)
    paths: list[list[str]] = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        if subcommands:
            paths += [[name, sub] for sub in subcommands]
        else:
            paths.append([name])
    return paths


@pytest.mark.parametrize("columns", ["60", "80"])
def test_help_shows_names_not_python_types(cli, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    placeholder = re.compile(r"<(bool|int|str|float|list\[|[a-z]+\|)|\{[A-Za-z_]+\}")
    for path in [[], *all_commands(cli)]:
        text = cli(*path, "--help").stdout
        assert not placeholder.search(text), (path, placeholder.search(text))
        # an option's choices sit whole after its name: --format [table|json|csv]
        cut_choices = re.compile(r"--[\w-]+ \[[^\]\s]*(\s|$)")
        assert not cut_choices.search(text), (path, cut_choices.search(text))


def test_open_help_lists_the_levels_of_the_policy(cli, tmp_path):
    default = cli("open", "--help").stdout
    assert "1 (Major), 2 (Minor) or 3 (No impact)" in " ".join(default.split())
    from importlib.resources import files

    seed = files("incidentctl").joinpath("sla.toml").read_text()
    policy = tmp_path / "two.toml"
    # a policy with levels 1 and 2 only, named by the team
    policy.write_text(
        re.sub(r"\[levels\.3\].*?(?=\n\[)", "", seed, flags=re.DOTALL)
        .replace('name = "Major"', 'name = "Outage"')
        .replace('name = "Minor"', 'name = "Degraded"')
    )
    text = cli("--config", str(policy), "open", "--help").stdout
    flat = " ".join(text.split())
    assert "1 (Outage) or 2 (Degraded)" in flat
    assert "No impact" not in flat


def test_help_examples_are_whole_commands_at_80_columns(cli, monkeypatch):
    """An example cut in the middle cannot be pasted: each example of a command's help
    is printed whole on one line, and fits 80 columns."""
    import inspect

    from typer.main import get_command

    from incidentctl.cli.app import app

    monkeypatch.setenv("COLUMNS", "80")
    root = get_command(app)
    for path in [[], *all_commands(cli)]:
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        written = inspect.cleandoc(command.help or "").splitlines()
        examples = [line.strip() for line in written if line.startswith("    ")]
        lines = cli(*path, "--help").stdout.splitlines()
        assert all(len(line) <= 80 for line in lines), (path, max(lines, key=len))
        shown = {line.strip() for line in lines}
        for example in examples:
            assert example in shown, (path, example)


def test_a_mistyped_long_option_is_not_told_about_text(cli):
    out = cli("list", "--all", expect=2)
    assert "No such option: --all" in out.stderr
    assert "goes after '--'" not in out.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("relevel", "1", "--level", "major", "--reason", "x"),
            "'--level' / '-l': not a whole number",
        ),
        (("note", "1", "x", "--kind", "bogus"), "'--kind': 'bogus' is not one of 'progress'"),
        (("list", "--limit", "ten"), "'--limit': not a whole number"),
    ],
)
def test_conversion_errors_read_as_a_person_would_say_them(cli, args, says):
    open_one(cli)
    out = cli(*args, now=T0, expect=2)
    assert says in out.stderr
    assert "Input should be" not in out.stderr and "Value error" not in out.stderr


def test_human_show_shows_the_channel_and_keeps_long_details_under_their_label(cli):
    cli(
        "open", "Checkout fails", "-l", "2", "-s", "payments", "--channel", "hotline",
        "--details", "Pods OOMKilled\nsince the 3.2.1 deploy", now=T0,
    )  # fmt: skip
    lines = cli("show", "1", now=T0).stdout.splitlines()
    assert "  channel: hotline" in lines
    at = lines.index("  details: Pods OOMKilled")
    assert lines[at + 1] == "           since the 3.2.1 deploy"
