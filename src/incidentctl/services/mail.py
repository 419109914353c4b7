"""One RFC 5322 message (what Postfix's pipe, procmail or fetchmail hand over) read into
an ``Arrival``: a new incident, or a reply to one.

The standard library's parser does the reading (``email.policy.default``: encoded
words, RFC 2231 file names, quoted-printable and base64 bodies); an HTML-only message
is turned to text by Beautiful Soup. Nothing here writes.
"""

from __future__ import annotations

import email.policy
import hashlib
import re
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import getaddresses

from incidentctl.config import EmailIntake, Policy
from incidentctl.domain import Channel, ContactChannel, IntakeSource
from incidentctl.errors import InvalidInput
from incidentctl.notify.transports import REPLY_ID
from incidentctl.services.arrival import Arrival, title_of
from incidentctl.text import UNSAFE, one_line

SUBJECT_TAG = re.compile(r"\[#([0-9]{1,18})\]")
_DETAILS_LIMIT = 20_000  # characters of a body kept as details (the rest is cut, and said)
_ATTACHMENTS_LISTED = 50
_QUOTE_HEAD = re.compile(r"^(On .* wrote:|-----\s*Original Message\s*-----)\s*$", re.IGNORECASE)


def parse_email(data: bytes, policy: Policy, *, recipients: Sequence[str] = ()) -> Arrival:
    """The arrival ``data`` makes; ``InvalidInput`` (exit 2) for what is no message."""
    rules = policy.intake.email
    if not data.strip():
        raise InvalidInput("no message on standard input")
    try:
        message = BytesParser(policy=email.policy.default).parsebytes(data)
        assert isinstance(message, EmailMessage)
        name, address = _sender(message)
        subject = _header(message.get("Subject", ""))
        message_id = _header(message.get("Message-ID", ""))
        to = [*_addresses(message), *(r.strip().lower() for r in recipients)]
        body = _body(message)
        attachments = _attachments(message)
        reply_to = _replied_to(subject, message)
        automatic = _automatic(message)
    except InvalidInput:
        raise
    except Exception as error:  # the parser's own complaint about a malformed part
        raise InvalidInput(f"not a readable email message: {one_line(error)}") from None
    key = (
        f"email:{message_id}" if message_id else f"email:sha256:{hashlib.sha256(data).hexdigest()}"
    )
    person = policy.person_at(address, ContactChannel.EMAIL)
    sender = f"{name} <{address}>" if name else address
    # The reporter's name is who notices to the reporter go to, by name first: a display
    # name that is one of the policy's names ("chen.jie" <eve@…>) is not taken as one.
    reporter = person or (name if name and name not in policy.people() else address)
    if reply_to is not None:
        words = _own_words(body)
        first = words.splitlines()[0].strip().rstrip(".!").lower() if words else ""
        return Arrival(
            key=key,
            source=IntakeSource.EMAIL,
            title=title_of(subject),
            service="",
            level=0,
            summary=title_of(f"email from {sender}: {subject}"),
            channel=Channel.EMAIL,
            reply_to=reply_to,
            text=_with_attachments(words, attachments),
            ack=first == "ack",
            person=person,
            reporter=reporter,
            contact=address,
            actor=person or address,
            automatic=automatic,
        )
    service, level = _route(rules, to, subject)
    level = policy.intake_level(level)
    details = _with_attachments(_cut(body), attachments)
    return Arrival(
        key=key,
        source=IntakeSource.EMAIL,
        title=title_of(subject) or title_of(f"(no subject) email from {address}"),
        service=service,
        level=level,
        summary=title_of(f"email from {sender}: {subject}"),
        details=details or None,
        channel=Channel.EMAIL,
        reporter=reporter,
        contact=address,
        person=person,
        actor=person or address,
        automatic=automatic,
    )


def _sender(message: EmailMessage) -> tuple[str, str]:
    """The From header's first mailbox: its display name (decoded, one line) and its
    address. A display name is never read for an address (``"boss@x" <eve@y>`` is eve)."""
    header = message.get("From")
    mailboxes: Sequence[Address] = getattr(header, "addresses", ()) if header else ()
    for mailbox in mailboxes:
        address = _header(mailbox.addr_spec).lower()
        if (
            mailbox.username
            and mailbox.domain
            and not UNSAFE.search(address)
            and " " not in address
        ):
            return _header(mailbox.display_name), address
    raise InvalidInput("the message has no From address to answer: refused")


def _header(value: object) -> str:
    """A header's text on one line. Raw UTF-8 in a header (RFC 6532, or a sender that
    ignores the rules) reaches the parser as escaped bytes: it is read as UTF-8 here,
    what is not UTF-8 as U+FFFD."""
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return one_line(text)


def _automatic(message: EmailMessage) -> str | None:
    """Why a message is one no person wrote, which intake must not answer with a note
    (a loop): incidentctl's own notice, an auto-reply, a bounce. None: a person's."""
    if message.get("X-Incidentctl-Key") is not None:
        return "incidentctl's own notice"
    submitted = _header(message.get("Auto-Submitted", "no")).lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted}"
    if message.get_content_type() == "multipart/report":
        return "a delivery report (a bounce)"
    return None


def _addresses(message: EmailMessage) -> list[str]:
    """Every recipient address the message names (To, Cc, Delivered-To, X-Original-To)."""
    values = [
        _header(value)
        for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
        for value in message.get_all(name, [])
    ]
    return [addr.strip().lower() for _, addr in getaddresses(values) if addr]


def _route(rules: EmailIntake, to: Sequence[str], subject: str) -> tuple[str, int | None]:
    """The first rule whose address is a recipient and whose keyword is in the subject
    (each where given) sets service and level; the rest come from the defaults."""
    lowered = subject.lower()
    for rule in rules.rules:
        if rule.to is not None and rule.to.strip().lower() not in to:
            continue
        if rule.keyword is not None and rule.keyword.lower() not in lowered:
            continue
        return rule.service or rules.service, rule.level or rules.level
    return rules.service, rules.level


def _body(message: EmailMessage) -> str:
    """The plain-text body, else the HTML body as text; "" when it has neither."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _content(part)
    if part.get_content_subtype() == "html":
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(text, "html.parser")
        for hidden in soup(["script", "style", "head", "title"]):
            hidden.decompose()
        text = soup.get_text("\n")
    text = text.replace("\x00", "\ufffd")  # (a NUL cannot be stored: shown as U+FFFD)
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _content(part: MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):  # an unknown or lying charset
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else content.decode("utf-8", "replace")


def _attachments(message: EmailMessage) -> list[str]:
    """``name (type, size)`` of each attachment: listed, never stored."""
    listed: list[str] = []
    for part in message.iter_attachments():
        if len(listed) == _ATTACHMENTS_LISTED:
            listed.append("… and more (not listed)")
            break
        assert isinstance(part, EmailMessage)
        name = title_of(_header(part.get_filename() or "(no name)"))
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        listed.append(f"{name} ({part.get_content_type()}, {size:,} bytes)")
    return listed


def _with_attachments(text: str, attachments: Sequence[str]) -> str:
    if not attachments:
        return text
    listed = "\n".join(f"- {a}" for a in attachments)
    return f"{text}\n\nAttachments (not stored):\n{listed}".strip()


def _cut(text: str) -> str:
    if len(text) <= _DETAILS_LIMIT:
        return text
    return text[:_DETAILS_LIMIT] + f"\n[… {len(text) - _DETAILS_LIMIT:,} more characters not kept]"


def _replied_to(subject: str, message: EmailMessage) -> int | None:
    """The incident a reply answers: ``[#42]`` in the subject, else a notice of
    incidentctl's named by In-Reply-To or References."""
    tag = SUBJECT_TAG.search(subject)
    if tag:
        return int(tag[1])
    for name in ("In-Reply-To", "References"):
        for value in message.get_all(name, []):
            found = REPLY_ID.search(str(value))
            if found:
                return int(found[1])
    return None


def _own_words(body: str) -> str:
    """A reply without the message it quotes: up to the first quoted line (``>``) or
    the "On … wrote:" line that introduces it."""
    kept = []
    for line in body.splitlines():
        if line.startswith(">") or _QUOTE_HEAD.match(line.strip()):
            break
        kept.append(line)
    return _cut("\n".join(kept).strip())
