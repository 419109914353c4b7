"""Where an ``import`` spends its time: the moments its phases end, in one process.

    .venv/bin/python bench/import_phases.py            # 100,000 plain records, SQLite

Runs the real command in this process with the store's parts wrapped to print when
the workers start, when each part is staged and copied, and when the transaction
ends. Times are wall seconds from the start of this script.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

T0 = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent))


def mark(what: str) -> None:
    print(f"{time.perf_counter() - T0:6.2f} s  {what}", flush=True)


def main() -> None:
    from bench_import import NOW, records

    work = Path(tempfile.mkdtemp(prefix="bench-phases-"))
    source = work / "plain.ndjson"
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    source.write_text("".join(json.dumps(r) + "\n" for r in records(count)))
    os.environ.update(
        INCIDENTCTL_NOW=NOW, INCIDENTCTL_USER="bench", INCIDENTCTL_CONFIG_DIR=str(work)
    )
    start = time.perf_counter()
    mark(f"{count:,} records written; importing")

    from incidentctl.services import transfer
    from incidentctl.store import bulk

    mark("store imported (the policy code; SQLAlchemy waits for the workers)")
    staging = bulk.staging

    @contextmanager
    def traced_staging(*args: Any, **kwargs: Any) -> Iterator[Iterator[bulk.Staged]]:
        mark("workers start")
        with staging(*args, **kwargs) as parts:
            trace_copier()

            def each() -> Iterator[bulk.Staged]:
                for staged in parts:
                    mark(f"part {staged.part.index} staged ({staged.incidents:,} incidents)")
                    yield staged

            yield each()

    def trace_copier() -> None:
        from incidentctl.store.copier import Copier

        mark("SQLAlchemy imported")
        copy, close = Copier.copy, Copier.close

        def traced_copy(self: Copier, staged: bulk.Staged) -> None:
            copy(self, staged)
            mark(f"part {staged.part.index} copied")

        def traced_close(self: Copier) -> None:
            mark("transaction committed")
            close(self)

        Copier.copy = traced_copy  # type: ignore[method-assign]
        Copier.close = traced_close  # type: ignore[method-assign]

    transfer.bulk.staging = traced_staging  # type: ignore[assignment]
    from incidentctl.cli import main as cli

    sys.argv = ["incidentctl", "--db", str(work / "phases.db"), "import", str(source)]
    try:
        cli()
    except SystemExit:
        pass
    mark(f"done: import took {time.perf_counter() - start:.2f} s after the records were written")


if __name__ == "__main__":
    main()
