"""The systemd units of deploy/systemd/: what each runs, its sandbox, and ``systemd-analyze
verify`` on every unit when systemd is installed (``.ci/run`` installs Debian's ``systemd``).

``verify`` wants each Exec binary to exist, and the units name the production path
(``/opt/rl-postflow/.venv/bin/...``): a copy is verified with that directory rewritten to this
test's virtualenv, so the binaries the units name must exist here too.
"""

from __future__ import annotations

import http.server
import os
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "systemd"
UNITS = sorted(DEPLOY.glob("*.service"))
VENV_BIN = "/opt/rl-postflow/.venv/bin/"
STATE = "/var/lib/postflow"
DEPLOYMENTS = {
    d["name"] for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
}


def _settings(unit: Path) -> dict[str, list[str]]:
    """``{"Section.Key": [values...]}`` of a unit file (keys may repeat)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in unit.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key}", []).append(value)
    return found


def _environment(settings: dict[str, list[str]]) -> dict[str, str]:
    pairs = [p for v in settings.get("Service.Environment", []) for p in shlex.split(v)]
    return dict(p.split("=", 1) for p in pairs)


def test_the_units_are_one_machine_sensor_worker_and_server():
    assert {u.name for u in UNITS} == {
        "postflow.service",
        "postflow-sensor.service",
        "postflow-worker.service",
        "prefect-server.service",
    }


@pytest.mark.parametrize(
    ("unit", "only"),
    [
        ("postflow.service", set()),  # everything, one machine
        ("postflow-sensor.service", DEPLOYMENTS - {"ingest-file"}),
        ("postflow-worker.service", {"ingest-file"}),
    ],
)
def test_each_postflow_unit_serves_its_deployments(unit, only):
    (command,) = _settings(DEPLOY / unit)["Service.ExecStart"]
    args = shlex.split(command)
    assert args[:2] == [f"{VENV_BIN}postflow", "up"]
    served = set(args[3::2])
    assert args[2::2] == ["--only"] * len(served) and served == only
    assert only <= DEPLOYMENTS
    waits = _settings(DEPLOY / unit).get("Service.ExecStartPre", [])
    assert bool(waits) == bool(only)  # several machines: wait for the shared server


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_every_unit_runs_sandboxed_as_postflow_and_restarts(unit):
    settings = _settings(unit)
    one = {key: values[-1] for key, values in settings.items()}
    assert one["Service.User"] == one["Service.Group"] == "postflow"
    assert one["Service.ProtectSystem"] == "strict"
    writable = settings["Service.ReadWritePaths"]
    assert writable[0] == STATE and one["Service.StateDirectory"] == "postflow"
    assert writable[1:] in ([], ["-/mnt/shared/postflow"])  # several machines' shared directory
    environment = _environment(settings)
    for name in ("PREFECT_HOME", "POSTFLOW_STATE_DIR"):
        if name in environment or unit.name != "prefect-server.service":
            assert Path(environment[name]).is_relative_to(STATE), name
    assert one["Service.Restart"] == "on-failure"
    assert one["Service.EnvironmentFile"].startswith("/etc/postflow/")
    assert (DEPLOY / Path(one["Service.EnvironmentFile"]).name).exists()  # its template
    # SIGTERM to the main process alone, which stops its children; SIGKILL for what is left
    assert one["Service.KillMode"] == "mixed" and one["Service.KillSignal"] == "SIGTERM"
    assert 30 <= int(one["Service.TimeoutStopSec"]) <= 900
    secret = ("SECRET", "PASSWORD", "TOKEN", "API_KEY", "WEBHOOK")
    assert not [k for k in environment if any(s in k for s in secret)]


def _verifiable_copy(unit: Path, dest: Path) -> Path:
    """``unit`` with its Exec binaries taken from this test's virtualenv."""
    here = Path(sys.executable).parent
    text = unit.read_text(encoding="utf-8")
    for name in {
        line.split(VENV_BIN, 1)[1].split()[0] for line in text.splitlines() if VENV_BIN in line
    }:
        assert (here / name).exists(), f"{unit.name} runs {name}, which this install lacks"
    copy = dest / unit.name
    copy.write_text(text.replace(VENV_BIN, f"{here}/"), encoding="utf-8")
    return copy


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (.ci/run installs Debian's systemd package)",
)
@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_analyze_verifies_every_unit(unit, tmp_path):
    copy = _verifiable_copy(unit, tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    report = done.stdout + done.stderr
    # an unknown key or a bad value is only a warning (exit 0): fail on any line about ours
    assert done.returncode == 0 and unit.name not in report, report


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd not installed")
def test_systemd_sysusers_creates_the_postflow_user(tmp_path):
    (tmp_path / "etc").mkdir()
    done = subprocess.run(
        [
            "systemd-sysusers",
            "--dry-run",
            f"--root={tmp_path}",
            str(DEPLOY / "postflow.sysusers"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0 and "Creating user 'postflow'" in report, report


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    """A loopback stand-in for a Prefect server's ``GET /api/health``; yields its API URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def test_the_wait_for_the_shared_server_passes_only_when_it_answers(health_server):
    units = ("postflow-sensor.service", "postflow-worker.service")
    (command,) = {c for u in units for c in _settings(DEPLOY / u)["Service.ExecStartPre"]}
    args = shlex.split(command)
    assert args[0] == f"{VENV_BIN}python"

    def wait(api_url: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PREFECT_API_URL": api_url}
        return subprocess.run(
            [sys.executable, *args[1:]], env=env, capture_output=True, text=True, timeout=60
        )

    assert wait(health_server).returncode == 0
    closed = health_server.rsplit(":", 1)[0] + ":9/api"  # discard port: nothing listens
    refused = wait(closed)
    assert refused.returncode == 1
    assert f"{closed} does not answer; waiting for the Prefect server" in refused.stderr
    unset = wait("")
    assert unset.returncode == 1 and "PREFECT_API_URL is unset" in unset.stderr
