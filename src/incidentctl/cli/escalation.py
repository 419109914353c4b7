"""Notification commands: escalate (one pass, for cron) and watch (the same pass in a loop)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from incidentctl.cli.app import app
from incidentctl.cli.options import JsonOption, runtime

if TYPE_CHECKING:
    from incidentctl.notify.escalation import Attempt, PassReport
    from incidentctl.runtime import Runtime

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what is due; send and record nothing.")
]


def attempt_line(attempt: Attempt) -> str:
    """One delivery, one line: ``sent     #7 initial email chen.jie@example.com``."""
    from incidentctl.render import literal

    notice = f"{attempt.notice}#{attempt.sequence}" if attempt.sequence else attempt.notice
    cc = f" (cc {', '.join(attempt.cc)})" if attempt.cc else ""
    error = f": {attempt.error}" if attempt.error else ""
    where = f"{attempt.channel} {attempt.to}{cc}"
    return literal(f"{attempt.status:<8} #{attempt.incident} {notice} {where}{error}")


def summary_line(report: PassReport) -> str:
    if report.dry_run:
        return f"{len(report.deliveries)} deliveries due (dry run: nothing sent or recorded)."
    if not report.deliveries:
        return "Nothing due."
    retry = sum(a.status == "retry" for a in report.deliveries)
    failed = report.failed - retry
    return f"{report.sent} sent, {failed} failed, {retry} waiting for a retry."


def _pass(rt: Runtime, *, now: Any, dry_run: bool, as_json: bool, **hooks: Any) -> PassReport:
    from incidentctl.notify.escalation import run_pass
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

        flock -n /tmp/incidentctl-escalate.lock incidentctl escalate --json | jq .failed
    """
    rt = runtime(ctx)
    rt.policy  # noqa: B018 - a bad policy is refused before the store is touched
    report = _pass(
        rt,
        now=rt.now,
        dry_run=dry_run,
        as_json=as_json,
        on_attempt=None if as_json else (lambda a: print(attempt_line(a), flush=True)),
    )
    if as_json:
        from incidentctl import render

        render.write_json(report.document())
    else:
        print(summary_line(report))
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
    from incidentctl.notify.escalation import Interrupted
    from incidentctl.times import parse_duration, utc_now

    try:
        period = parse_duration(interval).total_seconds()
    except ValueError as exc:
        raise InvalidInput(f"--interval: {exc}") from None
    rt = runtime(ctx)
    rt.policy  # noqa: B018
    rt.db  # noqa: B018 - open (and migrate) the store once, before the loop

    stop = threading.Event()
    state: dict[str, Any] = {"sending": False, "signal": None}

    def on_signal(signum: int, _frame: Any) -> None:
        state["signal"] = signum
        stop.set()
        if state["sending"]:
            raise Interrupted()  # abandon a send that waits on a slow server

    def sending(active: bool) -> None:
        state["sending"] = active

    board = _Board(rt) if sys.stdout.isatty() and not as_json else None
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
                    print(attempt_line(attempt), flush=True)

            try:
                last = _pass(
                    rt,
                    now=utc_now(rt.environ),
                    dry_run=dry_run,
                    as_json=as_json,
                    on_attempt=show,
                    stopping=stop.is_set,
                    sending=sending,
                )
            except DatabaseUnavailable as exc:
                if once:
                    raise
                # A database restart must not end the watch: say so, try again next time.
                report_error(exc.code, exc.message, as_json=as_json)
                last = None
            if as_json and last is not None:
                from incidentctl import render

                print(render.dumps(last.document(), indent=None), flush=True)
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


class _Board:
    """The live view on a terminal: the latest deliveries and when the next pass runs."""

    def __init__(self, rt: Runtime) -> None:
        from rich.live import Live

        from incidentctl import render

        self.rt = rt
        self.rows: list[Attempt] = []
        self.note = "first pass…"
        self.live = Live(console=render.console(), auto_refresh=False, transient=False)

    def start(self) -> None:
        self.live.start()
        self.refresh()

    def stop(self) -> None:
        self.live.stop()

    def add(self, attempt: Attempt) -> None:
        self.rows = [*self.rows[-19:], attempt]
        self.refresh()

    def waiting(self, seconds: float) -> None:
        from incidentctl.times import to_rfc3339, utc_now

        self.note = (
            f"last pass {to_rfc3339(utc_now(self.rt.environ))}; "
            f"next in {max(0, round(seconds))}s · Ctrl-C to stop"
        )
        self.refresh()

    def refresh(self) -> None:
        from rich.table import Table
        from rich.text import Text

        from incidentctl.render import literal

        styles = {"sent": "green", "printed": "green", "retry": "yellow", "failed": "bold red"}
        table = Table(
            title="incidentctl watch", caption=self.note, show_edge=False, header_style="bold"
        )
        for name in ("Status", "Incident", "Notice", "Channel", "To", "Error"):
            table.add_column(name, overflow="fold")
        for a in self.rows:
            table.add_row(
                Text(a.status, style=styles.get(a.status, "")),
                f"#{a.incident}",
                f"{a.notice}#{a.sequence}" if a.sequence else a.notice,
                a.channel,
                Text(literal(a.to)),
                Text(literal(a.error or "")),
            )
        self.live.update(table, refresh=True)
