"""The real sensor under test: ``postflow watch`` from this checkout, as a subprocess.

Each incarnation appends to one log file. Before every ``kill -9`` and the final SIGTERM the
pids of everything it started (its temporary Prefect server, ...) are recorded; at the end
:meth:`Watcher.left_running` tells which of them are still alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

__all__ = ["Watcher"]

ROOT = Path(__file__).resolve().parents[1]
POSTFLOW = [sys.executable, "-c", "from postflow.cli.main import app; app()"]
READY_LINE = "Startup scan"
# How the sensor reports a file it refuses (bad name, symlink, FIFO, ...), and how an ingest
# reports a name it cannot read (e.g. one with a newline).
REJECTED_LINES = ("Not ingesting a file", "Unreadable name, not uploaded")


class Watcher:
    """Start, ``kill -9``, restart and stop ``postflow watch``.

    Args:
        env: the full environment of the command.
        log_path: stdout and stderr of every incarnation, appended.
    """

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.children: set[int] = set()
        self.kills = 0
        self._log_offset = 0

    def start(self, ready_timeout_seconds: float = 240.0) -> None:
        """Start an incarnation and wait for its startup scan.

        Raises:
            RuntimeError: it exited or did not get ready in time.
        """
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*POSTFLOW, "watch"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + ready_timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postflow watch exited {self.process.returncode}")
            if READY_LINE in self._log_since_start():
                return
            time.sleep(0.3)
        raise RuntimeError("postflow watch did not finish its startup scan in time")

    def kill9(self) -> None:
        """``kill -9`` the command (not its children: they must go by themselves)."""
        process = self._running()
        self._record_children()
        process.kill()
        process.wait(timeout=30)
        self.kills += 1

    def terminate(self, timeout_seconds: float = 30.0) -> int:
        """SIGTERM and wait; returns its exit code (kills it after the timeout)."""
        process = self._running()
        self._record_children()
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(timeout=30)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def left_running(self, wait_seconds: float = 15.0) -> list[int]:
        """Recorded children still alive after ``wait_seconds`` (then killed, to clean up)."""
        deadline = time.monotonic() + wait_seconds
        alive = sorted(self.children)
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in alive if _running(pid)]
            time.sleep(0.3)
        for pid in alive:
            os.kill(pid, signal.SIGKILL)
        return alive

    def rejected_lines(self) -> list[str]:
        """Every line (of every incarnation) reporting a refused file or an unreadable name."""
        text = self.log_path.read_text(errors="backslashreplace")
        return [line for line in text.splitlines() if any(r in line for r in REJECTED_LINES)]

    def _log_since_start(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def _record_children(self) -> None:
        assert self.process is not None
        try:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.children.add(child.pid)
        except psutil.NoSuchProcess:
            pass

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError("postflow watch is not running")
        return self.process


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
