"""``incidentctl serve`` in a subprocess on a free loopback port (for the serve and the
Alertmanager tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from test_e2e import incidentctl_executable
from test_notify_transports import free_port

TOKEN = "serve-test-token-3f9a"


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    stderr: str = ""  # what serve wrote there, once it has stopped

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def post(
        self,
        path: str,
        body: bytes,
        *,
        token: str | None = TOKEN,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        import json

        request = urllib.request.Request(self.url(path), data=body, method="POST")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@contextmanager
def serving(db: str, cwd: Path, env: Mapping[str, str] | None = None) -> Iterator[Served]:
    """The server, until it answers /healthz (at most 20 s); stopped with SIGTERM after
    (then ``stderr`` holds what it wrote there)."""
    port = free_port()
    environment = {
        **os.environ,
        "INCIDENTCTL_DB": db,
        "INCIDENTCTL_SERVE_TOKEN": TOKEN,
        **(env or {}),
    }
    process = subprocess.Popen(
        [*incidentctl_executable(), "serve", "--listen", f"127.0.0.1:{port}"],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    served = Served(process, port, environment)
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(served.url("/healthz"), timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                _, err = process.communicate()
                raise AssertionError(f"serve did not start: {err.decode()}") from None
            time.sleep(0.1)
    try:
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        from conftest import assert_no_secret

        for stream in (out, err):
            assert_no_secret(stream, what="serve's log")
        served.stderr = err.decode(errors="replace")
