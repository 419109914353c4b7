"""The notification outbox (deliveries) and the indexed "next notice due at" column.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from incidentctl.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy): SQLite supports it, and it is instant on big tables.
    op.add_column("incidents", sa.Column("notify_at", UTCDateTime(), nullable=True))
    op.create_index("ix_incidents_notify_at", "incidents", ["notify_at"])
    # Incidents recorded before notifications existed are looked at by the next pass,
    # which works out what (if anything) they are owed and when.
    op.execute("UPDATE incidents SET notify_at = reported_at WHERE closed_at IS NULL")
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("notice", sa.String(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("cc", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.UniqueConstraint(
            "incident_id",
            "notice",
            "sequence",
            "channel",
            "recipient",
            name="uq_deliveries_key",
        ),
    )
    op.create_index("ix_deliveries_next_attempt_at", "deliveries", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_index("ix_incidents_notify_at", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("notify_at")
