"""The report's formats: terminal table with bar charts, JSON, CSV, Markdown, and one
self-contained HTML file with inline SVG charts (no scripts, no network)."""

from __future__ import annotations

import csv
import html as html_lib
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from incidentctl.domain import REPORT_LISTS
from incidentctl.errors import InvalidInput
from incidentctl.output.documents import dumps
from incidentctl.output.text import local_time, md, md_line
from incidentctl.services.reporting import Period
from incidentctl.text import literal
from incidentctl.times import format_duration, to_rfc3339

LIST_LIMIT = 20  # rows of each list shown in the human formats; JSON has them all
SERVICE_LIMIT = 10
_BLOCKS = " ▏▎▍▌▋▊▉█"


@contextmanager
def destination(path: Path | None) -> Iterator[IO[str]]:
    """stdout, or ``--output FILE`` (written whole or not at all)."""
    if path is None:
        yield sys.stdout
        return
    try:
        if not path.name or path.is_dir():  # (".", "reports/")
            raise InvalidInput(f"cannot write {path}: a directory; name a file, e.g. -o r.html")
        partial = path.with_name(path.name + ".partial")
        handle = open(partial, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with handle:
            yield handle
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def write_json(document: Mapping[str, Any], stream: IO[str]) -> None:
    stream.write(dumps(document) + "\n")


# --------------------------------------------------------------------------- helpers


def seconds(value: float | None) -> str:
    return "—" if value is None else format_duration(timedelta(seconds=value))


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def signed(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "s":
        text = format_duration(timedelta(seconds=abs(value)))
        return ("+" if value > 0 else "-" if value < 0 else "±") + text
    number = f"{value:g}"
    return (f"+{number}" if value > 0 else number) + unit


def local(value: str | None, period: Period) -> str:
    if value is None:
        return "—"
    return local_time(datetime.fromisoformat(value.replace("Z", "+00:00")), period.zone)


def bar(value: float, largest: float, width: int = 30) -> str:
    """A bar of eighth blocks, so small differences still show."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(width * 8 * value / largest))
    return "█" * (eighths // 8) + (_BLOCKS[eighths % 8] if eighths % 8 else "")


def services(document: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The busiest services, the rest folded into one line."""
    items = list(document["by_service"].items())
    if len(items) <= SERVICE_LIMIT:
        return items
    rest = sum(n for _, n in items[SERVICE_LIMIT - 1 :])
    return [*items[: SERVICE_LIMIT - 1], (f"({len(items) - SERVICE_LIMIT + 1} others)", rest)]


def headline(document: Mapping[str, Any], period: Period) -> str:
    return f"Incident report — {period.label()} ({document['tz']})"


def previous_line(document: Mapping[str, Any]) -> str:
    before = document["previous"]
    change = before["change"]
    pct = f", {signed(change['total_pct'], '%')}" if change["total_pct"] is not None else ""
    return (
        f"{document['total']} incidents reported; previous period {before['total']} "
        f"({signed(change['total'])}{pct})"
    )


# The listed sections' columns that are never cut (the rest go as the width demands).
_WHOLE = (
    "ID",
    "Level",
    "Clock",
    "Late by",
    "Problem",
    "Reason",
    "From",
    "To",
    "Times",
    "Count",
    "Missing",
)
# A review's parts as a reader names them (the note kinds that make them).
_REVIEW_PART = {"impact": "impact", "root-cause": "root cause", "action": "action items"}
LESSONS = "Lessons learned"


def _list_rows(
    document: Mapping[str, Any], period: Period
) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The listed sections as (headers, rows of text), for table, Markdown and HTML."""
    return {
        "Breaches": (
            ["ID", "Level", "Service", "Clock", "Due", "Stopped", "Late by", "Title"],
            [
                [
                    str(b["id"]),
                    str(b["level"]),
                    b["service"],
                    b["clock"],
                    local(b["due_at"], period),
                    local(b["stopped_at"], period),
                    seconds(b["late_s"]),
                    b["title"],
                ]
                for b in document["breaches"]
            ],
        ),
        "Transferred to developers": (
            ["ID", "Level", "Service", "Transferred", "Owner", "Title"],
            [
                [
                    str(t["id"]),
                    str(t["level"]),
                    t["service"],
                    local(t["transferred_at"], period),
                    t["assignee"] or "—",
                    t["title"],
                ]
                for t in document["transferred"]
            ],
        ),
        "Transferred to problem management": (
            ["ID", "Level", "Service", "Problem", "Reason", "Title"],
            [
                [str(p["id"]), str(p["level"]), p["service"], p["ref"], p["reason"], p["title"]]
                for p in document["problems"]
            ],
        ),
        "Re-levelled": (
            ["ID", "Service", "From", "To", "Times", "Last", "Title"],
            [
                [
                    str(r["id"]),
                    r["service"],
                    str(r["from"]),
                    str(r["to"]),
                    str(r["relevels"]),
                    local(r["last_at"], period),
                    r["title"],
                ]
                for r in document["relevelled"]
            ],
        ),
        "Recurring": (
            ["Service", "Count", "Incidents", "Title"],
            [
                [g["service"], str(g["count"]), _ids(g["ids"]), g["title"]]
                for g in document["recurring"]
            ],
        ),
        "Major incidents owing a review": (
            ["ID", "Level", "Service", "Status", "Reported", "Missing", "Title"],
            [
                [
                    str(r["id"]),
                    str(r["level"]),
                    r["service"],
                    r["status"],
                    local(r["reported_at"], period),
                    ", ".join(_REVIEW_PART.get(kind, kind) for kind in r["missing"]),
                    r["title"],
                ]
                for r in document["reviews_owed"]
            ],
        ),
        "Cancelled (in no other figure)": (
            ["ID", "Level", "Service", "Why", "Title"],
            [
                [str(c["id"]), str(c["level"]), c["service"], c["reason"] or "", c["title"]]
                for c in document["cancelled"]
            ],
        ),
    }


def lesson_lines(document: Mapping[str, Any], period: Period) -> list[tuple[str, str]]:
    """Each lesson learned as (its text, where it comes from: the incident, who, when)."""
    return [
        (
            lesson["text"],
            f"incident {lesson['id']} ({lesson['service']}, Level {lesson['level']}): "
            f"{lesson['title']} — {lesson['actor']}, {local(lesson['at'], period)}",
        )
        for lesson in document["lessons"]
    ]


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:8])
    return shown + (f" … (+{len(ids) - 8})" if len(ids) > 8 else "")


def _count_sections(document: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, int]]]]:
    return [
        ("By level", [(f"Level {k}", v) for k, v in document["by_level"].items()]),
        ("By service", services(document)),
        ("By channel", list(document["by_channel"].items())),
        ("By status", list(document["by_status"].items())),
    ]


def _sla_rows(document: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    return [
        (level, clock, verdicts)
        for level, per_clock in document["sla"].items()
        for clock, verdicts in per_clock.items()
    ]


def _sla_cells(document: Mapping[str, Any]) -> list[list[str]]:
    """The SLA attainment table's rows, for the Markdown and HTML formats."""
    return [
        [
            level,
            clock,
            str(v["met"]),
            str(v["breached"]),
            str(v["running"]),
            percent(v["attainment"]),
        ]
        for level, clock, v in _sla_rows(document)
    ]


# --------------------------------------------------------------------------- table


def print_table(
    document: Mapping[str, Any], period: Period, now: datetime, stream: IO[str]
) -> None:
    """The terminal report: counts with bar charts, SLA, durations, the lists."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from incidentctl.output.terminal import console, fitted_table

    out = (
        console()
        if stream is sys.stdout
        else Console(
            file=stream, markup=False, emoji=False, highlight=False, width=120, no_color=True
        )
    )
    out.print(Text(headline(document, period), style="bold"))
    out.print(
        Text(
            f"{local(document['since'], period)} – {local(document['until'], period)}; "
            f"clocks as of {local(to_rfc3339(now), period)}"
        )
    )
    out.print(Text(previous_line(document)))
    for title, items in _count_sections(document):
        table = Table(
            title=title, title_justify="left", show_edge=False, pad_edge=False, show_header=False
        )
        table.add_column("name", no_wrap=True)
        table.add_column("count", justify="right")
        table.add_column("bar", style="cyan", no_wrap=True)
        largest = max((n for _, n in items), default=0)
        for name, count in items:
            table.add_row(Text(literal(name)), str(count), bar(count, largest))
        out.print()
        out.print(table)

    sla = Table(
        title="SLA attainment",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        header_style="bold",
    )
    for name in ("Level", "Clock", "Met", "Breached", "Running", "Attainment", ""):
        sla.add_column(name, justify="right" if name not in ("Clock", "") else "left", no_wrap=True)
    for level, clock, v in _sla_rows(document):
        attained = v["attainment"]
        sla.add_row(
            level,
            clock,
            str(v["met"]),
            str(v["breached"]),
            str(v["running"]),
            percent(attained),
            Text(bar(attained or 0, 100, 20), style="green" if (attained or 0) >= 90 else "red"),
        )
    out.print()
    out.print(sla)

    durations = Table(
        title="Time to respond, recover, resolve",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        header_style="bold",
    )
    for name in ("Clock", "Stopped", "Mean", "Median", "90th pct"):
        durations.add_column(name, justify="left" if name == "Clock" else "right")
    for clock in document["durations"]:
        d = document["durations"][clock]
        durations.add_row(
            clock,
            str(d["count"]),
            seconds(d["mean_s"]),
            seconds(d["median_s"]),
            seconds(d["p90_s"]),
        )
    out.print()
    out.print(durations)

    for title, (headers, rows) in _list_rows(document, period).items():
        out.print()
        if not rows:
            out.print(Text(f"{title}: none", style="bold"))
            continue
        # One line a row in the terminal's width: the ids, levels and verdicts whole,
        # the title shortened, the other columns while they fit.
        listed = [dict(zip(headers, map(Text, map(literal, row)), strict=True)) for row in rows]
        table = fitted_table(
            listed[:LIST_LIMIT],
            order=tuple(headers),
            always=tuple(h for h in headers if h in _WHOLE),
            optional=tuple(h for h in headers if h not in _WHOLE and h != "Title"),
            width=out.width,
            title=f"{title} ({len(rows)})",
        )
        out.print(table)
        if len(rows) > LIST_LIMIT:
            out.print(f"… and {len(rows) - LIST_LIMIT} more (all of them with --format json)")

    out.print()
    lessons = lesson_lines(document, period)
    if not lessons:
        out.print(Text(f"{LESSONS}: none", style="bold"))
    else:
        # Whole, wrapped: a lesson cut to the width would lose what it teaches.
        out.print(Text(f"{LESSONS} ({len(lessons)})", style="bold"))
        for text, source in lessons:
            out.print(Text("• " + literal(text)))
            out.print(Text("  " + literal(source), style="dim"))

    out.print()
    for line in clock_lines(document):
        out.print(Text(line))

    d = document["deliveries"]
    out.print()
    out.print(Text("Deliveries", style="bold"))
    out.print(f"sent {d['sent']} · failed {d['failed']} · late {d['late']}")
    out.print()
    out.print(Text("Change against the previous period", style="bold"))
    for line in change_lines(document):
        out.print(Text(line))


def clock_lines(document: Mapping[str, Any]) -> list[str]:
    """The time paused per level, and the policy versions the clocks followed."""
    paused = document.get("paused") or {}
    lines = [
        f"paused at Level {level}: {v['incidents']} incidents, "
        f"{format_duration(timedelta(seconds=v['paused_s']))} in all"
        for level, v in paused.items()
    ] or ["paused: none"]
    versions = document.get("policy_versions") or {}
    named = ", ".join(f"{version} ({n})" for version, n in versions.items())
    lines.append(f"policy versions: {named or 'none'}")
    return lines


def change_lines(document: Mapping[str, Any]) -> list[str]:
    before = document["previous"]
    change = before["change"]
    lines = [
        f"previous period: {before['since']} – {before['until']}",
        f"incidents {before['total']} → {document['total']} ({signed(change['total'])})",
    ]
    for name in REPORT_LISTS:
        lines.append(f"{name} {before[name]} → {len(document[name])} ({signed(change[name])})")
    for clock in change["durations"]:
        mean = change["durations"][clock]["mean_s"]
        lines.append(f"mean time, {clock}: {signed(mean, 's')}")
    return lines


# --------------------------------------------------------------------------- CSV


def write_csv(document: Mapping[str, Any], stream: IO[str]) -> None:
    """Long form, one figure a row: ``section,key,metric,value`` (pivot it as you like)."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["section", "key", "metric", "value"])
    writer.writerow(["period", "", "since", document["since"]])
    writer.writerow(["period", "", "until", document["until"]])
    writer.writerow(["period", "", "tz", document["tz"]])
    writer.writerow(["total", "", "incidents", document["total"]])
    for section in ("by_level", "by_service", "by_channel", "by_status", "by_day"):
        for key, count in document[section].items():
            writer.writerow([section, key, "incidents", count])
    for level, clock, verdicts in _sla_rows(document):
        for metric in ("met", "breached", "running", "attainment"):
            writer.writerow(["sla", f"{level}.{clock}", metric, _csv(verdicts[metric])])
    for clock, stats in document["durations"].items():
        for metric, value in stats.items():
            writer.writerow(["durations", clock, metric, _csv(value)])
    for b in document["breaches"]:
        writer.writerow(["breaches", b["id"], f"{b['clock']}.late_s", b["late_s"]])
    for t in document["transferred"]:
        writer.writerow(["transferred", t["id"], "transferred_at", t["transferred_at"]])
    for p in document["problems"]:
        writer.writerow(["problems", p["id"], p["reason"], p["ref"]])
    for r in document["relevelled"]:
        writer.writerow(["relevelled", r["id"], f"{r['from']}->{r['to']}", r["relevels"]])
    for g in document["recurring"]:
        writer.writerow(
            ["recurring", g["service"], literal(g["title"]), " ".join(map(str, g["ids"]))]
        )
    for r in document["reviews_owed"]:
        writer.writerow(["reviews_owed", r["id"], "missing", " ".join(r["missing"])])
    for lesson in document["lessons"]:
        writer.writerow(["lessons", lesson["id"], lesson["at"], literal(lesson["text"])])
    for c in document["cancelled"]:
        writer.writerow(["cancelled", c["id"], "duplicate_of", _csv(c["duplicate_of"])])
    for key, value in document["deliveries"].items():
        writer.writerow(["deliveries", "", key, value])
    before = document["previous"]
    writer.writerow(["previous", "", "since", before["since"]])
    writer.writerow(["previous", "", "until", before["until"]])
    writer.writerow(["previous", "", "total", before["total"]])
    for key, value in before["change"].items():
        if not isinstance(value, dict):
            writer.writerow(["change", "", key, _csv(value)])
    for level, per_clock in before["change"]["attainment"].items():
        for clock, value in per_clock.items():
            writer.writerow(["change", f"{level}.{clock}", "attainment", _csv(value)])
    for clock, stats in before["change"]["durations"].items():
        for metric, value in stats.items():
            writer.writerow(["change", clock, metric, _csv(value)])


def _csv(value: Any) -> Any:
    return "" if value is None else value


# --------------------------------------------------------------------------- Markdown


def md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(md_line(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(document: Mapping[str, Any], period: Period, now: datetime) -> str:
    parts = [
        f"# {md_line(headline(document, period))}",
        "",
        f"Incidents reported from {local(document['since'], period)} to "
        f"{local(document['until'], period)} ({md_line(document['tz'])}); clocks as of "
        f"{local(to_rfc3339(now), period)}. {md_line(previous_line(document))}.",
    ]
    for title, items in _count_sections(document):
        largest = max((n for _, n in items), default=0)
        parts += [
            "",
            f"## {title}",
            "",
            md_table(
                ["", "Incidents", ""], [[name, str(n), bar(n, largest, 20)] for name, n in items]
            ),
        ]
    parts += [
        "",
        "## SLA attainment",
        "",
        md_table(
            ["Level", "Clock", "Met", "Breached", "Running", "Attainment"],
            _sla_cells(document),
        ),
    ]
    parts += [
        "",
        "## Time to respond, recover and resolve",
        "",
        md_table(
            ["Clock", "Stopped", "Mean", "Median", "90th percentile"],
            [
                [
                    clock,
                    str(d["count"]),
                    seconds(d["mean_s"]),
                    seconds(d["median_s"]),
                    seconds(d["p90_s"]),
                ]
                for clock, d in document["durations"].items()
            ],
        ),
    ]
    for title, (headers, rows) in _list_rows(document, period).items():
        parts += ["", f"## {title} ({len(rows)})", ""]
        if not rows:
            parts.append("None.")
            continue
        parts.append(md_table(headers, rows[:LIST_LIMIT]))
        if len(rows) > LIST_LIMIT:
            parts += ["", f"… and {len(rows) - LIST_LIMIT} more (see `--format json`)."]
    lessons = lesson_lines(document, period)
    parts += ["", f"## {LESSONS} ({len(lessons)})", ""]
    parts += [
        f"- {md(text).replace(chr(10), chr(10) + '  ')} — *{md_line(source)}*"
        for text, source in lessons
    ] or ["None."]
    d = document["deliveries"]
    parts += [
        "",
        "## Deliveries",
        "",
        md_table(["Sent", "Failed", "Late"], [[str(d["sent"]), str(d["failed"]), str(d["late"])]]),
    ]
    parts += ["", "## Change against the previous period", ""]
    parts += [f"- {md_line(line)}" for line in change_lines(document)]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;
color:#1f2328;margin:24px auto;max-width:1100px;padding:0 16px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;
border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#59636e;margin:0 0 12px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}.card span{color:#59636e;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:8px 32px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f6f8fa}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.more{color:#59636e;font-size:12px}.lessons li{margin:0 0 6px;white-space:pre-wrap}
.legend span{margin-right:14px;font-size:12px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}
"""
_MET, _BREACHED, _RUNNING, _BAR = "#2da44e", "#cf222e", "#d4a72c", "#0969da"


def _e(text: Any) -> str:
    return html_lib.escape(literal(text), quote=True)


def svg_bars(items: list[tuple[str, int]], *, width: int = 500, label_width: int = 150) -> str:
    """Horizontal bars with their labels and counts."""
    row = 22
    height = max(1, len(items)) * row + 4
    largest = max((n for _, n in items), default=0)
    span = width - label_width - 50
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" viewBox="0 0 {width} {height}">'
    ]
    for i, (name, count) in enumerate(items):
        y = i * row + 2
        length = span * count / largest if largest else 0
        label = name if len(name) <= 22 else name[:21] + "…"
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">{_e(label)}'
            f"<title>{_e(name)}</title></text>"
            f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="16" rx="2" '
            f'fill="{_BAR}"/>'
            f'<text x="{label_width + length + 5:.1f}" y="{y + 15}">{count}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_sla(rows: list[tuple[str, str, Mapping[str, Any]]], *, width: int = 1060) -> str:
    """One stacked bar per level and clock: met, breached, running."""
    row = 26
    label_width = 150
    height = max(1, len(rows)) * row + 4
    span = width - label_width - 80
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" viewBox="0 0 {width} {height}">'
    ]
    for i, (level, clock, v) in enumerate(rows):
        y = i * row + 2
        total = v["met"] + v["breached"] + v["running"]
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 16}" text-anchor="end">'
            f"Level {_e(level)} {_e(clock)}</text>"
        )
        x = float(label_width)
        if total == 0:
            parts.append(
                f'<rect x="{x}" y="{y + 4}" width="{span}" height="16" fill="#eaeef2"/>'
                f'<text x="{x + 6}" y="{y + 16}" fill="#59636e">no incidents</text>'
            )
            continue
        for key, colour in (("met", _MET), ("breached", _BREACHED), ("running", _RUNNING)):
            length = span * v[key] / total
            if length > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 4}" width="{length:.1f}" height="16" '
                    f'fill="{colour}"><title>{key}: {v[key]}</title></rect>'
                )
            x += length
        parts.append(
            f'<text x="{label_width + span + 6}" y="{y + 16}">{percent(v["attainment"])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_days(days: Mapping[str, int], *, width: int = 1060, height: int = 160) -> str:
    """Incidents reported per local day, as columns."""
    items = list(days.items())
    if not items:
        return ""
    largest = max(max(n for _, n in items), 1)
    left, bottom, top = 36, 22, 8
    span = width - left - 8
    step = span / len(items)
    plot = height - bottom - top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" viewBox="0 0 {width} {height}">',
        f'<line x1="{left}" y1="{top + plot}" x2="{width - 8}" y2="{top + plot}" '
        f'stroke="#d0d7de"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{largest}</text>',
        f'<text x="{left - 6}" y="{top + plot}" text-anchor="end">0</text>',
    ]
    every = max(1, round(len(items) / 10))
    for i, (day, count) in enumerate(items):
        h = plot * count / largest
        x = left + i * step
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{top + plot - h:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{_BAR}"><title>{_e(day)}: {count}</title></rect>'
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                f"{_e(day[5:])}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def html_table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html(document: Mapping[str, Any], period: Period, now: datetime) -> str:
    """One file: inline CSS and SVG, no scripts, and a policy that forbids any fetch."""
    total = document["total"]
    breaches = len(document["breaches"])
    overall = _overall_attainment(document)
    cards = [
        (str(total), "incidents reported"),
        (signed(document["previous"]["change"]["total"]), "against the previous period"),
        (str(breaches), "clock breaches"),
        (percent(overall), "SLA attainment (all clocks)"),
        (str(len(document["transferred"])), "transferred to developers"),
        (str(len(document["recurring"])), "recurring groups"),
        (str(len(document["reviews_owed"])), "major incidents owing a review"),
    ]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(headline(document, period))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(headline(document, period))}</h1>",
        f'<p class="meta">Incidents reported from {_e(local(document["since"], period))} to '
        f"{_e(local(document['until'], period))} ({_e(document['tz'])}); clocks as of "
        f"{_e(local(to_rfc3339(now), period))}.</p>",
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for v, k in cards)
        + "</div>",
        "<h2>Incidents per day</h2>",
        svg_days(document["by_day"]),
        '<div class="grid">',
    ]
    for title, items in _count_sections(document):
        out.append(f"<div><h2>{_e(title)}</h2>{svg_bars(items)}</div>")
    out.append("</div>")
    out += [
        "<h2>SLA attainment</h2>",
        '<p class="legend">'
        f'<span><i class="sw" style="background:{_MET}"></i>met</span>'
        f'<span><i class="sw" style="background:{_BREACHED}"></i>breached</span>'
        f'<span><i class="sw" style="background:{_RUNNING}"></i>running</span></p>',
        svg_sla(_sla_rows(document)),
        html_table(
            ["Level", "Clock", "Met", "Breached", "Running", "Attainment"],
            _sla_cells(document),
            numeric={2, 3, 4, 5},
        ),
        "<h2>Time to respond, recover and resolve</h2>",
        html_table(
            ["Clock", "Stopped", "Mean", "Median", "90th percentile", "Mean, change"],
            [
                [
                    clock,
                    str(d["count"]),
                    seconds(d["mean_s"]),
                    seconds(d["median_s"]),
                    seconds(d["p90_s"]),
                    signed(document["previous"]["change"]["durations"][clock]["mean_s"], "s"),
                ]
                for clock, d in document["durations"].items()
            ],
            numeric={1, 2, 3, 4, 5},
        ),
    ]
    for title, (headers, rows) in _list_rows(document, period).items():
        out.append(f"<h2>{_e(title)} ({len(rows)})</h2>")
        if not rows:
            out.append('<p class="more">None.</p>')
            continue
        out.append(html_table(headers, rows[: LIST_LIMIT * 5]))
        if len(rows) > LIST_LIMIT * 5:
            out.append(
                f'<p class="more">… and {len(rows) - LIST_LIMIT * 5} more '
                "(all of them with --format json).</p>"
            )
    lessons = lesson_lines(document, period)
    out.append(f"<h2>{LESSONS} ({len(lessons)})</h2>")
    if lessons:
        out.append(
            '<ul class="lessons">'
            + "".join(
                f'<li>{_e(text)}<br><span class="more">{_e(source)}</span></li>'
                for text, source in lessons
            )
            + "</ul>"
        )
    else:
        out.append('<p class="more">None.</p>')
    d = document["deliveries"]
    out += [
        "<h2>Deliveries</h2>",
        html_table(
            ["Sent", "Failed", "Late"],
            [[str(d["sent"]), str(d["failed"]), str(d["late"])]],
            numeric={0, 1, 2},
        ),
        "<h2>Change against the previous period</h2>",
        "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in change_lines(document)) + "</ul>",
        "</body></html>",
    ]
    return "\n".join(out) + "\n"


def _overall_attainment(document: Mapping[str, Any]) -> float | None:
    met = sum(v["met"] for _, _, v in _sla_rows(document))
    breached = sum(v["breached"] for _, _, v in _sla_rows(document))
    return round(100 * met / (met + breached), 1) if met + breached else None
