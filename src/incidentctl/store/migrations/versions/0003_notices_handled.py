"""The notices an incident is taken to have had elsewhere (``notices_handled``): set by
``import --no-past-notices`` to the notices already due at the import.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, NULL for every incident so far (no notice is taken as had).
    op.add_column("incidents", sa.Column("notices_handled", sa.JSON(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy of the table would trip over the
    # events' foreign keys.
    op.drop_column("incidents", "notices_handled")
