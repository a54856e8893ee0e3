"""Version-stack order, moves out of stacks, file delete and upload status, driven by the SDK.

The rules tested here are written down in `postflow/sandbox/FIDELITY.md`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from frameio import Frameio
from frameio.errors import NotFoundError
from frameio.files import FileCreateLocalUploadParamsData, FileMoveParamsData
from frameio.folders import FolderCreateParamsData
from frameio.version_stacks import VersionStackCreateParamsData

from postflow.sandbox import SandboxServer

pytestmark = pytest.mark.integration

NO_RETRY = {"max_retries": 0}
PART_HEADERS = {"x-amz-acl": "private", "Content-Type": "video/quicktime"}


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"rate_limits": False, "target_part_bytes": 4, "transcode_delay_seconds": 0}


@pytest.fixture
def client(sandbox: SandboxServer, http: httpx.Client) -> Frameio:
    return Frameio(base_url=sandbox.url, token=sandbox.issue_access_token(), httpx_client=http)


@pytest.fixture
def shot(sandbox: SandboxServer, client: Frameio) -> str:
    return client.folders.create(
        sandbox.account_id, sandbox.root_folder_id, data=FolderCreateParamsData(name="SH010")
    ).data.id


def upload(client: Frameio, sandbox: SandboxServer, folder: str, version: int) -> str:
    return client.files.create_local_upload(
        sandbox.account_id,
        folder,
        data=FileCreateLocalUploadParamsData(name=f"SH010_V{version:03d}.mov", file_size=8),
        request_options=NO_RETRY,
    ).data.id


def stack_of(client: Frameio, sandbox: SandboxServer, folder: str, file_ids: list[str]) -> str:
    return client.version_stacks.create(
        sandbox.account_id,
        folder,
        data=VersionStackCreateParamsData(file_ids=file_ids),
        request_options=NO_RETRY,
    ).data.id


def move(client: Frameio, sandbox: SandboxServer, file_id: str, parent_id: str) -> None:
    client.files.move(sandbox.account_id, file_id, data=FileMoveParamsData(parent_id=parent_id))


def order(client: Frameio, sandbox: SandboxServer, stack_id: str) -> list[str]:
    return [v.id for v in client.version_stacks.index(sandbox.account_id, stack_id)]


def head(client: Frameio, sandbox: SandboxServer, stack_id: str) -> str | None:
    shown = client.version_stacks.show(sandbox.account_id, stack_id).data
    return shown.head_version.id if shown.head_version else None


def reorder(
    sandbox: SandboxServer, http: httpx.Client, stack_id: str, data: dict[str, str]
) -> httpx.Response:
    """The reorder call is not in the `frameio` 4.0.0 SDK: plain HTTP, as a client would."""
    return http.patch(
        f"{sandbox.url}/v4/accounts/{sandbox.account_id}/version_stacks/{stack_id}/versions",
        headers={"Authorization": f"Bearer {sandbox.issue_access_token()}"},
        json={"data": data},
    )


# --- order ------------------------------------------------------------------------------------
def test_create_keeps_the_request_order_not_the_version_order(
    sandbox: SandboxServer, client: Frameio, shot: str
) -> None:
    v1, v2 = upload(client, sandbox, shot, 1), upload(client, sandbox, shot, 2)
    stack = stack_of(client, sandbox, shot, [v2, v1])
    assert order(client, sandbox, stack) == [v2, v1]
    assert head(client, sandbox, stack) == v1


def test_a_lower_version_moved_in_becomes_the_head(
    sandbox: SandboxServer, client: Frameio, shot: str
) -> None:
    v1, v2, v3 = (upload(client, sandbox, shot, v) for v in (1, 2, 3))
    stack = stack_of(client, sandbox, shot, [v2, v3])
    move(client, sandbox, v1, stack)
    assert order(client, sandbox, stack) == [v2, v3, v1]
    assert head(client, sandbox, stack) == v1


def test_moving_a_member_into_its_own_stack_changes_nothing(
    sandbox: SandboxServer, client: Frameio, shot: str
) -> None:
    v1, v2 = upload(client, sandbox, shot, 1), upload(client, sandbox, shot, 2)
    stack = stack_of(client, sandbox, shot, [v1, v2])
    move(client, sandbox, v1, stack)
    assert order(client, sandbox, stack) == [v1, v2]


def test_move_out_and_back_in_ascending_restores_version_order(
    sandbox: SandboxServer, client: Frameio, shot: str
) -> None:
    v = {n: upload(client, sandbox, shot, n) for n in (1, 2, 3, 4, 5)}
    stack = stack_of(client, sandbox, shot, [v[1], v[2], v[4], v[5]])
    move(client, sandbox, v[3], stack)  # late V003: on top of V005
    for n in (4, 5):  # the SDK-only repair: re-stack every higher version, ascending
        move(client, sandbox, v[n], shot)
    for n in (4, 5):
        move(client, sandbox, v[n], stack)
    assert order(client, sandbox, stack) == [v[1], v[2], v[3], v[4], v[5]]
    assert head(client, sandbox, stack) == v[5]


def test_reorder_puts_a_late_version_below_the_next_higher_one(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, shot: str
) -> None:
    v1, v2, v3 = (upload(client, sandbox, shot, v) for v in (1, 2, 3))
    stack = stack_of(client, sandbox, shot, [v1, v3])
    move(client, sandbox, v2, stack)
    answer = reorder(sandbox, http, stack, {"target_file_id": v2, "move_below_file_id": v3})
    assert answer.status_code == 200
    assert [f["id"] for f in answer.json()["data"]] == [v1, v2, v3]
    assert head(client, sandbox, stack) == v3


@pytest.mark.parametrize(
    ("where", "expected"),
    [({"move_to": "bottom"}, [2, 0, 1]), ({"move_to": "top"}, [0, 1, 2])],
)
def test_reorder_to_top_or_bottom(
    sandbox: SandboxServer,
    client: Frameio,
    http: httpx.Client,
    shot: str,
    where: dict[str, str],
    expected: list[int],
) -> None:
    ids = [upload(client, sandbox, shot, v) for v in (1, 2, 3)]
    stack = stack_of(client, sandbox, shot, ids)
    answer = reorder(sandbox, http, stack, {"target_file_id": ids[2], **where})
    assert answer.status_code == 200
    assert order(client, sandbox, stack) == [ids[i] for i in expected]


def test_reorder_that_cannot_be_applied_is_422_with_a_pointer(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, shot: str
) -> None:
    v1, v2, outsider = (upload(client, sandbox, shot, v) for v in (1, 2, 3))
    stack = stack_of(client, sandbox, shot, [v1, v2])
    outside = reorder(sandbox, http, stack, {"target_file_id": outsider, "move_to": "top"})
    both = reorder(
        sandbox, http, stack, {"target_file_id": v1, "move_to": "top", "move_above_file_id": v2}
    )
    assert outside.status_code == 422
    assert outside.json()["errors"][0]["source"] == {"pointer": "/data/target_file_id"}
    assert both.status_code == 422
    assert order(client, sandbox, stack) == [v1, v2]


def test_reorder_can_be_switched_off(tmp_path: Path, http: httpx.Client) -> None:
    with SandboxServer(tmp_path / "sb", rate_limits=False, stack_reorder=False) as server:
        client = Frameio(base_url=server.url, token=server.issue_access_token(), httpx_client=http)
        ids = [upload(client, server, server.root_folder_id, v) for v in (1, 2)]
        stack = stack_of(client, server, server.root_folder_id, ids)
        answer = reorder(server, http, stack, {"target_file_id": ids[0], "move_to": "top"})
        assert answer.status_code == 404
        assert order(client, server, stack) == ids


# --- leaving a stack --------------------------------------------------------------------------
def test_stack_keeps_its_last_file_and_goes_with_it(
    sandbox: SandboxServer, client: Frameio, shot: str
) -> None:
    v1, v2 = upload(client, sandbox, shot, 1), upload(client, sandbox, shot, 2)
    stack = stack_of(client, sandbox, shot, [v1, v2])
    move(client, sandbox, v2, shot)
    assert head(client, sandbox, stack) == v1
    move(client, sandbox, v1, shot)
    with pytest.raises(NotFoundError):
        client.version_stacks.show(sandbox.account_id, stack, request_options=NO_RETRY)
    children = list(client.folders.index(sandbox.account_id, shot))
    assert sorted(c.id for c in children) == sorted([v1, v2])


def test_deleting_the_head_makes_the_next_one_the_head(
    sandbox: SandboxServer, client: Frameio, shot: str
) -> None:
    ids = [upload(client, sandbox, shot, v) for v in (1, 2, 3)]
    stack = stack_of(client, sandbox, shot, ids)
    client.files.delete(sandbox.account_id, ids[2])
    shown = client.version_stacks.show(sandbox.account_id, stack).data
    assert order(client, sandbox, stack) == ids[:2]
    assert shown.head_version is not None and shown.head_version.id == ids[1]
    assert shown.name == "SH010_V002.mov"


def test_deleting_every_member_deletes_the_stack(
    sandbox: SandboxServer, client: Frameio, shot: str
) -> None:
    ids = [upload(client, sandbox, shot, v) for v in (1, 2)]
    stack = stack_of(client, sandbox, shot, ids)
    for file_id in ids:
        client.files.delete(sandbox.account_id, file_id)
    with pytest.raises(NotFoundError):
        client.version_stacks.show(sandbox.account_id, stack, request_options=NO_RETRY)
    assert list(client.folders.index(sandbox.account_id, shot)) == []


def test_deleting_a_deleted_file_is_not_found(
    sandbox: SandboxServer, client: Frameio, shot: str
) -> None:
    file_id = upload(client, sandbox, shot, 1)
    client.files.delete(sandbox.account_id, file_id)
    with pytest.raises(NotFoundError):
        client.files.delete(sandbox.account_id, file_id, request_options=NO_RETRY)


# --- upload status ----------------------------------------------------------------------------
def test_upload_status_follows_the_parts(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, shot: str
) -> None:
    created = client.files.create_local_upload(
        sandbox.account_id, shot, data=FileCreateLocalUploadParamsData(name="a.mov", file_size=8)
    ).data
    statuses = [client.files.show_file_upload_status(sandbox.account_id, created.id).data]
    for url in created.upload_urls:
        http.put(url.url, content=b"x" * url.size, headers=PART_HEADERS).raise_for_status()
        statuses.append(client.files.show_file_upload_status(sandbox.account_id, created.id).data)
    before, partial, done = statuses
    assert (before.upload_complete, before.uploaded_at, before.upload_completed_at) == (
        False,
        None,
        None,
    )
    assert partial.uploaded_at is not None and not partial.upload_complete
    assert done.upload_complete and not done.upload_failed and done.filetype == "video/quicktime"
    assert done.upload_completed_at is not None and done.upload_completed_at >= partial.uploaded_at


def test_deleted_file_has_no_status_and_refuses_late_parts(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, shot: str
) -> None:
    created = client.files.create_local_upload(
        sandbox.account_id, shot, data=FileCreateLocalUploadParamsData(name="b.mov", file_size=8)
    ).data
    client.files.delete(sandbox.account_id, created.id)
    late = http.put(created.upload_urls[0].url, content=b"x" * 4, headers=PART_HEADERS)
    with pytest.raises(NotFoundError):
        client.files.show_file_upload_status(
            sandbox.account_id, created.id, request_options=NO_RETRY
        )
    assert late.status_code == 404 and "<Code>NoSuchUpload</Code>" in late.text
