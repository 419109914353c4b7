"""What intake has seen: each dedup key (an alert's fingerprint, an email's Message-ID,
a service's alert storm) and the incident it went to.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from incidentctl.store.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("service", sa.String(), nullable=False),
        sa.Column("new", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_intake_keys_key", "intake_keys", ["key", "incident_id"])
    op.create_index("ix_intake_keys_service_created_at", "intake_keys", ["service", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_intake_keys_service_created_at", "intake_keys")
    op.drop_index("ix_intake_keys_key", "intake_keys")
    op.drop_table("intake_keys")
