"""`postflow up` on a real Prefect server: order of registration, the sensor run, clean stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.events import DeploymentEventTrigger
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL
from prefect.states import Running

from postflow.serve.up import (
    SENSOR_DEPLOYMENT,
    apply_deployments,
    ensure_sensor_run,
    free_port,
    load_deployments,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
LIVE = {"SCHEDULED", "PENDING", "RUNNING"}


def _wait(condition, timeout_seconds: float, what: str):
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_seconds:.0f} s waiting for {what}")


@pytest.fixture
def clean_prefect(prefect_harness):
    """No deployments, runs or automations before and after (they are server-wide)."""

    def clean() -> None:
        with get_client(sync_client=True) as client:
            for deployment in client.read_deployments():
                client.delete_deployment(deployment.id)
            for automation in client.read_automations():
                client.delete_automation(automation.id)
            for run in client.read_flow_runs(limit=200):
                client.delete_flow_run(run.id)

    clean()
    yield
    clean()


def _sensor_runs(client) -> list:
    try:
        deployment = client.read_deployment_by_name(SENSOR_DEPLOYMENT)
    except ObjectNotFound:
        return []
    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
    )


def _live(runs) -> list:
    return [r for r in runs if r.state_type.value in LIVE]


def test_ensure_sensor_run_is_idempotent_and_replaces_a_dead_one(clean_prefect):
    sensor = [d for d in load_deployments() if d.name == "watch-by-shot"]
    apply_deployments(sensor)
    first, created = ensure_sensor_run()
    again, created_again = ensure_sensor_run()
    assert created and not created_again and again.id == first.id
    with get_client(sync_client=True) as client:
        assert [r.id for r in _live(_sensor_runs(client))] == [first.id]
        # a Running run whose process died (no heartbeat, no state change since) is replaced
        client.set_flow_run_state(first.id, Running(), force=True)
    kept, created = ensure_sensor_run()  # default staleness: minutes, so it is kept
    assert kept.id == first.id and not created
    fresh, created = ensure_sensor_run(stale_after_seconds=0)
    with get_client(sync_client=True) as client:
        runs = {r.id: r for r in _sensor_runs(client)}
    assert created and fresh.id != first.id
    assert runs[first.id].state_type.value == "CRASHED"
    assert [r.id for r in _live(runs.values())] == [fresh.id]


def test_registering_removes_the_file_ready_trigger_an_older_version_left(clean_prefect):
    ingest = [d for d in load_deployments() if d.name == "ingest-file"]
    deployment_id = apply_deployments(ingest)["ingest-file"]
    owner = f"prefect.deployment.{deployment_id}"
    # What versions before deployment mode registered: every file.ready made a run, so with
    # the sensor creating runs too each file would run twice.
    old = DeploymentEventTrigger(
        name="ingest-on-file-ready",
        match={"prefect.resource.id": "postflow.file.*"},
        expect={"postflow.file.ready"},
        parameters={"path": "{{ event.payload.path }}"},
    )
    old.set_deployment_id(deployment_id)
    with get_client(sync_client=True) as client:
        client.create_automation(old.as_automation())
        assert [a.name for a in client.read_resource_related_automations(owner)] == [old.name]
    apply_deployments(ingest)  # the next `postflow up`
    with get_client(sync_client=True) as client:
        assert client.read_resource_related_automations(owner) == []


def _start_up(env: dict[str, str], *args: str, cwd: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "postflow.cli.main", "up", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> str:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.communicate(timeout=90)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def test_up_applies_automations_after_deployments_and_keeps_one_sensor(
    clean_prefect, postflow_env, discord, tmp_path: Path
):
    by_shot = tmp_path / "BY_SHOT"
    by_shot.mkdir()
    alerts = f"alerts-{uuid.uuid4().hex[:8]}"
    CustomWebhookNotificationBlock(
        name="postflow-test",
        url=discord.webhook_url,
        allow_private_urls=True,
        json_data={"content": "{{subject}}"},
    ).save(alerts)
    postflow_env(
        watch_path=by_shot, alerts_block=f"custom-webhook/{alerts}", poll_interval_seconds=0.5
    )
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    outputs = []
    with get_client(sync_client=True) as client:
        for attempt in range(2):  # the second `up` is a restart: still exactly one sensor
            up = _start_up(env, "--only", "watch-by-shot")
            try:
                running = _wait(
                    lambda: [r for r in _sensor_runs(client) if r.state_type.value == "RUNNING"],
                    180,
                    f"a running sensor (attempt {attempt + 1})",
                )
                assert len(_live(_sensor_runs(client))) == 1
                children = psutil.Process(up.pid).children(recursive=True)
                assert children  # the sensor's flow-run process
                if attempt == 0:
                    deployment = client.read_deployment_by_name(SENSOR_DEPLOYMENT)
                    (silent,) = client.read_automations_by_name("postflow-sensor-silent")
                    restart = [a for a in silent.actions if a.type == "run-deployment"]
                    assert [a.deployment_id for a in restart] == [deployment.id]
            finally:
                outputs.append(_stop(up))
            assert up.returncode == 0, outputs[-1][-3000:]
            assert "was never awaited" not in outputs[-1]
            _wait(lambda c=children: not _alive(c), 60, "the sensor process to exit")
            # serve stopped: the sensor run is over, not left Running for the next `up`
            run = client.read_flow_run(running[0].id)
            assert run.state_type.value not in LIVE, (run.state, outputs[-1][-3000:])
    assert "Sensor run:" in outputs[0] and "(started)" in outputs[0]
    assert "(started)" in outputs[1]


def test_sigterm_before_serving_stops_the_server_it_started(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"), POSTFLOW_STATE_DIR=str(tmp_path / "state")
    )
    port = free_port()
    up = _start_up(env, "--port", str(port))
    try:
        children = _wait(
            lambda: psutil.Process(up.pid).children(recursive=True), 60, "the server process"
        )
        assert up.poll() is None  # still waiting for the server: serve has not started
        up.send_signal(signal.SIGTERM)
        up.wait(60)
    finally:
        output = _stop(up, signal.SIGKILL)
    assert up.returncode == 143, output
    _wait(lambda: not _alive(children), 60, "the server to exit")


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def test_a_named_server_that_does_not_answer_is_an_error_not_a_private_server(tmp_path: Path):
    """With PREFECT_API_URL set, `up` serves that server or nothing: a private loopback server
    in its place would take the machine's work away from the studio's server unnoticed."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "POSTFLOW_STATE_DIR": str(tmp_path / "state"),
        "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",  # nothing listens there
    }
    up = _start_up(env, "--port", str(free_port()), "--api-wait-seconds", "2")
    output = _stop(up) if up.wait(120) is None else up.communicate()[0]
    assert up.returncode == 2, output
    assert "does not answer" in output and env["PREFECT_API_URL"] in output
    assert "Starting a local Prefect server" not in output
    assert not (tmp_path / "state" / "prefect-server.log").exists()
