"""WarmRunner on a real Prefect server: deployment runs executed in this process, each once."""

from __future__ import annotations

import threading
import time

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Scheduled

from postflow.warm import WarmRunner
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
