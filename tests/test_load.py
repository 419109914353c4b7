"""Load (issue 15, item 4): 8 writers x 50 writes while ``escalate``, ``watch`` and ``serve``
run, on both engines. Every write is an ``incidentctl`` process of its own or a POST to
serve (tests/load_scenario.py has the rounds); every call exits 0, "database is locked"
is never shown, the store holds exactly what was written, and every delivery reached the
webhook server once. ``bench/load.py`` runs the same with other counts."""

from __future__ import annotations

import pytest

from load_scenario import load, problems

WRITERS, WRITES = 8, 50


@pytest.mark.storage_contract
@pytest.mark.slow
def test_eight_writers_while_escalate_watch_and_serve_run(own_db, db_engine, tmp_path):
    run = load(own_db, tmp_path, engine=db_engine, writers=WRITERS, writes=WRITES)
    print(run.figures())  # for docs/reliability.md (pytest -s shows it)
    assert problems(run) == []
    assert len(run.calls) == WRITERS * WRITES
    # 8 x (5 X + 10 alerts) incidents and the shared one; every alert incident was
    # recovered, every X either handed over or closed
    assert len(run.incidents) == WRITERS * WRITES // 10 * 3 + 1
    statuses = sorted({i["status"] for i in run.incidents})
    assert statuses == ["acknowledged", "closed", "open", "recovered"]
    assert run.escalations and run.watch_passes, "escalate and watch ran during the writes"
