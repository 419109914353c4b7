"""When escalation last ran (``escalate``, ``watch``): one row per kind of pass, so that
the board can warn when the cron line that runs it has silently stopped.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from incidentctl.store.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "passes",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("ran_at", UTCDateTime(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("passes")
