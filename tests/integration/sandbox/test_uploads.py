"""Local uploads: the part plan, streamed part PUTs, stored bytes, and refused PUTs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from frameio import Frameio

from postflow.sandbox import SandboxServer, plan_parts
from tests.integration.sandbox.frameio_calls import (
    PART_BYTES,
    create_upload,
    put_part,
    random_file,
    sdk_client,
    upload_file,
)

pytestmark = pytest.mark.integration


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
