"""Serving and state: the loopback server thread, restarts on the same data dir, reset, and
``run_sandbox`` until its stop event.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from frameio import Frameio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from core.loopback import UvicornThread
from postflow.sandbox import SandboxServer, run_sandbox
from tests.integration.sandbox.frameio_calls import make_folder, sdk_client

pytestmark = pytest.mark.integration


def test_uvicorn_thread_serves_on_a_free_port_until_stopped() -> None:
    app = Starlette(routes=[Route("/ping", lambda request: PlainTextResponse("pong"))])
    with UvicornThread(app) as server:
        assert server.port > 0
        assert httpx.get(f"{server.url}/ping").text == "pong"
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/ping")


def test_restart_on_the_same_data_dir_keeps_folders_and_tokens(
    tmp_path: Path, http: httpx.Client
) -> None:
    data_dir = tmp_path / "persisted"
    with SandboxServer(data_dir, rate_limits=False) as first:
        token = first.issue_access_token()
        folder_id = make_folder(sdk_client(first, http), first, "survivor")
    with SandboxServer(data_dir, rate_limits=False) as second:
        client = Frameio(base_url=second.url, token=token, httpx_client=http)
        names = [c.name for c in client.folders.index(second.account_id, second.root_folder_id)]
        shown = client.folders.show(second.account_id, folder_id).data
    assert names == ["survivor"]
    assert shown.name == "survivor"


def test_reset_empties_the_tree(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client
) -> None:
    make_folder(client, sandbox, "temporary")
    response = http.post(f"{sandbox.url}/_sandbox/reset")
    assert response.status_code == 200
    assert sandbox.tree()["root"]["children"] == []
    assert list(client.folders.index(sandbox.account_id, sandbox.root_folder_id)) == []


def test_run_sandbox_serves_until_stop_event(tmp_path: Path) -> None:
    ready: list[SandboxServer] = []
    seen = threading.Event()
    stop = threading.Event()

    def on_ready(server: SandboxServer) -> None:
        ready.append(server)
        seen.set()

    runner = threading.Thread(
        target=run_sandbox,
        args=("127.0.0.1", 0, tmp_path / "cli"),
        kwargs={"on_ready": on_ready, "stop_event": stop},
    )
    runner.start()
    assert seen.wait(10)
    health = httpx.get(f"{ready[0].url}/_sandbox/health")
    stop.set()
    runner.join(10)
    assert health.json() == {"ok": True}
    assert not runner.is_alive()
