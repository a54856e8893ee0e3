"""The systemd units of deploy/systemd/: what each runs, its sandbox, and ``systemd-analyze
verify`` on every unit when systemd is installed (``.ci/run`` installs Debian's ``systemd``).

``verify`` wants each Exec binary to exist, and the units name the production path
(``/opt/rl-postflow/.venv/bin/...``): a copy is verified with that directory rewritten to this
test's virtualenv, so the binaries the units name must exist here too.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
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
    options = args[2:]
    shared_server = "--no-local-server" in options  # several machines: the shared server only
    if shared_server:
        options.remove("--no-local-server")
    served = set(options[1::2])
    assert options[0::2] == ["--only"] * len(served) and served == only
    assert only <= DEPLOYMENTS
    assert shared_server == bool(only)


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


def test_up_without_a_local_server_refuses_to_start_one(tmp_path):
    """The sensor and worker units' `up --no-local-server`, with PREFECT_API_URL unset: one
    error line and exit 2 (systemd restarts it), never a private server on loopback."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "home"), POSTFLOW_STATE_DIR=str(tmp_path / "state"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "postflow.cli.main",
            "up",
            "--no-local-server",
            "--only",
            "ingest-file",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "PREFECT_API_URL is unset and --no-local-server was given" in done.stderr
    assert "Starting a local Prefect server" not in done.stdout
    assert not (tmp_path / "state" / "prefect-server.log").exists()
