"""Transports against real servers on loopback: SMTP (aiosmtpd), HTTP, a real program.

The servers here are also used by the escalate tests.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from incidentctl.config import CommandTransport, SmtpTransport, WebhookTransport
from incidentctl.notify.transports import Message, Result, send

# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    """aiosmtpd on 127.0.0.1; ``replies`` scripts the answers to DATA, then 250."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.replies: list[str] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.replies:
            return self.replies.pop(0)
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def transport(self, timeout: str = "3s") -> dict[str, Any]:
        return {
            "type": "smtp",
            "host": "127.0.0.1",
            "port": self.port,
            "from": "incidentctl@example.com",
            "timeout": timeout,
        }


@contextmanager
def smtp_running() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


class HttpServer:
    """An HTTP server on 127.0.0.1 recording every POST; ``statuses`` scripts the answers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with outer.lock:
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    if 200 <= status < 300:
                        outer.requests.append(
                            {
                                "path": self.path,
                                "headers": dict(self.headers),
                                "body": json.loads(body),
                            }
                        )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if path is None or r["path"] == path]


@contextmanager
def http_running() -> Iterator[HttpServer]:
    server = HttpServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


RECORDER = """\
import json, os, sys
fields = {k: v for k, v in os.environ.items() if k.startswith("INCIDENTCTL_")}
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps({"argv": sys.argv[1:], "stdin": sys.stdin.read(), "env": fields}) + "\\n")
sys.exit(int(os.environ.get("RECORDER_EXIT", "0")))
"""


def recorder(tmp_path: Path) -> tuple[list[str], Path]:
    """A real program that appends what it was given to a file: (argv, that file)."""
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    log = tmp_path / "calls.ndjson"
    return [sys.executable, str(script), str(log)], log


def calls(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with smtp_running() as server:
        yield server


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    with http_running() as server:
        yield server


@pytest.fixture
def silent_port() -> Iterator[int]:
    with silent_listener() as port:
        yield port


# --------------------------------------------------------------------------- tests

MESSAGE = Message(
    channel="email",
    to="chen.jie@example.com",
    cc=("om-team@example.com", "li.wei@example.com"),
    subject="[incidentctl] [#7] L1 payments: NEW - Checkout 502",
    text="[NEW] Incident #7 L1 Major · payments\nCheckout 502",
    incident=7,
    notice="initial",
    key="incidentctl:7:initial:0:email:chen.jie",
)


def test_smtp_one_message_with_to_cc_and_headers(smtp_server):
    result = send(SmtpTransport.model_validate(smtp_server.transport()), MESSAGE)
    assert result.outcome == "sent"
    [(rcpts, email)] = smtp_server.messages
    assert rcpts == ["chen.jie@example.com", "om-team@example.com", "li.wei@example.com"]
    assert email["To"] == "chen.jie@example.com"
    assert email["Cc"] == "om-team@example.com, li.wei@example.com"
    assert email["X-Incidentctl-Incident"] == "7"
    assert email["X-Incidentctl-Notice"] == "initial"
    assert email["Subject"] == MESSAGE.subject
    assert "Checkout 502" in email.get_payload(decode=True).decode()


def test_smtp_451_is_retried_and_550_is_permanent(smtp_server):
    transport = SmtpTransport.model_validate(smtp_server.transport())
    smtp_server.replies = ["451 4.3.0 try again later", "550 5.1.1 no such user"]
    first = send(transport, MESSAGE)
    assert (first.outcome, "451" in (first.error or "")) == ("retry", True)
    second = send(transport, MESSAGE)
    assert (second.outcome, "550" in (second.error or "")) == ("failed", True)
    assert smtp_server.messages == []
    assert send(transport, MESSAGE).outcome == "sent"
    assert len(smtp_server.messages) == 1


def test_smtp_down_or_hung_is_retried_within_the_timeout(silent_port):
    down = SmtpTransport.model_validate(
        {"type": "smtp", "host": "127.0.0.1", "port": free_port(), "from": "a@b", "timeout": "1s"}
    )
    assert send(down, MESSAGE).outcome == "retry"
    hung = SmtpTransport.model_validate(
        {"type": "smtp", "host": "127.0.0.1", "port": silent_port, "from": "a@b", "timeout": "1s"}
    )
    started = time.monotonic()
    result = send(hung, MESSAGE)
    assert result.outcome == "retry" and "timed out" in (result.error or "")
    assert time.monotonic() - started < 3


def test_smtp_password_comes_from_the_environment_variable(smtp_server):
    transport = SmtpTransport.model_validate(
        {**smtp_server.transport(), "username": "bot", "password_env": "SMTP_PW"}
    )
    result = send(transport, MESSAGE, environ={})
    assert result.outcome == "retry" and "SMTP_PW" in (result.error or "")
    assert smtp_server.messages == []


def test_webhook_body_headers_and_statuses(http_server, monkeypatch):
    transport = WebhookTransport.model_validate(
        {
            "type": "webhook",
            "url": http_server.url("/sms"),
            "headers": {"X-Team": "ops"},
            "headers_env": {"Authorization": "SMS_AUTH"},
            "timeout": "2s",
        }
    )
    sms = Message(
        channel="sms",
        to="+8613800000001",
        cc=(),
        subject="s",
        text="hello",
        incident=7,
        notice="initial",
        key="incidentctl:7:initial:0:sms:chen.jie",
    )
    http_server.statuses = [500, 429, 404]
    env = {"SMS_AUTH": "Bearer s3cret"}
    assert send(transport, sms, environ=env).outcome == "retry"
    assert send(transport, sms, environ=env).outcome == "retry"
    refused = send(transport, sms, environ=env)
    assert refused.outcome == "failed" and "404" in (refused.error or "")
    assert send(transport, sms, environ=env).outcome == "sent"
    [request] = http_server.requests
    assert request["body"] == {
        "channel": "sms",
        "to": "+8613800000001",
        "text": "hello",
        "incident": 7,
        "notice": "initial",
        "key": "incidentctl:7:initial:0:sms:chen.jie",
    }
    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert request["headers"]["X-Team"] == "ops"
    assert request["headers"]["Content-Type"] == "application/json"


def test_webhook_down_or_hung_is_retried_within_the_timeout(silent_port):
    for port in (free_port(), silent_port):
        transport = WebhookTransport.model_validate(
            {"type": "webhook", "url": f"http://127.0.0.1:{port}/sms", "timeout": "1s"}
        )
        started = time.monotonic()
        assert send(transport, MESSAGE).outcome == "retry"
        assert time.monotonic() - started < 3


def test_command_gets_stdin_env_and_argv_never_a_shell(tmp_path):
    argv, log = recorder(tmp_path)
    transport = CommandTransport.model_validate({"type": "command", "argv": [*argv, "$HOME;ls"]})
    environ = {"PATH": "/usr/bin:/bin", "INCIDENTCTL_SMTP_PASSWORD": "leak?"}
    assert send(transport, MESSAGE, environ=environ).outcome == "sent"
    [call] = calls(log)
    assert call["argv"] == [str(log), "$HOME;ls"]  # passed literally: no shell
    assert call["stdin"] == MESSAGE.text
    assert call["env"] == {
        "INCIDENTCTL_CHANNEL": "email",
        "INCIDENTCTL_TO": "chen.jie@example.com",
        "INCIDENTCTL_CC": "om-team@example.com, li.wei@example.com",
        "INCIDENTCTL_SUBJECT": MESSAGE.subject,
        "INCIDENTCTL_INCIDENT": "7",
        "INCIDENTCTL_NOTICE": "initial",
        "INCIDENTCTL_KEY": MESSAGE.key,
    }


def test_command_exit_codes_and_timeout(tmp_path):
    argv, log = recorder(tmp_path)
    transport = CommandTransport.model_validate({"type": "command", "argv": argv})
    assert send(transport, MESSAGE, environ={"RECORDER_EXIT": "75"}).outcome == "retry"
    assert send(transport, MESSAGE, environ={"RECORDER_EXIT": "1"}).outcome == "failed"
    missing = CommandTransport.model_validate({"type": "command", "argv": [str(tmp_path / "no")]})
    assert send(missing, MESSAGE).outcome == "retry"
    slow = CommandTransport.model_validate(
        {
            "type": "command",
            "argv": [sys.executable, "-c", "import time; time.sleep(30)"],
            "timeout": "1s",
        }
    )
    started = time.monotonic()
    result = send(slow, MESSAGE)
    assert result.outcome == "retry" and "timed out" in (result.error or "")
    assert time.monotonic() - started < 5


# --------------------------------------------------------------------------- smtp over TLS


def make_cert(directory: Path, san: str = "DNS:localhost,IP:127.0.0.1") -> tuple[Path, Path]:
    """A throw-away self-signed certificate (no CA) for ``san``: (cert, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed: cannot make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            f"subjectAltName={san}",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "keyUsage=critical,digitalSignature",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.fixture
def tls_cert(tmp_path) -> tuple[Path, Path]:
    return make_cert(tmp_path)


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class TlsSmtpServer(SmtpServer):
    """aiosmtpd on 127.0.0.1 speaking STARTTLS (required) or implicit TLS.

    With STARTTLS it also requires a login, ``bot`` / ``s3cret``, offered only after TLS.
    """

    def __init__(self, context: ssl.SSLContext, *, implicit: bool) -> None:
        from aiosmtpd.controller import Controller

        super().__init__()
        self.logins: list[tuple[bytes, bytes]] = []
        if implicit:
            self.controller = Controller(
                self, hostname="127.0.0.1", port=self.port, ssl_context=context
            )
        else:
            self.controller = Controller(
                self,
                hostname="127.0.0.1",
                port=self.port,
                tls_context=context,
                require_starttls=True,
                auth_required=True,
                auth_require_tls=True,
                authenticator=self.authenticate,
            )

    def authenticate(self, server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        from aiosmtpd.smtp import AuthResult

        ok = (auth_data.login, auth_data.password) == (b"bot", b"s3cret")
        if ok:
            self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=ok)


@contextmanager
def tls_smtp_running(context: ssl.SSLContext, *, implicit: bool) -> Iterator[TlsSmtpServer]:
    server = TlsSmtpServer(context, implicit=implicit)
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


def test_smtp_starttls_with_ca_file_and_login(tls_cert):
    cert, key = tls_cert
    with tls_smtp_running(server_tls_context(cert, key), implicit=False) as server:
        transport = SmtpTransport.model_validate(
            {
                **server.transport(),
                "host": "localhost",  # verified against the certificate's DNS:localhost
                "security": "starttls",
                "ca_file": str(cert),
                "username": "bot",
                "password_env": "SMTP_PW",
            }
        )
        result = send(transport, MESSAGE, environ={"SMTP_PW": "s3cret"})
        assert result == Result("sent")
        assert server.logins == [(b"bot", b"s3cret")]
        [(rcpts, email)] = server.messages
        assert rcpts == ["chen.jie@example.com", "om-team@example.com", "li.wei@example.com"]
        assert email["Subject"] == MESSAGE.subject


def test_smtp_ssl_with_ca_file(tls_cert):
    cert, key = tls_cert
    with tls_smtp_running(server_tls_context(cert, key), implicit=True) as server:
        transport = SmtpTransport.model_validate(
            {**server.transport(), "security": "ssl", "ca_file": str(cert)}
        )
        assert send(transport, MESSAGE) == Result("sent")
        [(_, email)] = server.messages
        assert email["X-Incidentctl-Key"] == MESSAGE.key


def test_smtp_untrusted_certificate_is_a_reported_retry_not_a_crash(tls_cert, tmp_path):
    # As the docs say for connection errors (and a refused login): retried, so fixing
    # the configuration (ca_file) loses nothing. Nothing is sent in the clear.
    cert, key = tls_cert
    with tls_smtp_running(server_tls_context(cert, key), implicit=False) as server:
        starttls = {**server.transport(), "security": "starttls"}
        untrusted = send(SmtpTransport.model_validate(starttls), MESSAGE)
        assert untrusted.outcome == "retry"
        assert "certificate verify failed" in (untrusted.error or "")
        missing = SmtpTransport.model_validate({**starttls, "ca_file": str(tmp_path / "no.pem")})
        result = send(missing, MESSAGE)
        assert result.outcome == "retry" and "no.pem" in (result.error or "")
        assert server.messages == [] and server.logins == []
    with tls_smtp_running(server_tls_context(cert, key), implicit=True) as server:
        ssl_only = {**server.transport(), "security": "ssl"}
        untrusted = send(SmtpTransport.model_validate(ssl_only), MESSAGE)
        assert untrusted.outcome == "retry"
        assert "certificate verify failed" in (untrusted.error or "")
        assert server.messages == []


def test_smtp_host_name_is_verified_against_the_certificate(tmp_path):
    # Trusted (ca_file) but issued for another name: refused, nothing sent.
    cert, key = make_cert(tmp_path, san="DNS:mail.example.com")
    with tls_smtp_running(server_tls_context(cert, key), implicit=True) as server:
        transport = SmtpTransport.model_validate(
            {**server.transport(), "security": "ssl", "ca_file": str(cert)}
        )
        result = send(transport, MESSAGE)
        assert result.outcome == "retry"
        assert "mismatch" in (result.error or "") and "127.0.0.1" in (result.error or "")
        assert server.messages == []
