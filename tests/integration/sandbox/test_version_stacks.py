"""Version stacks through the SDK (create, move a file in, refused mixes) and file delete."""

from __future__ import annotations

import pytest
from frameio import Frameio
from frameio.errors import NotFoundError, UnprocessableEntityError
from frameio.files import FileMoveParamsData
from frameio.version_stacks import VersionStackCreateParamsData

from postflow.sandbox import SandboxServer
from tests.integration.sandbox.frameio_calls import NO_RETRY, create_upload, make_folder

pytestmark = pytest.mark.integration


def test_version_stack_create_puts_the_last_file_on_top(
    sandbox: SandboxServer, client: Frameio
) -> None:
    folder = make_folder(client, sandbox, "SHOT_020")
    v1 = create_upload(client, sandbox, "SHOT_020_v001.mov", 10, folder).id
    v2 = create_upload(client, sandbox, "SHOT_020_v002.mov", 10, folder).id
    stack = client.version_stacks.create(
        sandbox.account_id,
        folder,
        data=VersionStackCreateParamsData(file_ids=[v1, v2]),
        request_options=NO_RETRY,
    ).data
    versions = list(client.version_stacks.index(sandbox.account_id, stack.id))
    children = list(client.folders.index(sandbox.account_id, folder))
    assert stack.head_version is not None and stack.head_version.id == v2
    assert [v.id for v in versions] == [v1, v2]
    assert [(c.type, c.id) for c in children] == [("version_stack", stack.id)]


def test_file_moved_into_a_stack_becomes_its_head(sandbox: SandboxServer, client: Frameio) -> None:
    folder = make_folder(client, sandbox, "SHOT_030")
    ids = [create_upload(client, sandbox, f"SHOT_030_v00{i}.mov", 10, folder).id for i in (1, 2, 3)]
    stack = client.version_stacks.create(
        sandbox.account_id, folder, data=VersionStackCreateParamsData(file_ids=ids[:2])
    ).data
    moved = client.files.move(
        sandbox.account_id, ids[2], data=FileMoveParamsData(parent_id=stack.id)
    ).data
    shown = client.version_stacks.show(sandbox.account_id, stack.id).data
    assert moved.parent_id == stack.id
    assert shown.head_version is not None and shown.head_version.id == ids[2]
    assert shown.name == "SHOT_030_v003.mov"


def test_version_stack_of_a_file_from_another_folder_is_unprocessable(
    sandbox: SandboxServer, client: Frameio
) -> None:
    folder = make_folder(client, sandbox, "A")
    inside = create_upload(client, sandbox, "a.mov", 1, folder).id
    outside = create_upload(client, sandbox, "b.mov", 1).id
    with pytest.raises(UnprocessableEntityError) as refused:
        client.version_stacks.create(
            sandbox.account_id,
            folder,
            data=VersionStackCreateParamsData(file_ids=[inside, outside]),
        )
    assert refused.value.status_code == 422
    assert refused.value.body["errors"][0]["source"] == {"pointer": "/data/file_ids"}


def test_deleted_file_is_gone(sandbox: SandboxServer, client: Frameio) -> None:
    file_id = create_upload(client, sandbox, "gone.mov", 5).id
    client.files.delete(sandbox.account_id, file_id)
    with pytest.raises(NotFoundError):
        client.files.show(sandbox.account_id, file_id, request_options=NO_RETRY)
    with pytest.raises(KeyError):
        sandbox.stored_path(file_id)
