"""The runs a killed warm worker left, on a real Prefect server: marked Crashed, run again once.

(The worker recovers them at start and once per lease: ``postflow up`` killed with ``kill -9``
and started again is ``tests/integration/test_deployments.py``.)
"""

from __future__ import annotations

import subprocess
import sys
from uuid import uuid4

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
from prefect.states import Completed, Pending, Running

from blocks.store import local_store, tables
from postflow.serve.warm_journal import RunJournal, recover_stranded_runs

pytestmark = pytest.mark.integration


@flow(name="warm-probe")
def warm_probe(label: str) -> str:
    """A deployment's flow; its runs are created here, never executed."""
    return label


def _journal_rows(state_dir) -> int:
    from sqlalchemy import func, select

    with local_store(state_dir).read() as db:
        return db.execute(select(func.count()).select_from(tables.warm_runs)).scalar_one()


def _dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_runs_a_killed_worker_left_are_marked_crashed_and_created_again(prefect_harness, tmp_path):
    deployment_id = warm_probe.to_deployment(name="warm-probe").apply()
    try:
        with get_client(sync_client=True) as client:
            # What `kill -9` of a worker leaves: one run Running, one claimed (Pending), one
            # finished before the kill, all still in that process's journal.
            running, pending, done = [
                client.create_flow_run_from_deployment(deployment_id, parameters={"label": label})
                for label in ("k-running", "k-pending", "k-done")
            ]
            client.set_flow_run_state(running.id, Running(), force=True)
            client.set_flow_run_state(pending.id, Pending(), force=True)
            client.set_flow_run_state(done.id, Completed(), force=True)
        killed = RunJournal(local_store(tmp_path), pid=_dead_pid())
        for run in (running, pending, done):
            killed.add(run.id)
        alive = RunJournal(local_store(tmp_path))  # another worker of the machine, running
        alive.add(uuid4())

        with get_client(sync_client=True) as client:
            recovered = recover_stranded_runs(client, alive)
            again_recovered = recover_stranded_runs(client, alive)  # a second start: nothing
            states = [client.read_flow_run(r.id).state_type.value for r in (running, pending, done)]
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id])
                )
            )
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(deployment_id)
    assert states == ["CRASHED", "CRASHED", "COMPLETED"]
    assert sorted(old for old, _ in recovered) == sorted([running.id, pending.id])
    again = [r for r in runs if r.id not in {running.id, pending.id, done.id}]
    assert sorted(r.parameters["label"] for r in again) == ["k-pending", "k-running"]
    assert {r.state_type.value for r in again} == {"SCHEDULED"}  # for the pool's workers
    assert again_recovered == []
    # The killed process's entries are gone, the live one's stays.
    assert killed.stranded() == [] and _journal_rows(tmp_path) == 1
