"""Whatever ``postflow watch`` starts stops with it: Ctrl-C, SIGTERM and ``kill -9``.

With PREFECT_API_URL unset, ``postflow watch`` used Prefect's temporary server, and a
``kill -9`` of the command left it running (209 MiB each, 12 of 12 times).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The command as the console script runs it, from this checkout.
POSTFLOW = [sys.executable, "-c", "from postflow.cli.main import app; app()"]
ROOT = Path(__file__).resolve().parents[2]


def _start_watch(tmp_path: Path, ready: str = "Startup scan") -> tuple[subprocess.Popen, list[int]]:
    """``postflow watch`` with no PREFECT_API_URL; returns it once its output shows ``ready``,
    with the pids of everything it started by then."""
    by_shot = tmp_path / "BY_SHOT"
    by_shot.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "POSTFLOW_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        POSTFLOW_STATE_DIR=str(tmp_path / "state"),
        POSTFLOW_WATCH_PATH=str(by_shot),
        POSTFLOW_FRAMEIO_CREDENTIALS_BLOCK="postflow-test-absent-block",
        POSTFLOW_SETTLE_SECONDS="0.5",
        POSTFLOW_POLL_INTERVAL_SECONDS="0.2",
    )
    log = (tmp_path / "watch.log").open("wb")
    watch = subprocess.Popen(
        [*POSTFLOW, "watch"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if watch.poll() is not None:
            pytest.fail(f"postflow watch exited: {(tmp_path / 'watch.log').read_text()}")
        if ready in (tmp_path / "watch.log").read_text(errors="replace"):
            children = psutil.Process(watch.pid).children(recursive=True)
            return watch, [c.pid for c in children]
        time.sleep(0.5)
    watch.kill()
    pytest.fail(f"postflow watch never started: {(tmp_path / 'watch.log').read_text()}")


def _left_running(pids: list[int], wait_seconds: float = 30.0) -> list[str]:
    deadline = time.monotonic() + wait_seconds
    alive = pids
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and _not_zombie(p)]
        if not alive:
            return []
        time.sleep(0.2)
    described = []
    for pid in alive:
        with contextlib.suppress(psutil.Error):
            described.append(" ".join(psutil.Process(pid).cmdline())[:200])
        os.kill(pid, signal.SIGKILL)
    return described


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_no_child_outlives_postflow_watch(tmp_path, sig):
    watch, children = _start_watch(tmp_path)
    assert children, "postflow watch should have started a temporary Prefect server"
    assert "temporary Prefect server" in (tmp_path / "watch.log").read_text()
    os.kill(watch.pid, sig)
    watch.wait(timeout=60)
    assert _left_running(children) == []


def test_an_ingest_thread_uses_the_command_server_and_leaves_nothing_after_kill_9(tmp_path):
    # An ingest runs on a worker thread of the sensor: it must talk to the command's server,
    # not start Prefect's own temporary one (which a kill -9 left behind, seen in the soak).
    (tmp_path / "BY_SHOT").mkdir()
    (tmp_path / "BY_SHOT" / "SC01_UNDLM_00412_V001.mov").write_bytes(b"x" * 1000)
    watch, children = _start_watch(tmp_path, ready="Ingest of")
    log = (tmp_path / "watch.log").read_text()
    assert "Starting temporary server" not in log
    os.kill(watch.pid, signal.SIGKILL)
    watch.wait(timeout=60)
    assert _left_running(children) == []


def test_a_command_needing_the_api_starts_and_stops_its_own_server(tmp_path):
    # status, report, rerun, setup... used Prefect's ephemeral server, which nothing stopped
    # after a kill -9; now they say so in one line and the server ends with them.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "POSTFLOW_"))}
    env.update(PREFECT_HOME=str(tmp_path / "home"), POSTFLOW_STATE_DIR=str(tmp_path / "state"))
    result = subprocess.run(
        [*POSTFLOW, "status"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    notice = [line for line in result.stderr.splitlines() if "temporary Prefect server" in line]
    assert len(notice) == 1, result.stderr
    port = notice[0].split("127.0.0.1:")[1].split()[0]
    servers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if "--port" in (p.info["cmdline"] or []) and port in (p.info["cmdline"] or [])
    ]
    assert _left_running(servers, wait_seconds=5) == []
