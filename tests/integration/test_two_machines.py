"""Two machines, one state store on a real PostgreSQL: what one records, the other acts on.

A "machine" is a state dir of its own (``POSTFLOW_STATE_DIR``) with the one store
(``POSTFLOW_STATE_URL``, a schema per test): the sensor of machine A, and the ingest runs of
worker B, are the real components against the Frame.io sandbox, switched from one machine to
the other in this process (:func:`tests.integration.store_helpers.machines`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from config.settings import PostflowSettings
from flows.ingest import ingest_file
from tests.integration import store_helpers, test_deployments
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration

postgres_url, machines = store_helpers.postgres_url, store_helpers.machines  # the fixtures
clean_deployments = test_deployments.clean_deployments

NAME = "SC01_UNDLM_00412_V001.mov"


def _sensor_of(settings: PostflowSettings, clock=time.time):
    """Machine A's deployment-mode dispatcher; the runs it creates are recorded, not started."""
    from blocks.store import open_store
    from tasks.sensor.dispatch import DeploymentDispatcher
    from tasks.sensor.ledger import DispatchLedger
    from tasks.sensor.recovery import Recovery

    root = Path(settings.watch_path).resolve()
    announced: list[str] = []
    recovery = Recovery.from_settings(
        settings, str(root), on_transition=lambda *_: None, clock=clock
    )
    dispatcher = DeploymentDispatcher(
        DispatchLedger(open_store(settings)),
        root,
        start_run=lambda p, *_: announced.append(p) or {"run": p},
        recovery=recovery,
    )
    return dispatcher, announced


def _runners() -> int:
    from sqlalchemy import func, select

    from blocks.store import open_store, tables

    with open_store(PostflowSettings()).read() as db:
        return db.execute(select(func.count()).select_from(tables.runners)).scalar_one()


def _names(pipeline) -> list[str]:
    return sorted(f.name for f in all_files(pipeline.project()))


def test_a_transient_failure_on_worker_b_is_retried_by_the_sensor_on_machine_a(
    pipeline, postflow_env, machines
):
    postflow_env(task_retries=0, dispatch_mode="deployment", retry_base_delay_seconds=0.3)
    path = make_file(pipeline.by_shot, NAME, 50_000)
    machines("b")
    # Every Frame.io call fails until cleared: the SDK's own retries of a GET (2) cannot absorb
    # a fixed count of 503s, so B's run fails whatever calls it makes (3 once did not suffice).
    pipeline.sandbox.inject_status(503, count=1000, path=r"^/v4/")
    assert ingest_file(str(path), return_state=True).is_failed()  # worker B's run
    pipeline.sandbox.clear_faults()

    machines("a")
    dispatcher, announced = _sensor_of(PostflowSettings())
    deadline = time.monotonic() + 10
    while not dispatcher.retry_due() and time.monotonic() < deadline:
        time.sleep(0.1)  # due 0.3 s after B's failure
    assert announced == [str(path)]

    machines("b")
    assert ingest_file(str(path), return_state=True).is_completed()  # the run A created
    machines("a")
    assert dispatcher.recovery.queue.pending() == []
    assert _names(pipeline) == [NAME]  # landed once


def test_failures_on_either_machine_open_the_one_breaker_and_one_probe_closes_it(
    pipeline, postflow_env, machines
):
    from tasks.recovery.circuit import read_circuit_state
    from tasks.sensor.readiness import FileVersion

    postflow_env(
        task_retries=0,
        dispatch_mode="deployment",
        circuit_failure_threshold=2,
        circuit_cool_down_seconds=600,  # never passes by itself: the sensor's clock jumps
    )
    names = ["SC01_UNDLM_00412_V001.mov", "SC02_PLATE_00010_V001.mov"]
    failed = [make_file(pipeline.by_shot, n, 40_000, seed=i) for i, n in enumerate(names)]
    pipeline.sandbox.inject_status(503, count=1000, path=r"^/v4/")  # every call, until cleared
    for machine, path in zip("ab", failed, strict=True):  # one failure seen on each machine
        machines(machine)
        assert ingest_file(str(path), return_state=True).is_failed()
    pipeline.sandbox.clear_faults()

    machines("a")
    skew = [0.0]
    dispatcher, announced = _sensor_of(PostflowSettings(), clock=lambda: time.time() + skew[0])
    assert read_circuit_state(dispatcher.ledger.store)["state"] == "open"
    late = make_file(pipeline.by_shot, "SC03_PLATE_00020_V001.mov", 40_000, seed=9)
    info = late.stat()
    assert dispatcher.dispatch(FileVersion(str(late), info.st_size, info.st_mtime_ns)) is False
    assert announced == [] and dispatcher.retry_due() == 0

    skew[0] = 601.0
    assert dispatcher.retry_due() == 1  # one probe, not the backlog
    machines("b")
    assert ingest_file(announced[0], return_state=True).is_completed()  # the probe, on B
    machines("a")
    assert read_circuit_state(dispatcher.ledger.store)["state"] == "closed"
    deadline = time.monotonic() + 10
    while len(announced) < 3 and time.monotonic() < deadline:
        dispatcher.retry_due()
        time.sleep(0.1)
    machines("b")
    for path in announced[1:]:
        assert ingest_file(path, return_state=True).is_completed()
    assert sorted(announced) == sorted(str(p) for p in [*failed, late])
    assert _names(pipeline) == sorted([*names, late.name])  # each landed once


def test_a_same_size_re_render_ingested_by_b_after_a_sent_v001_lands_on_top(
    pipeline, postflow_env, machines, tmp_path
):
    path = make_file(pipeline.by_shot, NAME, 300_000, seed=1)
    machines("a")
    first = ingest_file(str(path))
    before = path.stat()
    make_file(path.parent, path.name, before.st_size, seed=2)  # re-rendered, same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))

    # B mounts the watch folder elsewhere: only the store tells it what A sent.
    mount = tmp_path / "mount-on-b"
    mount.symlink_to(pipeline.by_shot, target_is_directory=True)
    machines("b")
    postflow_env(watch_path=mount)
    second = ingest_file(str(mount / NAME))
    assert second["re_render"] is True and second["file_id"] != first["file_id"]
    assert pipeline.sandbox.stored_bytes(second["file_id"]) == path.read_bytes()
    project = pipeline.project()
    stack = project.client.version_stacks.show(project.account_id, second["version_stack_id"])
    assert stack.data.head_version.id == second["file_id"]  # on top of A's V001
    assert {f.id for f in all_files(project)} == {first["file_id"], second["file_id"]}

    again = ingest_file(str(mount / NAME))  # B again: nothing new
    assert again["strategy"] == "skipped"


def test_a_sensor_moved_to_another_machine_sends_no_file_twice(pipeline, postflow_env, machines):
    from flows.sensor import watch_by_shot

    first = [
        make_file(pipeline.by_shot, f"SC0{i}_UNDLM_0041{i}_V001.mov", 30_000, seed=i)
        for i in (1, 2)
    ]
    machines("a")
    assert watch_by_shot(stop_after_files=2, max_runtime_seconds=60)["finished"] == 2
    late = make_file(pipeline.by_shot, "SC03_UNDLM_00413_V001.mov", 30_000, seed=3)
    machines("b")  # the sensor now runs on B: A's ledger rows are B's too
    counts = watch_by_shot(stop_after_files=1, max_runtime_seconds=60)
    assert counts["dispatched"] == 1 and counts["finished"] == 1
    assert _names(pipeline) == sorted(p.name for p in [*first, late])


def test_runs_claimed_by_an_up_killed_on_b_are_recovered_by_the_up_on_a(
    pipeline, postflow_env, machines, clean_deployments, tmp_path
):
    from prefect.client.orchestration import get_client

    from tests.integration.test_deployments import (
        _create_run,
        _runs_of,
        _serve_ingest,
        _wait,
        _wait_served,
    )

    postflow_env(runner_lease_seconds=3)
    source = make_file(pipeline.by_shot, "SC02_KILL_00001_V001.mov", 300_000)
    pipeline.sandbox.set_latency(1.5)  # every Frame.io call: the run is in flight for seconds
    machines("b")
    up_b = _serve_ingest(tmp_path / "up-b.log")
    up_a = None
    try:
        _wait_served()
        # Its own idempotency key: test_deployments' kill test, when it ran earlier in this
        # process, left a CRASHED run of the same flow under "SC02_KILL:300000:1", and Prefect
        # hands that run back for the same key (seen failing in two full runs).
        run = _create_run(source, "SC02_KILL_ON_B:300000:1")
        with get_client(sync_client=True) as client:

            def running() -> bool:
                state = client.read_flow_run(run.id).state
                seen.append(state.type.value)
                return state.is_running()

            seen: list[str] = []
            try:
                _wait(running, 120, "B's run to start")
            except AssertionError as exc:  # say what B did meanwhile
                log = (tmp_path / "up-b.log").read_text(errors="replace")[-4000:]
                raise AssertionError(f"{exc}; states seen {sorted(set(seen))}; B:\n{log}") from None
        machines("a")
        up_a = _serve_ingest()  # serving already: it recovers once per lease
        _wait(lambda: _runners() == 2, 120, "A's runner in the store beside B's")
    finally:
        up_b.kill()  # kill -9: B's warm run dies with it
        up_b.wait(30)
    pipeline.sandbox.set_latency(0)
    assert up_a is not None
    try:

        def ended() -> list | None:
            runs = _runs_of(run.deployment_id)
            return runs if len(runs) == 2 and all(r.state.is_final() for r in runs) else None

        runs = _wait(ended, 120, "B's run crashed and its new run ended on A")
    finally:
        up_a.terminate()
        output = up_a.communicate(timeout=60)[0]
    states = {r.id: r.state_type.value for r in runs}
    assert states.pop(run.id) == "CRASHED", output[-3000:]
    assert list(states.values()) == ["COMPLETED"], output[-3000:]
    assert "was left Running by a postflow up that was killed" in output
    assert [f.name for f in all_files(pipeline.project())] == [source.name]  # landed once
