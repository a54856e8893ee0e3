"""TunnelManager with the cloudflared stand-in on PATH (tests/fake_cloudflared.py)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from blocks import tunnel as tunnel_module
from blocks.range_server import RangeServer, SharedFile
from blocks.tunnel import TunnelManager
from config.settings import PostflowSettings
from core.errors import TunnelError
from core.runtime import current_runtime
from tasks.clients import remote_endpoint
from tests.integration.helpers import make_file
from tests.integration.remote_helpers import (
    events,
    install_fake_cloudflared,
    route_named_tunnel,
    wait_until,
)

pytestmark = pytest.mark.integration

FAST = {"restart_backoff_seconds": 0.05, "health_interval_seconds": 0.05, "stop_timeout_seconds": 2}


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return install_fake_cloudflared(tmp_path, monkeypatch)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[RangeServer, SharedFile]]:
    with RangeServer() as running:
        yield running, running.share(make_file(tmp_path, "SC01_UNDLM_00412_V002.mov", 500_000))


@pytest.fixture
def tunnel(record: Path, server: tuple[RangeServer, SharedFile]) -> Iterator[TunnelManager]:
    with TunnelManager(server[0].url, **FAST) as manager:
        yield manager


def test_quick_tunnel_reads_its_hostname_and_waits_for_ready(
    tunnel: TunnelManager, record: Path, server: tuple[RangeServer, SharedFile]
) -> None:
    probes = [e["status"] for e in events(record) if e["event"] == "ready_probe"]
    response = httpx.get(tunnel.public_url(server[1].url_path), headers={"Range": "bytes=0-99"})
    assert probes[0] == 503 and probes[-1] == 200
    assert tunnel.base_url is not None and tunnel.base_url.startswith("http://127.0.0.1:")
    assert tunnel.healthy()
    assert response.status_code == 206 and len(response.content) == 100


def test_a_dead_cloudflared_is_restarted_with_a_new_address(tunnel: TunnelManager) -> None:
    first_pid, first_url = tunnel.pid, tunnel.base_url
    assert first_pid is not None
    os.kill(first_pid, signal.SIGKILL)
    assert wait_until(lambda: tunnel.restarts == 1 and tunnel.healthy())
    assert tunnel.pid != first_pid
    assert tunnel.base_url != first_url


def test_a_running_but_unready_cloudflared_is_restarted(
    record: Path, server: tuple[RangeServer, SharedFile], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLOUDFLARED_UNREADY_AFTER_SECONDS", "1.0")
    with TunnelManager(server[0].url, unready_restart_checks=3, **FAST) as manager:
        first_pid = manager.pid
        assert first_pid is not None and manager.healthy()
        assert wait_until(lambda: manager.restarts >= 1 and manager.pid != first_pid)
        assert not psutil.pid_exists(first_pid) or psutil.Process(first_pid).status() == "zombie"


def test_stop_leaves_no_cloudflared_process(tunnel: TunnelManager) -> None:
    pid = tunnel.pid
    tunnel.stop()
    children = [p.pid for p in psutil.Process().children(recursive=True)]
    assert pid is not None and not psutil.pid_exists(pid)
    assert pid not in children
    assert not tunnel.healthy()


def test_missing_cloudflared_warns_once_and_reports_unhealthy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="postflow.tunnel")
    settings = PostflowSettings(cloudflared_path="cloudflared-not-installed")
    managers = [TunnelManager.from_settings(settings, "http://127.0.0.1:9").start() for _ in "ab"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "postflow.tunnel"]
    assert len(warnings) == 1 and "cloudflared not on PATH" in warnings[0]
    assert not any(m.healthy() for m in managers)
    with pytest.raises(TunnelError, match="not on PATH"):
        managers[0].public_url("/f/x/y.mov")


def test_named_tunnel_takes_its_token_from_a_secret_block_and_its_fixed_hostname(
    prefect_harness: None,
    tmp_path: Path,
    record: Path,
    server: tuple[RangeServer, SharedFile],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.blocks.system import Secret

    block = "postflow-test-tunnel-token"
    Secret(value="named-tunnel-token").save(block, overwrite=True)
    hostname = route_named_tunnel(tmp_path, monkeypatch, server[0].port)
    settings = PostflowSettings(
        tunnel_mode="named",
        tunnel_hostname=hostname,
        tunnel_token_block=block,
        range_server_port=server[0].port,
    )
    with TunnelManager.from_settings(settings, server[0].url) as manager:
        response = httpx.head(manager.public_url(server[1].url_path))
        base_url = manager.base_url
    [start] = [e for e in events(record) if e["event"] == "start"]
    assert base_url == f"http://{hostname}"
    assert start["token"] is True and start["token_in_argv"] is False
    assert "run" in start["argv"]
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("hostname", "url"),
    [
        ("calm-river-1234.trycloudflare.com", "https://calm-river-1234.trycloudflare.com"),
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("localhost:9", "http://localhost:9"),
        ("media.example.com", "https://media.example.com"),
    ],
)
def test_public_base_url_is_https_except_on_loopback(hostname: str, url: str) -> None:
    assert tunnel_module.public_base_url(hostname) == url


def test_remote_endpoint_is_started_once_per_process_and_off_for_multipart(record: Path) -> None:
    settings = PostflowSettings(upload_strategy="auto")
    try:
        first, second = remote_endpoint(settings), remote_endpoint(settings)
        assert first is not None and first is second
        assert first.tunnel.healthy()
        assert remote_endpoint(PostflowSettings(upload_strategy="multipart")) is None
    finally:
        current_runtime().close()


_ORPHAN_SCRIPT = """
import sys, threading, time
from blocks.tunnel import TunnelManager
manager = TunnelManager("http://127.0.0.1:9", restart_backoff_seconds=0.05,
                        health_interval_seconds=0.05, stop_timeout_seconds=2)
starter = threading.Thread(target=manager.start)  # a thread that ends at once
starter.start(); starter.join()
first = manager.pid
import os, signal
os.kill(first, signal.SIGKILL)  # the monitor restarts it from its own thread
while not (manager.restarts == 1 and manager.healthy()):
    time.sleep(0.02)
print(first, manager.pid, flush=True)
time.sleep(600)
"""


def test_cloudflared_dies_with_a_killed_parent_even_after_a_restart(
    record: Path, tmp_path: Path
) -> None:
    # PR_SET_PDEATHSIG follows the thread that forked the child: cloudflared is started from
    # the monitor thread, which lives as long as the manager, not from the caller's thread.
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    try:
        first, restarted = (int(pid) for pid in parent.stdout.readline().split())
        assert psutil.pid_exists(restarted) and restarted != first
    finally:
        parent.kill()
        parent.wait(10)
    try:
        assert wait_until(lambda: not _alive(restarted), timeout_seconds=10)
    finally:
        if _alive(restarted):
            os.kill(restarted, signal.SIGKILL)  # do not leave the orphan behind


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
