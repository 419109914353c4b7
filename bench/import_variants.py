"""Bench only: the ``incidentctl`` command line with its import forced into one process,
for ``bench_import.py --one-process``. Nothing in src/ uses this.

    .venv/bin/python bench/import_variants.py one-process --db X.db import FILE

``one-process``: the import (``services.transfer.import_file``) with one part of any
size (``part_bytes`` 2**62): ``bulk.staging`` then stages it in the importing process,
so nothing forks; the staging file and its copy stay. It answers whether the worker
processes pay for themselves (docs/performance.md).
"""

from __future__ import annotations

import sys

from incidentctl.services import transfer


def main() -> None:
    variant = sys.argv.pop(1)
    if variant != "one-process":
        raise SystemExit(f"unknown variant {variant!r}: one-process")
    transfer.import_file.__kwdefaults__["part_bytes"] = 2**62
    from incidentctl.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
