"""Notices due before ``notices_from`` are not sent: set by ``import --no-past-notices``
for incidents whose earlier notices were handled by the system they came from.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from incidentctl.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, NULL for every incident so far (no notice is held back).
    op.add_column("incidents", sa.Column("notices_from", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("notices_from")
