"""``policy simulate``: the SLA attainment of a period's incidents under another policy.

The incidents REPORTED in the period (as ``report`` chooses them, cancelled ones set
aside) are replayed twice from their stored facts (``facts_of`` of their clock events),
both times as of "now": under the policy their clocks follow ("current": each incident's
recorded policy version, the policy in force for one that records none or a version
never stored) and under the given file ("simulated"). Both sides are computed the same
way, so a difference is the policy's alone. Verdicts are counted by the incident's
current level as the report counts them: a paused clock is undecided, as a running one
is; ``attainment`` is ``100 * met / (met + breached)``.

An incident at a level (opened or re-levelled to) that one of the two policies lacks
cannot be replayed under it: it is counted in ``not_simulated`` and in no figure.
Nothing is written: the versions' texts are read, never recorded (``rules_for`` would
record the version of an incident that has none).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from incidentctl.domain import ClockName, ClockState
from incidentctl.policy.clocks import CLOCKS, Clock, ClockRules, facts_of
from incidentctl.services.reporting import Period, _attainment
from incidentctl.services.versions import rules_of
from incidentctl.store import repository
from incidentctl.times import to_rfc3339

__all__ = ["CHANGED_LIMIT", "simulate"]

BATCH = 500  # incidents read (with their events) at a time
CHANGED_LIMIT = 50  # incidents whose verdict changes, listed; all are counted
_COLUMNS = (
    "id",
    "title",
    "service",
    "level",
    "opened_level",
    "reported_at",
    "occurred_at",
    "cancelled_at",
    "policy_version",
)
_COUNTED = (ClockState.MET, ClockState.BREACHED, ClockState.RUNNING)


def _verdict(state: ClockState | None) -> ClockState | None:
    """What the attainment counts: a paused clock is undecided, as a running one is."""
    return ClockState.RUNNING if state == ClockState.PAUSED else state


def _fix_levels(rules: ClockRules) -> set[int]:
    """The levels that set a ``fix`` target."""
    return {lv for lv, targets in rules.levels.items() if getattr(targets, "fix", None)}


@dataclass
class _Tally:
    """The verdicts counted so far, per (level, clock) and side, and the changes."""

    counts: dict[tuple[int, str], dict[str, Counter[ClockState]]] = field(default_factory=dict)
    changed: list[dict[str, Any]] = field(default_factory=list)
    changed_total: int = 0

    def add(
        self, row: Any, before: Mapping[ClockName, Clock], after: Mapping[ClockName, Clock]
    ) -> None:
        """One incident's clocks under the current rules (``before``) and the simulated."""
        for clock in ClockName:
            was, will = before.get(clock), after.get(clock)
            if was is None and will is None:
                continue
            sides = self.counts.setdefault(
                (row.level, clock), {"current": Counter(), "simulated": Counter()}
            )
            old = _verdict(was.state if was else None)
            new = _verdict(will.state if will else None)
            if old is not None:
                sides["current"][old] += 1
            if new is not None:
                sides["simulated"][new] += 1
            if old == new:
                continue
            self.changed_total += 1
            if len(self.changed) < CHANGED_LIMIT:
                self.changed.append(
                    {
                        "id": row.id,
                        "title": row.title,
                        "service": row.service,
                        "level": row.level,
                        "clock": clock,
                        "current": was.state if was else None,
                        "simulated": will.state if will else None,
                    }
                )


def simulate(
    rt: Any, period: Period, simulated_policy: Any, simulated_source: str
) -> dict[str, Any]:
    """The side-by-side document for ``period`` (see the module docstring): the
    incidents are read ``BATCH`` at a time with their clock events, in one snapshot."""
    from incidentctl.store.engine import exists, read_one_snapshot

    in_force = rules_of(rt.policy)
    simulated = rules_of(simulated_policy)
    recorded: dict[str, ClockRules] = {}  # the versions read from the store
    used: Counter[str] = Counter()  # the versions the current side followed
    tally = _Tally()
    counted = cancelled = 0
    skipped: list[int] = []
    missing_levels: set[int] = set()
    fix_levels = _fix_levels(simulated) | _fix_levels(in_force)

    bounds = {"since": period.since, "until": period.until}
    if exists(rt.db_url):  # (no database: nothing was reported, and none is created)
        with rt.db.read() as session:
            read_one_snapshot(session)
            after = 0
            while rows := repository.incident_rows_reported_after(
                session, columns=_COLUMNS, after=after, limit=BATCH, **bounds
            ):
                after = rows[-1].id
                live = [row for row in rows if row.cancelled_at is None]
                cancelled += len(rows) - len(live)
                wanted = {row.policy_version for row in live} - {None, in_force.version}
                texts = repository.policy_versions(session, versions=wanted - set(recorded))
                for version, text in texts.items():
                    recorded[version] = rules_of(text=text)
                    fix_levels |= _fix_levels(recorded[version])
                events = repository.events_by_incident(
                    session, incident_ids=[row.id for row in live], kinds=repository.CLOCK_EVENTS
                )
                for row in live:
                    facts = facts_of(row, events.get(row.id, []))
                    # (a version nobody recorded: the policy in force stands in, as in
                    # rules_for)
                    current = recorded.get(row.policy_version or "", in_force)
                    levels = {facts.level, *(r.level for r in facts.relevels)}
                    lacking = {lv for lv in levels if lv not in simulated.levels}
                    lacking |= {lv for lv in levels if lv not in current.levels}
                    if lacking:
                        skipped.append(row.id)
                        missing_levels |= lacking
                        continue
                    counted += 1
                    used[current.version or "in force"] += 1
                    tally.add(row, current.clocks(facts, rt.now), simulated.clocks(facts, rt.now))

    counts = tally.counts
    sla: dict[str, dict[str, Any]] = {}
    for level in sorted({*in_force.levels, *simulated.levels, *(lv for lv, _ in counts)}):
        shown = [*CLOCKS]
        if level in fix_levels or (level, ClockName.FIX) in counts:
            shown.append(ClockName.FIX)
        sla[str(level)] = {clock: _side_by_side(counts.get((level, clock), {})) for clock in shown}
    note = None
    if skipped:
        note = (
            f"{len(skipped)} incidents are at a level one of the policies lacks "
            f"(level {', '.join(map(str, sorted(missing_levels)))}): not simulated, "
            "and in no figure"
        )
    return {
        "since": to_rfc3339(period.since),
        "until": to_rfc3339(period.until),
        "tz": period.tz_name,
        "month": period.month,
        "current": {"source": rt.loaded_policy.source, "versions": sorted(used)},
        "simulated": {"source": simulated_source, "version": simulated.version},
        "incidents": counted,
        "cancelled": cancelled,
        "not_simulated": {
            "count": len(skipped),
            "levels": sorted(missing_levels),
            "ids": skipped[:CHANGED_LIMIT],
            "note": note,
        },
        "sla": sla,
        "changed": tally.changed,
        "changed_total": tally.changed_total,
    }


def _side_by_side(tally: Mapping[str, Counter[ClockState]]) -> dict[str, Any]:
    sides: dict[str, Any] = {}
    for side in ("current", "simulated"):
        verdicts = tally.get(side, Counter())
        sides[side] = {
            **{state.value: verdicts[state] for state in _COUNTED},
            "attainment": _attainment(verdicts[ClockState.MET], verdicts[ClockState.BREACHED]),
        }
    a, b = sides["current"]["attainment"], sides["simulated"]["attainment"]
    sides["change"] = None if a is None or b is None else round(b - a, 1)
    return sides
