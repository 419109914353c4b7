"""``policy simulate`` on the terminal: a headline, the attainment side by side per level
and clock, and the incidents whose verdict would change. Markup off; every piece of
user text (titles, services, file names) passes ``literal()``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from incidentctl.output.text import local_time
from incidentctl.services.reporting import Period
from incidentctl.text import literal

LIST_LIMIT = 20  # changed verdicts listed here; --json has up to the document's cap


def percent(side: Mapping[str, Any]) -> str:
    """``50.0% (1/2)``: the attainment and met of decided; ``—`` when none is decided."""
    decided = side["met"] + side["breached"]
    if side["attainment"] is None:
        return "—"
    return f"{side['attainment']:.1f}% ({side['met']}/{decided})"


def points(value: float | None) -> str:
    if value is None:
        return "—"
    return "±0.0" if value == 0 else f"{value:+.1f}"


def headline(document: Mapping[str, Any], period: Period) -> str:
    return f"Policy simulation — {period.label()} ({document['tz']})"


def summary_lines(document: Mapping[str, Any], period: Period, now: datetime) -> list[str]:
    current, simulated = document["current"], document["simulated"]
    versions = ", ".join(current["versions"]) or "none"
    total = document["changed_total"]
    lines = [
        f"{document['incidents']} incidents reported, replayed as of "
        f"{local_time(now, period.zone)}:",
        f"  current:   the versions their clocks follow ({versions}; in force: "
        f"{literal(current['source'])})",
        f"  simulated: {literal(simulated['source'])} (version {simulated['version']})",
        "No verdict changes."
        if not total
        else f"{total} verdict{'s' if total != 1 else ''} change{'' if total != 1 else 's'}.",
    ]
    note = document["not_simulated"]["note"]
    if note:
        lines.append(f"Note: {literal(note)}.")
    return lines


def print_simulation(document: Mapping[str, Any], period: Period, now: datetime) -> None:
    from rich.table import Table
    from rich.text import Text

    from incidentctl.output.terminal import console, fitted_table

    out = console()
    out.print(Text(headline(document, period), style="bold"))
    for line in summary_lines(document, period, now):
        out.print(Text(line))

    table = Table(
        title="SLA attainment (met/decided)",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        header_style="bold",
    )
    for name in ("Level", "Clock", "Current", "Simulated", "Change"):
        table.add_column(name, justify="left" if name == "Clock" else "right", no_wrap=True)
    for level, per_clock in document["sla"].items():
        for clock, figures in per_clock.items():
            change = figures["change"]
            style = "red" if change is not None and change < 0 else None
            table.add_row(
                level,
                clock,
                percent(figures["current"]),
                percent(figures["simulated"]),
                Text(points(change), style=style or ""),
            )
    out.print()
    out.print(table)

    changed = document["changed"]
    out.print()
    if not changed:
        out.print(Text("Changed verdicts: none", style="bold"))
        return
    headers = ("ID", "Level", "Clock", "Current", "Simulated", "Service", "Title")
    rows = [
        {
            "ID": Text(str(item["id"])),
            "Level": Text(str(item["level"])),
            "Clock": Text(item["clock"]),
            "Current": Text(item["current"] or "—"),
            "Simulated": Text(item["simulated"] or "—"),
            "Service": Text(literal(item["service"])),
            "Title": Text(literal(item["title"])),
        }
        for item in changed[:LIST_LIMIT]
    ]
    out.print(
        fitted_table(
            rows,
            order=headers,
            always=headers[:5],
            optional=("Service",),
            width=out.width,
            title=f"Changed verdicts ({document['changed_total']})",
        )
    )
    if document["changed_total"] > len(rows):
        out.print(
            f"… and {document['changed_total'] - len(rows)} more "
            f"({len(changed)} of them with --json)"
        )
