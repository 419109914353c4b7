"""``sla explain``: an incident's clocks, computed as its commands compute them, and
the steps that explain each (``policy.explain``). Reads only."""

from __future__ import annotations

from dataclasses import dataclass

from incidentctl.domain import ClockName
from incidentctl.errors import InvalidInput
from incidentctl.policy.clocks import facts_of
from incidentctl.policy.explain import Explanation, explain
from incidentctl.runtime import Runtime
from incidentctl.services.versions import rules_for, rules_of
from incidentctl.store import repository

__all__ = ["IncidentClocks", "explain_clocks"]


@dataclass(frozen=True)
class IncidentClocks:
    """An incident's explained clocks, in the order they are shown."""

    incident_id: int
    explanations: tuple[Explanation, ...]


def explain_clocks(rt: Runtime, incident_id: int, clock: ClockName | None = None) -> IncidentClocks:
    """Every clock of the incident, or ``clock`` alone (InvalidInput when the incident
    has no such clock; NotFound when there is no such incident)."""
    with rt.db.read() as session:
        incident = repository.incident_by_id(session, incident_id=incident_id)
        events = repository.clock_events_of(session, incident_id=incident_id)
        # (an incident from before policy versions: the policy in force, as its next
        # change would record it; a read writes nothing)
        if incident.policy_version is None:
            rules = rules_of(rt.policy)
        else:
            rules = rules_for(session, rt.policy, incident, rt.now)
        facts = facts_of(incident, events)
    clocks = rules.clocks(facts, rt.now)
    if clock is not None:
        if clock not in clocks:
            has = ", ".join(clocks)
            why = (
                " (it runs once the incident is transferred to the developers, at a level "
                "with a fix target)"
                if clock is ClockName.FIX
                else ""
            )
            raise InvalidInput(
                f"incident #{incident_id} has no {clock} clock{why}; its clocks: {has}"
            )
        clocks = {clock: clocks[clock]}
    return IncidentClocks(
        incident_id,
        tuple(explain(c, facts, rt.now, rules.relevel) for c in clocks.values()),
    )
