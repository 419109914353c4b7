"""The pieces every human format shares: the Markdown escaper and the local time."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from incidentctl.text import literal
from incidentctl.times import local_zone

__all__ = ["human_time", "local_time", "md", "md_line"]

_MARKUP = "\\`*_[]<>|#!~"


def md(text: Any) -> str:
    """User text shown literally in Markdown: control bytes escaped, markup neutralised."""
    value = literal(text).replace("\r\n", "\n").replace("\r", "\n")
    for char in _MARKUP:
        value = value.replace(char, "\\" + char)
    return value


def md_line(text: Any) -> str:
    """``md`` on one line (a table cell, a heading)."""
    return md(text).replace("\n", " ")


def local_time(value: datetime, zone: tzinfo) -> str:
    """``YYYY-MM-DD HH:MM`` in ``zone``."""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def human_time(value: datetime | None, now: datetime) -> str:
    """Local time (``TZ``, else the system zone): ``HH:MM`` today, else ``YYYY-MM-DD HH:MM``."""
    if value is None:
        return "—"
    zone = local_zone()
    if value.astimezone(zone).date() == now.astimezone(zone).date():
        return value.astimezone(zone).strftime("%H:%M")
    return local_time(value, zone)
