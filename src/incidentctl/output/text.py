"""The pieces every human format shares: the Markdown escaper and the local time."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

from incidentctl.text import literal
from incidentctl.times import local_zone, zoned_time

__all__ = ["human_time", "local_time", "md", "md_heading", "md_line", "zoned_time"]

# Markdown that user text may not make, and the characters that would make it. Only
# what CommonMark and GitHub's extensions would read as markup is escaped, where it
# would be read so: "#0", "~5%", "pool_size" and "a > b" stay as they are typed.
_ALWAYS = frozenset("`*[<|")  # code, emphasis and lists, links and images, HTML, cells
_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# What a line may begin with: its indentation, then list markers (a list the user
# began stays a list), then what would make a block: an ATX heading, a block quote.
_MARKER = re.compile(r"(?:[-+]|[0-9]{1,9}[.)])(?=[ \t]|$)")
_OPENS_BLOCK = re.compile(r"#{1,6}(?:[ \t]|$)|>")
# A line of = or - that would make the line above it a (setext) heading.
_UNDERLINE = re.compile(r"(?:=+|-+)[ \t]*")
# Four columns of indentation would start a code block, which shows the escapes.
_INDENT = re.compile(r"^[ \t]+", re.M)


def _block_safe(line: str) -> str:
    """One line whose inline markup is already escaped, with what would open a block
    at its start (or at the start of a list item's text) escaped too."""
    content = line.lstrip(" ")
    prefix = line[: len(line) - len(content)]  # at most three spaces (``_INDENT``)
    if _UNDERLINE.fullmatch(content):
        return prefix + "\\" + content
    while (marker := _MARKER.match(content)) is not None:
        rest = content[marker.end() :].lstrip(" \t")
        # One space after a marker: five would make the item's text a code block.
        prefix += marker.group() + (" " if rest else content[marker.end() :])
        content = rest
    if _OPENS_BLOCK.match(content):
        content = "\\" + content
    return prefix + content


def md(text: Any) -> str:
    """User text shown literally in Markdown: control bytes escaped (``\\x1b``), and
    whatever would be read as markup escaped with a backslash where it would be: no
    heading, block quote, emphasis, strikethrough, code, link, image, HTML, entity or
    table cell can come of it, in a list item neither. A line's indentation is kept up
    to three spaces (four would make a code block). The lists a user began (``- a``,
    ``1. b``) and bare URLs stay (a renderer may make the URLs links, showing where
    they lead)."""
    value = literal(text).replace("\r\n", "\n").replace("\r", "\n")
    value = _INDENT.sub(lambda m: " " * min(3, len(m.group().expandtabs(4))), value)
    out: list[str] = []
    last = len(value) - 1
    for i, char in enumerate(value):
        before = value[i - 1] if i > 0 else "\n"
        after = value[i + 1] if i < last else "\n"
        if char in _ALWAYS:
            out.append("\\" + char)
        elif char == "\\":
            # A backslash escapes the punctuation after it, and breaks the line at its end.
            out.append("\\\\" if after in _ASCII_PUNCTUATION or after == "\n" else char)
        elif char == "_":
            # Inside a word (pool_size) it can neither open nor close emphasis.
            out.append(char if before.isalnum() and after.isalnum() else "\\_")
        elif char == "~":
            # Strikethrough needs a closing ~ right after a non-space; a fence, ~~~.
            out.append("\\~" if not before.isspace() else char)
        elif char == "&":
            out.append("\\&" if _ENTITY.match(value, i) else char)
        else:
            out.append(char)
    return "\n".join(_block_safe(line) for line in "".join(out).split("\n"))


def md_line(text: Any) -> str:
    """``md`` on one line (a table cell, a list item)."""
    return md(text).replace("\n", " ")


def md_heading(text: Any) -> str:
    """``md_line`` for the text of a heading: a ``#`` at its end would be taken for the
    heading's closing sequence and dropped."""
    return re.sub(r"(?<=\s)(#+)(\s*)$", r"\\\1\2", md_line(text))


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
