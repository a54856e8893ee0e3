"""The warm runner's journal: which recorded runs belong to a process that is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from uuid import uuid4

from postflow.warm_journal import RunJournal
from tasks.state_file import read_json, write_json_atomic


def test_runs_of_a_live_process_are_not_stranded_and_ended_runs_are_dropped(tmp_path):
    journal = RunJournal(tmp_path / "warm-runs.json")
    kept, ended = uuid4(), uuid4()
    journal.add(kept)
    journal.add(ended)
    journal.remove(ended)
    assert list(read_json(tmp_path / "warm-runs.json")) == [str(kept)]
    assert journal.stranded() == []


def test_a_dead_process_and_a_reused_pid_both_leave_their_runs_stranded(tmp_path):
    path = tmp_path / "warm-runs.json"
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    dead, reused = uuid4(), uuid4()
    write_json_atomic(
        path,
        {
            str(dead): {"pid": exited.pid, "started_at": 1.0},
            # this process's pid, but recorded by a process that started at another time
            str(reused): {"pid": os.getpid(), "started_at": 1.0},
        },
    )
    assert sorted(RunJournal(path).stranded(), key=str) == sorted([dead, reused], key=str)


def test_an_unwritable_journal_is_logged_and_the_run_goes_on(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    journal = RunJournal(blocker / "warm-runs.json")
    journal.add(uuid4())  # no exception
    assert "Cannot record warm run" in caplog.text


def test_a_journal_edited_into_something_else_neither_stops_a_run_nor_recovery(tmp_path):
    path = tmp_path / "warm-runs.json"
    write_json_atomic(path, ["not", "a", "journal"])
    journal = RunJournal(path)
    assert journal.stranded() == []
    run = uuid4()
    journal.add(run)  # starts a fresh journal instead of raising in the poller
    assert list(read_json(path)) == [str(run)]
    write_json_atomic(path, {"not-a-uuid": {"pid": 1}, str(uuid4()): "junk", str(run): {}})
    assert journal.stranded() == []
    huge = uuid4()  # a pid no process can have: its process is gone
    write_json_atomic(path, {str(huge): {"pid": 10**30, "started_at": 1.0}})
    assert journal.stranded() == [huge]
