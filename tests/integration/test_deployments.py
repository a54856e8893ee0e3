"""Deployments from prefect.yaml on a real Prefect server: deploy, serve, sensor run -> ingest."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
from prefect.settings import PREFECT_API_URL
from prefect.states import Cancelling

from postflow.serve.up import load_deployments
from tasks.sensor.ingest_runs import IngestRunStarter
from tests.integration.helpers import all_files, make_file, prefect_cli, sha256_of

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }


def _wait(condition, timeout_seconds: float, what: str):
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_seconds:.0f} s waiting for {what}")


@pytest.fixture
def clean_deployments(prefect_harness):
    """Delete every deployment (and its trigger automations) after the test, so later tests
    (reruns) do not send runs to a deployment nobody serves."""
    yield
    with get_client(sync_client=True) as client:
        for deployment in client.read_deployments():
            client.delete_deployment(deployment.id)
        for automation in client.read_automations():
            client.delete_automation(automation.id)


def test_prefect_yaml_builds_the_four_deployments():
    deployments = {d.name: d for d in load_deployments()}
    ingest = deployments["ingest-file"]
    assert set(deployments) == {
        "watch-by-shot",
        "ingest-file",
        "weekly-optimisation-report",
        "rerun-failed-shots",
    }
    # No trigger: the sensor creates each file's run (a trigger's runs started seconds apart).
    assert ingest.triggers == []
    assert (
        deployments["weekly-optimisation-report"].schedules[0].schedule.timezone == "Europe/Paris"
    )


def _prefect(*args: str) -> subprocess.CompletedProcess:
    return prefect_cli(*args, env=_env(), timeout_seconds=300)


def test_prefect_deploy_all_succeeds(clean_deployments):
    for pool, pool_type in (("postflow-process", "process"), ("postflow-warm", "postflow-warm")):
        created = _prefect("work-pool", "create", pool, "--type", pool_type, "--overwrite")
        assert created.returncode == 0, created.stdout + created.stderr
    out = _prefect("--no-prompt", "deploy", "--all")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    with get_client(sync_client=True) as client:
        ingest = client.read_deployment_by_name("ingest-file/ingest-file")
        report = client.read_deployment_by_name(
            "weekly-optimisation-report/weekly-optimisation-report"
        )
    assert ingest.work_pool_name == "postflow-warm"  # the pool `postflow up` uses too
    assert report.work_pool_name == "postflow-process"
    assert report.schedules and report.schedules[0].schedule.cron == "0 7 * * 1"
    # docs/workers.md: ingests on the stock process worker instead
    moved = _prefect("--no-prompt", "deploy", "--name", "ingest-file", "--pool", "postflow-process")
    assert moved.returncode == 0, moved.stdout[-2000:] + moved.stderr[-2000:]
    with get_client(sync_client=True) as client:
        ingest = client.read_deployment_by_name("ingest-file/ingest-file")
        assert ingest.work_pool_name == "postflow-process"
        for pool in ("postflow-process", "postflow-warm"):
            client.delete_work_pool(pool)


def test_a_run_created_by_the_sensor_is_ingested_by_up_once(pipeline, clean_deployments):
    source = make_file(pipeline.by_shot, "SC01_UNDLM_00412_V002.mov", 300_000)
    serve = _serve_ingest()
    try:
        _wait_served()
        start_run = IngestRunStarter()
        mtime_ns = source.stat().st_mtime_ns
        first = start_run(str(source), 300_000, mtime_ns, "SC01_UNDLM_00412_V002.mov:300000:1")
        # The same idempotency key again (a retry whose answer was lost): the same run.
        again = start_run(str(source), 300_000, mtime_ns, "SC01_UNDLM_00412_V002.mov:300000:1")
        start_run.close()
        assert first is not None and again is not None and again.id == first.id
        try:
            files = _wait(lambda: all_files(pipeline.project()), 120, "the ingest run's upload")
        except AssertionError:
            with get_client(sync_client=True) as client:
                runs = client.read_flow_runs(limit=20)
            print([(r.name, r.state_name, r.deployment_id, r.parameters) for r in runs])
            raise
    finally:
        serve.terminate()
        output = serve.communicate(timeout=60)[0]
        print(output[-4000:])
    stored = pipeline.sandbox.stored_path(files[0].id)
    assert [f.name for f in files] == ["SC01_UNDLM_00412_V002.mov"], output[-3000:]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[first.deployment_id])
            )
        )
    assert [r.id for r in runs] == [first.id]
    assert sha256_of(stored) == sha256_of(source)


def _serve_ingest(log: Path | None = None) -> subprocess.Popen:
    """``postflow up --only ingest-file`` on the test server; its output to ``log`` (bytes)
    or, without one, to a text pipe."""
    output = {"stdout": log.open("wb")} if log else {"stdout": subprocess.PIPE, "text": True}
    return subprocess.Popen(
        [sys.executable, "-m", "postflow.cli.main", "up", "--only", "ingest-file"],
        env=_env(),
        cwd=ROOT,
        stderr=subprocess.STDOUT,
        **output,
    )


def _wait_served() -> None:
    with get_client(sync_client=True) as client:
        _wait(lambda: _deployment_served(client), 120, "the ingest-file deployment")


def _create_run(source: Path, key: str):
    """The sensor's run of ``source`` (what its dispatcher creates once the file is ready)."""
    start_run = IngestRunStarter()
    run = start_run(str(source), source.stat().st_size, source.stat().st_mtime_ns, key)
    start_run.close()
    assert run is not None
    return run


def _deployment_served(client) -> bool:
    try:
        client.read_deployment_by_name("ingest-file/ingest-file")
    except Exception:  # noqa: BLE001
        return False
    return True


def _runs_of(deployment_id) -> list:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id])
            )
        )


def test_a_run_left_by_a_killed_up_is_crashed_and_ingested_by_the_next_up(
    pipeline, clean_deployments, tmp_path
):
    source = make_file(pipeline.by_shot, "SC02_KILL_00001_V001.mov", 300_000)
    pipeline.sandbox.set_latency(1.5)  # every Frame.io call: the run is in flight for seconds
    log = tmp_path / "first-up.log"
    first_up = _serve_ingest(log)
    try:
        _wait_served()
        run = _create_run(source, "SC02_KILL:300000:1")
        with get_client(sync_client=True) as client:
            _wait(lambda: client.read_flow_run(run.id).state.is_running(), 60, "the run to start")
    finally:
        first_up.kill()  # kill -9: the run's thread dies with the process
        first_up.wait(30)
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run.id).state.is_running()  # stranded
    pipeline.sandbox.set_latency(0)

    second_up = _serve_ingest()
    try:

        def ended() -> list | None:
            runs = _runs_of(run.deployment_id)
            return runs if len(runs) == 2 and all(r.state.is_final() for r in runs) else None

        runs = _wait(ended, 120, "the stranded run crashed and its new run ended")
    finally:
        second_up.terminate()
        output = second_up.communicate(timeout=60)[0]
    states = {r.id: r.state_type.value for r in runs}
    assert states.pop(run.id) == "CRASHED", output[-3000:]
    assert list(states.values()) == ["COMPLETED"], output[-3000:]
    assert "was left Running by a postflow up that was killed" in output
    files = all_files(pipeline.project())
    assert [f.name for f in files] == [source.name]
    assert sha256_of(pipeline.sandbox.stored_path(files[0].id)) == sha256_of(source)


def test_an_ingest_cancelled_from_the_ui_stops_and_leaves_nothing_in_frameio(
    pipeline, clean_deployments
):
    source = make_file(pipeline.by_shot, "SC03_CANCEL_00001_V001.mov", 2_000_000)
    up = _serve_ingest()
    try:
        _wait_served()
        pipeline.sandbox.set_latency(1.0)  # the folder look-ups take seconds before the upload
        run = _create_run(source, "SC03_CANCEL:1")
        with get_client(sync_client=True) as client:
            _wait(lambda: client.read_flow_run(run.id).state.is_running(), 60, "the run to start")
            client.set_flow_run_state(run.id, Cancelling(), force=True)  # the UI's Cancel
            final = _wait(
                lambda: (s := client.read_flow_run(run.id).state).is_final() and s, 120, "the end"
            )
        pipeline.sandbox.set_latency(0)
    finally:
        up.terminate()
        output = up.communicate(timeout=60)[0]
    assert final.type.value == "CANCELLED", output[-3000:]
    assert "was cancelled; stopping its ingest" in output
    assert "cancelled; deleting its partial upload" in output  # its placeholder went
    assert all_files(pipeline.project()) == [], output[-3000:]


def test_two_machines_starting_up_at_once_both_get_the_pool(prefect_harness, monkeypatch):
    """Seen in the scale-out test: two `up`s found the pool missing, both created it, and the
    second stopped on ObjectAlreadyExists. Here the other machine creates the pool between
    this one's read and its create (seen failing: ObjectAlreadyExists)."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    from postflow.serve.runners import ensure_pools

    name = "postflow-process"
    with get_client(sync_client=True) as client, pytest.raises(ObjectNotFound):
        client.read_work_pool(name)
    real_read = SyncPrefectClient.read_work_pool

    def racing_read(self, pool_name):
        try:
            return real_read(self, pool_name)
        except ObjectNotFound:  # not there yet; the other machine creates it right now
            with get_client(sync_client=True) as other:
                other.create_work_pool(WorkPoolCreate(name=pool_name, type="process"))
            monkeypatch.setattr(SyncPrefectClient, "read_work_pool", real_read)
            raise

    monkeypatch.setattr(SyncPrefectClient, "read_work_pool", racing_read)
    deployments = [d for d in load_deployments() if d.work_pool_name == name]
    try:
        assert ensure_pools(deployments) == {name: "process"}
    finally:
        with get_client(sync_client=True) as client:
            client.delete_work_pool(name)
