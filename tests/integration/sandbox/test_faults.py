"""Injected faults (status codes, dropped connections, latency) and the rate limits the
sandbox enforces, as the SDK and plain httpx see them.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from frameio import Frameio
from frameio.errors import TooManyRequestsError

from postflow.sandbox import SandboxServer
from tests.integration.sandbox.frameio_calls import (
    NO_RETRY,
    create_upload,
    make_folder,
    put_part,
    random_file,
    sdk_client,
)

pytestmark = pytest.mark.integration


def test_injected_429_reaches_the_sdk_error_with_retry_after(
    sandbox: SandboxServer, client: Frameio
) -> None:
    sandbox.inject_status(429, path=r"/children$", method="GET", retry_after_seconds=7)
    with pytest.raises(TooManyRequestsError) as limited:
        list(
            client.folders.index(
                sandbox.account_id, sandbox.root_folder_id, request_options=NO_RETRY
            )
        )
    assert limited.value.status_code == 429
    assert limited.value.headers["retry-after"] == "7"
    assert sandbox.stats()["sent_429"] == 1


def test_sdk_retries_an_injected_503_then_succeeds(sandbox: SandboxServer, client: Frameio) -> None:
    folder_id = make_folder(client, sandbox, "after-outage")
    sandbox.inject_status(503, path=r"/children$", retry_after_seconds=1)
    children = list(client.folders.index(sandbox.account_id, sandbox.root_folder_id))
    stats = sandbox.stats()
    assert [c.id for c in children] == [folder_id]
    assert stats["injected_status"] == 1
    assert stats["requests_by_route"]["folders.index"] == 2


def test_injected_drop_is_a_network_error(sandbox: SandboxServer, http: httpx.Client) -> None:
    sandbox.inject_drop(path="^/v4/me$")
    headers = {"Authorization": f"Bearer {sandbox.issue_access_token()}"}
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.get(f"{sandbox.url}/v4/me", headers=headers)
    assert http.get(f"{sandbox.url}/v4/me", headers=headers).status_code == 200
    assert sandbox.stats()["injected_drops"] == 1


def test_injected_fault_applies_to_part_puts(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "a.mov", 100)
    upload = create_upload(client, sandbox, source.name, 100)
    sandbox.inject_status(503, path="^/_upload/", method="PUT")
    headers = {"x-amz-acl": "private", "Content-Type": "video/quicktime"}
    first = put_part(http, upload.upload_urls[0].url, source, 0, 100, headers)
    second = put_part(http, upload.upload_urls[0].url, source, 0, 100, headers)
    assert first.status_code == 503 and "<Code>SlowDown</Code>" in first.text
    assert second.status_code == 200


def test_admin_endpoints_inject_and_clear_faults(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    headers = {"Authorization": f"Bearer {sandbox.issue_access_token()}"}
    added = http.post(
        f"{sandbox.url}/_sandbox/faults/status",
        json={"status": 502, "count": 5, "path": "^/v4/me$"},
    )
    faulted = http.get(f"{sandbox.url}/v4/me", headers=headers)
    cleared = http.post(f"{sandbox.url}/_sandbox/faults/clear")
    assert (added.status_code, added.json()["remaining"]) == (201, 5)
    assert (faulted.status_code, faulted.json()["errors"][0]["title"]) == (502, "Bad Gateway")
    assert cleared.json()["rules"] == []
    assert http.get(f"{sandbox.url}/v4/me", headers=headers).status_code == 200


def test_added_latency_delays_requests_but_not_admin_calls(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    http.post(f"{sandbox.url}/_sandbox/faults/latency", json={"seconds": 0.3})
    started = time.monotonic()
    http.get(f"{sandbox.url}/v4/me")
    delayed = time.monotonic() - started
    assert sandbox.state.faults.latency_seconds == 0.3
    assert delayed >= 0.3  # a lower bound only: never flaky on a slow machine


# --- rate limits ------------------------------------------------------------------------------
def test_folder_create_burst_is_rate_limited(tmp_path: Path, http: httpx.Client) -> None:
    with SandboxServer(tmp_path / "sb", rate_limits=True) as server:
        client = sdk_client(server, http)
        with pytest.raises(TooManyRequestsError) as limited:
            for i in range(12):
                make_folder(client, server, f"burst{i}")
        stats = server.stats()
    assert int(limited.value.headers["retry-after"]) >= 1
    assert limited.value.headers["x-ratelimit-limit"] == "3"
    assert limited.value.headers["x-ratelimit-window"] == "1000"
    assert stats["rate_limited"] == 1


def test_v4_responses_carry_rate_limit_headers(sandbox: SandboxServer, client: Frameio) -> None:
    response = client.folders.with_raw_response.show(sandbox.account_id, sandbox.root_folder_id)
    assert response.headers["x-ratelimit-limit"] == "100"
    assert response.headers["x-ratelimit-window"] == "60000"
    assert int(response.headers["x-ratelimit-remaining"]) >= 0
