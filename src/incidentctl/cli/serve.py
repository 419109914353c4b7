"""``incidentctl serve``: intake over HTTP, on Starlette and uvicorn (the ``serve`` extra).

``POST /intake/alert`` and ``POST /intake/email`` take what ``intake alert`` and ``intake
email`` read on standard input; ``POST /intake/sms`` takes an inbound SMS (``ACK 42``
from a number the policy knows acknowledges 42). A bearer token from
``INCIDENTCTL_SERVE_TOKEN`` is required; bodies past the policy's limits are refused
before they are read whole; requests reach the store one at a time. ``handle_errors`` is
the one place an error becomes an HTTP status.
"""

from __future__ import annotations

import hmac
import re
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from incidentctl.cli.app import app
from incidentctl.cli.options import runtime, too_large
from incidentctl.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from incidentctl.runtime import Runtime

TOKEN_VARIABLE = "INCIDENTCTL_SERVE_TOKEN"
_ACK = re.compile(r"\s*ack\s+#?([0-9]{1,18})\s*", re.IGNORECASE)
_SMS_LIMIT = 16_384
_STATUS = {
    "invalid_input": 400,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "database": 503,  # busy or unreachable: Alertmanager and SMS providers retry
}


class TooLarge(InvalidInput):
    code = "too_large"


class Refused(Exception):
    """An HTTP refusal that is not the store's: 401, 403, 422."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def build_app(rt: Runtime, token: str) -> Starlette:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from incidentctl.output import documents
    from incidentctl.services import intake
    from incidentctl.times import to_rfc3339, utc_now

    one_at_a_time = threading.Lock()
    policy = rt.policy

    def now_runtime() -> Runtime:
        return rt.at(utc_now(rt.environ))

    def guarded(
        limit: int, handler: Callable[[Request, bytes], Any]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                _check_token(request, token)
                body = await _body(request, limit)

                def run() -> Any:
                    with one_at_a_time:
                        return handler(request, body)

                return JSONResponse(await run_in_threadpool(run))
            except Exception as error:  # noqa: BLE001 - every error has its status here
                return handle_errors(error)

        return endpoint

    def alert(request: Request, body: bytes) -> Any:
        here = now_runtime()
        return documents.intake_document(intake.take_alerts(here, body), here.now)

    def email(request: Request, body: bytes) -> Any:
        here = now_runtime()
        recipients = request.query_params.getlist("recipient")
        outcomes = intake.take_email(here, body, recipients=recipients)
        return documents.intake_document(outcomes, here.now)

    def sms(request: Request, body: bytes) -> Any:
        sender, text = _sms_fields(request, body)
        from incidentctl.domain import ContactChannel, IntakeAction
        from incidentctl.services import handling

        person = policy.person_at(sender, ContactChannel.SMS)
        if person is None:
            raise Refused(403, "unknown_sender", "this number is not one of the policy's contacts")
        asked = _ACK.fullmatch(text)
        if asked is None:
            raise Refused(422, "not_understood", "send ACK <incident id>, e.g. ACK 42")
        here = rt.at(utc_now(rt.environ), actor=person)
        incident = handling.acknowledge(here, int(asked[1]))
        return {
            "now": to_rfc3339(here.now),
            "incident": incident.id,
            "action": str(IntakeAction.ACKNOWLEDGED),
            "by": person,
        }

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/intake/alert", guarded(policy.intake.alert.max_bytes, alert), methods=["POST"]),
            Route("/intake/email", guarded(policy.intake.email.max_bytes, email), methods=["POST"]),
            Route("/intake/sms", guarded(_SMS_LIMIT, sms), methods=["POST"]),
        ]
    )


def handle_errors(error: Exception) -> Response:
    """The one place an error becomes an HTTP status and ``{"error", "message"}``."""
    from starlette.responses import JSONResponse

    from incidentctl.errors import IncidentctlError

    if isinstance(error, Refused):
        challenge = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(
            {"error": error.code, "message": error.message}, error.status, headers=challenge
        )
    if isinstance(error, IncidentctlError):
        status = _STATUS.get(error.code, 500)
        return JSONResponse({"error": error.code, "message": error.message}, status)
    import sys

    # (for the operator: the request and its body are not written)
    sys.stderr.write(f"incidentctl serve: unexpected {type(error).__name__}: {error}\n")
    return JSONResponse(
        {"error": "internal", "message": f"unexpected {type(error).__name__}"}, status_code=500
    )


def _check_token(request: Request, token: str) -> None:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), token.encode()
    ):
        raise Refused(401, "unauthorized", f"a bearer token ({TOKEN_VARIABLE}) is required")


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused (413) past ``limit`` before more of it is read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(too_large("the body", limit))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(too_large("the body", limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _sms_fields(request: Request, body: bytes) -> tuple[str, str]:
    """(sender, text) of an inbound SMS: a provider's form post (``From``, ``Body``, as
    Twilio sends) or JSON ``{"from", "text"}``."""
    import orjson

    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidInput("not JSON") from None
        sender, text = (
            (data.get("from"), data.get("text")) if isinstance(data, dict) else (None, None)
        )
    else:
        from urllib.parse import parse_qs

        form = parse_qs(body.decode("utf-8", "replace"))
        sender, text = form.get("From", [""])[0], form.get("Body", [""])[0]
    if not isinstance(sender, str) or not isinstance(text, str) or not sender.strip():
        raise InvalidInput('an SMS needs its sender and text ("From" and "Body", or JSON)')
    return sender, text


def _address(listen: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[?([^\[\]]+?)\]?:([0-9]{1,5})", listen.strip())
    if match is None or not 0 < int(match[2]) < 65536:
        raise InvalidInput(f"--listen {listen!r}: write HOST:PORT, e.g. 127.0.0.1:9095")
    return match[1], int(match[2])


@app.command("serve")
def serve(
    ctx: typer.Context,
    listen: Annotated[
        str,
        typer.Option(
            "--listen",
            metavar="HOST:PORT",
            help="Where to listen; loopback unless you name another address.",
        ),
    ] = "127.0.0.1:9095",
) -> None:
    """Take in alerts, emails and SMS replies over HTTP (Alertmanager's webhook receiver).

    POST /intake/alert (what `intake alert` reads), POST /intake/email (a raw message;
    ?recipient=ADDRESS), POST /intake/sms (a provider's From and Body: ACK 42 from a known
    number acknowledges 42). Every request needs the header Authorization: Bearer
    $INCIDENTCTL_SERVE_TOKEN. Stops on SIGTERM or Ctrl-C. Needs the serve extra:
    pip install 'incidentctl[serve]'. docs/intake.md has Alertmanager's configuration.

    Example:

        INCIDENTCTL_SERVE_TOKEN=$(cat /etc/incidentctl/token) incidentctl serve
    """
    rt = runtime(ctx)
    host, port = _address(listen)
    token = rt.environ.get(TOKEN_VARIABLE, "")
    if not token.strip():
        raise ConfigError(f"{TOKEN_VARIABLE} is not set: serve needs a bearer token to require")
    try:
        import uvicorn
    except ImportError:
        raise ConfigError(
            "serve needs Starlette and uvicorn: pip install 'incidentctl[serve]'"
        ) from None
    rt.db  # noqa: B018 - the database is opened (and migrated) before the first request
    web = build_app(rt, token.strip())
    # uvicorn stops gracefully on SIGTERM, then raises it again for the handler it found:
    # this one, so that a stop asked for is exit 0 rather than "killed by SIGTERM".
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(web, host=host, port=port, log_level="warning", access_log=False)
