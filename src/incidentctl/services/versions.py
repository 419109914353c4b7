"""Policy versions: the clock part of a policy (its levels, re-level mode and calendars)
named by a hash of its text. Each incident records the version its clocks follow, the
one in force when it was opened, and keeps it: editing ``sla.toml`` changes the clocks
of the incidents opened afterwards, never the verdicts of those already counted.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from incidentctl.config import ClockPolicy, clock_policy, clock_text
from incidentctl.policy.calendar import build_calendars
from incidentctl.policy.clocks import ClockRules

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

__all__ = ["digest", "rules_for", "rules_of", "version_of"]

_RULES: dict[str, ClockRules] = {}  # by version: the text of a version never changes


def version_of(policy: Any) -> tuple[str, str]:
    """The version of ``policy``'s clock part, and its text."""
    return digest(clock_text(policy))


def digest(text: str) -> tuple[str, str]:
    """The version a clock part's canonical ``text`` is named by, and the text."""
    return hashlib.sha256(text.encode()).hexdigest()[:12], text


def rules_of(policy: Any = None, *, text: str | None = None) -> ClockRules:
    """The clock rules of ``policy`` (a ``Policy`` or ``ClockPolicy``), or of a stored
    version's ``text``."""
    if text is not None:
        version, _ = digest(text)
        if version not in _RULES:
            _RULES[version] = _rules(clock_policy(text), version)
        return _RULES[version]
    version, text = version_of(policy)
    if version not in _RULES:
        _RULES[version] = _rules(clock_policy(text), version)
    return _RULES[version]


def _rules(part: ClockPolicy, version: str) -> ClockRules:
    return ClockRules(
        levels=part.levels,
        relevel=part.relevel,
        calendars=build_calendars({name: c.spec() for name, c in part.calendars.items()}),
        version=version,
    )


def rules_for(session: Session, policy: Any, incident: Any, now: datetime) -> ClockRules:
    """The clock rules of ``incident``: those of the version it records, else (a new
    incident, or one from before versions) the policy in force, whose version is then
    recorded."""
    from incidentctl.store import repository  # (not at import: the import's workers
    # read lines with rules_of, and load no SQLAlchemy)

    current = rules_of(policy)
    version = incident.policy_version
    if version is None or version == current.version:
        if version is None:
            assert current.version is not None
            repository.add_policy_version(
                session, version=current.version, text=clock_text(policy), now=now
            )
        return current
    if version in _RULES:
        return _RULES[version]
    text = repository.policy_version_text(session, version=version)
    if text is None:  # (a version nobody recorded: the policy in force stands in)
        return current
    return rules_of(text=text)
