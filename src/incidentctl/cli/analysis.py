"""Analysis and data movement: report, export and import."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from incidentctl.cli.app import app
from incidentctl.cli.options import (
    AssigneeFilter,
    JsonOption,
    LevelFilter,
    LimitFilter,
    MonthOption,
    OverdueFilter,
    PeriodSinceOption,
    PeriodUntilOption,
    ServiceFilter,
    SinceFilter,
    TzOption,
    UntilFilter,
    chosen_format,
    format_option,
    runtime,
)
from incidentctl.domain import Status
from incidentctl.output import Format, formats

ReportFormats = formats("table", "json", "csv", "markdown", "html")
ExportFormats = formats("ndjson", "json", "csv")


@app.command("report")
def report(
    ctx: typer.Context,
    month: MonthOption = None,
    since: PeriodSinceOption = None,
    until: PeriodUntilOption = None,
    tz: TzOption = None,
    format_: Annotated[ReportFormats, format_option()] = ReportFormats.TABLE,  # type: ignore[valid-type]
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE instead of stdout."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Analyse the incidents reported in a month: volumes, SLA attainment, durations,
    breaches, transfers, problems, re-levels, recurring incidents, the major incidents
    owing a review, the lessons learned, deliveries, and the change against the
    previous period.

    Example:

        incidentctl report --month 2026-10 --tz Asia/Shanghai --format html
    """
    from incidentctl.output import Format
    from incidentctl.output import report as formats
    from incidentctl.services.reporting import load_report, period_for, report_zone

    rt = runtime(ctx)
    zone, tz_name = report_zone(tz or rt.policy.timezone)
    period = period_for(
        month=month, since=since, until=until, zone=zone, tz_name=tz_name, now=rt.now
    )
    document = load_report(rt, period)
    fmt = chosen_format(format_, as_json)
    with formats.destination(output) as stream:
        if fmt is Format.JSON:
            formats.write_json(document, stream)
        elif fmt is Format.CSV:
            formats.write_csv(document, stream)
        elif fmt is Format.MARKDOWN:
            stream.write(formats.markdown(document, period, rt.now))
        elif fmt is Format.HTML:
            stream.write(formats.html(document, period, rt.now))
        else:
            formats.print_table(document, period, rt.now, stream)
    if output is not None:
        from incidentctl.text import literal

        sys.stderr.write(f"Wrote {literal(output)}\n")


@app.command("export")
def export(
    ctx: typer.Context,
    status: Annotated[
        list[Status] | None,
        typer.Option("--status", help="Only these statuses (repeatable; default: all)."),
    ] = None,
    level: LevelFilter = None,
    service: ServiceFilter = None,
    assignee: AssigneeFilter = None,
    overdue: OverdueFilter = False,
    since: SinceFilter = None,
    until: UntilFilter = None,
    limit: LimitFilter = None,
    format_: Annotated[ExportFormats, format_option()] = ExportFormats.NDJSON,  # type: ignore[valid-type]
    as_json: JsonOption = False,
) -> None:
    """Stream incidents with their events, oldest first, in constant memory
    (every status unless --status is given). `import` reads the NDJSON back.

    Example:

        incidentctl export --since "2026-10-01 00:00" > incidents.ndjson
    """
    from incidentctl import output
    from incidentctl.cli.options import parse_when
    from incidentctl.output.documents import export_document
    from incidentctl.services.handling import IncidentFilter
    from incidentctl.services.transfer import export_records, version_records

    rt = runtime(ctx)
    flt = IncidentFilter(
        statuses=tuple(s.value for s in status or ()),
        level=level,
        service=service,
        assignee=assignee,
        overdue=overdue,
        since=parse_when(rt, since),
        until=parse_when(rt, until),
        limit=limit,
        all_statuses=True,
    )
    chosen = chosen_format(format_, as_json)
    records = export_records(rt.db, flt, rt.now)
    documents: Iterable[Any] = (export_document(row, events, rt.now) for row, events in records)
    if chosen is Format.NDJSON:  # (what import reads: the policy versions come first)
        documents = itertools.chain(version_records(rt.db, flt, rt.now), documents)
    output.write_documents(chosen, documents)


@app.command("import", acts=True)
def import_(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            metavar="FILE|-", help="NDJSON file, or - for standard input.", show_default=False
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate every line; change nothing.")
    ] = False,
    past_notices: Annotated[
        bool,
        typer.Option(
            "--past-notices/--no-past-notices",
            help="Whether the imported incidents' notices already due are sent "
            "(--no-past-notices: they were handled where the incidents come from; "
            "only later ones go out).",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Import incidents from NDJSON: export's own output, or plain incident objects
    (their timeline is derived from the milestone times). All or nothing: one bad line
    refuses the whole file, naming the line. Ids in the file are kept.

    Example:

        incidentctl --db new.db import incidents.ndjson
    """
    from incidentctl.output import documents
    from incidentctl.services.transfer import import_file

    rt = runtime(ctx)
    with _seekable(source) as path:
        summary = import_file(
            lambda: rt.db,
            path,
            policy=rt.policy,
            now=rt.now,
            actor=rt.actor,
            dry_run=dry_run,
            past_notices=past_notices,
        )
    if as_json:
        documents.write_json(documents.import_document(summary))
    elif dry_run:
        sys.stderr.write(
            f"Dry run: {summary.incidents} incidents and {summary.events} events are valid; "
            "nothing was imported.\n"
        )
    else:
        derived = f" ({summary.derived} timelines derived)" if summary.derived else ""
        sys.stderr.write(
            f"Imported {summary.incidents} incidents and {summary.events} events{derived}.\n"
        )
    if summary.notices_due and not as_json:
        sys.stderr.write(
            f"Note: {summary.notices_due} of {'these' if dry_run else 'the imported'} "
            "incidents are not closed and owe notices now (deliveries are not imported): "
            "the next `incidentctl escalate` or `watch` sends them "
            "(`incidentctl escalate --dry-run` lists them); to take them as handled "
            "where the incidents come from, import with --no-past-notices.\n"
        )


@contextmanager
def _seekable(source: str) -> Iterator[Path]:
    """The file to import, as a path the import workers can each seek in: standard input
    (``-``) or a pipe is first copied to a private temporary file."""
    import os
    import shutil
    import stat
    import tempfile

    from incidentctl.errors import InvalidInput

    try:
        regular = source != "-" and stat.S_ISREG(os.stat(source).st_mode)
        if regular:
            with open(source, "rb"):  # readable?
                pass
    except OSError as exc:
        raise InvalidInput(f"cannot read {source}: {exc.strerror or exc}") from None
    if regular:
        yield Path(source)
        return
    with tempfile.TemporaryDirectory(prefix="incidentctl-stdin-") as workdir:
        copy = Path(workdir) / "input.ndjson"
        try:
            with copy.open("wb") as out:
                if source == "-":
                    shutil.copyfileobj(sys.stdin.buffer, out)
                else:
                    with open(source, "rb") as stream:
                        shutil.copyfileobj(stream, out)
        except OSError as exc:
            raise InvalidInput(
                f"cannot read {source} into a temporary file in {tempfile.gettempdir()}: "
                f"{exc.strerror or exc}"
            ) from None
        yield copy
