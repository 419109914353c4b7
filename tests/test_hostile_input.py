"""Bad input never reaches "unexpected" (issue 15, item 1): every option and argument of
every command given hostile values (empty, huge, control and bidi characters, Rich
markup, NUL, out-of-range numbers, malformed times and durations), malformed
INCIDENTCTL_NOW and policy files, and the installed command given bytes that are not
UTF-8. Each is stored as given and shown literally, or refused with exit 2 (usage) or 5
(config) and one sentence, nothing changed; never exit 1 "unexpected", never a
traceback. (A database location that cannot be opened is exit 7, as SPEC §7 has it; an
actor who may not approve, exit 4.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from test_e2e import incidentctl_executable


def run(db: str, *args: bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "INCIDENTCTL_DB": db, "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        [os.fsencode(incidentctl_executable()[0]), *args],
        env=env,
        capture_output=True,
        timeout=60,
    )


def test_an_argument_that_is_not_utf8_is_a_usage_error_and_changes_nothing(cli):
    done = run(cli.db, b"open", b"\xff\xfe bad", b"--level", b"1", b"--service", b"x")
    assert done.returncode == 2
    said = done.stderr.decode()
    assert "an argument is not UTF-8 text: '\\xff\\xfe bad'; nothing was done" in said
    assert "unexpected" not in said
    as_json = run(cli.db, b"note", b"1", b"\xc3(", b"--json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stderr)["error"] == "usage"
    assert cli.json("list") == []


def test_an_id_past_every_id_is_a_usage_error(cli):
    out = cli("show", "99999999999999999999999", expect=2)
    assert "is not an incident id" in out.stderr


# --------------------------------------------------------------------------- the sweep
#
# Every option and argument of every command (found by walking the click command
# tree, so a new one is swept, or fails test_the_sweep_covers_every_option), given each
# hostile value in turn, the other parameters valid. The rule: exit 0 (and a stored
# text is stored as given), or a refusal (2 usage, 5 config; 7 for a database location;
# 4 where the value names someone who may not do it): one short message on stderr,
# the database not written. Never 1 "unexpected", never a traceback, and no control or
# bidi character reaches the terminal on either stream.

HUGE_TEXT = ("Payments 502 [bold]x[/] " * 5_000)[:119_999] + "."
HOSTILE: dict[str, str] = {
    "empty": "",
    "huge": HUGE_TEXT,
    "huge digits": "9" * 120_000,
    "bell": "a\x07b",
    "escape": "\x1b[31mred\x1b[0m",
    "carriage return": "a\rb",
    "delete": "a\x7fb",
    "C1 CSI": "a\x9bb",
    "right-to-left override": "\u202eabc",
    "left-to-right isolate": "\u2066abc\u2069",
    "markup": "[bold red]x[/]",
    "markup link": "[link=http://x]y[/link]",
    "NUL": "a\x00b",
    "-1": "-1",
    "0": "0",
    "2**63": str(2**63),
    "10**30": str(10**30),
    "1e9": "1e9",
    "nan": "nan",
}
# Times that parse as a time, or nearly: each goes to every time option too.
HOSTILE_TIMES: dict[str, str] = {
    "month 13": "2026-13-01T00:00:00Z",
    "February 30": "2026-02-30 10:00",
    "hour 25": "25:61",
    "year 1 east of UTC": "0001-01-01T00:00:00+14:00",
    "year 9999 west of UTC": "9999-12-31T23:59:59-23:59",
    "year 10000": "10000-01-01T00:00:00Z",
    "offset 24h": "2026-11-25T09:00:00+24:00",
    "huge ago": f"{10**30} minutes ago",
    "2**63 seconds ago": f"{2**63} s ago",
    "nan ago": "nan minutes ago",
    "negative ago": "-5 minutes ago",
    "future": "2026-11-25T11:00:00Z",
    "before the report": "2026-11-24T00:00:00Z",
}
HOSTILE_DURATIONS: dict[str, str] = {
    "0s": "0s",
    "-1m": "-1m",
    "huge days": f"{10**30}d",
    "2**63 seconds": f"{2**63}s",
    "no unit": "90",
    "unit only": "m",
    "fraction": "1.5h",
    "units out of order": "30m2h",
    "inf": "inf",
}

NOW = "2026-11-25T10:00:00Z"
OPENED = "2026-11-25T09:00:00Z"
# Swept on every parameter but free text (a title, a note, --as), which stores them as
# the text they are: ids, levels, limits, months, durations, addresses, paths...
NUMBERS = ("-1", "0", "2**63", "10**30", "1e9", "nan")
PER_STATE = len(HOSTILE)  # incidents per state: one for each value a command may accept


def _seed(state: str) -> Any:
    """PER_STATE incidents in ``state``: a value swept on a command that changes an
    incident acts on an incident that no value changed before it, in that state."""

    def build(cli: Any) -> None:
        line = {"title": "seeded", "level": 2 if state == "resolved" else 1}
        line |= {"service": "payments", "reported_at": OPENED}
        if state.startswith("resolved"):
            line |= {"resolved_at": "2026-11-25T09:30:00Z", "solution": "s"}
        lines = (json.dumps(line) + "\n") * PER_STATE
        cli("import", "-", "--no-past-notices", input=lines, now=NOW)
        for number in range(1, PER_STATE + 1):
            if state == "paused":
                cli("pause", str(number), "--reason", "awaiting-customer", "--at", OPENED, now=NOW)

    return build


@dataclass(frozen=True)
class Swept:
    """A command's valid parameters (None: left out unless swept), the state of the
    incident it acts on, which parameters it stores, and what else it may answer."""

    params: dict[str, str | None]
    state: str | None = None
    stored: frozenset[str] = frozenset()
    extra: tuple[str, ...] = ()
    stdin: str | None = None
    also: dict[str, frozenset[int]] = field(default_factory=dict)


ID = "{id}"
AT = "2026-11-25T09:58:00Z"
ACTS = {"actor_after_command": "tester"}
PAST = {"at": AT, **ACTS}
# the filters list and export share, each left out unless swept
FILTERS = dict.fromkeys(("status", "level", "service", "assignee", "since", "until", "limit"))
FILTERS["format_"] = None
DB_LOCATION = frozenset({7})  # a database that cannot be reached there (SPEC §7)


def _stored(*names: str) -> frozenset[str]:
    return frozenset(names)


SWEEP: dict[tuple[str, ...], Swept] = {
    (): Swept({"db": None, "config": None, "actor": None}, also={"db": DB_LOCATION}),
    ("board",): Swept({"limit": "5"}),
    ("open",): Swept(
        {
            "title": "Checkout fails",
            "level": "1",
            "service": "payments",
            "details": "d",
            "channel": "hotline",
            "reporter": "r",
            "contact": "c",
            "occurred": "2026-11-25T09:50:00Z",
            "at": "2026-11-25T09:55:00Z",
            "assignee": "a",
            **ACTS,
        },
        stored=_stored(
            "title",
            "details",
            "service",
            "reporter",
            "contact",
            "assignee",
            "actor_after_command",
        ),
    ),
    ("list",): Swept({**FILTERS, "awaiting": None}),
    ("show",): Swept({"incident_id": "1", "format_": None}),
    ("ack",): Swept({"incident_id": ID, **PAST}, "open", _stored("actor_after_command")),
    ("assign",): Swept(
        {"incident_id": ID, "to": "bob", **PAST}, "open", _stored("to", "actor_after_command")
    ),
    ("note",): Swept(
        {"incident_id": ID, "text": "hello", "kind": None, **PAST},
        "open",
        _stored("text", "actor_after_command"),
    ),
    ("transfer",): Swept(
        {"incident_id": ID, "to": "bob", "reason": "db", "team": None, **PAST},
        "open",
        _stored("to", "reason", "actor_after_command"),
    ),
    ("relevel",): Swept(
        {"incident_id": ID, "level": "2", "reason": "worse", **PAST},
        "open",
        _stored("reason", "actor_after_command"),
    ),
    ("recover",): Swept({"incident_id": ID, **PAST}, "open", _stored("actor_after_command")),
    ("pause",): Swept(
        {"incident_id": ID, "reason": "awaiting-vendor", **PAST},
        "open",
        _stored("actor_after_command"),
    ),
    ("resume",): Swept({"incident_id": ID, **PAST}, "paused", _stored("actor_after_command")),
    ("resolve",): Swept(
        {"incident_id": ID, "solution": "fixed", **PAST},
        "open",
        _stored("solution", "actor_after_command"),
    ),
    ("approve",): Swept(
        {"incident_id": ID, "at": AT, "actor_after_command": "zhang.min"},
        "resolved major",
        # someone who is not an incident manager may not approve: exit 4
        also={"actor_after_command": frozenset({4})},
    ),
    ("close",): Swept(
        {"incident_id": ID, "confirmed_by": "reporter", **PAST},
        "resolved",
        _stored("confirmed_by", "actor_after_command"),
    ),
    ("reopen",): Swept(
        {"incident_id": ID, "reason": "back", **PAST},
        "resolved",
        _stored("reason", "actor_after_command"),
    ),
    ("cancel",): Swept(
        {"incident_id": ID, "reason": "mistake", "duplicate_of": None, **PAST},
        "open",
        _stored("reason", "actor_after_command"),
    ),
    ("edit",): Swept(
        {
            "incident_id": ID,
            "title": "new title",
            "details": None,
            "service": None,
            "reporter": None,
            "contact": None,
            "channel": None,
            "occurred": None,
            **ACTS,
        },
        "open",
        _stored("title", "details", "service", "reporter", "contact", "actor_after_command"),
    ),
    ("problem",): Swept(
        {"incident_id": ID, "ref": "PRB-1", "reason": None, **PAST},
        "open",
        _stored("ref", "actor_after_command"),
    ),
    ("watch",): Swept({"interval": "30s"}, extra=("--once",)),
    # no token: refused (exit 5) before anything listens, whatever the address
    ("serve",): Swept({"listen": None}),
    ("report",): Swept(
        {"month": None, "since": None, "until": None, "tz": None, "format_": None, "output": None}
    ),
    ("export",): Swept(FILTERS),
    ("import",): Swept({"source": "import.ndjson", **ACTS}),
    ("init",): Swept({"path": None}),
    ("intake", "email"): Swept(
        {"recipient": None},
        stdin="From: a@example.com\nSubject: Checkout fails\nMessage-ID: <1@x>\n\nbody\n",
    ),
    ("intake", "alert"): Swept({}, stdin='{"alerts": []}'),
    ("sla", "explain"): Swept({"incident_id": "1", "clock": None}),
    ("policy", "check"): Swept({}),
    ("policy", "show"): Swept({"format_": None}),
    ("policy", "simulate"): Swept(
        {"config": "simulated.toml", "month": None, "since": None, "until": None, "tz": None}
    ),
    ("db", "upgrade"): Swept({}),
    ("db", "copy"): Swept({"to": "copy.db"}, also={"to": DB_LOCATION}),
    ("escalate",): Swept({}),
    ("demo",): Swept({}),
}
TIME_PARAMS = {"at", "occurred", "since", "until"}
DURATION_PARAMS = {"interval"}


def _commands() -> dict[tuple[str, ...], Any]:
    """Every command of the click tree, by its path (the root's own options at ())."""
    from typer.main import get_command

    from incidentctl.cli.app import app

    found: dict[tuple[str, ...], Any] = {}

    def walk(command: Any, path: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None or not path:
            found[path] = command
        for name, sub in (subcommands or {}).items():
            walk(sub, (*path, name))

    walk(get_command(app), ())
    return found


def _valued(command: Any) -> list[Any]:
    """The parameters that take a value (flags take none)."""
    return [p for p in command.params if not getattr(p, "is_flag", False)]


def test_the_sweep_covers_every_option():
    commands = _commands()
    assert set(commands) == set(SWEEP), "a command is missing from SWEEP (or SWEEP is stale)"
    for path, command in commands.items():
        names = {p.name for p in _valued(command)}
        assert names == set(SWEEP[path].params), f"incidentctl {' '.join(path)}: sweep {names}"
        assert SWEEP[path].stored <= names


def _args(path: tuple[str, ...], command: Any, values: dict[str, str | None]) -> list[str]:
    args = list(path)
    for param in _valued(command):
        value = values.get(param.name)
        if value is None:
            continue
        args += [value] if param.param_type_name == "argument" else [param.opts[0], value]
    if not path:
        args += ["board", "--limit", "1"]  # the root's options, given before a command
    return args


def _written(db: Path) -> bytes:
    """The database's bytes (and its WAL's): any write shows."""
    return b"".join(
        Path(f"{db}{suffix}").read_bytes()
        for suffix in ("", "-wal")
        if Path(f"{db}{suffix}").exists()
    )


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _values_for(name: str, *, text: bool) -> dict[str, str]:
    """What a parameter is swept with; ``text``: free text, stored or naming someone."""
    values = {k: v for k, v in HOSTILE.items() if not (text and k in NUMBERS)}
    if name in TIME_PARAMS:
        values.update(HOSTILE_TIMES)
    if name in DURATION_PARAMS:
        values.update(HOSTILE_DURATIONS)
    return values


@pytest.mark.parametrize("path", sorted(SWEEP), ids=lambda p: " ".join(p) or "(root)")
def test_every_option_refuses_or_keeps_hostile_values(path, cli, seeds, tmp_path):
    from incidentctl.text import UNSAFE

    command = _commands()[path]
    swept = SWEEP[path]
    (tmp_path / "import.ndjson").write_text(
        '{"title": "imported", "level": 3, "service": "payments", '
        '"reported_at": "2026-11-25T08:00:00Z"}\n'
    )
    (tmp_path / "simulated.toml").write_text(
        resources.files("incidentctl").joinpath("sla.toml").read_text()
    )
    failures: list[str] = []
    for param in _valued(command):
        cli.use(str(tmp_path / f"{param.name}.db"))
        seeds.load(cli, f"sweep {swept.state or 'open'}", _seed(swept.state or "open"))
        accepted: dict[int, tuple[str, str]] = {}
        text = param.name in swept.stored or param.name.startswith("actor")
        number = 1  # the incident acted on: the next one once a value is accepted
        for label, value in _values_for(param.name, text=text).items():
            assert number <= PER_STATE, "more values accepted than incidents seeded"
            values = {
                name: (given or "").replace(ID, str(number)) or None
                for name, given in swept.params.items()
            }
            values[param.name] = value
            args = [*_args(path, command, values), *swept.extra]
            before = _written(Path(cli.db))
            out = cli(*args, now=NOW, input=swept.stdin, expect=None)
            what = f"{' '.join(path) or '(root)'} {param.name}={label}: exit {out.exit_code}"
            allowed = {0, 2, 5} | swept.also.get(param.name, frozenset())
            problems = []
            if out.exit_code not in allowed:
                problems.append("exit code")
            if "unexpected" in out.stderr or "Traceback" in out.stderr + out.stdout:
                problems.append("unexpected")
            if UNSAFE.search(out.stdout) or UNSAFE.search(out.stderr):
                problems.append("a control or bidi character printed as it is")
            if out.exit_code != 0:
                if not out.stderr.startswith("incidentctl: ") or len(out.stderr) > 2_000:
                    problems.append(f"not one short message ({len(out.stderr):,} characters)")
                if _written(Path(cli.db)) != before:
                    problems.append("the database was written")
            elif param.name in swept.stored and not (label == "empty" and "actor" in param.name):
                # (--as '': test_an_empty_actor_is_not_someone_else)
                found = re.search(r"Opened incident (\d+)\.", out.stdout)
                accepted[int(found[1]) if path == ("open",) and found else number] = (label, value)
            if out.exit_code == 0:
                number += 1
            if problems:
                failures.append(f"{what}: {', '.join(problems)}: {out.stderr[:200]!r}")
        if accepted:
            exported = {i["id"]: i for i in cli.json("export", "--format", "json")}
            for number, (label, value) in accepted.items():
                if path == ("edit",) and value == "":  # edit --reporter '': nobody
                    kept = {""} if exported[number][param.name] is None else set()
                else:
                    kept = set(_strings(exported[number]))
                if value not in kept:
                    failures.append(
                        f"{' '.join(path)} {param.name}={label}: accepted, but not stored as given"
                    )
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------------- shown literally

SHOWN = ("bell", "escape", "carriage return", "delete", "C1 CSI")
SHOWN += ("right-to-left override", "left-to-right isolate", "markup", "markup link", "huge")


def test_hostile_text_is_stored_as_given_and_shown_literally(cli):
    """Every text an incident holds, given each hostile value: ``show --json`` has it as
    given; ``show``, its markdown review, ``list`` and the board show it escaped (the
    output layer's ``literal``: ESC as \\x1b), markup as typed, no control byte."""
    from incidentctl.text import UNSAFE, literal

    cli.now = NOW
    fields = ("title", "details", "service", "reporter", "contact", "assignee")
    for label in SHOWN:
        value = HOSTILE[label]
        opened = cli.json(
            "open", value, "-l", "2", "-s", value, *(f(value) for f in _field_options())
        )
        number = str(opened["id"])
        cli("note", number, value)
        cli("resolve", number, "--solution", value, "--at", NOW)
        record = cli.json("show", number)
        assert [record[f] for f in (*fields, "solution")] == [value] * 7, label
        assert [e["data"].get("text") for e in record["events"] if e["kind"] == "note"] == [value]
        shown = literal(value)
        for args in (("show", number), ("show", number, "--format", "markdown")):
            out = cli(*args).stdout
            assert UNSAFE.search(out) is None, (label, args)
            if "markdown" in args:  # (Markdown's own escapes: \[ is a [ to its reader)
                out = re.sub(r"\\([][()*_`#|<>!~-])", r"\1", out)
            if label != "huge":  # (wrapped on the terminal's width)
                assert out.count(shown) >= 3, (label, args, out)
        for args in (("list",), ("board",)):
            out = cli(*args).stdout
            assert UNSAFE.search(out) is None, (label, args)
            if label != "huge":  # (the title cut to the terminal's width)
                assert shown in out, (label, args, out)
    assert literal(HOSTILE["escape"]) == "\\x1b[31mred\\x1b[0m"  # what the user sees
    assert literal(HOSTILE["markup"]) == "[bold red]x[/]"


def _field_options() -> list[Any]:
    return [
        lambda v: f"--details={v}",
        lambda v: f"--reporter={v}",
        lambda v: f"--contact={v}",
        lambda v: f"--assignee={v}",
    ]


# --------------------------------------------------------------------------- the environment

BAD_NOW = {
    "no offset": "2026-11-25T10:00:00",
    "words": "yesterday",
    "month 13": "2026-13-01T00:00:00Z",
    "year 1 east of UTC": "0001-01-01T00:00:00+14:00",
    "year 9999 west of UTC": "9999-12-31T23:59:59-23:59",
    "huge": HUGE_TEXT,
    "escape": "\x1b[31m2026-11-25T10:00:00Z",
    "right-to-left override": "\u202e2026-11-25T10:00:00Z",
    "nan": "nan",
    "1e9": "1e9",
    "-1": "-1",
}
EVERY_KIND = (
    ("board",),
    ("list",),
    ("show", "1"),
    ("open", "t", "-l", "1", "-s", "payments"),
    ("ack", "1"),
    ("escalate",),
    ("watch", "--once"),
    ("report",),
    ("export",),
    ("sla", "explain", "1"),
)


def test_a_malformed_INCIDENTCTL_NOW_is_refused_by_every_command(cli):
    cli("open", "Checkout fails", "-l", "1", "-s", "payments", now=NOW)
    before = cli.snapshot()
    for label, value in BAD_NOW.items():
        for args in EVERY_KIND:
            out = cli(*args, env={"INCIDENTCTL_NOW": value}, expect=None)
            assert out.exit_code == 2, (label, args, out.stderr[:300])
            assert out.stderr.startswith("incidentctl: INCIDENTCTL_NOW="), (label, args)
            assert len(out.stderr) < 2_000 and "\x1b" not in out.stderr, (label, args)
    assert cli.snapshot() == before


def test_a_time_zone_that_is_none_is_refused_in_a_sentence(cli):
    """``TZ`` (read where a time has no offset), ``--tz`` and the policy's ``timezone``."""
    cli("open", "Checkout fails", "-l", "1", "-s", "payments", now=NOW)
    before = cli.snapshot()
    for zone in ("x" * 300, HUGE_TEXT, "\u202e\x1b[31m", "../../etc/passwd", "nan"):
        for args in (("ack", "1", "--at", "2026-11-25 09:30"), ("report",)):
            out = cli(*args, now=NOW, env={"TZ": zone}, expect=2)
            assert out.stderr.startswith("incidentctl: TZ=") and len(out.stderr) < 2_000
        out = cli("report", "--tz", zone, now=NOW, expect=2)
        assert out.stderr.startswith("incidentctl: --tz ") and "not a known time zone" in out.stderr
        policy = Path("zone.toml")
        policy.write_text(f"timezone = {json.dumps(zone)}\n" + _seed_policy())
        out = cli("--config", str(policy), "policy", "check", expect=5)
        assert len(out.stderr) < 2_000
        if zone != HUGE_TEXT:  # (that one's line is too long to read)
            assert "timezone: " in out.stderr and "is not a known time zone" in out.stderr
    assert cli.snapshot() == before


def _seed_policy() -> str:
    return resources.files("incidentctl").joinpath("sla.toml").read_text()


# --------------------------------------------------------------------------- malformed policies


def _policy_cases() -> dict[str, str | bytes]:
    seed = _seed_policy()
    level = '\nname = "x"\nresponse = "1m"\nrecovery = "1m"\nresolution = "1m"\n'
    return {
        "syntax error": "relevel = \n",
        "an unknown key": seed.replace("[levels.1]", "[levelz.1]"),
        "a duration that is a number": seed.replace('response = "10m"', "response = 10"),
        "a duration that is a date": seed.replace(
            'response = "10m"', "response = 1979-05-27T07:32:00Z"
        ),
        "a duration too large": seed.replace('response = "10m"', f'response = "{10**30}d"'),
        "a zero duration": seed.replace('response = "10m"', 'response = "0m"'),
        "a negative duration": seed.replace('response = "10m"', 'response = "-5m"'),
        "a fractional duration": seed.replace('response = "10m"', 'response = "1.5h"'),
        "a name that is a number": seed.replace('name = "Major"', f"name = {10**30}"),
        "a level past the store": seed + f"\n[levels.{2**31}]" + level,
        "a level of 20 digits": seed + f"\n[levels.{10**20}]" + level,
        "level 0": seed + "\n[levels.0]" + level,
        "a port too large": seed.replace(
            "[roles]",
            "[transports.email]\ntype = 'smtp'\n"
            f"host = 'localhost'\nport = {10**20}\nfrom = 'a@example.com'\n\n[roles]",
        ),
        "deep arrays": "x = " + "[" * 2_000 + "]" * 2_000 + "\n",
        "deep inline tables": "x = " + "{a = " * 1_000 + "1" + "}" * 1_000 + "\n",
        "a deep dotted key": "a" + ".a" * 1_500 + " = 1\n",
        "a dotted key 100 kB long": "a" + ".a" * 50_000 + " = 1\n",
        "a 2 MB string": seed + '\n[services.big]\nowner = "' + "x" * 2_000_000 + '"\n',
        "a NUL byte": seed + "\x00",
        "a byte-order mark": "\ufeff" + seed,
        "bytes that are not UTF-8": b'relevel = "\xff"\n',
        "a time zone 120 kB long": f"timezone = {json.dumps(HUGE_TEXT)}\n" + seed,
    }


def test_a_malformed_policy_is_a_config_error_in_a_sentence(cli):
    """Each refused by ``policy check``, by a command reading the policy and by one writing
    with it, within seconds: exit 5, the file and what is wrong, nothing recorded."""
    import time

    cli("open", "Checkout fails", "-l", "1", "-s", "payments", now=NOW)
    before = cli.snapshot()
    path = Path("bad.toml")
    for case, text in _policy_cases().items():
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        for args in (("policy", "check"), ("board",), ("open", "t", "-l", "1", "-s", "p")):
            started = time.monotonic()
            out = cli("--config", str(path), *args, now=NOW, expect=None)
            assert time.monotonic() - started < 3, (case, "a policy is refused quickly")
            assert out.exit_code == 5, (case, args, out.stderr[:300])
            assert out.stderr.startswith(f"incidentctl: {path}: "), (case, out.stderr[:300])
            assert len(out.stderr) < 2_000 and "unexpected" not in out.stderr, case
    assert cli.snapshot() == before


def test_a_huge_policy_file_that_is_valid_is_read(cli):
    """A policy of 5 MB (20,000 services, long comments) is not refused for its size."""
    path = Path("big.toml")
    services = "".join(f'\n[services.s{i}]\nowner = "chen.jie"\n' for i in range(20_000))
    comments = ("# " + "x" * 9_000 + "\n") * 100
    path.write_text(_seed_policy() + comments + services)
    assert path.stat().st_size > 1_000_000
    opened = cli.json("--config", str(path), "open", "t", "-l", "1", "-s", "s19999", now=NOW)
    assert opened["service"] == "s19999"


# --------------------------------------------------------------------------- who acts


def test_an_empty_actor_is_not_someone_else(cli):
    """``--as ''`` says no one: refused, rather than recorded as the login name."""
    cli("open", "Checkout fails", "-l", "1", "-s", "payments", now=NOW)
    before = cli.snapshot()
    for nobody in ("", "  "):
        out = cli("note", "1", "hello", "--as", nobody, now=NOW, expect=2)
        assert "--as names no one" in out.stderr and cli.snapshot() == before


# --------------------------------------------------------------------------- on both engines


@pytest.mark.storage_contract
def test_what_a_database_cannot_hold_is_refused_on_both_engines(cli):
    """PostgreSQL refuses a NUL in text and numbers past its 32-bit columns, where SQLite
    took them: each is a usage error on both, before the store, nothing written."""
    cli.now = NOW
    cli("open", "Checkout fails", "-l", "1", "-s", "payments")
    before = cli.snapshot()
    nul = [
        (("open", "a\x00b", "-l", "1", "-s", "payments"), None),
        (("open", "t", "-l", "1", "-s", "payments", "--details", "-"), "a\x00b"),
        (("note", "1", "-"), "a\x00b"),
        (
            ("import", "-"),
            json.dumps({"title": "a\x00b", "service": "p", "level": 3, "reported_at": OPENED})
            + "\n",
        ),
        (
            ("import", "-"),
            json.dumps(
                {
                    "title": "t",
                    "service": "p",
                    "level": 3,
                    "reported_at": OPENED,
                    "reporter": "\x00",
                }
            )
            + "\n",
        ),
    ]
    for args, given in nul:
        out = cli(*args, input=given, expect=2)
        assert "NUL character (\\x00)" in out.stderr, (args, out.stderr)
    for args in (
        ("list", "--level", str(2**31)),
        ("list", "--limit", str(2**63)),
        ("board", "--limit", str(2**63)),
        ("export", "--level", str(10**30)),
        ("show", str(2**31)),
    ):
        out = cli(*args, expect=2)
        assert "2147483647" in out.stderr, (args, out.stderr)
    assert cli.snapshot() == before


# --------------------------------------------------------------------------- argv bytes


def test_the_installed_command_prints_no_control_byte_it_was_given(cli):
    """Through argv as a shell passes it (bytes): an escape sequence, C1 CSI, a bidi
    override and markup in a title, a service and an owner, 120 kB of details. The
    terminal output holds none of those bytes, and ``show --json`` has them as given."""
    given = "\x1b[2J\x1b]0;owned\x07 \x9b31m \u202eevil\u202c [bold red]x[/]"
    huge = HUGE_TEXT.encode()
    opened = run(
        cli.db,
        b"open",
        given.encode(),
        b"-l",
        b"1",
        b"-s",
        given.encode(),
        b"--assignee",
        given.encode(),
        b"--details",
        huge,
        b"--json",
    )
    assert opened.returncode == 0, opened.stderr
    number = str(json.loads(opened.stdout)["id"]).encode()
    for args in ((b"show", number), (b"board",)):
        done = run(cli.db, *args)
        assert done.returncode == 0, (args, done.stderr)
        for output in (done.stdout, done.stderr):
            for raw in (b"\x1b", b"\x07", "\x9b".encode(), "\u202e".encode()):
                assert raw not in output, (args, raw)
        assert b"[bold red]x[/]" in done.stdout, args
    record = json.loads(run(cli.db, b"show", number, b"--json").stdout)
    assert (record["title"], record["service"], record["assignee"]) == (given,) * 3
    assert record["details"] == HUGE_TEXT


def test_paths_are_printed_escaped_and_a_directory_is_no_output_file(cli):
    """The database (its URL encoded), the policy written by init, a report's file: named
    with an escape sequence, none prints it; ``report -o`` a directory is refused."""
    name = "\x1b[31mred"
    for args, shown in (
        (("--db", f"{name}.db", "db", "upgrade"), "%1B%5B31mred.db"),
        (("db", "copy", "--to", f"{name}-copy.db"), "%1B%5B31mred-copy.db"),
        (("init", "--path", f"{name}.toml"), "\\x1b[31mred.toml"),
        (("report", "-o", f"{name}.txt"), "\\x1b[31mred.txt"),
    ):
        out = cli(*args, now=NOW)
        assert shown in out.stdout + out.stderr, args
        assert "\x1b" not in out.stdout + out.stderr, args
    for directory in (".", str(Path.cwd())):
        out = cli("report", "-o", directory, now=NOW, expect=2)
        assert (
            out.stderr
            == f"incidentctl: cannot write {directory}: a directory; name a file, e.g. -o r.html\n"
        )
