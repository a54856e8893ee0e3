"""The postflow-warm worker type, started by Prefect's own CLI, on a real Prefect server.

``prefect work-pool create --type postflow-warm`` and ``prefect worker start --pool`` find the
type through the package's ``prefect.collections`` entry point; a file lands, the worker is
listed in its pool, a Cancel stops a run in progress. The stock ``process`` worker still runs
``ingest-file`` when the deployment is on a process pool.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL
from prefect.states import Cancelling

from postflow.serve.up import apply_deployments, load_deployments
from tests.integration.helpers import all_files, make_file, prefect_cli, sha256_of
from tests.integration.test_deployments import _create_run, _wait, clean_deployments

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
__all__ = ["clean_deployments"]  # the fixture, imported for these tests


def _prefect(*args: str) -> subprocess.CompletedProcess:
    return prefect_cli(*args, env=_env(), timeout_seconds=120)


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_CANCELLATION_POLL_SECONDS": "1",
    }


@pytest.fixture
def pool(clean_deployments):
    """A work pool of ``type`` (by the CLI) with ``ingest-file`` deployed on it; deleted after."""
    names = []

    def make(pool_type: str) -> str:
        name = f"test-{pool_type}-{uuid.uuid4().hex[:6]}"
        created = _prefect("work-pool", "create", name, "--type", pool_type)
        assert created.returncode == 0, created.stdout + created.stderr
        names.append(name)
        (ingest,) = [d for d in load_deployments() if d.name == "ingest-file"]
        ingest.work_pool_name = name
        apply_deployments([ingest])
        return name

    yield make
    with get_client(sync_client=True) as client:
        for name in names:
            client.delete_work_pool(name)


def _start_worker(
    pool_name: str, log: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool_name, *args],
        env={**_env(), **(env or {})},
        cwd=ROOT,
        stdout=log.open("wb"),  # a file: a full pipe would block the worker
        stderr=subprocess.STDOUT,
    )


def _stop(worker: subprocess.Popen, log: Path) -> str:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
    return log.read_text(errors="replace")


def _final_state(run_id):
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    return state if state is not None and state.is_final() else None


def test_the_warm_worker_type_lands_a_file_and_is_listed_in_its_pool(pipeline, pool, tmp_path):
    pool_name = pool("postflow-warm")
    source = make_file(pipeline.by_shot, "SC01_WARM_00001_V001.mov", 300_000)
    log = tmp_path / "worker.log"
    worker = _start_worker(pool_name, log, "--type", "postflow-warm", "--limit", "2")
    try:
        run = _create_run(source, "SC01_WARM:300000:1")
        files = _wait(lambda: all_files(pipeline.project()), 60, "the file in Frame.io")
        state = _wait(lambda: _final_state(run.id), 30, "the run to end")
        with get_client(sync_client=True) as client:
            workers = client.read_workers_for_work_pool(pool_name)
            infrastructure = client.read_flow_run(run.id).infrastructure_pid
            labels = client.read_flow_run(run.id).labels
    finally:
        output = _stop(worker, log)
    assert state.type.value == "COMPLETED", output[-3000:]
    assert [f.name for f in files] == [source.name]
    assert sha256_of(pipeline.sandbox.stored_path(files[0].id)) == sha256_of(source)
    assert [w.status.value for w in workers] == ["ONLINE"], workers
    # no worker labels (one write per run less on the server; infrastructure says it all)
    assert "prefect.worker.type" not in labels, labels
    # the run was a thread of the worker's own process, not a process of its own
    assert infrastructure == f"postflow-warm:{os.uname().nodename}:{worker.pid}:{run.id}"
    assert worker.returncode == 0, output[-3000:]


def test_a_cancel_stops_a_run_in_a_thread_of_the_warm_worker(pipeline, pool, tmp_path):
    pool_name = pool("postflow-warm")
    source = make_file(pipeline.by_shot, "SC02_WARM_00001_V001.mov", 2_000_000)
    log = tmp_path / "worker.log"
    worker = _start_worker(pool_name, log, "--type", "postflow-warm")
    try:
        pipeline.sandbox.set_latency(1.0)  # every Frame.io call: the run is in flight for seconds
        run = _create_run(source, "SC02_WARM:1")
        with get_client(sync_client=True) as client:
            _wait(lambda: client.read_flow_run(run.id).state.is_running(), 60, "the run")
            client.set_flow_run_state(run.id, Cancelling(), force=True)  # the UI's Cancel
        state = _wait(lambda: _final_state(run.id), 60, "the run to end")
        pipeline.sandbox.set_latency(0)
    finally:
        output = _stop(worker, log)
    assert state.type.value == "CANCELLED", output[-3000:]
    assert "was cancelled; stopping its ingest" in output
    assert all_files(pipeline.project()) == [], output[-3000:]


def test_a_new_run_wakes_the_warm_worker_before_its_next_poll(pipeline, pool, tmp_path):
    """The worker polls once at start, then every 600 s here: only the run's Scheduled event
    (Prefect's event stream) can start it within the test's minute."""
    pool_name = pool("postflow-warm")
    source = make_file(pipeline.by_shot, "SC04_WAKE_00001_V001.mov", 300_000)
    log = tmp_path / "worker.log"
    env = {"PREFECT_WORKER_QUERY_SECONDS": "600"}
    worker = _start_worker(pool_name, log, "--type", "postflow-warm", env=env)
    try:
        _wait(lambda: "started!" in log.read_text(errors="replace"), 90, "the worker to start")
        _wait(lambda: "woken by new runs" in log.read_text(errors="replace"), 30, "the stream")
        run = _create_run(source, "SC04_WAKE:300000:1")
        state = _wait(lambda: _final_state(run.id), 60, "the run to end")
    finally:
        output = _stop(worker, log)
    assert state.type.value == "COMPLETED", output[-3000:]
    assert [f.name for f in all_files(pipeline.project())] == [source.name]


def test_the_stock_process_worker_still_ingests_a_file(pipeline, pool, tmp_path):
    pool_name = pool("process")
    source = make_file(pipeline.by_shot, "SC03_PROC_00001_V001.mov", 300_000)
    log = tmp_path / "worker.log"
    worker = _start_worker(pool_name, log, "--type", "process")
    try:
        run = _create_run(source, "SC03_PROC:300000:1")
        files = _wait(lambda: all_files(pipeline.project()), 90, "the file in Frame.io")
        state = _wait(lambda: _final_state(run.id), 30, "the run to end")
        with get_client(sync_client=True) as client:
            infrastructure = client.read_flow_run(run.id).infrastructure_pid
    finally:
        output = _stop(worker, log)
    assert state.type.value == "COMPLETED", output[-3000:]
    assert [f.name for f in files] == [source.name]
    assert infrastructure and not infrastructure.startswith("postflow-warm:")  # a process


def test_a_warm_thread_keeps_one_open_prefect_client_from_run_to_run(prefect_harness):
    """The engine takes the thread's client (SyncClientContext) instead of making one per run."""
    from concurrent.futures import ThreadPoolExecutor

    from prefect.context import SyncClientContext

    from postflow.serve.warm_thread import ThreadClients

    clients = ThreadClients()

    def current_client():
        clients.enter()
        with SyncClientContext.get_or_create() as context:  # what the engine does
            context.client.hello()  # open and answering
            return context.client

    with ThreadPoolExecutor(1) as one, ThreadPoolExecutor(1) as other:
        first, second = one.submit(current_client).result(), one.submit(current_client).result()
        elsewhere = other.submit(current_client).result()
    clients.close()
    assert first is second
    assert elsewhere is not first


def test_a_warm_run_goes_without_prefects_suspension_watch_and_still_knows_its_deployment(
    prefect_harness, monkeypatch
):
    """Prefect's engine starts a thread, a loop, a client and an events websocket per
    deployment run to watch for Suspended; a warm run skips it (:func:`unwatched`) and
    the flow still sees its deployment and parameters."""
    import prefect.flow_engine
    from prefect import flow, runtime

    from postflow.serve.warm_thread import execute

    seen: dict[str, object] = {}

    @flow(name="warm-suspension-probe")
    def probe(word: str) -> None:
        seen.update(deployment=runtime.deployment.id, word=word)

    watches: list[object] = []
    watch = prefect.flow_engine.observe_flow_run_suspension

    def counted(*args, **kwargs):
        watches.append(args)
        return watch(*args, **kwargs)

    monkeypatch.setattr(prefect.flow_engine, "observe_flow_run_suspension", counted)
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(probe)
        deployment_id = client.create_deployment(
            flow_id, f"probe-{uuid.uuid4().hex[:8]}", entrypoint="probe.py:probe"
        )
        run = client.create_flow_run_from_deployment(deployment_id, parameters={"word": "hi"})
        assert execute(probe, run, None) == 0
        final = client.read_flow_run(run.id)
    assert final.state is not None and final.state.is_completed(), final.state
    assert watches == []
    assert seen == {"deployment": str(deployment_id), "word": "hi"}


def test_the_warm_worker_readies_every_thread_before_its_first_run(prefect_harness):
    """Each thread's client is open before any run (a first run took 0.54 s to start, the
    next ones 0.12-0.14 s), and a run then finds its thread's client."""
    from concurrent.futures import ThreadPoolExecutor

    from prefect.context import SyncClientContext

    from postflow.serve.warm_thread import ThreadClients

    clients = ThreadClients()
    with ThreadPoolExecutor(3) as pool:
        assert clients.warm(pool, 3) == 3
        warmed = clients.open_clients()

        def run_client():
            clients.enter()
            with SyncClientContext.get_or_create() as context:  # what the engine does
                return context.client

        used = {id(pool.submit(run_client).result()) for _ in range(6)}
    clients.close()
    assert len(warmed) == 3
    assert used <= {id(client) for client in warmed}


def test_the_warm_worker_imports_its_pools_flows_before_the_first_run(prefect_harness):
    """A deployment whose flow does not import is left to its runs to report."""
    from prefect.client.schemas.actions import WorkPoolCreate

    from flows.ingest import ingest_file
    from postflow.serve.warm_thread import pool_flows

    pool = f"warm-preload-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="postflow-warm"))
        flow_id = client.create_flow_from_name("ingest-file")
        good = client.create_deployment(
            flow_id, f"good-{pool}", entrypoint="flows/ingest.py:ingest_file", work_pool_name=pool
        )
        client.create_deployment(
            flow_id, f"bad-{pool}", entrypoint="flows/nowhere.py:gone", work_pool_name=pool
        )
    assert pool_flows(pool) == {good: ingest_file}
    assert pool_flows(f"{pool}-none") == {}


def test_a_run_already_executing_in_the_worker_is_not_started_twice(monkeypatch):
    """A run resumed (Scheduled again) while its thread still executes it is claimed again;
    the second claim waits for the first execution instead of ingesting a second time."""
    import threading

    import anyio
    from prefect.client.schemas.objects import FlowRun

    from postflow.serve import warm_worker

    started, release, calls = threading.Event(), threading.Event(), []

    def execute(flow, flow_run, journal, clients):
        calls.append(flow_run.id)
        started.set()
        release.wait(30)
        return 0

    warned = threading.Event()

    class Log:
        def info(self, *args):
            return None

        def warning(self, *args):
            warned.set()

    monkeypatch.setattr(warm_worker, "execute", execute)
    monkeypatch.setattr(warm_worker, "warm_log", Log)
    worker = warm_worker.WarmWorker("warm-twice", limit=2)
    monkeypatch.setattr(worker, "_poll_soon", lambda: None)
    run = FlowRun(flow_id=uuid.uuid4(), deployment_id=uuid.uuid4())
    worker._flows[run.deployment_id] = object()

    async def both():
        results = []
        async with anyio.create_task_group() as group:

            async def claim():
                results.append(await worker.run(run, configuration=None))

            group.start_soon(claim)
            await anyio.to_thread.run_sync(started.wait, 30)
            group.start_soon(claim)
            await anyio.to_thread.run_sync(warned.wait, 30)  # the second claim found the first
            release.set()
        return results

    results = anyio.run(both)
    worker._threads.shutdown()
    assert calls == [run.id]
    assert [r.status_code for r in results] == [0, 0]
    assert worker._executions == {} and worker._in_flight == {}
