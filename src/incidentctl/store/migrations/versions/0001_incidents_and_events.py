"""Incidents with their indexed SLA due times, and the append-only event log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from incidentctl.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("details", sa.String(), nullable=True),
        sa.Column("service", sa.String(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("opened_level", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("reporter", sa.String(), nullable=True),
        sa.Column("contact", sa.String(), nullable=True),
        sa.Column("assignee", sa.String(), nullable=True),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("reported_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("transferred_at", UTCDateTime(), nullable=True),
        sa.Column("recovered_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("solution", sa.String(), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("approved_by", sa.String(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("confirmed_by", sa.String(), nullable=True),
        sa.Column("problem_ref", sa.String(), nullable=True),
        sa.Column("problem_reason", sa.String(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("response_due_at", UTCDateTime(), nullable=False),
        sa.Column("response_stopped_at", UTCDateTime(), nullable=True),
        sa.Column("recovery_due_at", UTCDateTime(), nullable=False),
        sa.Column("recovery_stopped_at", UTCDateTime(), nullable=True),
        sa.Column("resolution_due_at", UTCDateTime(), nullable=False),
        sa.Column("resolution_stopped_at", UTCDateTime(), nullable=True),
        sa.Column("deadline_at", UTCDateTime(), nullable=True),
    )
    for column in ("service", "level", "assignee", "status", "reported_at", "deadline_at"):
        op.create_index(f"ix_incidents_{column}", "incidents", [column])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_events_incident_id_id", "events", ["incident_id", "id"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("incidents")
