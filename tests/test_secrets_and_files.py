"""Secrets and files (issue 15, item 6): passwords and tokens come only from environment
variables and never show in ``policy show``, errors, ``--json`` or logs; every file the
program creates is its owner's alone; a policy others may read that names secret
variables is warned about.

Every test of the suite runs with the secrets of ``conftest.TEST_SECRETS`` in its
environment, and every output is grepped for them (``conftest.assert_no_secret``); the
tests here put them in play where a leak would be likeliest.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import SECRET_MARK, TEST_SECRETS, assert_no_secret
from test_e2e import incidentctl_executable
from test_escalate import at, write_policy
from test_notify_transports import free_port, http_running


class RefusingSmtp:
    """aiosmtpd on loopback that asks for a login and refuses it, keeping what it got;
    ``echo``: the refusal repeats the password, as a careless server might."""

    def __init__(self, echo: bool = False) -> None:
        from aiosmtpd.controller import Controller

        self.echo = echo
        self.passwords: list[bytes] = []
        self.port = free_port()
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            auth_required=True,
            auth_require_tls=False,
            authenticator=self.authenticate,
        )

    def authenticate(self, server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        from aiosmtpd.smtp import AuthResult

        self.passwords.append(auth_data.password)
        if self.echo:
            said = f"535 bad password {auth_data.password.decode()}"
            return AuthResult(success=False, handled=False, message=said)
        return AuthResult(success=False, handled=False)


@contextmanager
def refusing_smtp(echo: bool = False) -> Iterator[RefusingSmtp]:
    server = RefusingSmtp(echo)
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


def secret_policy(tmp_path: Path, smtp_port: int, sms_url: str) -> Path:
    policy = write_policy(
        tmp_path,
        {
            "email": {
                "type": "smtp",
                "host": "127.0.0.1",
                "port": smtp_port,
                "from": "incidentctl@example.com",
                "username": "bot",
                "password_env": "SMTP_PW",
                "timeout": "3s",
            },
            "sms": {"type": "webhook", "url": sms_url, "timeout": "3s"},
        },
        extra='[transports.sms.headers_env]\nAuthorization = "SMS_AUTH"\n',
    )
    policy.chmod(0o600)
    return policy


def test_a_refused_login_and_a_refusing_gateway_never_show_the_secrets(cli, tmp_path):
    with refusing_smtp() as smtp, http_running() as gateway:
        gateway.statuses = [401] * 10
        secret_policy(tmp_path, smtp.port, gateway.url("/sms"))
        cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=at(0))
        passed = cli("escalate", "--json", now=at(0), expect=None)
        shown = cli("show", "1", "--json", now=at(1))
        board = cli("show", "1", now=at(1))
    # The secrets were in play: the server was sent them, and each delivery failed.
    assert smtp.passwords and smtp.passwords[0] == TEST_SECRETS["SMTP_PW"].encode()
    errors = [d["error"] for d in json.loads(passed.stdout)["deliveries"]]
    assert any("login refused" in (e or "") for e in errors)
    assert any("HTTP 401" in (e or "") for e in errors)
    for output in (passed.stdout, passed.stderr, shown.stdout, board.stdout):
        assert SECRET_MARK not in output


def test_policy_show_and_check_name_the_variables_never_their_values(cli, tmp_path):
    secret_policy(tmp_path, free_port(), "http://127.0.0.1:9/sms")
    shown = cli("policy", "show", "--json").json
    assert shown["transports"]["email"]["password_env"] == "SMTP_PW"
    assert shown["transports"]["sms"]["headers_env"] == {"Authorization": "SMS_AUTH"}
    for args in (("policy", "show"), ("policy", "check"), ("policy", "check", "--json")):
        out = cli(*args, expect=None)
        assert SECRET_MARK not in out.stdout + out.stderr


def test_a_password_in_a_database_url_is_never_shown(cli):
    url = f"postgresql://bot:{SECRET_MARK}url-77@127.0.0.1:{free_port()}/nowhere"
    refused = cli("--db", url, "list", expect=7)
    assert "unreachable" in refused.stderr and "bot:***@127.0.0.1" in refused.stderr
    as_json = cli("--db", url, "list", "--json", expect=7)
    assert as_json.error["error"] == "database"


def test_a_secret_echoed_by_the_server_is_blanked_in_the_error(tmp_path):
    """An SMTP server that repeats the password in its refusal: the error is stored and
    shown, so the transport blanks what it sent."""
    from incidentctl.config import SmtpTransport
    from incidentctl.notify.transports import send
    from test_notify_transports import MESSAGE

    with refusing_smtp(echo=True) as smtp:
        transport = SmtpTransport.model_validate(
            {
                "type": "smtp",
                "host": "127.0.0.1",
                "port": smtp.port,
                "from": "a@example.com",
                "username": "bot",
                "password_env": "SMTP_PW",
                "timeout": "3s",
            }
        )
        result = send(transport, MESSAGE, environ={"SMTP_PW": "hunter2-echoed"})
    assert set(smtp.passwords) == {b"hunter2-echoed"}  # (each mechanism smtplib tries)
    assert result.outcome == "retry"
    assert "bad password ***" in (result.error or "") and "hunter2" not in (result.error or "")


# --------------------------------------------------------------------------- files


def _modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}


def run(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*incidentctl_executable(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        umask=0,  # the most permissive a caller can give: the program makes its own
        **kwargs,
    )


def test_the_database_and_its_wal_and_shm_are_the_owners_alone(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    env = {**os.environ, "INCIDENTCTL_DB": str(data / "incidents.db")}
    run(["init"], env)  # creates the database
    reader = sqlite3.connect(data / "incidents.db")  # keeps -wal and -shm from going
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM incidents").fetchall()
    try:
        done = run(["open", "x", "--level", "2", "--service", "db"], env)
        assert done.returncode == 0, done.stderr
        modes = _modes(data)
    finally:
        reader.close()
    assert set(modes) >= {"incidents.db", "incidents.db-wal", "incidents.db-shm"}
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}


def test_a_report_and_the_default_data_directory_are_the_owners_alone(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "INCIDENTCTL_DATA_DIR": str(home / "data"), "INCIDENTCTL_NOW": at(0)}
    env.pop("INCIDENTCTL_DB", None)
    assert run(["open", "x", "--level", "2", "--service", "db"], env).returncode == 0
    assert stat.S_IMODE((home / "data").stat().st_mode) == 0o700
    report = tmp_path / "report.html"
    done = run(["report", "--month", at(0)[:7], "--format", "html", "--output", str(report)], env)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(report.stat().st_mode) == 0o600


def test_imports_staging_files_are_the_owners_alone(tmp_path):
    """import's worker processes write staging SQLite files under TMPDIR: seen while the
    import runs, each is 0600 in a 0700 directory."""
    lines = tmp_path / "incidents.ndjson"
    with lines.open("w") as out:
        for n in range(40_000):  # past bulk.PART_BYTES: parts, workers
            out.write(
                json.dumps(
                    {
                        "title": f"incident {n}",
                        "level": 3,
                        "service": "db",
                        "reported_at": "2026-11-01T00:00:00Z",
                    }
                )
                + "\n"
            )
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "INCIDENTCTL_DB": str(tmp_path / "i.db"), "TMPDIR": str(temp)}
    seen: dict[str, int] = {}
    done_event = threading.Event()

    def watch() -> None:
        while not done_event.is_set():
            for root, dirs, files in os.walk(temp):
                for name in dirs + files:
                    path = Path(root) / name
                    try:
                        seen[str(path.relative_to(temp))] = stat.S_IMODE(path.stat().st_mode)
                    except FileNotFoundError:
                        pass
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        done = run(["import", str(lines)], env)
    finally:
        done_event.set()
        watcher.join()
    assert done.returncode == 0, done.stderr
    staged = {name: mode for name, mode in seen.items() if name.endswith(".db")}
    assert staged, f"no staging file was seen: {sorted(seen)}"
    assert {name: mode for name, mode in seen.items() if mode not in (0o600, 0o700)} == {}


def test_a_policy_others_may_read_that_names_secret_variables_is_warned_about(cli, tmp_path):
    policy = secret_policy(tmp_path, free_port(), "http://127.0.0.1:9/sms")
    assert "Warning" not in cli("list").stderr
    policy.chmod(0o644)
    said = cli("list").stderr
    assert (
        "Warning: sla.toml is readable by others (mode 644) and names the secret variables "
        "SMS_AUTH, SMTP_PW: chmod 600 sla.toml"  # ./sla.toml, as found
    ) in said
    assert cli("list", "--json").json == []  # a warning, not a refusal
    write_policy(tmp_path).chmod(0o644)  # no secret variables: nothing to say
    assert "Warning" not in cli("list").stderr


def test_the_suite_itself_greps_outputs_for_the_secrets():
    """The grep cannot be silently off: a leaked secret in an output fails it."""
    import pytest

    with pytest.raises(AssertionError, match="shows a secret"):
        assert_no_secret(f"password={TEST_SECRETS['SMTP_PW']}")
    assert os.environ["SMTP_PW"] == TEST_SECRETS["SMTP_PW"]
