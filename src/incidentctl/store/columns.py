"""The stored columns of incidents and events, by name, without SQLAlchemy.

The import workers turn lines into rows in this order; they start before SQLAlchemy is
imported (it is a sixth of a second that they need not wait for). The models in
``store.models`` are the schema: ``tests/test_import_parts.py`` checks these names
against them.
"""

from __future__ import annotations

__all__ = ["EVENT_COLUMNS", "INCIDENT_COLUMNS", "INCIDENT_TIMES"]

# The ids first, as an import fills in the missing ones.
INCIDENT_COLUMNS = (
    "id",
    "title",
    "details",
    "service",
    "level",
    "channel",
    "reporter",
    "contact",
    "assignee",
    "team",
    "status",
    "opened_level",
    "occurred_at",
    "reported_at",
    "acknowledged_at",
    "transferred_at",
    "recovered_at",
    "resolved_at",
    "solution",
    "approved_at",
    "approved_by",
    "closed_at",
    "confirmed_by",
    "problem_ref",
    "problem_reason",
    "updated_at",
    "response_due_at",
    "response_stopped_at",
    "recovery_due_at",
    "recovery_stopped_at",
    "resolution_due_at",
    "resolution_stopped_at",
    "deadline_at",
    "notify_at",
    "notices_handled",
)
EVENT_COLUMNS = ("id", "incident_id", "kind", "at", "recorded_at", "actor", "data")
# The time columns: every name that ends in ``_at``.
INCIDENT_TIMES = tuple(name for name in INCIDENT_COLUMNS if name.endswith("_at"))
