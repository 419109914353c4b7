"""What intake receives and what it did, as the parsers and the intake service share it.

An ``Arrival`` is one alert or one email made into the facts intake decides on (the
parsers in ``services.alerts`` and ``services.mail`` read the wire formats); an
``Outcome`` is what became of it, as ``intake`` and ``serve`` report it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from incidentctl.domain import Channel, IntakeAction
from incidentctl.errors import InvalidInput
from incidentctl.text import one_line

TITLE_LIMIT = 200  # characters of a title (a subject, an alert's summary)


def title_of(text: object) -> str:
    """What intake takes as a title: one line, at most ``TITLE_LIMIT`` characters."""
    return one_line(text)[:TITLE_LIMIT]


def stored_text(value: str, where: str) -> str:
    """Text as it is stored; a NUL cannot be (PostgreSQL refuses it in text): refused."""
    if "\x00" in value:
        raise InvalidInput(f"{where}: a NUL character (\\x00) cannot be stored")
    return value


@dataclass(frozen=True)
class Arrival:
    key: str  # the dedup key: "alert:<fingerprint>", "email:<Message-ID>", ...
    source: str  # "alert" or "email"
    title: str
    service: str
    level: int
    summary: str  # one line that names it on a note (a repeat, a storm's list)
    details: str | None = None
    firing: bool = True  # an alert: firing (else resolved); an email: always
    channel: Channel = Channel.MONITORING
    reporter: str | None = None
    contact: str | None = None
    occurred_at: datetime | None = None  # when the alert began firing
    ended_at: datetime | None = None  # when a resolved alert stopped firing
    reply_to: int | None = None  # an email that answers incident N
    text: str | None = None  # a reply's own words (the quoted part left out)
    ack: bool = False  # a reply whose first line is "ack"
    person: str | None = None  # the policy's contact who sent it (None: someone else)
    actor: str = "intake"  # whom its events name
    automatic: str | None = None  # an email no person wrote (why): taken in as nothing


@dataclass(frozen=True)
class Outcome:
    key: str
    action: IntakeAction
    incident: int | None  # None: nothing was recorded (a resolved alert nobody has open)
    title: str
    follows: int | None = None  # a new incident: the closed one that had the same alert
