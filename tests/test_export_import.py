"""export and import through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ENGINES, reset_pg

T0 = "2026-11-25T03:00:00Z"
LATER = "2026-11-27T00:00:00Z"


def at(minutes: int) -> str:
    from datetime import datetime, timedelta

    base = datetime.fromisoformat(T0.replace("Z", "+00:00"))
    return (base + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def empty_the_database(cli) -> None:
    """Start again from an empty store (same URL, so the CLI fixture keeps working)."""
    if cli.db.startswith("postgresql"):
        reset_pg(cli.db)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(cli.db + suffix).unlink(missing_ok=True)


def build_history(cli) -> None:
    """Incidents through every kind of event the lifecycle writes."""
    cli(
        "open",
        "Checkout fails with 502",
        "--level",
        "2",
        "--service",
        "payments",
        "--channel",
        "hotline",
        "--reporter",
        "Wang Fang",
        "--contact",
        "+8613900000000",
        "--details",
        "all card payments\nsince 02:45",
        "--occurred",
        "2026-11-25T02:45:00Z",
        now=T0,
    )
    cli("ack", "1", now=at(5))
    cli("note", "1", "Rolled back 3.2.1", now=at(6))
    cli("relevel", "1", "--level", "1", "--reason", "all card payments failing", now=at(8))
    cli("transfer", "1", "--to", "liu.yang", "--reason", "needs a code fix", now=at(20))
    cli("recover", "1", now=at(50))
    cli("resolve", "1", "--solution", "Pool size fixed in 3.2.2 — 中文 too", now=at(90))
    cli("--as", "zhang.min", "approve", "1", now=at(95))
    cli("close", "1", "--confirmed-by", "Wang Fang", now=at(100))
    cli("note", "1", "Watch pool metrics", "--kind", "lesson", now=at(101))
    cli("open", "Search is slow", "--level", "3", "--service", "search", now=at(10))
    cli("open", "Login page blank", "--level", "2", "--service", "login", now=at(30))
    cli("resolve", "3", "--solution", "CDN purge", now=at(40))
    cli("reopen", "3", "--reason", "blank again", now=at(60))
    cli("problem", "3", "--ref", "PRB-7", "--reason", "recurring", now=at(61))


@pytest.mark.storage_contract
def test_export_import_export_is_byte_identical(cli, seeds, tmp_path):
    seeds.load(cli, "history", build_history)  # built once per module, copied
    first = cli("export", now=LATER).stdout
    # the policy version the clocks follow comes first, then the incidents
    version, *lines = first.splitlines()
    assert set(json.loads(version)) == {"policy_version", "policy"}
    assert [json.loads(line)["id"] for line in lines] == [1, 2, 3]
    incident = json.loads(lines[0])
    assert [e["kind"] for e in incident["events"]] == [
        "opened",
        "acknowledged",
        "note",
        "relevelled",
        "transferred",
        "recovered",
        "resolved",
        "approved",
        "closed",
        "note",
    ]
    assert incident["status"] == "closed" and incident["level"] == 1
    source = tmp_path / "incidents.ndjson"
    source.write_text(first)

    empty_the_database(cli)
    summary = cli.json("import", str(source), now=LATER)
    # notices_due: only #2 (Level 2, open) owes a notice; #1 is closed, Level 3 notifies no one
    assert summary == {
        "imported": 3,
        "incidents": 3,
        "events": 16,
        "derived": 0,
        "notices_due": 1,
        "dry_run": False,
    }
    assert cli("export", now=LATER).stdout == first
    # JSON and CSV come from the same documents
    assert [d["id"] for d in cli.json("export", now=LATER)] == [1, 2, 3]
    # the ids continue after the imported ones (PostgreSQL: the sequence was moved on)
    assert cli.json("open", "New one", "--level", "3", "--service", "x", now=LATER)["id"] == 4
    shown = cli.json("show", "4", now=LATER)
    assert shown["events"][0]["id"] == 17


@pytest.mark.storage_contract
def test_imported_clocks_status_and_deadline_are_recomputed(cli, seeds, tmp_path):
    seeds.load(cli, "history", build_history)  # built once per module, copied
    before = cli.json(
        "list",
        "--status",
        "open",
        "--status",
        "acknowledged",
        "--status",
        "recovered",
        "--status",
        "resolved",
        "--status",
        "closed",
        now=LATER,
    )
    overdue_before = [i["id"] for i in cli.json("list", "--overdue", now=LATER)]
    export = tmp_path / "e.ndjson"
    export.write_text(cli("export", now=LATER).stdout)
    # The stored columns are not taken from the file: tamper with the sla and see it ignored.
    tampered = []
    for line in export.read_text().splitlines():
        doc = json.loads(line)
        for clock in doc.get("sla", {}).values():  # (the policy version line has none)
            clock.update(due_at="2000-01-01T00:00:00Z", state="met")
        tampered.append(json.dumps(doc))
    export.write_text("\n".join(tampered) + "\n")
    empty_the_database(cli)
    cli("import", str(export), now=LATER)
    after = cli.json(
        "list",
        "--status",
        "open",
        "--status",
        "acknowledged",
        "--status",
        "recovered",
        "--status",
        "resolved",
        "--status",
        "closed",
        now=LATER,
    )
    assert after == before
    assert [i["id"] for i in cli.json("list", "--overdue", now=LATER)] == overdue_before
    board = cli.json("board", now=LATER)
    assert [i["id"] for i in board] == [2, 3]  # nearest deadline first, as before


@pytest.mark.storage_contract
def test_plain_objects_get_a_timeline_derived_from_their_milestones(cli, tmp_path):
    plain = [
        {
            "id": 40,
            "title": "Checkout fails",
            "service": "payments",
            "level": 1,
            "channel": "hotline",
            "reporter": "Wang Fang",
            "occurred_at": "2026-11-01T01:50:00Z",
            "reported_at": "2026-11-01T10:00:00+08:00",
            "acknowledged_at": "2026-11-01T02:05:00Z",
            "assignee": "wang.lei",
            "resolved_at": "2026-11-01T04:00:00Z",
            "solution": "restart",
            "approved_at": "2026-11-01T05:00:00Z",
            "approved_by": "zhang.min",
            "closed_at": "2026-11-01T06:00:00Z",
            "confirmed_by": "Wang Fang",
            "status": "closed",
        },
        {
            "title": "Search slow",
            "service": "search",
            "level": 3,
            "reported_at": "2026-11-20T00:00:00Z",
            "transferred_at": "2026-11-20T01:00:00Z",
            "assignee": "liu.yang",
            "problem_ref": "PRB-1",
            "problem_reason": "known-defect",
        },
    ]
    source = tmp_path / "plain.ndjson"
    source.write_text("".join(json.dumps(p) + "\n" for p in plain))
    summary = cli.json("import", str(source), now=LATER)
    assert summary["incidents"] == 2 and summary["derived"] == 2

    first = cli.json("show", "40", now=LATER)
    assert first["reported_at"] == "2026-11-01T02:00:00Z"
    assert first["occurred_at"] == "2026-11-01T01:50:00Z"
    assert [(e["kind"], e["at"]) for e in first["events"]] == [
        ("opened", "2026-11-01T02:00:00Z"),
        ("acknowledged", "2026-11-01T02:05:00Z"),
        ("recovered", "2026-11-01T04:00:00Z"),  # a solution restores the service too
        ("resolved", "2026-11-01T04:00:00Z"),
        ("approved", "2026-11-01T05:00:00Z"),
        ("closed", "2026-11-01T06:00:00Z"),
    ]
    assert first["events"][4]["actor"] == "zhang.min"
    assert first["recovered_at"] == "2026-11-01T04:00:00Z"
    assert first["sla"]["response"] == {
        "due_at": "2026-11-01T02:10:00Z",
        "stopped_at": "2026-11-01T02:05:00Z",
        "state": "met",
    }
    assert first["sla"]["recovery"] == {
        "due_at": "2026-11-01T03:50:00Z",
        "stopped_at": "2026-11-01T04:00:00Z",
        "state": "breached",
    }

    second = cli.json("show", "41", now=LATER)  # no id in the file: the next free one
    assert second["status"] == "acknowledged" and second["team"] == "dev"
    assert [e["kind"] for e in second["events"]] == ["opened", "transferred", "problem"]
    assert second["sla"]["resolution"]["stopped_at"] == "2026-11-20T01:00:00Z"
    assert second["problem_ref"] == "PRB-1"


BAD_LINES = [
    ("{not json", "not valid JSON"),
    ('{"title": "x", "service": "s"', "not valid JSON: unexpected end of data (column 30)"),
    ('{"title": "éé", "service": "s"', "not valid JSON: unexpected end of data (column 31)"),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "2026-11-01"}',
        "'2026-11-01' is a day; give the time and its offset",
    ),
    ('["a list"]', "expected a JSON object"),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "2026-11-01T00:00:00Z", '
        '"colour": "red"}',
        "unknown field 'colour'",
    ),
    ('{"service": "s", "level": 2, "reported_at": "2026-11-01T00:00:00Z"}', "title: required"),
    (
        '{"title": "x", "service": "s", "level": 9, "reported_at": "2026-11-01T00:00:00Z"}',
        "no level 9",
    ),
    (
        '{"title": "x", "service": "s", "level": true, "reported_at": "2026-11-01T00:00:00Z"}',
        "expected a level number",
    ),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "2026-11-01 00:00"}',
        "has no offset",
    ),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "yesterday"}',
        "not an RFC 3339 time",
    ),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "2030-01-01T00:00:00Z"}',
        "in the future",
    ),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "2026-11-01T00:00:00Z", '
        '"occurred_at": "2026-11-01T01:00:00Z"}',
        "occurred_at is after reported_at",
    ),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "2026-11-01T00:00:00Z", '
        '"acknowledged_at": "2026-10-31T00:00:00Z"}',
        "acknowledged_at is before reported_at",
    ),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "2026-11-01T00:00:00Z", '
        '"channel": "fax"}',
        "channel: 'fax' is not one of",
    ),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "2026-11-01T00:00:00Z", '
        '"status": "closed"}',
        "status 'closed' does not match",
    ),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "2026-11-01T00:00:00Z", '
        '"closed_at": "2026-11-02T00:00:00Z", "confirmed_by": "w"}',
        "closed_at without resolved_at",
    ),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "2026-11-01T00:00:00Z", '
        '"problem_ref": "PRB-1"}',
        "problem_ref and problem_reason go together",
    ),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "2026-11-01T00:00:00Z", '
        '"events": [{"kind": "note", "at": "2026-11-01T00:00:00Z"}]}',
        "must be 'opened'",
    ),
    (
        '{"title": "x", "service": "s", "level": 2, "reported_at": "2026-11-01T00:00:00Z", '
        '"events": [{"kind": "opened", "at": "2026-11-01T00:00:00Z"}, '
        '{"kind": "exploded", "at": "2026-11-01T00:00:00Z"}]}',
        "events[1].kind",
    ),
    (
        '{"id": 1, "title": "x", "service": "s", "level": 2, '
        '"reported_at": "2026-11-01T00:00:00Z"}',
        "incident id 1 is already taken",
    ),
    (
        '{"id": 0, "title": "x", "service": "s", "level": 2, '
        '"reported_at": "2026-11-01T00:00:00Z"}',
        "id: expected a whole number 1 or more",
    ),
]


def engine_lines() -> list:
    """Every bad line on SQLite; the one the database refuses (an id it already holds) on
    PostgreSQL too: storage contract."""
    out = []
    for engine in ENGINES:
        for line, message in BAD_LINES:
            decided_by_the_store = "is already taken" in message
            if engine == "sqlite" or decided_by_the_store:
                marks = [pytest.mark.storage_contract] if decided_by_the_store else []
                out.append(pytest.param(engine, line, message, marks=marks))
    return out


@pytest.mark.parametrize(("db_engine", "line", "message"), engine_lines(), indirect=["db_engine"])
def test_one_bad_line_refuses_the_whole_import_and_names_it(cli, tmp_path, line, message):
    cli("open", "Existing", "--level", "3", "--service", "s", now=T0)
    before = cli.snapshot()
    good = '{"title": "fine", "service": "s", "level": 2, "reported_at": "2026-11-01T00:00:00Z"}'
    source = tmp_path / "in.ndjson"
    source.write_text(f"{good}\n{good}\n\n{line}\n{good}\n")
    out = cli("import", str(source), "--json", now=LATER, expect=2)
    error = out.error
    assert error["error"] == "invalid_input"
    assert error["message"].startswith("line 4: ")  # blank lines still count
    assert message in error["message"]
    assert cli.snapshot() == before


@pytest.mark.storage_contract
def test_a_bad_line_at_the_end_of_a_long_file_changes_nothing(cli, tmp_path):
    cli("open", "Existing", "--level", "3", "--service", "s", now=T0)
    before = cli.snapshot()
    lines = [
        json.dumps(
            {
                "title": f"Generated {i}",
                "service": f"svc{i % 7}",
                "level": 1 + i % 3,
                "reported_at": "2026-11-01T00:00:00Z",
                "acknowledged_at": "2026-11-01T00:05:00Z",
            }
        )
        for i in range(5000)
    ]
    lines.append(
        json.dumps(
            {"title": "late", "service": "s", "level": 4, "reported_at": "2026-11-01T00:00:00Z"}
        )
    )
    source = tmp_path / "long.ndjson"
    source.write_text("\n".join(lines) + "\n")
    out = cli("import", str(source), now=LATER, expect=2)
    assert "line 5001: level: no level 4" in out.stderr
    assert "nothing was imported" in out.stderr
    assert cli.snapshot() == before
    # without the bad line all of them go in, and the ids follow the existing one
    source.write_text("\n".join(lines[:-1]) + "\n")
    assert cli.json("import", str(source), now=LATER)["incidents"] == 5000
    ids = [i["id"] for i in cli.json("list", "--limit", "3", now=LATER)]
    assert ids == [1, 2, 3]
    assert cli.json("show", "5001", now=LATER)["title"] == "Generated 4999"


@pytest.mark.storage_contract
def test_duplicate_ids_within_the_file_are_refused(cli, tmp_path):
    line = {
        "id": 7,
        "title": "x",
        "service": "s",
        "level": 2,
        "reported_at": "2026-11-01T00:00:00Z",
    }
    source = tmp_path / "dup.ndjson"
    source.write_text(json.dumps(line) + "\n" + json.dumps(line) + "\n")
    out = cli("import", str(source), now=LATER, expect=2)
    assert "line 2: incident id 7 is already taken" in out.stderr
    assert cli.json("list", now=LATER) == []


@pytest.mark.storage_contract
def test_dry_run_validates_and_changes_nothing(cli, tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text(
        json.dumps(
            {"title": "x", "service": "s", "level": 2, "reported_at": "2026-11-01T00:00:00Z"}
        )
        + "\n"
    )
    summary = cli.json("import", str(source), "--dry-run", now=LATER)
    assert summary == {
        "imported": 0,
        "incidents": 1,
        "events": 1,
        "derived": 1,
        "notices_due": 1,
        "dry_run": True,
    }
    assert cli.json("list", now=LATER) == []
    out = cli("import", str(source), "--dry-run", now=LATER)
    assert "nothing was imported" in out.stderr and out.stdout == ""
    assert "1 of these incidents are not closed and owe notices now" in out.stderr


def test_the_import_says_how_many_incidents_owe_notices_at_once(cli, tmp_path):
    """Importing not-closed history queues notices for the next escalate: the import
    says so, with the number escalate will then find."""

    def line(i: int, **more) -> str:
        return (
            json.dumps(
                {
                    "title": f"t{i}",
                    "service": "payments",
                    "level": 1 + i % 3,
                    "reported_at": "2026-11-01T00:00:00Z",
                    **more,
                }
            )
            + "\n"
        )

    closed = {
        "resolved_at": "2026-11-01T01:00:00Z",
        "solution": "fixed",
        "approved_at": "2026-11-01T01:30:00Z",
        "approved_by": "zhang.min",
        "closed_at": "2026-11-01T02:00:00Z",
        "confirmed_by": "Wang Fang",
    }
    source = tmp_path / "history.ndjson"
    # ids 1-6 at levels 1, 2, 3, 1, 2, 3; the first three closed
    source.write_text("".join(line(i, **(closed if i < 3 else {})) for i in range(6)))
    out = cli("import", str(source), now=LATER)
    # open and at a notifying level: #4 (level 1) and #5 (level 2); #6 is level 3
    assert "Note: 2 of the imported incidents are not closed and owe notices now" in out.stderr
    due = cli.json("escalate", "--dry-run", now=LATER)["deliveries"]
    assert {d["incident"] for d in due} == {4, 5}
    again = tmp_path / "closed.ndjson"
    again.write_text(line(9, id=100, **closed))
    out = cli("import", str(again), now=LATER)
    assert "owe notices" not in out.stderr


@pytest.mark.storage_contract
def test_no_past_notices_sends_only_what_falls_due_after_the_import(cli, tmp_path):
    """History from another tracker: what was due before the import was handled there;
    what falls due later (the next progress mark, a re-level) still goes out."""
    lines = [
        {
            "title": f"t{i}",
            "service": "payments",
            "level": level,
            "reported_at": "2026-11-01T00:30:00Z",
        }
        for i, level in enumerate((1, 2, 3))
    ]
    lines[1]["acknowledged_at"] = "2026-11-01T00:35:00Z"
    source = tmp_path / "history.ndjson"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    dry = cli.json("import", str(source), "--no-past-notices", "--dry-run", now=LATER)
    assert dry["notices_due"] == 0
    out = cli("import", str(source), "--no-past-notices", now=LATER)
    assert "owe notices" not in out.stderr
    assert cli.json("escalate", "--dry-run", now=LATER)["deliveries"] == []
    # LATER is 00:00; the next progress marks (every hour from 00:30) fall at 00:30
    at_mark = "2026-11-27T00:30:00Z"
    due = cli.json("escalate", "--dry-run", now=at_mark)["deliveries"]
    assert {(d["incident"], d["notice"]) for d in due} == {(1, "progress"), (2, "progress")}
    # a re-level after the import notifies as it would anywhere, its breach included
    cli("relevel", "3", "--level", "1", "--reason", "worse", now=at_mark)
    due = cli.json("escalate", "--dry-run", now=at_mark)["deliveries"]
    assert {"initial", "overdue-response"} <= {d["notice"] for d in due if d["incident"] == 3}
    # so does a recovery recorded after the import, even back-dated to before it
    cli("recover", "2", "--at", "2026-11-26T23:30:00Z", now=at_mark)
    due = cli.json("escalate", "--dry-run", now=at_mark)["deliveries"]
    assert "rectification" in {d["notice"] for d in due if d["incident"] == 2}
    # without the option the same lines (ids 4-6) owe their past notices at once
    assert cli.json("import", str(source), now=at_mark)["notices_due"] == 2


def test_import_reads_standard_input(cli):
    line = json.dumps(
        {"title": "from stdin", "service": "s", "level": 3, "reported_at": "2026-11-01T00:00:00Z"}
    )
    out = cli("import", "-", input=line + "\n", now=LATER)
    assert "Imported 1 incidents" in out.stderr
    assert cli.json("show", "1", now=LATER)["title"] == "from stdin"


def test_import_of_a_missing_file_is_refused(cli, tmp_path):
    out = cli("import", str(tmp_path / "nope.ndjson"), "--json", now=LATER, expect=2)
    assert out.error["error"] == "invalid_input" and "cannot read" in out.error["message"]


def test_export_filters_like_list_and_exports_every_status_by_default(cli, seeds):
    seeds.load(cli, "history", build_history)  # built once per module, copied
    assert [d["id"] for d in cli.json("export", now=LATER)] == [1, 2, 3]
    assert [d["id"] for d in cli.json("export", "--status", "closed", now=LATER)] == [1]
    assert [d["id"] for d in cli.json("export", "--service", "search", now=LATER)] == [2]
    assert [d["id"] for d in cli.json("export", "--level", "1", now=LATER)] == [1]
    assert [d["id"] for d in cli.json("export", "--since", at(20), now=LATER)] == [3]
    assert [d["id"] for d in cli.json("export", "--limit", "2", now=LATER)] == [1, 2]
    assert cli.json("export", "--service", "nothing", now=LATER) == []
    assert cli("export", "--service", "nothing", now=LATER).stdout == ""
    csv_text = cli("export", "--format", "csv", now=LATER).stdout
    rows = csv_text.splitlines()
    assert rows[0].startswith("id,title,details,service,level")
    assert len(rows) == 1 + 3 + 1  # header, three incidents, one embedded newline in details
    out = cli("export", "--limit", "-1", "--json", now=LATER, expect=2)
    assert out.error["error"] == "invalid_input"


def test_a_file_with_a_byte_order_mark_and_crlf_lines_is_read(cli, tmp_path):
    line = json.dumps(
        {"title": "from Windows", "service": "s", "level": 3, "reported_at": "2026-11-01T00:00:00Z"}
    )
    source = tmp_path / "bom.ndjson"
    source.write_bytes(b"\xef\xbb\xbf" + (line + "\r\n").encode() * 2)
    assert cli.json("import", str(source), now=LATER)["incidents"] == 2


def test_imported_incidents_are_owed_notices_by_their_own_recipients(cli, tmp_path):
    """Two open incidents of one level and service: notices go to the assignee only, so
    the one with an assignee is owed them and the one without is not."""
    from importlib import resources

    text = resources.files("incidentctl").joinpath("sla.toml").read_text()
    head, rules = text.split("[notifications.initial]", 1)
    rules, tail = rules.split("[roles]", 1)
    rules = "\n".join(
        line.replace('"service_owner"', '"assignee"')
        for line in rules.splitlines()
        if not line.startswith(("phone", "email"))
    )
    (tmp_path / "sla.toml").write_text(f"{head}[notifications.initial]{rules}\n[roles]{tail}")
    base = {"service": "payments", "level": 1, "reported_at": "2026-11-26T23:50:00Z"}
    source = tmp_path / "in.ndjson"
    source.write_text(
        json.dumps({**base, "title": "nobody assigned"})
        + "\n"
        + json.dumps({**base, "title": "assigned", "assignee": "li.wei"})
        + "\n"
    )
    cli("import", str(source), now=LATER)
    sent = cli.json("escalate", now=LATER)["deliveries"]
    assert {d["incident"] for d in sent} == {2}
    assert (2, "initial", "sms") in {(d["incident"], d["notice"], d["channel"]) for d in sent}


def test_a_status_that_the_milestones_contradict_is_named_with_the_derived_word(cli, tmp_path):
    source = tmp_path / "in.ndjson"
    line = {
        "title": "x",
        "service": "s",
        "level": 2,
        "reported_at": "2026-11-01T00:00:00Z",
        "status": "closed",
    }
    source.write_text(json.dumps(line) + "\n")
    out = cli("import", str(source), "--json", now=LATER, expect=2)
    assert out.error["message"] == (
        "line 1: status 'closed' does not match the milestones (they make it 'open'); "
        "drop the field or fix the times; nothing was imported"
    )


def test_an_event_with_a_null_actor_is_refused(cli, tmp_path):
    source = tmp_path / "in.ndjson"
    line = {
        "title": "x",
        "service": "s",
        "level": 2,
        "reported_at": "2026-11-01T00:00:00Z",
        "events": [{"kind": "opened", "at": "2026-11-01T00:00:00Z", "actor": None}],
    }
    source.write_text(json.dumps(line) + "\n")
    out = cli("import", str(source), "--json", now=LATER, expect=2)
    assert out.error["message"].startswith("line 1: events[0].actor: expected a non-empty string")
