"""The lost-response fault: the sandbox applies the request, then the client's connection drops."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from frameio import Frameio
from frameio.files import FileCreateLocalUploadParamsData, FileMoveParamsData
from frameio.folders import FolderCreateParamsData

from postflow.sandbox import SandboxServer

pytestmark = pytest.mark.integration

NO_RETRY = {"max_retries": 0}
NETWORK_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError)


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"rate_limits": False}


@pytest.fixture
def client(sandbox: SandboxServer, http: httpx.Client) -> Frameio:
    return Frameio(base_url=sandbox.url, token=sandbox.issue_access_token(), httpx_client=http)


def _folder_names(client: Frameio, sandbox: SandboxServer) -> list[str]:
    return [f.name for f in client.folders.list(sandbox.account_id, sandbox.root_folder_id)]


def test_folder_is_created_but_the_sdk_sees_a_network_error(
    sandbox: SandboxServer, client: Frameio
) -> None:
    sandbox.inject_lost_response(path=r"/folders/[^/]+/folders$", method="POST")
    with pytest.raises(NETWORK_ERRORS):
        client.folders.create(
            sandbox.account_id,
            sandbox.root_folder_id,
            data=FolderCreateParamsData(name="SC01"),
            request_options=NO_RETRY,
        )
    assert _folder_names(client, sandbox) == ["SC01"]
    assert sandbox.stats()["injected_lost_responses"] == 1
    assert sandbox.state.faults.snapshot()["rules"] == []


def test_sdk_default_retry_after_a_lost_response_duplicates_the_create(
    sandbox: SandboxServer, client: Frameio
) -> None:
    sandbox.inject_lost_response(path=r"/folders/[^/]+/folders$", method="POST")
    created = client.folders.create(
        sandbox.account_id, sandbox.root_folder_id, data=FolderCreateParamsData(name="SC02")
    )
    names = _folder_names(client, sandbox)
    assert names == ["SC02", "SC02"]  # why create calls must not use the SDK's blind retries
    assert created.data.name == "SC02"


def test_admin_endpoint_arms_a_lost_response_for_a_move(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client
) -> None:
    folder = client.folders.create(
        sandbox.account_id, sandbox.root_folder_id, data=FolderCreateParamsData(name="dest")
    ).data.id
    file_id = client.files.create_local_upload(
        sandbox.account_id,
        sandbox.root_folder_id,
        data=FileCreateLocalUploadParamsData(name="a.mov", file_size=4),
    ).data.id
    armed = http.post(
        f"{sandbox.url}/_sandbox/faults/lost_response", json={"path": "/move$", "method": "PATCH"}
    )
    with pytest.raises(NETWORK_ERRORS):
        client.files.move(
            sandbox.account_id,
            file_id,
            data=FileMoveParamsData(parent_id=folder),
            request_options=NO_RETRY,
        )
    assert (armed.status_code, armed.json()["kind"]) == (201, "lost_response")
    assert client.files.show(sandbox.account_id, file_id).data.parent_id == folder


def test_part_put_is_stored_although_its_answer_is_lost(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client
) -> None:
    upload = client.files.create_local_upload(
        sandbox.account_id,
        sandbox.root_folder_id,
        data=FileCreateLocalUploadParamsData(name="b.mov", file_size=5),
    ).data
    sandbox.inject_lost_response(path="^/_upload/", method="PUT")
    headers = {"x-amz-acl": "private", "Content-Type": "video/quicktime"}
    with pytest.raises(NETWORK_ERRORS):
        http.put(upload.upload_urls[0].url, content=b"hello", headers=headers)
    status = client.files.show_file_upload_status(sandbox.account_id, upload.id).data
    assert status.upload_complete
    assert sandbox.stored_bytes(upload.id) == b"hello"
