"""Alembic environment: the connection comes from incidentctl, never from an ini file."""

from alembic import context

from incidentctl.store.models import SQLModel

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite can only ALTER by copying the table
)
with context.begin_transaction():
    context.run_migrations()
