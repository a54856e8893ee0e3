"""Helpers for the Range server, tunnel and remote-upload tests."""

from __future__ import annotations

import json
import os
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
