"""WarmRunner on a real Prefect server: deployment runs executed in this process, each once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from uuid import uuid4

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
from prefect.states import Cancelling, Completed, Pending, Running, Scheduled

from blocks.store import local_store, tables
from core.errors import IngestCancelled
from postflow.serve.warm import WarmRunner
from postflow.serve.warm_journal import RunJournal, recover_stranded_runs
from tasks.platform.cancellation import cancel_check
from tests.integration.test_deployments import _wait

pytestmark = pytest.mark.integration

_guard = threading.Lock()
_running: list[int] = [0]
_peak: list[int] = [0]
_ran: list[str] = []


@flow(name="warm-probe")
def warm_probe(label: str, hold_seconds: float = 0.4) -> str:
    """Record how many probes run at once in this process, hold, and return ``label``."""
    with _guard:
        _running[0] += 1
        _peak[0] = max(_peak[0], _running[0])
        _ran.append(label)
    time.sleep(hold_seconds)
    with _guard:
        _running[0] -= 1
        if label == "fail-first" and _ran.count(label) == 1:
            raise RuntimeError("first attempt fails")
    return label


@pytest.fixture
def probe_deployment(prefect_harness):
    _peak[0], _ran[:] = 0, []
    deployment_id = warm_probe.to_deployment(name="warm-probe").apply()
    yield deployment_id
    with get_client(sync_client=True) as client:
        client.delete_deployment(deployment_id)


def _create_runs(deployment_id, labels: list[str]) -> list:
    with get_client(sync_client=True) as client:
        return [
            client.create_flow_run_from_deployment(deployment_id, parameters={"label": label})
            for label in labels
        ]


def _final_states(runs: list) -> list[str] | None:
    with get_client(sync_client=True) as client:
        states = [client.read_flow_run(r.id).state for r in runs]
    if all(s is not None and s.is_final() for s in states):
        return [s.type.value for s in states]
    return None


def test_runs_each_scheduled_run_here_at_most_concurrency_at_once(probe_deployment):
    runs = _create_runs(probe_deployment, [f"r{n}" for n in range(6)])
    runner = WarmRunner({probe_deployment: warm_probe}, 2, poll_seconds=0.2).start()
    try:
        states = _wait(lambda: _final_states(runs), 60, "final states")
    finally:
        assert runner.stop(timeout_seconds=30)
    assert states == ["COMPLETED"] * 6
    assert sorted(_ran) == [f"r{n}" for n in range(6)]
    assert _peak[0] == 2
    assert sorted(runner.executed) == sorted(r.id for r in runs)


def test_two_runners_on_one_deployment_run_each_flow_run_once(probe_deployment):
    runs = _create_runs(probe_deployment, [f"s{n}" for n in range(8)])
    runners = [
        WarmRunner({probe_deployment: warm_probe}, 2, poll_seconds=0.1, name=f"w{n}")
        for n in range(2)
    ]
    for runner in runners:
        runner.start()
    try:
        states = _wait(lambda: _final_states(runs), 60, "final states")
    finally:
        for runner in runners:
            assert runner.stop(timeout_seconds=30)
    assert states == ["COMPLETED"] * 8
    assert sorted(_ran) == sorted(f"s{n}" for n in range(8))  # each body ran once
    executed = [run_id for runner in runners for run_id in runner.executed]
    assert sorted(executed) == sorted(r.id for r in runs)


def test_a_failed_run_retried_from_the_ui_runs_again_here(probe_deployment):
    (run,) = _create_runs(probe_deployment, ["fail-first"])
    runner = WarmRunner({probe_deployment: warm_probe}, 1, poll_seconds=0.2).start()
    try:
        assert _wait(lambda: _final_states([run]), 60, "the first attempt") == ["FAILED"]
        with get_client(sync_client=True) as client:  # the UI's Retry button
            client.set_flow_run_state(run.id, Scheduled(name="AwaitingRetry"), force=True)
        assert _wait(lambda: _final_states([run]), 60, "the retry") == ["COMPLETED"]
    finally:
        assert runner.stop(timeout_seconds=30)
    assert _ran == ["fail-first", "fail-first"] and runner.executed == [run.id, run.id]


def _journal_rows(state_dir) -> int:
    from sqlalchemy import func, select

    with local_store(state_dir).read() as db:
        return db.execute(select(func.count()).select_from(tables.warm_runs)).scalar_one()


def _dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_runs_a_killed_runner_left_are_marked_crashed_and_run_again(probe_deployment, tmp_path):
    # What `kill -9` of `postflow up` leaves: one run Running, one claimed (Pending), one
    # finished before the kill, all still in that process's journal.
    running, pending, done = _create_runs(probe_deployment, ["k-running", "k-pending", "k-done"])
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(running.id, Running(), force=True)
        client.set_flow_run_state(pending.id, Pending(), force=True)
        client.set_flow_run_state(done.id, Completed(), force=True)
    killed = RunJournal(local_store(tmp_path), pid=_dead_pid())
    for run in (running, pending, done):
        killed.add(run.id)
    alive = RunJournal(local_store(tmp_path))  # another `up` of the machine, running
    alive.add(uuid4())

    runner = WarmRunner({probe_deployment: warm_probe}, 2, poll_seconds=0.2, journal=alive)
    runner.start()
    try:

        def rerun_ended() -> list | None:
            with get_client(sync_client=True) as client:
                runs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        deployment_id=FlowRunFilterDeploymentId(any_=[probe_deployment])
                    )
                )
            again = [r for r in runs if r.id not in {running.id, pending.id, done.id}]
            return again if len(again) == 2 and all(r.state.is_final() for r in again) else None

        again = _wait(rerun_ended, 60, "the two runs started again")
    finally:
        assert runner.stop(timeout_seconds=30)
    with get_client(sync_client=True) as client:
        states = [client.read_flow_run(r.id).state.type.value for r in (running, pending, done)]
    assert states == ["CRASHED", "CRASHED", "COMPLETED"]
    assert sorted(r.parameters["label"] for r in again) == ["k-pending", "k-running"]
    assert {r.state.type.value for r in again} == {"COMPLETED"}
    assert sorted(_ran) == ["k-pending", "k-running"]
    # The killed process's entries are gone, the live one's stays; the reruns came and went.
    assert killed.stranded() == [] and _journal_rows(tmp_path) == 1
    # A second start recovers nothing more.
    with get_client(sync_client=True) as client:
        assert recover_stranded_runs(client, alive) == []


@flow(name="warm-cancel-probe")
def cancel_probe(label: str) -> str:
    """Send "blocks" for up to 30 s, checking the run's cancel flag before each, as the
    upload does; record how it ended."""
    check = cancel_check()
    for _ in range(300):
        try:
            check()
        except IngestCancelled:
            _ran.append(f"{label}:stopped")
            raise
        time.sleep(0.1)
    _ran.append(f"{label}:finished")
    return label


def test_a_run_cancelled_from_the_ui_stops_and_ends_cancelled(prefect_harness):
    _ran[:] = []
    deployment_id = cancel_probe.to_deployment(name="warm-cancel-probe").apply()
    runner = WarmRunner({deployment_id: cancel_probe}, 1, poll_seconds=0.2)
    runner.cancel_check_seconds = 0.2
    runner.start()
    try:
        (run,) = _create_runs(deployment_id, ["c"])
        with get_client(sync_client=True) as client:
            _wait(lambda: client.read_flow_run(run.id).state.is_running(), 60, "the run")
            client.set_flow_run_state(run.id, Cancelling(), force=True)  # the UI's Cancel
        assert _wait(lambda: _final_states([run]), 60, "the run to end") == ["CANCELLED"]
    finally:
        assert runner.stop(timeout_seconds=30)
        with get_client(sync_client=True) as client:
            client.delete_deployment(deployment_id)
    assert _ran == ["c:stopped"]
