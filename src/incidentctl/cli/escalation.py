"""Notification commands: escalate (one pass, for cron) and watch (the same pass in a loop)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from incidentctl.cli.app import app
from incidentctl.cli.options import JsonOption, runtime

if TYPE_CHECKING:
    from incidentctl.runtime import Runtime
    from incidentctl.services.escalation import Attempt, PassReport

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what is due; send and record nothing.")
]


def _pass(rt: Runtime, *, now: Any, dry_run: bool, as_json: bool, **hooks: Any) -> PassReport:
    from incidentctl.services.escalation import run_pass
    from incidentctl.times import utc_now

    return run_pass(
        rt.db,
        rt.policy,
        now=now,
        clock=lambda: utc_now(rt.environ),
        environ=rt.environ,
        # `--json` keeps stdout for the one JSON document: printed notices go to stderr.
        print_stream=sys.stderr if as_json else sys.stdout,
        dry_run=dry_run,
        **hooks,
    )


def _fail_if_undelivered(report: PassReport) -> None:
    from incidentctl.errors import DeliveryFailed

    if report.failed and not report.dry_run:
        raise DeliveryFailed(
            f"{report.failed} deliveries failed or wait for a retry "
            "(see `incidentctl show ID` for each incident's deliveries)"
        )


@app.command("escalate")
def escalate(
    ctx: typer.Context, dry_run: DryRunOption = False, as_json: JsonOption = False
) -> None:
    """Send every notification that is due, once, and retry failed ones whose time has come.

    Made for cron, every minute (docs/notifications.md has the crontab line). Exit 6
    when a delivery failed or waits for a retry.

    Example:

        flock -n /tmp/escalate.lock incidentctl escalate --json | jq .failed
    """
    from incidentctl.output import documents, terminal

    rt = runtime(ctx)
    rt.policy  # noqa: B018 - a bad policy is refused before the store is touched
    from incidentctl.services.escalation import pass_health

    health = pass_health(rt.db, rt.policy, now=rt.now)
    report = _pass(
        rt,
        now=rt.now,
        dry_run=dry_run,
        as_json=as_json,
        on_attempt=None if as_json else (lambda a: print(terminal.attempt_line(a), flush=True)),
    )
    if as_json:
        document = documents.pass_document(report)
        # (as this pass found it: was escalation known to run before it?)
        document["escalation"] = documents.pass_health_document(health)
        documents.write_json(document)
    else:
        print(terminal.summary_line(report))
    _fail_if_undelivered(report)


@app.command("watch")
def watch(
    ctx: typer.Context,
    interval: Annotated[
        str, typer.Option("--interval", help="Time between passes: 30s, 1m, 5m.")
    ] = "60s",
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
) -> None:
    """Send due notifications continuously: a pass every --interval until SIGINT/SIGTERM.

    Stops within a second or two of a signal, giving back what it had claimed. Prints
    one line per delivery (one JSON document per pass with --json), or a live board
    when stdout is a terminal.

    Example:

        incidentctl watch --interval 30s
    """
    import signal
    import threading
    import time

    from incidentctl.cli import report_error
    from incidentctl.errors import DatabaseUnavailable, ExitStatus, InvalidInput
    from incidentctl.output import terminal
    from incidentctl.services.escalation import Interrupted, new_owner
    from incidentctl.times import parse_duration, utc_now

    try:
        period = parse_duration(interval).total_seconds()
    except ValueError as exc:
        raise InvalidInput(f"--interval: {exc}") from None
    rt = runtime(ctx)
    rt.policy  # noqa: B018
    rt.db  # noqa: B018 - open (and migrate) the store once, before the loop

    # One lease owner for every pass: a pass the database failed under leaves its claims
    # behind, and the next pass takes them up (passes of one watch never overlap).
    owner = new_owner()
    stop = threading.Event()
    state: dict[str, Any] = {"sending": False, "signal": None}

    def on_signal(signum: int, _frame: Any) -> None:
        state["signal"] = signum
        stop.set()
        if state["sending"]:
            raise Interrupted()  # abandon a send that waits on a slow server

    def sending(active: bool) -> None:
        state["sending"] = active

    board = terminal.WatchBoard(rt.environ) if sys.stdout.isatty() and not as_json else None
    previous = {}
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    last: PassReport | None = None
    try:
        if board:
            board.start()
        next_pass = time.monotonic()
        while not stop.is_set():

            def show(attempt: Attempt) -> None:
                if board:
                    board.add(attempt)
                elif not as_json:
                    print(terminal.attempt_line(attempt), flush=True)

            try:
                last = _pass(
                    rt,
                    now=utc_now(rt.environ),
                    dry_run=dry_run,
                    as_json=as_json,
                    on_attempt=show,
                    stopping=stop.is_set,
                    sending=sending,
                    owner=owner,
                )
            except DatabaseUnavailable as exc:
                if once:
                    raise
                # A database restart must not end the watch: say so, try again next time.
                report_error(exc.code, exc.message, as_json=as_json)
                last = None
            if as_json and last is not None:
                from incidentctl.output import documents

                print(documents.dumps(documents.pass_document(last), indent=None), flush=True)
            if once:
                break
            next_pass += period
            now_mono = time.monotonic()
            if next_pass < now_mono:  # a pass ran long: carry on, never a burst of passes
                next_pass = now_mono
            if board:
                board.waiting(next_pass - now_mono)
            stop.wait(next_pass - now_mono)
    finally:
        if board:
            board.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if state["signal"] == signal.SIGINT:
        raise typer.Exit(ExitStatus.INTERRUPTED)
    if once and last is not None:
        _fail_if_undelivered(last)
