"""Human output on the terminal: incident tables and summaries, ``show``, the lines of
an escalate pass and the live ``watch`` board.

Everything goes through Rich with markup off, and every piece of text a user typed
passes ``literal()`` first, so no markup is interpreted and no control byte reaches
the terminal.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from incidentctl.domain import (
    ClockName,
    ClockState,
    DeliveryStatus,
    EventKind,
    IntakeAction,
    StepKind,
)
from incidentctl.output.documents import down_again_of, sla_of
from incidentctl.output.text import human_time
from incidentctl.policy.clocks import CLOCKS, stored_clocks
from incidentctl.text import literal, one_line
from incidentctl.times import format_duration


def console(stderr: bool = False):  # type: ignore[no-untyped-def]
    """A Rich console on the current streams: markup, emoji and highlighting off."""
    from rich.console import Console

    class Quiet(Console):
        def on_broken_pipe(self) -> None:
            # Rich exits 1; the CLI decides (a reader that stopped reading is no failure).
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty():
        width = int(os.environ.get("COLUMNS", "120"))
    return Quiet(
        file=stream, markup=False, emoji=False, highlight=False, width=width, soft_wrap=False
    )


def countdown(due: datetime, now: datetime) -> str:
    """``in 7m`` before the due time, ``12m overdue`` after it."""
    delta = due - now
    seconds = int(delta.total_seconds())
    if seconds > 0:
        return f"in {_short(seconds)}"
    return f"{_short(-seconds)} overdue" if seconds < 0 else "due now"


def _short(seconds: int) -> str:
    """Two units at most: a countdown is read at a glance."""
    text = format_duration(timedelta(seconds=seconds if seconds < 3600 else seconds // 60 * 60))
    units = re.findall(r"\d+[dhms]", text)
    return "".join(units[:2])


STATE_STYLE = {
    ClockState.RUNNING: "yellow",
    ClockState.MET: "green",
    ClockState.BREACHED: "bold red",
    ClockState.CANCELLED: "dim",
    ClockState.PAUSED: "cyan",
}


def clock_cell(sla: Mapping[str, Any], incident: Any, clock: str, now: datetime):  # type: ignore[no-untyped-def]
    from rich.text import Text

    state = sla[clock]["state"]
    due = getattr(incident, f"{clock}_due_at")
    stopped = getattr(incident, f"{clock}_stopped_at")
    if stopped is None and due is not None:
        return Text(countdown(due, now), style=STATE_STYLE[state])
    return Text(state, style=STATE_STYLE[state])


# The board's and list's columns: these are never cut; the title takes what is left
# (shortened with …); the optional ones are shown as the width allows, and dropped
# from the end of this list first.
_ALWAYS = ("ID", "Lvl", "Status", "Next")
_OPTIONAL = ("Service", "Assignee", "Response", "Recovery", "Resolution")
_TITLE_MIN = 12  # cells the title keeps however narrow the terminal
_TITLE_WANT = 30  # cells of the title kept before an optional column is added
_TITLE_LEAST = 4  # "Nig…": the least a title is cut to
_GAP = 3  # between two columns: " │ "


def fitted_table(  # type: ignore[no-untyped-def]
    rows: list[dict[str, Any]],
    *,
    order: tuple[str, ...],
    always: tuple[str, ...],
    optional: tuple[str, ...],
    width: int,
    title: str | None = None,
    flexible: str = "Title",
):
    """A table of one line per row in ``width`` cells: the ``always`` columns whole, the
    ``optional`` ones while they fit (the last dropped first), and the ``flexible`` one
    (the title) in what is left, shortened with ….  Cells are Rich ``Text``."""
    from rich.cells import cell_len
    from rich.table import Table

    def natural(name: str) -> int:
        return max([cell_len(name), *(cell_len(row[name].plain) for row in rows)])

    used = sum(natural(name) + _GAP for name in always)
    shown = {*always, flexible}
    # the title keeps what a reader needs of it before any optional column is added
    wanted = min(natural(flexible), _TITLE_WANT) if flexible in order else 0
    for name in optional:
        need = natural(name) + _GAP
        if used + need + max(_TITLE_MIN, wanted) <= width:
            shown.add(name)
            used += need
    table = Table(
        title=title, title_justify="left", show_edge=False, pad_edge=False, header_style="bold"
    )
    columns = [name for name in order if name in shown]
    for name in columns:
        if name == flexible:
            # at the narrowest widths the title gives way, never the whole columns
            room = max(_TITLE_LEAST, min(natural(name), width - used))
            table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=room)
        else:
            table.add_column(name, no_wrap=True, min_width=natural(name))
    for row in rows:
        table.add_row(*(row[name] for name in columns))
    return table


def next_deadline(
    incident: Any, now: datetime, approval_levels: Collection[int] = ()
) -> tuple[str, ClockState | None]:
    """The nearest running clock: ``recovery in 1h28m``, ``response 15m overdue``; once
    none runs, who the incident waits for (``awaits approval``: a level in
    ``approval_levels``; ``awaits confirmation``: the reporter), or, when its service is
    down again, the recovery target counted from then; else ``—``."""
    if incident.closed_at is not None or incident.cancelled_at is not None:
        return "—", None
    running = [
        (getattr(incident, f"{clock}_due_at"), str(clock))
        for clock in stored_clocks(incident)
        if getattr(incident, f"{clock}_stopped_at") is None
        and getattr(incident, f"{clock}_due_at") is not None
    ]
    paused = incident.paused_at
    if paused is not None and not any(due <= now for due, _ in running):
        # waiting on someone else: that is what a reader needs, unless a clock is overdue
        return f"paused since {human_time(paused, now)}", ClockState.PAUSED
    if incident.down_due_at is not None:
        # down again (reopen --down): the level's recovery target from then
        running.append((incident.down_due_at, str(ClockName.RECOVERY)))
    if not running:
        if incident.resolved_at is not None:
            waiting = incident.level in approval_levels and incident.approved_at is None
            return ("awaits approval" if waiting else "awaits confirmation"), None
        return "—", None
    due, clock = min(running)
    state = ClockState.BREACHED if due <= now else ClockState.RUNNING
    return f"{clock} {countdown(due, now)}", state


def incident_table(  # type: ignore[no-untyped-def]
    incidents: Iterable[Any],
    now: datetime,
    *,
    title: str | None = None,
    width: int = 200,
    approval_levels: Collection[int] = (),
):
    """One line per incident in ``width`` cells (see ``_ALWAYS`` and ``_OPTIONAL``)."""
    from rich.text import Text

    rows = []
    for incident in incidents:
        sla = sla_of(incident, now)
        upcoming, state = next_deadline(incident, now, approval_levels)
        rows.append(
            {
                "ID": Text(str(incident.id)),
                "Lvl": Text(str(incident.level)),
                "Status": Text(str(incident.status)),
                "Next": Text(upcoming, style=STATE_STYLE[state] if state else ""),
                "Service": Text(literal(incident.service)),
                "Assignee": Text(literal(incident.assignee or "—")),
                "Title": Text(literal(incident.title)),
                **{clock.capitalize(): clock_cell(sla, incident, clock, now) for clock in CLOCKS},
            }
        )

    return fitted_table(
        rows,
        order=(*_ALWAYS, "Title", *_OPTIONAL),
        always=_ALWAYS,
        optional=_OPTIONAL,
        width=width,
        title=title,
    )


def print_incidents(
    incidents: Iterable[Any],
    now: datetime,
    *,
    title: str | None = None,
    approval_levels: Collection[int] = (),
) -> int:
    rows = list(incidents)
    out = console()
    if not rows:
        out.print("No incidents.")
        return 0
    out.print(
        incident_table(rows, now, title=title, width=out.width, approval_levels=approval_levels)
    )
    return len(rows)


def print_incident(incident: Any, now: datetime, *, headline: str | None = None) -> None:
    """A short summary: what happened and where each clock stands."""
    from rich.text import Text

    out = console()
    if headline:
        out.print(Text(literal(headline), style="bold"))  # it may name what a user typed
    out.print(
        Text(f"#{incident.id} ", style="bold")
        + Text(literal(incident.title))
        + Text(f"  [Level {incident.level}, {incident.status}]")
    )
    out.print(
        Text(
            f"  service {literal(incident.service)} · owner {literal(incident.assignee or '—')}"
            f" ({incident.team}) · reported {human_time(incident.reported_at, now)}"
        )
    )
    _print_clocks(out, incident, now)


def _print_clocks(out: Any, incident: Any, now: datetime) -> None:
    from rich.text import Text

    sla = sla_of(incident, now)
    for clock in stored_clocks(incident):
        due = getattr(incident, f"{clock}_due_at")
        stopped = getattr(incident, f"{clock}_stopped_at")
        state = sla[clock]["state"]
        line = Text(f"  {clock:<11}") + Text(f"{state:<9}", style=STATE_STYLE[state])
        if due is None:  # paused: no due time until it resumes
            line += Text(f" since {human_time(incident.paused_at, now)}")
        else:
            line += Text(f" due {human_time(due, now)}")
        if stopped is None and due is not None:
            line += Text(f" ({countdown(due, now)})")
        elif stopped is not None:
            line += Text(f", stopped {human_time(stopped, now)}")
        out.print(line)
    if incident.paused_at is not None:
        line = Text("  paused     ", style=STATE_STYLE[ClockState.PAUSED])
        line += Text(f"since {human_time(incident.paused_at, now)}")
        out.print(line + Text(f", {incident.pause_reason} (incidentctl resume {incident.id})"))
    again = down_again_of(incident, now)
    if again is not None:  # the first verdict above stands; this is the outage now
        state = again["state"]
        line = Text("  recovery   ") + Text(f"{'again':<9}", style=STATE_STYLE[state])
        if incident.down_due_at is None:
            line += Text(" paused, down again since ")
        else:
            line += Text(f" due {human_time(incident.down_due_at, now)}")
            line += Text(f" ({countdown(incident.down_due_at, now)}), down again since ")
        out.print(line + Text(human_time(incident.down_again_at, now)))


def event_summary(event: Any) -> str:
    """One line saying what an event did, for timelines (terminal and review)."""
    data = event.data or {}
    parts: dict[str, Callable[[], str]] = {
        EventKind.OPENED: lambda: (
            f"Level {data.get('level')}, service {data.get('service')}"
            + (f", from intake ({data['intake']})" if data.get("intake") else "")
            + (f", follows #{data['follows']} (closed)" if data.get("follows") else "")
        ),
        EventKind.ACKNOWLEDGED: lambda: f"owner {data.get('assignee')}",
        EventKind.ASSIGNED: lambda: f"to {data.get('to')}",
        EventKind.NOTE: lambda: f"[{data.get('kind')}] {data.get('text')}",
        EventKind.TRANSFERRED: lambda: (
            f"to {data.get('to')} ({data.get('team')}): {data.get('reason')}"
        ),
        EventKind.RELEVELLED: lambda: (
            f"Level {data.get('previous')} → {data.get('to')}: {data.get('reason')}"
        ),
        EventKind.RECOVERED: lambda: "implied by the solution" if data.get("implied_by") else "",
        EventKind.RESOLVED: lambda: str(data.get("solution")),
        EventKind.CLOSED: lambda: f"confirmed by {data.get('confirmed_by')}",
        EventKind.REOPENED: lambda: (
            f"{data.get('reason')} (the service is down again)"
            if data.get("down")
            else str(data.get("reason"))
        ),
        EventKind.CANCELLED: lambda: str(data.get("reason")),
        EventKind.EDITED: lambda: "; ".join(
            f"{name} {change.get('previous')!r} → {change.get('to')!r}"
            for name, change in (data.get("changes") or {}).items()
        ),
        EventKind.PROBLEM: lambda: (
            f"{data.get('ref')} ({data.get('reason')})"
            + (
                f", corrected from {data['previous_ref']} ({data.get('previous_reason')})"
                if data.get("previous_ref")
                else ""
            )
        ),
        EventKind.NOTIFIED: lambda: (
            f"{data.get('notice')} #{data.get('sequence')}, {data.get('deliveries')} deliveries"
        ),
    }
    summary = parts.get(event.kind)
    return summary() if summary else ", ".join(f"{k}={v}" for k, v in data.items())


def print_record(record: Any, now: datetime) -> None:
    """``show``: the incident, its clocks, its timeline and its deliveries."""
    from rich.table import Table
    from rich.text import Text

    incident = record.incident
    out = console()
    print_incident(incident, now)
    if incident.cancelled_at is not None:
        reason = incident.cancel_reason or ""
        original = incident.duplicate_of
        said = original is None or f"incident {original}" in reason
        duplicate = "" if said else f" (duplicate of #{original})"
        out.print(
            Text(f"  cancelled {human_time(incident.cancelled_at, now)}: ")
            + Text(literal(reason))
            + Text(duplicate)
        )
    for label, name in (
        ("channel", "channel"),
        ("details", "details"),
        ("reporter", "reporter"),
        ("contact", "contact"),
        ("solution", "solution"),
        ("approved by", "approved_by"),
        ("confirmed by", "confirmed_by"),
        ("policy version", "policy_version"),  # (whose levels its clocks follow)
    ):
        value = getattr(incident, name)
        if value:  # (the lines of a long text under its first, not at the margin)
            indent = "\n" + " " * (len(label) + 4)
            out.print(Text(f"  {label}: ") + Text(literal(value).replace("\n", indent)))
    if incident.problem_ref:
        out.print(Text("  problem: ") + Text(literal(problem_summary(record))))
    timeline = Table(title="Timeline", show_edge=False, pad_edge=False, header_style="bold")
    for name in ("When", "Event", "By", "What"):
        timeline.add_column(name, overflow="fold")
    for event in record.events:
        timeline.add_row(
            human_time(event.at, now),
            event.kind,
            Text(literal(event.actor)),
            Text(literal(event_summary(event))),
        )
    out.print()
    out.print(timeline)
    if record.deliveries:
        deliveries = Table(title="Deliveries", show_edge=False, pad_edge=False, header_style="bold")
        for name in ("Notice", "Channel", "To", "Status", "When", "Error"):
            deliveries.add_column(name, overflow="fold")
        for d in record.deliveries:
            deliveries.add_row(
                f"{d.notice} #{d.sequence}",  # as the timeline's "notified" events say
                d.channel,
                Text(literal(d.recipient)),
                d.status,
                human_time(d.sent_at or d.next_attempt_at, now),
                Text(literal(d.error or "")),
            )
        out.print()
        out.print(deliveries)


def problem_summary(record: Any) -> str:
    """``PRB-8 (recurring), earlier PRB-7; also incidents 13, 14``: the problem now, the
    references it was corrected from, and the other incidents under it."""
    incident = record.incident
    earlier: list[str] = []
    for event in record.events:
        ref = event.data.get("ref") if event.kind == EventKind.PROBLEM else None
        if ref and ref != incident.problem_ref and ref not in earlier:
            earlier.append(ref)
    text = f"{incident.problem_ref} ({incident.problem_reason})"
    if earlier:
        text += ", earlier " + ", ".join(earlier)
    if record.problem_incidents:
        text += "; also incidents " + ", ".join(map(str, record.problem_incidents))
    return text


def error_line(message: str) -> str:
    return "incidentctl: " + literal(message)


# --- escalate and watch ------------------------------------------------------------


def attempt_line(attempt: Any) -> str:
    """One delivery, one line: ``sent     #7 initial email chen.jie@example.com``."""
    notice = f"{attempt.notice}#{attempt.sequence}" if attempt.sequence else attempt.notice
    cc = f" (cc {', '.join(attempt.cc)})" if attempt.cc else ""
    error = f": {attempt.error}" if attempt.error else ""
    where = f"{attempt.channel} {attempt.to}{cc}"
    return literal(f"{attempt.status:<8} #{attempt.incident} {notice} {where}{error}")


def summary_line(report: Any) -> str:
    if report.dry_run:
        return f"{len(report.deliveries)} deliveries due (dry run: nothing sent or recorded)."
    if not report.deliveries:
        return "Nothing due."
    retry = sum(a.status == DeliveryStatus.RETRY for a in report.deliveries)
    failed = report.failed - retry
    return f"{report.sent} sent, {failed} failed, {retry} waiting for a retry."


class WatchBoard:
    """``watch`` on a terminal: the latest deliveries and when the next pass runs."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        from rich.live import Live

        self.environ = environ
        self.rows: list[Any] = []
        self.note = "first pass…"
        self.live = Live(console=console(), auto_refresh=False, transient=False)

    def start(self) -> None:
        self.live.start()
        self.refresh()

    def stop(self) -> None:
        self.live.stop()

    def add(self, attempt: Any) -> None:
        self.rows = [*self.rows[-19:], attempt]
        self.refresh()

    def waiting(self, seconds: float) -> None:
        from incidentctl.times import to_rfc3339, utc_now

        self.note = (
            f"last pass {to_rfc3339(utc_now(self.environ))}; "
            f"next in {max(0, round(seconds))}s · Ctrl-C to stop"
        )
        self.refresh()

    def refresh(self) -> None:
        from rich.table import Table
        from rich.text import Text

        styles = {
            DeliveryStatus.SENT: "green",
            DeliveryStatus.PRINTED: "green",
            DeliveryStatus.RETRY: "yellow",
            DeliveryStatus.FAILED: "bold red",
        }
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


# --------------------------------------------------------------------------- sla explain

_VERDICT_WORDS = {
    ClockState.MET: "met, {amount} to spare",
    ClockState.RUNNING: "running, {amount} left",
    ClockState.PAUSED: "paused, {amount} left",
    ClockState.CANCELLED: "cancelled: neither met nor breached",
}
_SPANS = (StepKind.COUNTED, StepKind.CLOSED, StepKind.PAUSED)


def _moment(value: datetime, zone: tzinfo) -> str:
    """``Mon 30 Nov 10:00`` in ``zone`` (the block's header says the year)."""
    return value.astimezone(zone).strftime("%a %d %b %H:%M")


def _span_text(start: datetime, end: datetime | None, zone: tzinfo) -> str:
    if end is None:
        return f"{_moment(start, zone)} → …"
    same_day = start.astimezone(zone).date() == end.astimezone(zone).date()
    shown = end.astimezone(zone).strftime("%H:%M") if same_day else _moment(end, zone)
    return f"{_moment(start, zone)} → {shown}"


def verdict_words(explanation: Any) -> str:
    """``met, 20m to spare``, ``breached by 1h``, ``breached, 1h overdue`` ..."""
    verdict = explanation.verdict
    amount = format_duration(verdict.amount) if verdict.amount is not None else ""
    if verdict.state is ClockState.BREACHED:
        if explanation.clock.stopped_at is not None:
            return f"breached by {amount}"
        return f"breached, {amount} overdue"
    return _VERDICT_WORDS[verdict.state].format(amount=amount)


def explanation_summary(explanation: Any, zone: tzinfo, zone_name: str) -> str:
    """The arithmetic in one sentence: ``counted 2h of 2h target → due Mon 30 Nov 10:00
    (Europe/Berlin); stopped Mon 30 Nov 09:40: met, 20m to spare``."""
    clock = explanation.clock
    said = (
        f"counted {format_duration(explanation.counted)} of {format_duration(clock.target)} target"
    )
    if clock.due_at is not None:
        said += f" → due {_moment(clock.due_at, zone)} ({zone_name})"
    else:
        pause = next(s for s in reversed(explanation.steps) if s.kind is StepKind.PAUSED)
        said += f", paused since {_moment(pause.start, zone)} ({zone_name})"
    if clock.stopped_at is not None:
        said += f"; stopped {_moment(clock.stopped_at, zone)}"
    return f"{said}: {verdict_words(explanation)}"


SHOWN_STEPS = 8  # the steps shown at each end of a long explanation (20 days of hours)


def _shown_steps(steps: Sequence[Any]) -> list[Any]:
    """The steps, a long run of them in the middle told as one ``counted`` line (what it
    counted, and the total after it: the sum still checks); ``--json`` has them all."""
    if len(steps) <= 3 * SHOWN_STEPS:
        return list(steps)
    head, middle, tail = (
        steps[:SHOWN_STEPS],
        steps[SHOWN_STEPS:-SHOWN_STEPS],
        steps[-SHOWN_STEPS:],
    )
    if any(s.kind not in (StepKind.COUNTED, StepKind.CLOSED) for s in middle):
        return list(steps)  # a pause or re-level in it: every step matters
    counted = sum((s.counted for s in middle), timedelta(0))
    closed = sum(1 for s in middle if s.kind is StepKind.CLOSED)
    run = middle[0]._replace(
        kind=StepKind.COUNTED,
        end=middle[-1].end,
        counted=counted,
        total=middle[-1].total,
        note=f"{len(middle) - closed} open spans, {closed} closed (--json)",
    )
    return [*head, run, *tail]


def explanation_lines(explanation: Any, zone: tzinfo, zone_name: str, width: int) -> list[str]:
    """One clock's block: a header, a line per step, the summary; at most ``width``
    columns (notes and the summary wrap, indented)."""
    import textwrap

    clock = explanation.clock
    started = clock.started_at.astimezone(zone)
    lines = textwrap.wrap(
        f"{clock.name} clock: level {clock.level}, target {format_duration(clock.target)}, "
        f"calendar {clock.calendar.name}, started {started:%Y-%m-%d %H:%M} ({zone_name})",
        width=width,
        subsequent_indent="  ",
    )
    for step in _shown_steps(explanation.steps):
        if step.kind is StepKind.VERDICT:
            continue
        if step.kind in _SPANS:
            when = _span_text(step.start, step.end, zone)
        else:
            when = _moment(step.start, zone)
        counted = f"+{format_duration(step.counted)}" if step.kind is StepKind.COUNTED else ""
        total = format_duration(step.total) if step.kind in (StepKind.COUNTED, StepKind.DUE) else ""
        head = f"  {step.kind:<8} {when:<35} {counted:>6} {total:>6}  "
        note = literal(step.note)
        if not note:
            lines.append(head.rstrip())
            continue
        lines += textwrap.wrap(
            note,
            width=max(width, len(head) + 10),
            initial_indent=head,
            subsequent_indent=" " * len(head),
        )
    lines += textwrap.wrap(
        explanation_summary(explanation, zone, zone_name),
        width=width,
        initial_indent="  ",
        subsequent_indent="    ",
    )
    return lines


def print_explanations(result: Any, zone: tzinfo, zone_name: str) -> None:
    """``sla explain``: a block per clock, times in ``zone``."""
    from rich.text import Text

    out = console()
    width = min(out.width, 100)
    for i, explanation in enumerate(result.explanations):
        if i:
            out.print()
        for line in explanation_lines(explanation, zone, zone_name, width):
            out.print(Text(line))


_INTAKE_SAID = {
    IntakeAction.OPENED: "opened incident {incident}",
    IntakeAction.GROUPED: "grouped into storm incident {incident}",
    IntakeAction.REPEAT: "a repeat: incident {incident} has it already",
    IntakeAction.RECOVERED: "recovered incident {incident}",
    IntakeAction.NOTED: "a note on incident {incident}",
    IntakeAction.ACKNOWLEDGED: "acknowledged incident {incident}",
    IntakeAction.DUPLICATE: "already received: incident {incident}",
    IntakeAction.IGNORED: "resolved, and no incident has it open: nothing recorded",
}


def intake_line(outcome: Any) -> str:
    """``opened incident 43: Disk full on db1 (follows #41)``: what intake did."""
    said = _INTAKE_SAID[outcome.action].format(incident=outcome.incident)
    follows = f" (follows #{outcome.follows}, closed)" if outcome.follows else ""
    return literal(f"{said}: {one_line(outcome.title)}{follows}")


def print_intake(outcomes: Sequence[Any]) -> None:
    out = console()
    for outcome in outcomes:
        out.print(intake_line(outcome), markup=False, highlight=False, soft_wrap=True)
