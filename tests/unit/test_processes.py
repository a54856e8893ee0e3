"""Children started with ``die_with_parent`` end when their parent is SIGKILLed (Linux)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")

PARENT = """
import subprocess, sys, time
from core.processes import die_with_parent
kw = {"preexec_fn": die_with_parent()} if sys.argv[1] == "on" else {}
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], **kw)
print(child.pid, flush=True)
time.sleep(120)
"""


def _orphan_after_parent_killed(mode: str, wait_seconds: float) -> bool:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, mode],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + wait_seconds
    try:
        child = psutil.Process(child_pid)
        while time.monotonic() < deadline:
            if not child.is_running() or child.status() == psutil.STATUS_ZOMBIE:
                return False
            time.sleep(0.05)
        return True
    except psutil.NoSuchProcess:
        return False
    finally:
        if psutil.pid_exists(child_pid):
            os.kill(child_pid, signal.SIGKILL)


def test_a_child_started_with_die_with_parent_ends_with_its_killed_parent():
    assert _orphan_after_parent_killed("on", wait_seconds=10) is False


def test_without_it_the_child_outlives_its_killed_parent():
    # The control: what `postflow watch` did with Prefect's temporary server (209 MiB each).
    assert _orphan_after_parent_killed("off", wait_seconds=1) is True
