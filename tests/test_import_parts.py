"""A large import is cut into parts that worker processes stage in parallel: the result
must be exactly what one part read in order gives, and errors must name the file's line."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from conftest import reset_pg
from incidentctl.errors import InvalidInput
from incidentctl.runtime import Runtime
from incidentctl.services.transfer import import_file
from incidentctl.store import bulk

NOW = "2026-11-27T00:00:00Z"


def lines(count: int, top: int = 5000) -> list[str]:
    """Plain incidents (some with their own id, some without), and a few with events."""
    out = []
    for i in range(count):
        day = 1 + i % 20
        line: dict = {
            "title": f"Incident {i} — ünïcode",
            "service": f"svc{i % 7}",
            "level": 1 + i % 3,
            "reported_at": f"2026-11-{day:02d}T0{i % 10}:00:00Z",
        }
        if i % 2:
            line["acknowledged_at"] = f"2026-11-{day:02d}T0{i % 10}:07:00Z"
        if i % 5 == 0:
            line["resolved_at"] = f"2026-11-{day:02d}T1{i % 10}:59:00+08:00"  # 0X+2:59Z
            line["solution"] = "restarted"
        if i < count // 2:
            line["id"] = top - i  # explicit ids, falling
        if i % 97 == 0:
            line["level"] = 1
            line["events"] = [
                {"kind": "opened", "at": line["reported_at"], "data": {"level": 2}},
                {"kind": "relevelled", "at": line["reported_at"], "data": {"to": 1, "previous": 2}},
            ]
        out.append(json.dumps(line))
    return out


def run_import(db_url: str, path: Path, **options) -> dict:
    rt = Runtime(db_option=db_url, environ={"INCIDENTCTL_NOW": NOW, "INCIDENTCTL_USER": "t"})
    try:
        summary = import_file(
            lambda: rt.db, path, policy=rt.policy, now=rt.now, actor="t", **options
        )
    finally:
        rt.close()
    from incidentctl.output.documents import import_document

    return import_document(summary)


def empty(db_url: str) -> None:
    if db_url.startswith("postgresql"):
        reset_pg(db_url)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(db_url + suffix).unlink(missing_ok=True)


@pytest.mark.storage_contract
def test_parts_in_parallel_import_exactly_what_one_part_does(cli, db_url, tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text("\n".join(lines(3000)) + "\n", encoding="utf-8")
    assert len(bulk.cut(source, tmp_path, part_bytes=40_000)) == bulk.MAX_PARTS

    parallel = run_import(db_url, source, part_bytes=40_000, workers=2)
    exported = cli("export", now=NOW).stdout
    empty(db_url)
    single = run_import(db_url, source)
    assert cli("export", now=NOW).stdout == exported
    assert parallel == single
    assert single["incidents"] == 3000 and single["derived"] == 3000 - 31
    # lines without an id follow the largest id before them (5000 in the first line)
    documents = [json.loads(line) for line in exported.splitlines()]
    ids = [d["id"] for d in documents if "id" in d]  # (after the policy version line)
    assert ids == sorted(set(range(3501, 5001)) | set(range(5001, 6501)))


@pytest.mark.storage_contract
def test_a_bad_line_in_a_later_part_is_named_and_nothing_changes(cli, db_url, tmp_path):
    cli("open", "Existing", "--level", "3", "--service", "s", now=NOW)
    before = cli.snapshot()
    text = lines(3000)
    text[2499] = text[2499].replace('"level": ', '"level": 9, "x": ', 1)
    source = tmp_path / "in.ndjson"
    source.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"^line 2500: unknown field 'x'; nothing was imported"):
        run_import(db_url, source, part_bytes=40_000, workers=2)
    assert cli.snapshot() == before


@pytest.mark.storage_contract
def test_an_id_taken_by_an_earlier_part_is_traced_to_its_line(cli, db_url, tmp_path):
    text = lines(3000)
    clash = json.loads(text[2899])
    clash["id"] = 4990  # the 11th line's id
    text[2899] = json.dumps(clash)
    source = tmp_path / "in.ndjson"
    source.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"^line 2900: incident id 4990 is already taken"):
        run_import(db_url, source, part_bytes=40_000, workers=2)
    assert cli.json("list", now=NOW) == []


@pytest.mark.storage_contract
def test_a_dry_run_in_parts_counts_and_changes_nothing(cli, db_url, tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text("\n".join(lines(1000)) + "\n", encoding="utf-8")
    summary = run_import(db_url, source, part_bytes=20_000, workers=2, dry_run=True)
    assert summary["dry_run"] is True and summary["incidents"] == 1000
    assert summary["imported"] == 0
    assert cli.json("list", now=NOW) == []


@pytest.mark.parametrize(("ending", "last"), [("\n", "\n"), ("\r\n", "\r\n"), ("\n", "")])
def test_cut_covers_the_file_at_line_ends(tmp_path, ending, last):
    source = tmp_path / "in.ndjson"
    body = ending.join(f'{{"n": {i}, "pad": "{"x" * (i % 37)}"}}' for i in range(500)) + last
    source.write_bytes(body.encode())
    parts = bulk.cut(source, tmp_path, part_bytes=1000)
    assert len(parts) == bulk.MAX_PARTS
    assert parts[0].start == 0 and parts[-1].end == len(body.encode())
    data = source.read_bytes()
    for before, after in zip(parts, parts[1:], strict=False):
        assert before.end == after.start
        assert data[before.end - 1 : before.end] == b"\n"
    assert b"".join(data[p.start : p.end] for p in parts) == data


def test_one_long_line_is_one_part(tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text('{"title": "' + "x" * 50_000 + '"}')
    assert [(p.start, p.end) for p in bulk.cut(source, tmp_path, part_bytes=1000)] == [(0, 50_013)]


@pytest.mark.storage_contract
def test_the_cli_reads_a_large_file_in_parts(cli, tmp_path):
    """Past PART_BYTES the installed path (workers and all) is taken with no option."""
    text = lines(14000, top=20000)
    source = tmp_path / "big.ndjson"
    source.write_text("\n".join(text) + "\n", encoding="utf-8")
    assert source.stat().st_size > bulk.PART_BYTES
    summary = cli.json("import", str(source), now=NOW)
    assert summary["incidents"] == 14000
    shown = cli.json("show", "20000", now=NOW)
    assert shown["title"] == "Incident 0 — ünïcode"
    assert shown["reported_at"] == "2026-11-01T00:00:00Z"
    assert datetime.fromisoformat(shown["sla"]["response"]["due_at"]) > datetime.fromisoformat(
        shown["reported_at"]
    )


@pytest.mark.parametrize("body", [b"", b"\n\n  \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"])
def test_an_empty_file_imports_nothing(cli, tmp_path, body):
    source = tmp_path / "empty.ndjson"
    source.write_bytes(body)
    summary = cli.json("import", str(source), now=NOW)
    assert summary["incidents"] == 0 and summary["imported"] == 0
    assert cli.json("list", now=NOW) == []


@pytest.mark.storage_contract
def test_times_in_any_form_are_stored_as_the_instant_they_name(cli, tmp_path):
    forms = ["2026-11-01T030000.5Z", "2026-11-01T03:00.50Z", "2026-11-01 03:00:00Z"]
    source = tmp_path / "in.ndjson"
    source.write_text(
        "".join(
            json.dumps({"title": f"t{i}", "service": "s", "level": 3, "reported_at": form}) + "\n"
            for i, form in enumerate(forms)
        )
    )
    assert cli.json("import", str(source), now=NOW)["incidents"] == 3
    shown = [cli.json("show", str(i), now=NOW) for i in (1, 2, 3)]
    assert [s["reported_at"] for s in shown] == ["2026-11-01T03:00:00Z"] * 3
    assert [s["events"][0]["data"]["occurred_at"] for s in shown] == ["2026-11-01T03:00:00Z"] * 3
    listed = cli.json("list", "--since", "2026-11-01T03:00:00Z", now=NOW)  # a range query
    assert sorted(i["id"] for i in listed) == [1, 2, 3]
    assert cli.json("list", "--since", "2026-11-01T03:00:01Z", now=NOW) == []


@pytest.mark.storage_contract
def test_line_numbers_in_a_later_part_count_bom_crlf_and_blank_lines(cli, db_url, tmp_path):
    text = lines(3000)
    text[2799] = text[2799].replace('"service": ', '"service": 7, "x": ', 1)
    body = "\r\n".join(line if i % 50 else line + "\r\n" for i, line in enumerate(text))
    source = tmp_path / "in.ndjson"
    source.write_bytes(b"\xef\xbb\xbf" + body.encode())  # no newline after the last line
    # line 2800 of the list is preceded by 56 blank lines (one after every 50th)
    with pytest.raises(InvalidInput, match=r"^line 2856: unknown field 'x'"):
        run_import(db_url, source, part_bytes=40_000, workers=2)
    assert cli.json("list", now=NOW) == []


@pytest.mark.storage_contract
def test_an_event_id_taken_in_an_earlier_part_is_traced_to_its_line(cli, db_url, tmp_path):
    text = lines(3000)
    for number, event_id in ((20, 777), (2950, 777)):
        line = json.loads(text[number - 1])
        line.pop("acknowledged_at", None)
        line["events"] = [{"id": event_id, "kind": "opened", "at": line["reported_at"]}]
        text[number - 1] = json.dumps(line)
    source = tmp_path / "in.ndjson"
    source.write_text("\n".join(text) + "\n")
    with pytest.raises(InvalidInput, match=r"^line 2950: event id 777 is already taken"):
        run_import(db_url, source, part_bytes=40_000, workers=2)


@pytest.mark.storage_contract
def test_a_taken_id_before_a_bad_line_of_the_same_part_is_the_first_error(cli, db_url, tmp_path):
    text = lines(3000)
    clash = json.loads(text[2899])
    clash["id"] = 4990
    text[2899] = json.dumps(clash)
    text[2949] = "{not json"
    source = tmp_path / "in.ndjson"
    source.write_text("\n".join(text) + "\n")
    with pytest.raises(InvalidInput, match=r"^line 2900: incident id 4990 is already taken"):
        run_import(db_url, source, part_bytes=40_000, workers=2)


@pytest.mark.storage_contract
def test_imports_one_after_another_on_one_database(cli, db_url, tmp_path):
    rt = Runtime(db_option=db_url, environ={"INCIDENTCTL_NOW": NOW, "INCIDENTCTL_USER": "t"})
    try:
        for round_ in range(2):
            source = tmp_path / f"in{round_}.ndjson"
            source.write_text("\n".join(lines(1500, top=10_000 * (round_ + 1))) + "\n")
            summary = import_file(
                lambda: rt.db,
                source,
                policy=rt.policy,
                now=rt.now,
                actor="t",
                part_bytes=20_000,
                workers=2,
            )
            assert summary.incidents == 1500
    finally:
        rt.close()
    assert len(cli.json("list", "--limit", "5000", now=NOW, expect=0)) == 3000


def _dies_on_boom(raw: bytes):  # a convert whose worker is killed, as by the OOM killer
    import os
    import signal

    if b"boom" in raw:
        os.kill(os.getpid(), signal.SIGKILL)
    return (None,) * len(bulk.INCIDENT_COLUMNS), [], True


def test_a_worker_that_dies_stops_the_import_with_a_sentence(tmp_path):
    from incidentctl.errors import IncidentctlError

    source = tmp_path / "in.ndjson"
    source.write_text("".join(f'{{"n": {i}}}\n' for i in range(3000)) + '{"boom": 1}\n')
    parts = bulk.cut(source, tmp_path, part_bytes=4_000)
    seen = []
    with (
        pytest.raises(IncidentctlError, match=r"was killed by signal 9; nothing was imported"),
        bulk.staging(parts, _dies_on_boom, workers=2) as staged,
    ):
        seen.extend(s.incidents for s in staged)
    assert sum(seen) < 3000  # the parts before the last one came through
    assert len(seen) == len(parts) - 1


def _refuses_bad_dies_on_boom(raw: bytes):
    if b"bad" in raw:
        import time

        time.sleep(1)  # the other worker reaches the last part and dies meanwhile
        raise bulk.Refused("bad line")
    return _dies_on_boom(raw)


def test_a_bad_line_before_a_dead_worker_is_still_the_first_error(tmp_path):
    """The parts come through in file order whoever finishes first: a line refused in an
    early part is reported even when a worker reading a later part was killed."""
    from incidentctl.errors import IncidentctlError

    body = [f'{{"n": {i}}}\n' for i in range(3000)]
    body[700] = '{"bad": 1}\n'  # in the second part
    source = tmp_path / "in.ndjson"
    source.write_text("".join(body) + '{"boom": 1}\n')  # the last part's worker dies
    for attempt in range(2):  # not a matter of timing
        (tmp_path / str(attempt)).mkdir()
        parts = bulk.cut(source, tmp_path / str(attempt), part_bytes=4_000)
        assert parts[1].start < len("".join(body[:701]).encode()) <= parts[1].end
        errors = []
        with (
            pytest.raises(IncidentctlError, match=r"was killed by signal 9"),
            bulk.staging(parts, _refuses_bad_dies_on_boom, workers=2) as staged,
        ):
            errors.extend(s.error for s in staged if s.error)
        assert errors and errors[0][1] == "bad line"


def test_the_workers_column_names_are_the_models_columns():
    from incidentctl import domain as columns
    from incidentctl.store.models import Event, Incident
    from incidentctl.store.types import UTCDateTime

    incidents = Incident.__table__.columns  # type: ignore[attr-defined]
    events = Event.__table__.columns  # type: ignore[attr-defined]
    assert sorted(columns.INCIDENT_COLUMNS) == sorted(c.name for c in incidents)
    assert sorted(columns.EVENT_COLUMNS) == sorted(c.name for c in events)
    assert columns.INCIDENT_COLUMNS[0] == columns.EVENT_COLUMNS[0] == "id"
    times = {c.name for c in incidents if isinstance(c.type, UTCDateTime)}
    assert {name for name in columns.INCIDENT_COLUMNS if name.endswith("_at")} == times


def test_the_workers_start_before_sqlalchemy_is_loaded():
    """What a worker runs (the reader, the staging) does not import SQLAlchemy, so the
    import command starts its workers without waiting for it."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "import incidentctl.cli, incidentctl.runtime, incidentctl.config\n"
        "from incidentctl.store import bulk\n"
        "from incidentctl.services import lines\n"
        "reader = lines.LineReader(policy=incidentctl.config.builtin_policy(), "
        "now=datetime(2026, 11, 27, tzinfo=UTC), actor='t')\n"
        'reader.convert(b\'{"title": "t", "service": "payments", "level": 1, \'\n'
        '               b\'"reported_at": "2026-11-26T00:00:00Z"}\\n\')\n'
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'sqlmodel')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
