"""The project as shipped: build the wheel, install it in a fresh virtualenv outside the checkout
(dependencies from uv.lock), and run ``postflow demo`` there from a directory that is not the
checkout, so nothing can be read from it.

uv (``.uv/bin/uv``, which ``make install`` creates) builds the sdist and then the wheel from
that sdist, as ``pip install <sdist>`` would; its cache makes the install a few seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.integration.helpers import assert_served_demo_landed

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("core", "config", "blocks", "tasks", "flows", "postflow")
SHIPPED = {  # file in the wheel -> the file of the checkout it must equal
    "postflow/prefect.yaml": ROOT / "prefect.yaml",
    "postflow/automations.yaml": ROOT / "automations.yaml",
    "config/nomenclature.toml": ROOT / "config" / "nomenclature.toml",
}


def _uv() -> str:
    uv = ROOT / ".uv" / "bin" / "uv"
    found = str(uv) if uv.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("no uv: run `make install` (it creates .uv/bin/uv)")
    return found


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stdout[-4000:]}{done.stderr[-4000:]}"
    return done.stdout


def _source_copy(dest: Path) -> Path:
    """The checkout's files (tracked, and new ones not ignored): no build/ or egg-info left
    over from an earlier build can reach the wheel."""
    names = _run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        ROOT,
        {**os.environ},
    ).split("\0")
    for name in filter(None, names):
        source = ROOT / name
        if source.is_file():  # a deleted file not yet committed is still listed
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name, follow_symlinks=False)
    return dest


def _install(tmp_path: Path, env: dict[str, str]) -> Path:
    """Build the wheel, install it with the lock's dependency set; returns the venv."""
    uv, src = _uv(), _source_copy(tmp_path / "src")
    _run([uv, "build", "--quiet", "--out-dir", str(tmp_path / "dist"), str(src)], tmp_path, env)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name, original in SHIPPED.items():
            assert archive.read(name) == original.read_bytes(), name
        modules = {
            str(path.relative_to(src)) for layer in LAYERS for path in (src / layer).rglob("*.py")
        }
        assert not modules - set(archive.namelist())  # subpackages included
    requirements = tmp_path / "requirements.txt"
    export = ["export", "--quiet", "--frozen", "--no-emit-project", "--no-hashes"]
    _run([uv, *export, "--project", str(src), "--output-file", str(requirements)], tmp_path, env)
    venv = tmp_path / "venv"
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], tmp_path, env)
    python = str(venv / "bin" / "python")
    install = [uv, "pip", "install", "--quiet", "--python", python, "-r", str(requirements)]
    _run([*install, str(wheel)], tmp_path, env)
    return venv


@pytest.mark.timeout(600)
def test_installed_wheel_runs_the_demo_outside_the_checkout(tmp_path: Path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTFLOW_", "VIRTUAL_ENV", "PYTHON", "UV_"))
        and k != "PREFECT_API_URL"
    }
    # uv trusts the system's certificates (as the Makefile has it): behind a TLS proxy its
    # bundled roots alone fail to fetch the build backend.
    env.update(
        UV_PYTHON_DOWNLOADS="never",
        UV_SYSTEM_CERTS=os.environ.get("UV_SYSTEM_CERTS", "1"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    venv = _install(tmp_path, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import postflow.serve.up; print(postflow.serve.up.PREFECT_YAML)",
        ],
        elsewhere,
        env,
    )
    assert Path(where.strip()).is_relative_to(venv), where  # the installed copy, not the checkout

    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), COLUMNS="250")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"  # as if the venv were activated
    demo = subprocess.run(
        [str(venv / "bin" / "postflow"), "demo", "--port", "0", "--work-dir", str(tmp_path / "d")],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    out = demo.stdout
    assert demo.returncode == 0, out[-6000:] + demo.stderr[-3000:]
    assert_served_demo_landed(out)  # `postflow up` from the wheel served the runs
