"""The Frame.io v4 sandbox, driven by the official `frameio` SDK and by plain httpx.

Every test starts its own sandbox on a free loopback port with a tmp_path data dir.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from frameio import Frameio
from frameio.auth import AuthenticationError, ServerToServerAuth, WebAppAuth
from frameio.errors import (
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
    UnprocessableEntityError,
)
from frameio.files import (
    FileCreateLocalUploadParamsData,
    FileMoveParamsData,
)
from frameio.folders import FolderCreateParamsData
from frameio.types import FileWithUploadUrls
from frameio.version_stacks import VersionStackCreateParamsData
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from core.loopback import UvicornThread
from postflow.sandbox import (
    SANDBOX_PROJECT_NAME,
    SandboxServer,
    plan_parts,
    run_sandbox,
)

pytestmark = pytest.mark.integration

PART_BYTES = 64 * 1024
NO_RETRY = {"max_retries": 0}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    with SandboxServer(
        tmp_path / "sandbox",
        rate_limits=False,
        target_part_bytes=PART_BYTES,
        transcode_delay_seconds=0,
    ) as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def sdk_client(server: SandboxServer, http: httpx.Client) -> Frameio:
    auth = ServerToServerAuth(
        client_id=server.client_id,
        client_secret=server.client_secret,
        ims_base_url=server.url,
        http_client=http,
    )
    return Frameio(base_url=server.url, token=auth.get_token, httpx_client=http)


@pytest.fixture
def client(sandbox: SandboxServer, http: httpx.Client) -> Frameio:
    return sdk_client(sandbox, http)


def make_folder(
    client: Frameio, server: SandboxServer, name: str, parent: str | None = None
) -> str:
    created = client.folders.create(
        server.account_id,
        parent or server.root_folder_id,
        data=FolderCreateParamsData(name=name),
        request_options=NO_RETRY,
    )
    return created.data.id


def create_upload(
    client: Frameio, server: SandboxServer, name: str, size: int, folder_id: str | None = None
) -> FileWithUploadUrls:
    response = client.files.create_local_upload(
        server.account_id,
        folder_id or server.root_folder_id,
        data=FileCreateLocalUploadParamsData(name=name, file_size=size),
        request_options=NO_RETRY,
    )
    return response.data


def put_part(
    http: httpx.Client, url: str, source: Path, offset: int, size: int, headers: dict[str, str]
) -> httpx.Response:
    """Stream bytes [offset, offset+size) of `source` without loading the part in memory."""

    def chunks() -> Iterator[bytes]:
        with source.open("rb") as fh:
            fh.seek(offset)
            left = size
            while left:
                chunk = fh.read(min(16 * 1024, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    return http.put(url, content=chunks(), headers={"Content-Length": str(size), **headers})


def upload_file(http: httpx.Client, upload: FileWithUploadUrls, source: Path) -> list[int]:
    headers = {"x-amz-acl": "private", "Content-Type": upload.media_type or ""}
    offsets = [sum(u.size for u in upload.upload_urls[:i]) for i in range(len(upload.upload_urls))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [
            pool.submit(put_part, http, u.url, source, off, u.size, headers)
            for u, off in zip(upload.upload_urls, offsets, strict=True)
        ]
        return [f.result().status_code for f in futures]


def random_file(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


# --- loopback ---------------------------------------------------------------------------------
def test_uvicorn_thread_serves_on_a_free_port_until_stopped() -> None:
    app = Starlette(routes=[Route("/ping", lambda request: PlainTextResponse("pong"))])
    with UvicornThread(app) as server:
        assert server.port > 0
        assert httpx.get(f"{server.url}/ping").text == "pong"
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/ping")


# --- IMS --------------------------------------------------------------------------------------
def test_s2s_token_lists_account_workspace_and_project(
    sandbox: SandboxServer, client: Frameio
) -> None:
    accounts = list(client.accounts.index())
    workspaces = list(client.workspaces.index(sandbox.account_id))
    projects = list(client.projects.index(sandbox.account_id, sandbox.workspace_id))
    assert [a.id for a in accounts] == [sandbox.account_id]
    assert [w.id for w in workspaces] == [sandbox.workspace_id]
    assert [(p.name, p.root_folder_id) for p in projects] == [
        (SANDBOX_PROJECT_NAME, sandbox.root_folder_id)
    ]


def test_wrong_client_secret_is_refused(sandbox: SandboxServer, http: httpx.Client) -> None:
    auth = ServerToServerAuth(
        client_id=sandbox.client_id,
        client_secret="wrong",
        ims_base_url=sandbox.url,
        http_client=http,
    )
    with pytest.raises(AuthenticationError) as refused:
        auth.get_token()
    assert refused.value.error_code == "invalid_client"
    assert "client_secret" in (refused.value.error_description or "")


def test_token_not_issued_by_sandbox_is_unauthorized(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    client = Frameio(base_url=sandbox.url, token="made-up-token", httpx_client=http)
    with pytest.raises(UnauthorizedError) as refused:
        client.users.show(request_options=NO_RETRY)
    assert refused.value.status_code == 401
    assert refused.value.body.errors[0].detail == "Invalid access token"


def test_web_app_code_exchange_then_refresh_rotates_the_refresh_token(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    auth = WebAppAuth(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        redirect_uri="http://localhost:8765/callback",
        ims_base_url=sandbox.url,
        http_client=http,
    )
    redirect = http.get(auth.get_authorization_url(state="xyz"), follow_redirects=False)
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    first = auth.exchange_code(query["code"][0])
    second = auth.refresh()
    reused = http.post(
        f"{sandbox.url}/ims/token/v3",
        data={
            "grant_type": "refresh_token",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "refresh_token": first["refresh_token"],
        },
    )
    assert (redirect.status_code, query["state"]) == (302, ["xyz"])
    assert second["refresh_token"] != first["refresh_token"]
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert Frameio(base_url=sandbox.url, token=auth.get_token, httpx_client=http).users.show()


# --- folders and pagination -------------------------------------------------------------------
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


# --- uploads ----------------------------------------------------------------------------------
def test_part_split_matches_frameio_doc_example() -> None:
    parts = plan_parts(50_645_990, 17 * 1024 * 1024)
    assert parts == [16_881_997, 16_881_997, 16_881_996]
    assert plan_parts(50_645_990, 32 * 1024 * 1024) == [25_322_995, 25_322_995]
    assert plan_parts(0, 1024) == [0]


def test_streamed_parts_complete_the_upload_with_identical_bytes(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "SHOT_010_v001.mov", 3 * PART_BYTES + 1234)
    upload = create_upload(client, sandbox, source.name, source.stat().st_size)
    statuses = upload_file(http, upload, source)
    status = client.files.show_file_upload_status(sandbox.account_id, upload.id).data
    assert (upload.status, upload.media_type, len(upload.upload_urls)) == (
        "created",
        "video/quicktime",
        4,
    )
    assert statuses == [200] * 4 and status.upload_complete
    assert (
        hashlib.sha256(sandbox.stored_bytes(upload.id)).hexdigest()
        == hashlib.sha256(source.read_bytes()).hexdigest()
    )


def test_tree_reports_uploaded_file_with_sha256(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "plate.mp4", PART_BYTES // 2)
    upload = create_upload(client, sandbox, source.name, source.stat().st_size)
    upload_file(http, upload, source)
    over_http = http.get(f"{sandbox.url}/_sandbox/tree").json()
    (node,) = over_http["root"]["children"]
    assert node == sandbox.tree()["root"]["children"][0]
    assert (node["name"], node["size"], node["upload_complete"]) == (
        "plate.mp4",
        PART_BYTES // 2,
        True,
    )
    assert node["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_re_put_of_a_part_overwrites_it(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    first, second = random_file(tmp_path, "1.bin", 100), random_file(tmp_path, "2.bin", 100)
    upload = create_upload(client, sandbox, "clip.mov", 100)
    headers = {"x-amz-acl": "private", "Content-Type": "video/quicktime"}
    (url,) = upload.upload_urls
    etags = [
        put_part(http, url.url, src, 0, 100, headers).headers["etag"] for src in (first, second)
    ]
    assert etags == [f'"{hashlib.md5(p.read_bytes()).hexdigest()}"' for p in (first, second)]
    assert sandbox.stored_bytes(upload.id) == second.read_bytes()
    assert client.files.show_file_upload_status(sandbox.account_id, upload.id).data.upload_complete


def test_content_endpoint_serves_the_stored_bytes(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "still.png", 5000)
    upload = create_upload(client, sandbox, source.name, 5000)
    before = http.get(f"{sandbox.url}/_sandbox/files/{upload.id}/content")
    upload_file(http, upload, source)
    after = http.get(f"{sandbox.url}/_sandbox/files/{upload.id}/content")
    assert before.status_code == 409
    assert (after.status_code, after.headers["content-type"]) == (200, "image/png")
    assert after.content == source.read_bytes()


@pytest.mark.parametrize(
    ("headers", "size_delta", "status", "code"),
    [
        ({"x-amz-acl": "private", "Content-Type": "video/mp4"}, 0, 403, "SignatureDoesNotMatch"),
        ({"Content-Type": "video/quicktime"}, 0, 403, "SignatureDoesNotMatch"),
        ({"x-amz-acl": "private", "Content-Type": "video/quicktime"}, -1, 400, "IncompleteBody"),
    ],
    ids=["wrong-content-type", "missing-acl", "short-body"],
)
def test_bad_part_put_is_refused_and_not_recorded(
    sandbox: SandboxServer,
    client: Frameio,
    http: httpx.Client,
    tmp_path: Path,
    headers: dict[str, str],
    size_delta: int,
    status: int,
    code: str,
) -> None:
    source = random_file(tmp_path, "a.mov", 1000)
    upload = create_upload(client, sandbox, source.name, 1000)
    (url,) = upload.upload_urls
    response = put_part(http, url.url, source, 0, url.size + size_delta, headers)
    assert response.status_code == status
    assert f"<Code>{code}</Code>" in response.text
    assert not client.files.show_file_upload_status(
        sandbox.account_id, upload.id
    ).data.upload_complete


def test_tampered_signature_is_refused(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "a.mov", 10)
    (url,) = create_upload(client, sandbox, source.name, 10).upload_urls
    forged = url.url[:-1] + ("1" if url.url.endswith("0") else "0")
    response = put_part(
        http, forged, source, 0, 10, {"x-amz-acl": "private", "Content-Type": "video/quicktime"}
    )
    assert response.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text


def test_uneven_parts_announce_their_own_sizes(tmp_path: Path, http: httpx.Client) -> None:
    with SandboxServer(
        tmp_path / "sb", rate_limits=False, target_part_bytes=4, uneven_parts=True
    ) as server:
        upload = create_upload(sdk_client(server, http), server, "clip.mov", 10)
    sizes = [u.size for u in upload.upload_urls]
    assert sum(sizes) == 10
    assert len(set(sizes)) > 1
    assert sizes != plan_parts(10, 4)


# --- version stacks ---------------------------------------------------------------------------
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


# --- faults -----------------------------------------------------------------------------------
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


# --- persistence and lifecycle ----------------------------------------------------------------
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
