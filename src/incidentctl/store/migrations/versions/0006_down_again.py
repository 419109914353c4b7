"""An incident whose service went down again (``reopen --down``): since when, and when
its recovery is due again, kept derived as the clocks are (the board, ``show``, the
JSON and the overdue-recovery notice read them).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from incidentctl.store.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: NULL is right for every incident so far until its next change
    # (an incident down again is refreshed by its next command or escalate pass).
    op.add_column("incidents", sa.Column("down_again_at", UTCDateTime(), nullable=True))
    op.add_column("incidents", sa.Column("down_due_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    for column in ("down_due_at", "down_again_at"):
        op.drop_column("incidents", column)
