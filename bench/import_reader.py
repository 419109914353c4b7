"""What one line costs an import worker: the line reader alone, in this process.

    .venv/bin/python bench/import_reader.py            # 20,000 plain records, best of 9

Converts the same plain records that ``bench_import.py`` imports (validation, derived
timeline, clocks, next notice, the rows' stored times; no database) and prints the best time per
line of nine passes, with the cycle collector off as in a worker.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from bench_import import records

    from incidentctl.config import builtin_policy
    from incidentctl.services.lines import LineReader
    from incidentctl.store.bulk import stored_rows

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    lines = [json.dumps(r).encode() + b"\n" for r in records(count)]
    now = datetime(2026, 11, 25, 3, tzinfo=UTC)
    reader = LineReader(policy=builtin_policy(), now=now, actor="bench")
    gc.disable()
    best = float("inf")
    for _ in range(9):
        start = time.perf_counter()
        for line in lines:
            stored_rows(*reader.convert(line)[:2])  # as a worker stages it
        best = min(best, time.perf_counter() - start)
    print(f"{count:,} lines: best {best / count * 1e6:.1f} µs a line")


if __name__ == "__main__":
    main()
