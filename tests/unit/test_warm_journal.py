"""The warm runner's journal: which recorded runs belong to a runner that is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from uuid import uuid4

from sqlalchemy import select

from blocks.store import local_store
from blocks.store import tables as t
from postflow.serve.warm_journal import RunJournal


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _dead_pid() -> int:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    return exited.pid


def _run_ids(store) -> list[str]:
    with store.read() as db:
        return list(db.execute(select(t.warm_runs.c.run_id)).scalars())


def test_runs_of_a_live_process_are_not_stranded_and_ended_runs_are_dropped(tmp_path):
    store = local_store(tmp_path)
    journal = RunJournal(store)
    kept, ended = uuid4(), uuid4()
    journal.add(kept)
    journal.add(ended)
    journal.remove(ended)
    assert _run_ids(store) == [str(kept)]
    assert RunJournal(store, pid=os.getppid()).stranded() == []  # seen from another runner


def test_a_dead_process_and_a_reused_pid_of_this_machine_leave_their_runs_stranded(tmp_path):
    store = local_store(tmp_path)
    dead, reused = uuid4(), uuid4()
    RunJournal(store, pid=_dead_pid()).add(dead)
    impostor = RunJournal(store)  # this process's pid, recorded by one started at another time
    impostor.runner_id, impostor._started = "host:reused", 1.0
    impostor.host = RunJournal(store).host
    impostor.add(reused)
    seen = RunJournal(store, pid=os.getppid()).stranded()
    assert sorted(seen, key=str) == sorted([dead, reused], key=str)


def test_a_runner_on_another_machine_is_gone_only_once_its_lease_expired(tmp_path):
    store, clock = local_store(tmp_path), Clock()
    other = RunJournal(store, host="machine-b", lease_seconds=30, clock=clock)
    run = uuid4()
    other.add(run)  # its pid means nothing here: it may well be alive
    here = RunJournal(store, host="machine-a", lease_seconds=30, clock=clock)
    clock.now += 29
    assert here.stranded() == []
    other.heartbeat()
    clock.now += 29
    assert here.stranded() == []
    clock.now += 2  # B was killed: no heartbeat for 31 s
    assert here.stranded() == [run]


def test_a_stranded_run_is_taken_over_by_one_runner_only(tmp_path):
    store, clock = local_store(tmp_path), Clock()
    run = uuid4()
    RunJournal(store, host="machine-b", lease_seconds=30, clock=clock).add(run)
    clock.now += 31
    a = RunJournal(store, host="machine-a", lease_seconds=30, clock=clock)
    c = RunJournal(store, host="machine-c", lease_seconds=30, clock=clock)
    assert a.stranded() == [run] and c.stranded() == [run]
    assert a.take(run) is True
    assert c.take(run) is False  # a is alive: it is a's now
    assert c.stranded() == []
    a.remove(run)
    assert _run_ids(store) == []


def test_a_clean_stop_forgets_the_runner(tmp_path):
    store = local_store(tmp_path)
    journal = RunJournal(store, lease_seconds=3).start_heartbeat()
    journal.close()
    with store.read() as db:
        assert db.execute(select(t.runners)).all() == []


def test_an_unreachable_store_is_logged_and_the_run_goes_on(tmp_path, caplog):
    store = local_store(tmp_path)
    (tmp_path / "state.db").unlink()
    (tmp_path / "state.db").mkdir()  # the file is now a folder: nothing can be written
    store.engine.dispose()
    journal = RunJournal(store)
    journal.add(uuid4())  # no exception
    assert "Cannot record warm run" in caplog.text


def test_rows_that_are_not_a_journal_s_neither_stop_a_run_nor_recovery(tmp_path):
    store = local_store(tmp_path)
    with store.write() as db:
        db.execute(
            store.insert_missing(
                t.warm_runs, {"run_id": "junk", "runner_id": "x", "claimed_at": 0.0}
            )
        )
    journal = RunJournal(store)
    assert journal.stranded() == []
    journal.add(uuid4())
