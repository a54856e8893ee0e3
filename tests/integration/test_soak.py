"""The 2-minute soak: the real ``postflow watch`` against the sandbox, through faults, an
outage, ``kill -9``s, pausing writers, same-size re-renders, hostile names and symlinks.

``make soak`` runs the full size (100 files, 10 shots, a 2-minute outage, 5 kills); this is the
same command with small numbers, so that it fits in the suite (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEFECTS = (
    "duplicates",
    "partial_left",
    "wrong_stack_heads",
    "stale_bytes",
    "symlinks_uploaded",
    "processes_left",
)


def _counts(line: str) -> dict[str, int]:
    return {key: int(value) for key, value in (pair.split("=") for pair in line.split())}


def test_two_minute_soak_lands_every_file_once_and_leaves_nothing_behind(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "POSTFLOW_"))}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    command = [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--minutes", "2"]
    command += ["--files", "12", "--shots", "3", "--out", str(tmp_path / "soak")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=420)
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-4000:]
    counts = _counts(lines[-1])
    assert {key: counts[key] for key in DEFECTS} == dict.fromkeys(DEFECTS, 0), lines[-1]
    assert counts["landed_once"] == counts["good_files"] == 12, done.stderr[-4000:]
    assert done.returncode == 0, done.stderr[-4000:]
