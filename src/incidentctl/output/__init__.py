"""Everything the user sees, in one package; only the CLI calls it.

- ``documents``: the public JSON documents and the JSON / NDJSON / CSV writers;
- ``terminal``: Rich tables and summaries (markup off), the watch board;
- ``review``: the major-incident review (Markdown);
- ``report``: the monthly report's table, CSV, Markdown and HTML;
- ``text``: what they share: the Markdown escaper and the local time.

Every piece of text a user typed passes ``incidentctl.text.literal`` (or the Markdown
and HTML escapers built on it) first. The TTY decides only human formatting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import IO, Any

__all__ = ["Format", "formats", "write_documents"]


class Format(StrEnum):
    """The ``--format`` of every read command (each offers the ones that fit it)."""

    TABLE = "table"
    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"
    MARKDOWN = "markdown"
    HTML = "html"
    TOML = "toml"


def formats(*names: str) -> Any:
    """The formats one command offers, as the choices of its ``--format`` (a subset of
    ``Format`` with the same words; the first is the default)."""
    return StrEnum("Format", {Format(name).name: name for name in names})


def write_documents(
    fmt: Format, documents: Iterable[Mapping[str, Any]], stream: IO[str] | None = None
) -> None:
    """Incident documents as data, streamed: a JSON list (``[]`` when empty), NDJSON,
    or CSV with the clocks flattened (``sla_response_due_at``, …)."""
    from incidentctl.output import documents as docs

    if fmt is Format.JSON:
        docs.write_json_list(documents, stream)
    elif fmt is Format.NDJSON:
        docs.write_ndjson(documents, stream)
    elif fmt is Format.CSV:
        docs.write_csv((docs.csv_row(d) for d in documents), docs.CSV_FIELDS, stream)
    else:
        raise ValueError(f"{fmt} is not a data format")
