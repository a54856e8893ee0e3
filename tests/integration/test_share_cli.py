"""`postflow share FILE --no-tunnel` as a user runs it: a real process, a real HTTP client."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _lines(stream) -> queue.Queue[str | None]:
    """Read a pipe on a thread; None marks its end (the process exited)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _url_line(lines: queue.Queue[str | None], seen: list[str], timeout: float) -> str:
    while True:
        line = lines.get(timeout=timeout)
        if line is None:
            raise AssertionError("postflow share exited before printing a URL:\n" + "".join(seen))
        seen.append(line)
        if line.startswith("http://127.0.0.1:"):
            return line.strip()


def test_share_no_tunnel_serves_ranges_on_loopback_until_interrupted(tmp_path: Path):
    data = os.urandom(300_000)
    source = tmp_path / "SC01_UNDLM_00412_V002.mov"
    source.write_bytes(data)
    env = {**os.environ, "COLUMNS": "200", "POSTFLOW_STATE_DIR": str(tmp_path / "state")}
    share = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "postflow.cli.main",
            "share",
            str(source),
            "--no-tunnel",
            "--ttl",
            "600",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        lines = _lines(share.stdout)  # the only reader of stdout (no communicate())
        url = _url_line(lines, seen, timeout=120)
        assert url.endswith("/SC01_UNDLM_00412_V002.mov") and "/f/" in url
        partial = httpx.get(url, headers={"Range": "bytes=1000-1999"}, timeout=30)
        assert partial.status_code == 206
        assert partial.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
        assert partial.content == data[1000:2000]
        tail = httpx.get(url, headers={"Range": "bytes=-10"}, timeout=30)
        assert tail.status_code == 206 and tail.content == data[-10:]
        forged = httpx.get(url.replace("/f/", "/f/x"), timeout=30)
        assert forged.status_code in (403, 404)
        share.send_signal(signal.SIGINT)  # Ctrl-C
        share.wait(60)
        while (line := lines.get(timeout=30)) is not None:
            seen.append(line)
        output = "".join(seen)
    finally:
        if share.poll() is None:
            share.kill()
            share.wait(30)
    assert share.returncode == 0, output
    assert "Stopped; 1,010 bytes served." in output
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=5)
