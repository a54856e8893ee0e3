"""The weekly report is really scheduled: runs exist on a stock Prefect server, not just a cron.

A fresh install once resolved SQLAlchemy 2.1, on which Prefect 3.8.8's scheduler failed on every
loop (``Can't evaluate bulk DML statement``) and never created a run, while every test that read
the deployment's schedule definition passed. These tests check the outcome instead: after
``prefect deploy --all`` and after ``postflow up``, the report's deployment has Scheduled runs,
and the server's log holds no scheduler error.

The server is the one ``postflow up`` starts when ``PREFECT_API_URL`` is unset
(:func:`postflow.serve.prefect_server.start_local_server`: ``prefect server start``, SQLite, every
service on, stock settings), in its own ``PREFECT_HOME``: no harness, nothing turned off. Its
"recent deployments" scheduler pass runs every 5 s (Prefect's
``PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS`` default).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from postflow.serve.prefect_server import free_port, start_local_server, stop_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
REPORT = "weekly-optimisation-report/weekly-optimisation-report"
# What Prefect's scheduler logged on every loop with SQLAlchemy 2.1 (InvalidRequestError).
SCHEDULER_ERRORS = ("bulk DML", "Unexpected error in: ", "Traceback")


class StockServer:
    """A ``prefect server start`` of our own, with its environment and log."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.log = home / "prefect-server.log"
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        self.env.pop("PREFECT_API_URL", None)
        self.process: subprocess.Popen | None = None
        self.api_url = ""

    def start(self) -> None:
        self.process, self.api_url = start_local_server(
            free_port(), self.log, environment={"PREFECT_HOME": str(self.home)}
        )
        self.env["PREFECT_API_URL"] = self.api_url

    def scheduled_runs(self, deployment: str) -> list[dict]:
        """The deployment's flow runs in state Scheduled, through the REST API."""
        with httpx.Client(base_url=self.api_url, timeout=10) as http:
            flow, name = deployment.split("/")
            found = http.get(f"/deployments/name/{flow}/{name}")
            if found.status_code == 404:
                return []
            found.raise_for_status()
            runs = http.post(
                "/flow_runs/filter",
                json={
                    "deployments": {"id": {"any_": [found.json()["id"]]}},
                    "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                },
            )
            runs.raise_for_status()
            return runs.json()

    def scheduler_errors(self) -> list[str]:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if any(e in line for e in SCHEDULER_ERRORS)]


@pytest.fixture
def stock_server(tmp_path: Path) -> Iterator[StockServer]:
    server = StockServer(tmp_path / "prefect-home")
    server.home.mkdir()
    server.start()
    try:
        yield server
    finally:
        stop_server(server.process)


def _wait_for_scheduled_runs(server: StockServer, timeout_seconds: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        runs = server.scheduled_runs(REPORT)
        if runs:
            return runs
        errors = server.scheduler_errors()
        assert not errors, "the scheduler fails:\n" + "\n".join(errors[:5])
        time.sleep(0.5)
    raise AssertionError(
        f"no Scheduled run of {REPORT} after {timeout_seconds:.0f} s; server log tail:\n"
        + server.log.read_text(encoding="utf-8", errors="replace")[-3000:]
    )


def test_prefect_deploy_all_on_a_stock_server_schedules_the_weekly_report(stock_server):
    for name, pool_type in (("postflow-process", "process"), ("postflow-warm", "postflow-warm")):
        pool = subprocess.run(
            [sys.executable, "-m", "prefect", "work-pool", "create", name]
            + ["--type", pool_type, "--overwrite"],
            env=stock_server.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert pool.returncode == 0, pool.stdout[-2000:] + pool.stderr[-2000:]
    deploy = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        env=stock_server.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert deploy.returncode == 0, deploy.stdout[-2000:] + deploy.stderr[-2000:]

    runs = _wait_for_scheduled_runs(stock_server)

    # Mondays 07:00 Europe/Paris (prefect.yaml); the server schedules several weeks ahead.
    assert all(run["next_scheduled_start_time"] for run in runs)
    assert stock_server.scheduler_errors() == []


def test_postflow_up_schedules_the_weekly_report(stock_server, tmp_path: Path):
    by_shot = tmp_path / "BY_SHOT"
    by_shot.mkdir()
    env = {
        **stock_server.env,
        "POSTFLOW_STATE_DIR": str(tmp_path / "state"),
        "POSTFLOW_WATCH_PATH": str(by_shot),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    up = subprocess.Popen(
        [sys.executable, "-m", "postflow.cli.main", "up", "--only", "weekly-optimisation-report"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        runs = _wait_for_scheduled_runs(stock_server)
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
        output = up.communicate(timeout=90)[0]
    assert runs, output[-3000:]
    assert stock_server.scheduler_errors() == []
