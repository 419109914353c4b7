"""Bad input never reaches "unexpected" (issue 15, item 1): the installed command given
bytes that are not UTF-8, and out-of-range numbers."""

from __future__ import annotations

import json
import os
import subprocess

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
