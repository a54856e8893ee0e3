"""A named tunnel's start-up self-check, with the stand-in routed by an ingress rule as
Cloudflare routes a token tunnel: to this process, to another process, to nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from blocks.range_server import RangeServer
from blocks.remote_endpoint import RemoteEndpoint
from config.settings import PostflowSettings
from tests.integration.remote_helpers import (
    events,
    free_port,
    install_fake_cloudflared,
    route_named_tunnel,
)

pytestmark = pytest.mark.integration

TOKEN_BLOCK = "postflow-test-canary-token"


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None) -> Path:
    from prefect.blocks.system import Secret

    Secret(value="named-tunnel-token").save(TOKEN_BLOCK, overwrite=True)
    return install_fake_cloudflared(tmp_path, monkeypatch)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def _settings(hostname: str, port: int, **extra: object) -> PostflowSettings:
    return PostflowSettings(
        upload_strategy="auto",
        tunnel_mode="named",
        tunnel_hostname=hostname,
        tunnel_token_block=TOKEN_BLOCK,
        range_server_port=port,
        **extra,  # type: ignore[arg-type]
    )


def _start(settings: PostflowSettings) -> Iterator[RemoteEndpoint]:
    endpoint = RemoteEndpoint.start(settings)
    try:
        yield endpoint
    finally:
        endpoint.stop()


def _tunnel_warnings(logs: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in logs.records
        if r.name == "postflow.tunnel" and r.levelno >= logging.WARNING
    ]


def test_a_rule_to_this_process_passes_the_canary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: Path, logs: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    hostname = route_named_tunnel(tmp_path, monkeypatch, port)
    for endpoint in _start(_settings(hostname, port)):
        assert endpoint.tunnel.healthy()
        assert endpoint.tunnel.base_url == f"http://{hostname}"
    routes = [e for e in events(record) if e["event"] == "route"]
    assert routes and {e["service"] for e in routes} == {f"http://127.0.0.1:{port}"}
    assert _tunnel_warnings(logs) == []


@pytest.mark.parametrize(
    ("other_secret", "why"),
    [
        (None, "refused the canary (403)"),  # another key: the signature is refused
        ("shared-key", "another nonce"),  # the same POSTFLOW_SHARE_SECRET on both
    ],
)
def test_a_rule_to_another_process_turns_remote_off_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    record: Path,
    logs: pytest.LogCaptureFixture,
    other_secret: str | None,
    why: str,
) -> None:
    with RangeServer(secret=other_secret) as other:
        hostname = route_named_tunnel(tmp_path, monkeypatch, other.port)
        settings = _settings(hostname, free_port(), share_secret="shared-key")
        for endpoint in _start(settings):
            reason = endpoint.tunnel.reason
            healthy = endpoint.tunnel.healthy()
    [warning] = _tunnel_warnings(logs)
    assert not healthy
    assert reason.startswith("another process answers") and why in reason
    assert warning == f"remote upload off for this process: {reason}"
    [start] = [e for e in events(record) if e["event"] == "start"]
    assert not psutil.pid_exists(start["pid"]) or _zombie(start["pid"])


def test_a_rule_to_nothing_turns_remote_off_as_nothing_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: Path, logs: pytest.LogCaptureFixture
) -> None:
    hostname = route_named_tunnel(tmp_path, monkeypatch, free_port())  # nothing listens there
    port = free_port()
    settings = _settings(hostname, port, tunnel_canary_timeout_seconds=1.0)
    for endpoint in _start(settings):
        reason = endpoint.tunnel.reason
        healthy = endpoint.tunnel.healthy()
    [warning] = _tunnel_warnings(logs)
    assert not healthy
    assert reason.startswith("nothing answers: HTTP 502")
    assert f"should forward to http://127.0.0.1:{port}" in reason
    assert warning.endswith(reason)


def test_no_log_line_holds_the_token_or_a_canary_signature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: Path, logs: pytest.LogCaptureFixture
) -> None:
    with RangeServer() as other:
        hostname = route_named_tunnel(tmp_path, monkeypatch, other.port)
        for _ in _start(_settings(hostname, free_port())):
            pass
    text = "\n".join(r.getMessage() for r in logs.records)
    assert "remote upload off" in text
    assert "/canary/" not in text and "named-tunnel-token" not in text


def test_a_port_already_taken_on_this_machine_starts_no_cloudflared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: Path, logs: pytest.LogCaptureFixture
) -> None:
    with RangeServer() as other:
        hostname = route_named_tunnel(tmp_path, monkeypatch, other.port)
        for endpoint in _start(_settings(hostname, other.port)):
            reason = endpoint.tunnel.reason
            healthy = endpoint.tunnel.healthy()
    [warning] = _tunnel_warnings(logs)
    assert not healthy
    assert f"port {other.port}" in reason and "in use" in reason
    assert warning.endswith(reason)
    assert [e for e in events(record) if e["event"] == "start"] == []


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
