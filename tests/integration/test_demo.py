"""`postflow demo` end to end, the way a newcomer runs it: a fresh Prefect home, no API URL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from postflow.demo_media import BAD_FILES, GOOD_FILES
from postflow.up import api_healthy

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(480)
def test_demo_goes_through_postflow_up_and_lands_every_good_file(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        COLUMNS="250",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "postflow.cli",
            "demo",
            "--port",
            "0",
            "--work-dir",
            str(tmp_path / "demo"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=450,
    )
    out = demo.stdout
    assert demo.returncode == 0, out[-6000:] + demo.stderr[-3000:]
    assert "FALLBACK" not in out and "In-process mode" not in out
    ui = re.search(r"Prefect UI: (http://127\.0\.0\.1:\d+)", out)
    assert ui, out[-3000:]
    assert "is running (deployment mode)" in out
    assert "all good files ingested: 4/4 in Frame.io, 1 unreadable name reported" in out
    assert re.search(r"[5-9] ingest-file runs via `postflow up`", out), out[-3000:]
    # every ingest is its own process under `up`: the file lock manager keeps folders unique
    assert "Duplicate folders" not in out, out[out.index("Frame.io tree") :][:3000]
    tree = out[out.index("Frame.io tree") :]
    for name in GOOD_FILES:
        assert name in tree
    runs = out[out.index("Prefect flow runs") :]
    assert runs.count("Completed") >= len(GOOD_FILES)
    assert f"ingest {BAD_FILES[0]}" in runs and "Failed" in runs
    assert "watch " in runs  # the served sensor's run
    assert "RL PostFlow: ingest failed" in out  # the automation's alert reached "Discord"
    # the latency burst's live alert: emitter -> postflow.alert.api_latency -> automation
    assert "RL PostFlow alert fired: Frame.io API latency" in out
    # the server the demo started is stopped with it
    assert not api_healthy(f"{ui.group(1)}/api")
