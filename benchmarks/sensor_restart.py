"""The silent-sensor automation brings a killed sensor back, end to end (about 2-3 minutes).

Too slow for the test suite (the silence threshold is at least 60 s): this script shows it and
prints the figures. It starts the Frame.io sandbox and a Discord receiver here, a local Prefect
server and ``postflow up`` (as ``make demo`` does), waits for the ``watch-by-shot`` run, then
``kill -9``s the sensor's flow-run process (no ``postflow.sensor.stopped``, no more
heartbeats). The ``postflow-sensor-silent`` automation must then send its alert and run the
deployment again, and ``postflow up`` must start the new sensor run.

    .venv/bin/python benchmarks/sensor_restart.py
Exit code 0 when the alert arrived and a new sensor run is Running.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blocks.settings import PostflowTuning  # noqa: E402
from postflow.demo.environment import demo_env, save_blocks  # noqa: E402
from postflow.demo.served import deployment_runs, start_up, stop_up  # noqa: E402
from postflow.sandbox.discord_receiver import DiscordReceiver  # noqa: E402
from postflow.sandbox.server import SandboxServer  # noqa: E402
from postflow.serve.up import SENSOR_DEPLOYMENT, free_port, start_local_server, stop_server  # noqa: E402

SILENCE_SECONDS = 60  # the tuning block's minimum
TUNING_BLOCK = "postflow-restart-tuning"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_for(what: str, seconds: float, check):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1.0)
    raise SystemExit(f"no {what} after {seconds:.0f} s")


def sensor_process(up_pid: int, run_id: str) -> psutil.Process:
    """The flow-run process ``postflow up`` started for ``run_id``."""
    for child in psutil.Process(up_pid).children(recursive=True):
        try:
            if child.environ().get("PREFECT__FLOW_RUN_ID") == run_id:
                return child
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
    raise SystemExit(f"no process for sensor run {run_id}")


def main() -> int:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    base = Path(tempfile.mkdtemp(prefix="postflow-restart-"))
    (base / "BY_SHOT").mkdir()
    server = up = None
    with SandboxServer(base / "sandbox") as sandbox, DiscordReceiver() as discord:
        os.environ.update({**demo_env(base, sandbox), "POSTFLOW_TUNING_BLOCK": TUNING_BLOCK})
        try:
            server, api_url = start_local_server(free_port(None), base / "prefect-server.log")
            with temporary_settings(updates={PREFECT_API_URL: api_url}):
                save_blocks(sandbox, discord)
                PostflowTuning(alert_sensor_silence_seconds=SILENCE_SECONDS).save(
                    TUNING_BLOCK, overwrite=True
                )
                started = datetime.now(UTC)
                up = start_up(base, api_url)
                with get_client(sync_client=True) as client:

                    def running(exclude: str = "") -> str | None:
                        runs = deployment_runs(client, SENSOR_DEPLOYMENT, started)
                        return next(
                            (
                                str(r.id)
                                for r in runs
                                if r.state_type.value == "RUNNING" and str(r.id) != exclude
                            ),
                            None,
                        )

                    first = wait_for("running sensor", 150, running)
                    log(f"sensor run {first} is Running; kill -9 its process")
                    sensor_process(up.pid, first).kill()
                    killed = time.monotonic()

                    def silent_alert() -> bool:
                        return any(
                            "sensor is silent" in (m["payload"].get("content") or "")
                            for m in discord.messages
                        )

                    wait_for("silent-sensor alert", SILENCE_SECONDS + 90, silent_alert)
                    alert_after = time.monotonic() - killed
                    log(f"Discord: 'the BY_SHOT sensor is silent' {alert_after:.0f} s after kill")
                    second = wait_for("restarted sensor", 90, lambda: running(first))
                    restart_after = time.monotonic() - killed
                    log(f"new sensor run {second} Running {restart_after:.0f} s after the kill")
            print(
                f"sensor_restart: silence threshold {SILENCE_SECONDS} s, alert after "
                f"{alert_after:.0f} s, sensor Running again after {restart_after:.0f} s"
            )
            return 0
        finally:
            stop_up(up)
            stop_server(server)


if __name__ == "__main__":
    raise SystemExit(main())
