"""Folders through the SDK: creation, children and subfolder lists, pagination, 404s."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from frameio import Frameio
from frameio.errors import NotFoundError

from postflow.sandbox import SandboxServer
from tests.integration.sandbox.frameio_calls import make_folder

pytestmark = pytest.mark.integration


def test_sdk_pager_returns_every_child_across_pages(
    sandbox: SandboxServer, client: Frameio
) -> None:
    parent = make_folder(client, sandbox, "SHOT_010")
    names = [f"take_{i}" for i in range(7)]
    for name in names:
        make_folder(client, sandbox, name, parent)
    pager = client.folders.index(sandbox.account_id, parent, page_size=3)
    pages = [len(page.items or []) for page in pager.iter_pages()]
    assert [item.name for item in pager] == names
    assert pages == [3, 4]  # page 2 lost page_size=3: the SDK follows links.next bare


def test_links_next_is_relative_and_carries_only_the_cursor(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client
) -> None:
    for i in range(5):
        make_folder(client, sandbox, f"f{i}")
    path = f"/v4/accounts/{sandbox.account_id}/folders/{sandbox.root_folder_id}/children"
    headers = {"Authorization": f"Bearer {sandbox.issue_access_token()}"}
    body = http.get(
        f"{sandbox.url}{path}",
        headers=headers,
        params={"page_size": 2, "include_total_count": "true"},
    ).json()
    following = http.get(f"{sandbox.url}{body['links']['next']}&page_size=10", headers=headers)
    assert urlsplit(body["links"]["next"]).path == path
    assert set(parse_qs(urlsplit(body["links"]["next"]).query)) == {"after"}
    assert (len(body["data"]), body["total_count"]) == (2, 5)
    assert [f["name"] for f in following.json()["data"]] == ["f2", "f3", "f4"]


def test_created_folder_appears_in_children_and_subfolder_list(
    sandbox: SandboxServer, client: Frameio
) -> None:
    folder_id = make_folder(client, sandbox, "2025-06-01")
    children = list(client.folders.index(sandbox.account_id, sandbox.root_folder_id))
    subfolders = list(client.folders.list(sandbox.account_id, sandbox.root_folder_id))
    assert [(c.id, c.type, c.name) for c in children] == [(folder_id, "folder", "2025-06-01")]
    assert [f.id for f in subfolders] == [folder_id]
    assert (
        client.folders.show(sandbox.account_id, folder_id).data.parent_id == sandbox.root_folder_id
    )


def test_concurrent_folder_creates_all_land(sandbox: SandboxServer, client: Frameio) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda i: make_folder(client, sandbox, f"c{i:02d}"), range(24)))
    listed = list(client.folders.list(sandbox.account_id, sandbox.root_folder_id, page_size=100))
    assert len(set(ids)) == 24
    assert sorted(f.id for f in listed) == sorted(ids)


def test_unknown_folder_is_not_found_with_errors_body(
    sandbox: SandboxServer, client: Frameio
) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.folders.show(sandbox.account_id, "00000000-0000-4000-8000-000000000000")
    assert missing.value.status_code == 404
    assert "not found" in missing.value.body.errors[0].detail.lower()
