"""The incidents under one problem (``show`` lists them): a partial index on
``problem_ref``, over the incidents sent to problem management only.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_incidents_problem_ref",
        "incidents",
        ["problem_ref"],
        sqlite_where=sa.text("problem_ref IS NOT NULL"),
        postgresql_where=sa.text("problem_ref IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_incidents_problem_ref", table_name="incidents")
