"""Transports: send one message, say whether it was sent, should be retried, or failed.

Every transport has a timeout, for the whole send (``_Deadline``), and reports instead
of raising: ``Result.sent``, ``Result.retry(why)`` (transient: the outbox tries again
later) or ``Result.failed(why)`` (permanent: recorded and reported, never retried).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import IO, Any

from incidentctl.config import (
    CommandTransport,
    PrintTransport,
    SmtpTransport,
    Transport,
    WebhookTransport,
    secret_variables,
)
from incidentctl.domain import DeliveryStatus
from incidentctl.text import literal

# sysexits.h: "temporary failure, try again later" (what an MTA's delivery agent says).
EX_TEMPFAIL = 75


@dataclass(frozen=True)
class Message:
    """One delivery as a transport sees it."""

    channel: str
    to: str  # address(es): "a@x, b@x" for email, a phone number for sms / phone
    cc: tuple[str, ...]
    subject: str
    text: str
    incident: int
    notice: str
    key: str  # unique per delivery: lets a provider drop a repeat
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    outcome: DeliveryStatus  # sent, printed, retry or failed
    error: str | None = None

    @classmethod
    def retry(cls, why: str) -> Result:
        return cls(DeliveryStatus.RETRY, why)

    @classmethod
    def failed(cls, why: str) -> Result:
        return cls(DeliveryStatus.FAILED, why)


SENT = Result(DeliveryStatus.SENT)
PRINTED = Result(DeliveryStatus.PRINTED)


def send(
    transport: Transport | None,
    message: Message,
    *,
    environ: Mapping[str, str] = os.environ,
    stdout: IO[str] | None = None,
) -> Result:
    """Send ``message`` with ``transport`` (None: print it)."""
    if transport is None or isinstance(transport, PrintTransport):
        return send_print(message, stdout or sys.stdout)
    if isinstance(transport, SmtpTransport):
        result = send_smtp(transport, message, environ)
    elif isinstance(transport, WebhookTransport):
        result = send_webhook(transport, message, environ)
    elif isinstance(transport, CommandTransport):
        result = send_command(transport, message, environ)
    else:  # pragma: no cover
        return Result.failed(f"unknown transport {type(transport).__name__}")
    return _without_secrets(result, transport, environ)


def _without_secrets(result: Result, transport: Transport, environ: Mapping[str, str]) -> Result:
    """The error with the transport's secrets blanked: a server or a program may echo
    what it was sent, and the error is stored, shown and put in ``--json``."""
    if result.error is None:
        return result
    error = result.error
    for value in filter(None, (environ.get(name) for name in secret_variables(transport))):
        error = error.replace(value, "***")
    return Result(result.outcome, error)


class _Deadline:
    """The end of one send. A socket's timeout bounds each wait on the server, and a
    server that trickles a byte now and then starts it again with every byte: at the
    deadline the send's sockets are shut down, which ends any wait on them at once."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


# --------------------------------------------------------------------------- print


def send_print(message: Message, stream: IO[str]) -> Result:
    """The message on ``stream``, its long lines folded to the terminal's width (an SMS
    is one line of up to 160 characters) with the continuation indented."""
    import shutil
    import textwrap

    width = shutil.get_terminal_size((120, 24)).columns
    cc = f"\ncc: {', '.join(message.cc)}" if message.cc else ""
    head = f"--- {message.channel} to {literal(message.to)}{literal(cc)}"
    lines = [
        textwrap.fill(line, width, subsequent_indent="  ", break_on_hyphens=False)
        if len(line) > width
        else line
        for line in literal(message.text).splitlines()
    ]
    stream.write(head + "\n" + "\n".join(lines) + "\n")
    stream.flush()
    return PRINTED


# --------------------------------------------------------------------------- smtp


# A notice's Message-ID (``message_id``), as a reply's In-Reply-To names it.
REPLY_ID = re.compile(r"<incidentctl\.([0-9]{1,18})\.[0-9a-f]{24}@")


def message_id(message: Message, sender: str) -> str:
    """The notice's Message-ID: the same for every attempt at one delivery (a retry
    that did arrive is dropped by the receiving side), and naming the incident, so that
    a reply's In-Reply-To or References leads ``intake email`` to it (``replied_to``)."""
    digest = hashlib.sha256(message.key.encode()).hexdigest()[:24]
    domain = sender.rpartition("@")[2].strip("<> ") or "incidentctl.invalid"
    return f"<incidentctl.{message.incident}.{digest}@{domain}>"


def email_message(sender: str, message: Message) -> EmailMessage:
    """The email for a notice: To and Cc as the policy says, and the X-Incidentctl headers."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    if message.cc:
        email["Cc"] = ", ".join(message.cc)
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Message-ID"] = message_id(message, sender)
    email["X-Incidentctl-Incident"] = str(message.incident)
    email["X-Incidentctl-Notice"] = message.notice
    email["X-Incidentctl-Key"] = message.key
    email.set_content(message.text)
    return email


def send_smtp(config: SmtpTransport, message: Message, environ: Mapping[str, str]) -> Result:
    timeout = config.timeout.total_seconds()
    password = environ.get(config.password_env) if config.password_env else None
    if config.password_env and password is None:
        return Result.retry(f"environment variable {config.password_env} is not set")
    email = email_message(config.from_, message)
    recipients = [a.strip() for a in message.to.split(",") if a.strip()] + list(message.cc)
    where = f"{config.host}:{config.port}"
    context: ssl.SSLContext | None = None
    if config.security != "none":
        # Certificate and host name always verified; ca_file replaces the system's CAs.
        # Built before connecting: a bad ca_file fails without touching the server.
        try:
            context = ssl.create_default_context(cafile=config.ca_file)
        except OSError as exc:  # missing or unreadable file, no certificate in it
            # Retried like a certificate that does not verify: fixing it loses nothing.
            return Result.retry(f"SMTP {where}: ca_file {config.ca_file}: {_describe(exc)}")
    deadline = _Deadline(timeout)
    try:
        with deadline, _smtp_client(config, timeout, context, deadline) as client:
            if config.security == "starttls":
                client.starttls(context=context)
            if config.username and password is not None:
                client.login(config.username, password)
            refused = client.send_message(email, from_addr=config.from_, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        return _smtp_refusal(exc.recipients, where)
    except smtplib.SMTPAuthenticationError as exc:
        # Usually a wrong or rotated password: retried, so fixing it loses nothing.
        return Result.retry(f"SMTP {where}: login refused: {exc.smtp_code} {_text(exc.smtp_error)}")
    except smtplib.SMTPResponseException as exc:
        what = f"SMTP {where}: {exc.smtp_code} {_text(exc.smtp_error)}"
        return Result.failed(what) if 500 <= exc.smtp_code < 600 else Result.retry(what)
    except (smtplib.SMTPException, OSError) as exc:  # connection refused, timeout, TLS
        return Result.retry(f"SMTP {where}: {'timed out' if deadline.expired else _describe(exc)}")
    if refused:
        # Accepted for some recipients: the message went out; note who was refused.
        return Result(DeliveryStatus.SENT, "refused: " + ", ".join(sorted(refused)))
    return SENT


def _smtp_client(
    config: SmtpTransport, timeout: float, context: ssl.SSLContext | None, deadline: _Deadline
) -> smtplib.SMTP:
    """A connected client whose socket ``deadline`` watches (the plain one, before TLS)."""

    class Watched(smtplib.SMTP):
        def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
            sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
            return deadline.watch(sock)

    if config.security == "ssl":

        class WatchedSsl(smtplib.SMTP_SSL, Watched):
            pass

        return WatchedSsl(config.host, config.port, timeout=timeout, context=context)
    return Watched(config.host, config.port, timeout=timeout)


def _smtp_refusal(recipients: Mapping[str, tuple[int, bytes]], where: str) -> Result:
    codes = {address: code for address, (code, _) in recipients.items()}
    detail = ", ".join(
        f"{address}: {code} {_text(reply)}" for address, (code, reply) in recipients.items()
    )
    what = f"SMTP {where}: every recipient refused ({detail})"
    if all(500 <= code < 600 for code in codes.values()):
        return Result.failed(what)
    return Result.retry(what)


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return str(exc) or type(exc).__name__


# --------------------------------------------------------------------------- webhook


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET and lose the body: report it instead."""

    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def webhook_body(message: Message) -> dict[str, object]:
    """The JSON body of SPEC §4."""
    return {
        "channel": message.channel,
        "to": message.to,
        "text": message.text,
        "incident": message.incident,
        "notice": message.notice,
        "key": message.key,
    }


def send_webhook(config: WebhookTransport, message: Message, environ: Mapping[str, str]) -> Result:
    headers = {"Content-Type": "application/json", "User-Agent": "incidentctl"}
    headers.update(config.headers)
    for name, variable in config.headers_env.items():
        value = environ.get(variable)
        if value is None:
            return Result.retry(f"environment variable {variable} (header {name}) is not set")
        headers[name] = value
    body = json.dumps(webhook_body(message), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(config.url, data=body, headers=headers, method="POST")
    timeout = config.timeout.total_seconds()
    deadline = _Deadline(timeout)
    opener = urllib.request.build_opener(_NoRedirect, *_watched_handlers(deadline))
    where = _safe_url(config.url)
    try:
        with deadline, opener.open(request, timeout=timeout) as response:
            response.read(65536)
            status = response.status
            if deadline.expired:  # cut off: what came is not the whole answer
                raise TimeoutError
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        said = _describe(reason) if isinstance(reason, BaseException) else str(reason)
        return Result.retry(f"POST {where}: {'timed out' if deadline.expired else said}")
    if 200 <= status < 300:
        return SENT
    what = f"POST {where}: HTTP {status}"
    if status == 429 or status >= 500 or status == 408:
        return Result.retry(what)
    return Result.failed(what)


def _watched_handlers(deadline: _Deadline) -> list[urllib.request.BaseHandler]:
    """urllib's HTTP and HTTPS handlers, with each connection's socket watched by
    ``deadline`` from the moment it connects."""

    def watched(http_class: Any) -> Any:
        class Connection(http_class):  # type: ignore[misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                create = self._create_connection  # type: ignore[has-type]
                self._create_connection = lambda *a, **k: deadline.watch(create(*a, **k))

        return Connection

    class Http(urllib.request.HTTPHandler):
        def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
            return super().do_open(watched(http_class), req, **kwargs)

    class Https(urllib.request.HTTPSHandler):
        def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
            return super().do_open(watched(http_class), req, **kwargs)

    return [Http(), Https()]


def _safe_url(url: str) -> str:
    """The URL without its query string (which may carry a token)."""
    return url.split("?", 1)[0]


# --------------------------------------------------------------------------- command


def command_environment(message: Message, environ: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment without its INCIDENTCTL_* variables, plus the fields."""
    env = {k: v for k, v in environ.items() if not k.startswith("INCIDENTCTL_")}
    env.update(
        INCIDENTCTL_CHANNEL=message.channel,
        INCIDENTCTL_TO=message.to,
        INCIDENTCTL_CC=", ".join(message.cc),
        INCIDENTCTL_SUBJECT=message.subject,
        INCIDENTCTL_INCIDENT=str(message.incident),
        INCIDENTCTL_NOTICE=message.notice,
        INCIDENTCTL_KEY=message.key,
    )
    return env


def send_command(config: CommandTransport, message: Message, environ: Mapping[str, str]) -> Result:
    argv = list(config.argv)
    try:
        done = subprocess.run(  # never through a shell
            argv,
            input=message.text.encode("utf-8"),
            env=command_environment(message, environ),
            capture_output=True,
            timeout=config.timeout.total_seconds(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Result.retry(f"{argv[0]}: timed out after {config.timeout.total_seconds():g}s")
    except OSError as exc:
        return Result.retry(f"{argv[0]}: cannot run: {exc.strerror or exc}")
    if done.returncode == 0:
        return SENT
    said = done.stderr.decode("utf-8", "replace").strip().splitlines()
    detail = f": {said[-1][:200]}" if said else ""
    if done.returncode < 0:
        return Result.retry(f"{argv[0]}: killed by signal {-done.returncode}{detail}")
    what = f"{argv[0]}: exit {done.returncode}{detail}"
    return Result.retry(what) if done.returncode == EX_TEMPFAIL else Result.failed(what)
