"""Real faults, through the installed command: a full disk, a read-only database, SIGKILL
at random moments, PostgreSQL restarted under ``watch``, a webhook that hangs and an SMTP
server that drops the connection in the middle of DATA.

The disk faults need a file system of their own: a small tmpfs, mounted for the test
(root, as CI runs; skipped with the reason otherwise). PostgreSQL is restarted in a
private cluster (``initdb`` as the ``postgres`` user, on a free port), never the shared
server the rest of the suite uses.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from test_e2e import incidentctl_executable
from test_escalate import at, write_policy

T0 = "2026-11-25T03:00:00Z"


# --------------------------------------------------------------------------- helpers


def run(
    *args: str, env: dict[str, str], timeout: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``incidentctl ARGS`` as a real process."""
    return subprocess.run(
        [*incidentctl_executable(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        check=False,
    )


def environment(db: str | Path, now: str | None = T0, **more: str) -> dict[str, str]:
    env = {**os.environ, "INCIDENTCTL_DB": str(db), **more}
    if now:
        env["INCIDENTCTL_NOW"] = now
    return env


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"{done.args} exited {done.returncode}: {done.stderr}"
    return done


def state(env: dict[str, str]) -> list[Any]:
    """Every incident as ``show --json`` gives it (events and deliveries included)."""
    listed = json.loads(
        ok(
            run(
                "list",
                "--json",
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
                env=env,
            )
        ).stdout
    )
    return [json.loads(ok(run("show", str(i["id"]), "--json", env=env)).stdout) for i in listed]


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    """The command failed with ``code`` and said why in one line, no traceback."""
    said = done.stderr.strip()
    assert done.returncode == code, f"{done.args} exited {done.returncode}: {said}"
    assert len(said.splitlines()) == 1, said
    assert said.startswith("incidentctl: "), said
    assert "unexpected" not in said and "Traceback" not in said, said
    return said


def plain_lines(count: int, tag: str) -> str:
    """An NDJSON file's text: ``count`` plain incidents, their titles marked with ``tag``."""
    return "".join(
        json.dumps(
            {
                "title": f"{tag} line {i}",
                "service": "payments",
                "level": 3,
                "reported_at": "2026-11-20T00:00:00Z",
                "acknowledged_at": "2026-11-20T00:05:00Z",
            }
        )
        + "\n"
        for i in range(count)
    )


@contextmanager
def tmpfs(directory: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``directory`` for the block, unmounted after it."""
    directory.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (root or CAP_SYS_ADMIN needed): {done.stderr.strip()}")
    try:
        yield directory
    finally:
        if subprocess.run(["umount", str(directory)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(directory)], check=True)  # still busy: detach


def fill(directory: Path, room: int) -> Path:
    """Fill the file system of ``directory`` to the last byte, then give back ``room`` bytes."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:
            while True:  # the last partial block
                out.write(b"\0" * 512)
        except OSError:
            pass
    if room:
        os.truncate(filler, filler.stat().st_size - room)
    return filler


# --------------------------------------------------------------------------- servers


class SlowWebhook:
    """An HTTP server on loopback that records each POST as it arrives, waits ``delay``
    seconds, then answers 200 (``hang``: never answers while set)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.hang = threading.Event()
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.in_flight = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with outer.lock:
                    outer.received.append((time.monotonic(), body))
                    outer.in_flight += 1
                try:
                    if outer.hang.is_set():
                        outer.released.wait(120)  # a hung gateway: holds the connection
                        return
                    time.sleep(outer.delay)
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                finally:
                    with outer.lock:
                        outer.in_flight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def transport(self, path: str, timeout: str = "2s") -> dict[str, Any]:
        return {"type": "webhook", "url": f"http://127.0.0.1:{self.port}{path}", "timeout": timeout}

    def keys(self) -> Counter[str]:
        """How many times each delivery was received (a joined message carries several)."""
        with self.lock:
            return Counter(k for _, body in self.received for k in body["key"].split("+"))

    def __enter__(self) -> SlowWebhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def all_transports(server: SlowWebhook, timeout: str = "2s") -> dict[str, dict[str, Any]]:
    return {c: server.transport(f"/{c}", timeout) for c in ("email", "sms", "phone")}


# --------------------------------------------------------------------------- 1. a full disk

FAILING = [
    ("open", ["open", "Disk full", "--level", "1", "--service", "payments"]),
    ("note", ["note", "1", "written on a full disk"]),
    ("ack", ["ack", "2"]),
    ("escalate", ["escalate"]),
    ("import", ["import", "IMPORT"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("room", [0, 40 * 1024], ids=["no-room", "40KiB-left"])
def test_a_full_disk_is_a_clear_error_and_leaves_the_database_as_it_was(tmp_path, room):
    """On a disk with no room (not even for the -shm file) or room for a page or two but
    not a transaction, every write command exits 7 with one sentence; once there is room
    again the store holds exactly what it held before, and SQLite finds no damage."""
    source = tmp_path / "import.ndjson"
    source.write_text(plain_lines(5, "imported"))
    with SlowWebhook() as webhook, tmpfs(tmp_path / "disk", "2m") as disk:
        write_policy(tmp_path, all_transports(webhook))
        db = disk / "incidents.db"
        env = environment(db)
        for title in ("Checkout fails", "Search slow"):
            ok(run("open", title, "--level", "1", "--service", "payments", env=env))
        ok(run("note", "1", "before the disk filled", env=env))
        before = state(env)
        filler = fill(disk, room)
        later = environment(db, at(1))  # the initial notices are due
        for name, args in FAILING:
            args = [str(source) if a == "IMPORT" else a for a in args]
            said = one_line_error(run(*args, env=later), 7)
            assert f"database sqlite:///{db} cannot be written" in said, (name, said)
            assert "(is its disk full?)" in said
        assert webhook.received == []  # escalate failed before it sent anything
        filler.unlink()
        assert state(env) == before
        assert integrity(db) == "ok"
        ok(run("note", "1", "room again", env=env))  # and it works again


# --------------------------------------------------------------------------- 2. read-only


@pytest.mark.slow
def test_a_read_only_database_refuses_writes_and_still_reads(tmp_path):
    """A database on a file system mounted read-only (root ignores a file's mode, a
    read-only mount it cannot): writes exit 7 "is read-only", reads show everything."""
    source = tmp_path / "import.ndjson"
    source.write_text(plain_lines(3, "imported"))
    with tmpfs(tmp_path / "disk", "4m") as disk:
        db = disk / "incidents.db"
        env = environment(db)
        ok(run("open", "Checkout fails", "--level", "1", "--service", "payments", env=env))
        ok(run("open", "Search slow", "--level", "2", "--service", "search", env=env))
        ok(run("note", "1", "before the remount", env=env))
        before = state(env)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        later = environment(db, at(5))
        for args in (
            ["open", "Read-only", "--level", "1", "--service", "payments"],
            ["note", "1", "on a read-only disk"],
            ["ack", "2"],
            ["escalate"],
            ["import", str(source)],
        ):
            said = one_line_error(run(*args, env=later), 7)
            assert f"database sqlite:///{db} is read-only" in said, said
        done = run("ack", "2", "--json", env=later)
        assert done.returncode == 7
        assert json.loads(done.stderr)["error"] == "database"
        assert state(env) == before  # list and show read it
        board = ok(run("list", env=later)).stdout
        assert "Checkout fails" in board and "Search slow" in board
        assert sorted(os.listdir(disk)) == ["incidents.db"]  # nothing was written beside it
