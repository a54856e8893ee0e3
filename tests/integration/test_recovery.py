"""Recovery without a human: an outage longer than the task retries, then Frame.io comes back.

Before the retry queue, a failed ingest was recorded as finished and never dispatched again:
the files waited for a manual ``postflow rerun``. Now the sensor retries them with backoff,
and the circuit breaker opens after consecutive transient failures, so one probe goes out
before the rest.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from blocks.store import local_store, tables
from flows.sensor import watch_by_shot
from tasks.recovery.circuit import read_circuit_state
from tasks.recovery.retry_queue import read_retry_queue
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration


def test_files_that_failed_during_an_outage_land_once_it_is_over(pipeline, postflow_env, tmp_path):
    postflow_env(
        task_retries=0,
        ingest_concurrency=1,
        retry_base_delay_seconds=0.3,
        retry_max_delay_seconds=1,
        circuit_failure_threshold=2,
        circuit_cool_down_seconds=1,
    )
    sources = [
        make_file(pipeline.by_shot, name, 120_000, seed=i)
        for i, name in enumerate(["SC01_UNDLM_00412_V001.mov", "SC02_PLATE_00010_V001.mov"])
    ]
    # The outage: the first API call of each ingest gets 503s (the SDK tries a GET 3 times).
    pipeline.sandbox.inject_status(503, count=6, path=r"^/v4/")

    counts = watch_by_shot(stop_after_files=4, max_runtime_seconds=60)

    files = all_files(pipeline.project())
    assert sorted(f.name for f in files) == sorted(p.name for p in sources)
    stored = {f.name: pipeline.sandbox.stored_bytes(f.id) for f in files}
    assert all(stored[p.name] == p.read_bytes() for p in sources)
    assert counts == {"dispatched": 4, "finished": 4, "failed": 2, "pending": 0}
    store = local_store(tmp_path / "state")
    assert read_retry_queue(store)["queued"] == 0
    circuit = read_circuit_state(store)
    assert circuit["state"] == "closed"
    with store.read() as db:
        ledger = db.execute(select(tables.ledger.c.ok)).scalars().all()
    assert ledger == [True, True]  # both retried, both landed


def test_a_permanent_failure_is_not_retried(pipeline, postflow_env, tmp_path):
    postflow_env(task_retries=0, retry_base_delay_seconds=0.3, retry_max_delay_seconds=1)
    make_file(pipeline.by_shot, "SC01_UNDLM_00412_V001.mov", 50_000)
    pipeline.sandbox.inject_status(403, count=1, path=r"^/v4/")

    counts = watch_by_shot(stop_after_files=1, max_runtime_seconds=30)
    again = watch_by_shot(max_runtime_seconds=2)

    assert counts["failed"] == 1 and again["dispatched"] == 0
    assert read_retry_queue(local_store(tmp_path / "state"))["queued"] == 0
    assert all_files(pipeline.project()) == []


def test_under_up_a_transiently_failed_ingest_is_announced_again(pipeline, postflow_env, tmp_path):
    # Deployment mode: the ingest runs in another process than the sensor; the run records
    # its outcome in the shared retry queue and the sensor's DeploymentDispatcher creates a
    # new run for it.
    from blocks.store import open_store
    from config.settings import PostflowSettings
    from flows.ingest import ingest_file
    from tasks.sensor.dispatch import DeploymentDispatcher
    from tasks.sensor.ledger import DispatchLedger
    from tasks.sensor.recovery import Recovery

    postflow_env(
        task_retries=0,
        dispatch_mode="deployment",
        retry_base_delay_seconds=0.3,
        retry_max_delay_seconds=1,
    )
    path = make_file(pipeline.by_shot, "SC01_UNDLM_00412_V001.mov", 50_000)
    pipeline.sandbox.inject_status(503, count=3, path=r"^/v4/")
    assert ingest_file(str(path), return_state=True).is_failed()
    state_dir = tmp_path / "state"
    assert read_retry_queue(local_store(state_dir))["queued"] == 1

    settings = PostflowSettings()
    root = pipeline.by_shot.resolve()
    announced: list[str] = []
    dispatcher = DeploymentDispatcher(
        DispatchLedger(open_store(settings)),
        root,
        start_run=lambda p, *_: announced.append(p) or {"run": p},
        recovery=Recovery.from_settings(settings, str(root), on_transition=lambda *_: None),
    )
    deadline = time.monotonic() + 10
    while not dispatcher.retry_due() and time.monotonic() < deadline:
        time.sleep(0.1)  # the first retry is due 0.3 s after the failure
    assert announced == [str(path)]
    assert dispatcher.retry_due() == 0  # held while its run goes: not announced twice

    assert ingest_file(str(path), return_state=True).is_completed()  # the announced run
    assert read_retry_queue(local_store(state_dir))["queued"] == 0
    assert [f.name for f in all_files(pipeline.project())] == [path.name]


def test_under_up_the_circuit_breaker_defers_files_until_a_probe_succeeds(
    pipeline, postflow_env, tmp_path
):
    # Deployment mode: the ingest runs (other processes under `up`) record their failures in the
    # shared breaker; the sensor's dispatcher then announces nothing new while it is open,
    # one probe after the cool-down, and the rest once the probe has landed.
    from blocks.store import open_store
    from config.settings import PostflowSettings
    from flows.ingest import ingest_file
    from tasks.sensor.dispatch import DeploymentDispatcher
    from tasks.sensor.ledger import DispatchLedger
    from tasks.sensor.readiness import FileVersion
    from tasks.sensor.recovery import Recovery

    postflow_env(
        task_retries=0,
        dispatch_mode="deployment",
        retry_base_delay_seconds=0.3,
        retry_max_delay_seconds=1,
        circuit_failure_threshold=2,
        circuit_cool_down_seconds=600,  # never passes by itself: the sensor's clock jumps
    )
    failed = [
        make_file(pipeline.by_shot, name, 40_000, seed=i)
        for i, name in enumerate(["SC01_UNDLM_00412_V001.mov", "SC02_PLATE_00010_V001.mov"])
    ]
    pipeline.sandbox.inject_status(503, count=6, path=r"^/v4/")  # 3 GETs per ingest
    assert all(ingest_file(str(p), return_state=True).is_failed() for p in failed)
    state_dir = tmp_path / "state"
    assert read_circuit_state(local_store(state_dir))["state"] == "open"

    settings = PostflowSettings()
    root = pipeline.by_shot.resolve()
    announced: list[str] = []
    skew = [0.0]  # the sensor's clock runs ahead of real time by this many seconds
    recovery = Recovery.from_settings(
        settings, str(root), on_transition=lambda *_: None, clock=lambda: time.time() + skew[0]
    )
    dispatcher = DeploymentDispatcher(
        DispatchLedger(open_store(settings)),
        root,
        start_run=lambda p, *_: announced.append(p) or {"run": p},
        recovery=recovery,
    )
    late = make_file(pipeline.by_shot, "SC03_PLATE_00020_V001.mov", 40_000, seed=9)
    info = late.stat()
    assert dispatcher.dispatch(FileVersion(str(late), info.st_size, info.st_mtime_ns)) is False
    assert announced == []  # deferred while Frame.io is down
    assert dispatcher.retry_due() == 0  # the failed ones wait too

    skew[0] = 601.0  # the cool-down has passed
    assert dispatcher.retry_due() == 1
    assert len(announced) == 1  # one probe, not the backlog
    assert dispatcher.retry_due() == 0  # half-open: the probe is out
    assert read_circuit_state(local_store(state_dir))["state"] == "half_open"

    assert ingest_file(announced[0], return_state=True).is_completed()  # the probe's run
    assert read_circuit_state(local_store(state_dir))["state"] == "closed"
    deadline = time.monotonic() + 10
    while len(announced) < 3 and time.monotonic() < deadline:
        dispatcher.retry_due()
        time.sleep(0.1)
    assert sorted(announced) == sorted(str(p) for p in [*failed, late])
