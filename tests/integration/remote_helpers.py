"""Helpers for the Range server, tunnel and remote-upload tests."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

FAKE_CLOUDFLARED = Path(__file__).resolve().parents[1] / "fake_cloudflared.py"


def install_fake_cloudflared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the stand-in on PATH as ``cloudflared`` (a shell wrapper that execs it with this
    interpreter, so no system ``python3`` is needed); returns its JSON-lines event record."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "cloudflared"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_CLOUDFLARED}" "$@"\n')
    wrapper.chmod(0o755)
    record = tmp_path / "cloudflared-events.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_CLOUDFLARED_RECORD", str(record))
    return record


def events(record: Path) -> list[dict]:
    """The stand-in's recorded events, oldest first."""
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


def wait_until(
    predicate: Callable[[], object], timeout_seconds: float = 15.0, interval_seconds: float = 0.02
) -> bool:
    """Poll ``predicate`` until it is truthy; False when ``timeout_seconds`` pass first.

    Use ``interval_seconds >= 0.25`` for Frame.io status polls (5 calls/s rate limit).
    """
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_seconds)
    return bool(predicate())


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def route_named_tunnel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service_port: int) -> str:
    """Configure the stand-in's named tunnel as Cloudflare would: its public hostname (a
    loopback ``host:port``, returned) and one ingress rule, hostname ->
    ``http://127.0.0.1:<service_port>``, then the catch-all ``http_status:404``."""
    hostname = f"127.0.0.1:{free_port()}"
    ingress = tmp_path / "cloudflared-ingress.yml"
    ingress.write_text(
        "ingress:\n"
        "  - hostname: 127.0.0.1\n"
        f"    service: http://127.0.0.1:{service_port}\n"
        "  - service: http_status:404\n"
    )
    monkeypatch.setenv("FAKE_CLOUDFLARED_INGRESS", str(ingress))
    monkeypatch.setenv("FAKE_CLOUDFLARED_LISTEN", hostname)
    return hostname
