"""Moving a whole database to another engine: ``incidentctl db copy --to URL``.

Every table, in dependency order, in batches, with ids kept; the target must be empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, insert, select

from incidentctl.errors import Conflict
from incidentctl.store.engine import Database, move_sequences_past
from incidentctl.store.models import SQLModel

BATCH = 2000


@dataclass
class CopyReport:
    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)


def copy_database(
    source: Database, target: Database, *, progress: Callable[[str, int], None] | None = None
) -> CopyReport:
    """Copy all of ``source`` into the empty ``target`` (migrated to the same schema first)."""
    source.ensure_schema()
    target.ensure_schema()
    tables = SQLModel.metadata.sorted_tables
    report = CopyReport(source=source.url, target=target.url)
    with source.engine.connect() as reader, target.writer.begin() as writer:
        for table in tables:
            if writer.execute(select(func.count()).select_from(table)).scalar_one():
                raise Conflict(
                    f"the target database already holds {table.name}: copy only into an "
                    "empty database"
                )
        for table in tables:
            count = 0
            rows = reader.execution_options(yield_per=BATCH).execute(
                select(table).order_by(*table.primary_key.columns)
            )
            for batch in rows.mappings().partitions(BATCH):
                writer.execute(insert(table), [dict(row) for row in batch])
                count += len(batch)
                if progress:
                    progress(table.name, count)
            report.rows[table.name] = count
        move_sequences_past(writer, tables)
    return report
