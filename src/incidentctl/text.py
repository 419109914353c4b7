"""User text made safe to show: the one place that decides which characters may not
reach a terminal, a header or a document as they are.

Every piece of text a user typed passes ``literal()`` before it is printed (the output
layer, the print transport), and ``one_line()`` before it goes into a message line or
an email header.
"""

from __future__ import annotations

import re

__all__ = ["UNSAFE", "clipped", "literal", "one_line"]

# C0 controls but newline and tab, DEL, C1 controls, and the bidi overrides that can
# make text read differently from what it is.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def literal(text: object) -> str:
    """User text made safe to print: control bytes shown as ``\\x1b``-style escapes."""
    if text is None:
        return ""
    return UNSAFE.sub(_escape, str(text))


def one_line(text: object) -> str:
    """Text on one line: every control character and run of white space is one space."""
    return " ".join(UNSAFE.sub(" ", str(text)).split())


LINE_LIMIT = 1_000  # characters of a message line: a value it repeats may be 120 kB


def clipped(line: str, limit: int = LINE_LIMIT) -> str:
    """A line cut in its middle to about ``limit`` characters, saying how many were left
    out: a refusal that repeats a huge value keeps its start and its explanation."""
    if len(line) <= limit:
        return line
    head, tail = limit * 3 // 5, limit * 2 // 5
    return f"{line[:head]}… ({len(line) - head - tail:,} characters left out) …{line[-tail:]}"
