"""Cancelled incidents (``cancel``): when, why, and the incident a duplicate repeats.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from incidentctl.store.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs, NULL for every incident so far (none was cancelled).
    op.add_column("incidents", sa.Column("cancelled_at", UTCDateTime(), nullable=True))
    op.add_column("incidents", sa.Column("cancel_reason", sa.String(), nullable=True))
    op.add_column("incidents", sa.Column("duplicate_of", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+), as in 0003.
    for column in ("duplicate_of", "cancel_reason", "cancelled_at"):
        op.drop_column("incidents", column)
