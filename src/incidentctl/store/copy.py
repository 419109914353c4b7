"""Moving a whole database to another engine: ``incidentctl db copy --to URL``.

Every table, in dependency order, in batches, with ids kept; the target must be empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Table, func, insert, select, text

from incidentctl.errors import Conflict
from incidentctl.store.engine import Database
from incidentctl.store.models import SQLModel

BATCH = 2000


@dataclass
class CopyReport:
    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)


def reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """After rows were inserted with their own ids, PostgreSQL's sequences must move past them."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        if "id" not in table.c:
            continue
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 1), "
                f"(SELECT MAX(id) FROM {table.name}) IS NOT NULL)"
            )
        )


def copy_database(
    source: Database, target: Database, *, progress: Callable[[str, int], None] | None = None
) -> CopyReport:
    """Copy all of ``source`` into the empty ``target`` (migrated to the same schema first)."""
    source.ensure_schema()
    target.ensure_schema()
    tables = SQLModel.metadata.sorted_tables
    report = CopyReport(source=source.url, target=target.url)
    with source.engine.connect() as reader, target._writer.begin() as writer:
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
        reset_sequences(writer, tables)
    return report
