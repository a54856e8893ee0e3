"""Fixtures of the sandbox tests: a fresh sandbox per test, an httpx client, an SDK client.

Every test starts its own sandbox on a free loopback port with a tmp_path data dir (no rate
limits, 64 KiB parts, no transcode delay; a module overrides ``sandbox_options`` to change
them); this ``sandbox`` replaces the suite-wide one of ``tests/conftest.py`` for the tests in
this folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from frameio import Frameio

from postflow.sandbox import SandboxServer
from tests.integration.sandbox.frameio_calls import PART_BYTES, sdk_client


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    """Keyword arguments of :class:`SandboxServer` for this folder's tests."""
    return {"rate_limits": False, "target_part_bytes": PART_BYTES, "transcode_delay_seconds": 0}


@pytest.fixture
def sandbox(tmp_path: Path, sandbox_options: dict[str, Any]) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path / "sandbox", **sandbox_options) as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture
def client(sandbox: SandboxServer, http: httpx.Client) -> Frameio:
    return sdk_client(sandbox, http)
