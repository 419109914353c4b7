"""Pauses, policy versions and the developers' fix clock.

- ``paused_at`` / ``pause_reason``: the pause that stands (None: not paused);
  ``paused_seconds``: the incident's ended pauses, in all (the report counts them).
- ``policy_version``: the policy version the incident's clocks follow; the versions'
  texts are in ``policy_versions``. NULL (every incident so far): the policy in force,
  recorded at its next change.
- ``fix_started_at`` / ``fix_due_at`` / ``fix_stopped_at``: the fix clock, where the
  level has one.
- A clock's due time may be NULL: a pause stops it, so it has none until it resumes.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from incidentctl.store.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_DUES = ("response_due_at", "recovery_due_at", "resolution_due_at")


def upgrade() -> None:
    # (SQLite rebuilds the incidents table for the due times: ``migrate.upgrade`` runs
    # it with the foreign keys off, and checks them before the commit.)
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.String(), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("paused_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("pause_reason", sa.String(), nullable=True))
        batch.add_column(
            sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("policy_version", sa.String(), nullable=True))
        batch.add_column(sa.Column("fix_started_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("fix_due_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("fix_stopped_at", UTCDateTime(), nullable=True))
        for column in _DUES:
            batch.alter_column(column, existing_type=UTCDateTime(), nullable=True)


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+): a batch copy of the table would trip over the
    # events' foreign keys. The due times stay nullable.
    for column in (
        "fix_stopped_at",
        "fix_due_at",
        "fix_started_at",
        "policy_version",
        "paused_seconds",
        "pause_reason",
        "paused_at",
    ):
        op.drop_column("incidents", column)
    op.drop_table("policy_versions")
