"""What the sandbox stores and what it saw arrive: the short-store fault, the part byte
counters of ``/_sandbox/stats``, and ranged reads of ``media_links.original``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from frameio import Frameio

from postflow.sandbox import SandboxServer
from tests.integration.sandbox.frameio_calls import (
    PART_BYTES,
    create_upload,
    put_part,
    random_file,
    upload_file,
)

pytestmark = pytest.mark.integration


def test_short_store_keeps_upload_complete_but_reports_the_short_size(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    armed = http.post(
        f"{sandbox.url}/_sandbox/faults/short_store", json={"count": 1, "missing_bytes": 1}
    )
    listed = http.get(f"{sandbox.url}/_sandbox/faults").json()["short_store"]
    source = random_file(tmp_path, "a.mov", 2 * PART_BYTES + 10)
    short, whole = (create_upload(client, sandbox, n, 2 * PART_BYTES + 10) for n in "ab")
    for upload in (short, whole):
        upload_file(http, upload, source)
    shown = [client.files.show(sandbox.account_id, u.id).data.file_size for u in (short, whole)]
    status = client.files.show_file_upload_status(sandbox.account_id, short.id).data
    assert (armed.status_code, armed.json(), listed) == (
        201,
        listed,
        {"remaining": 1, "missing_bytes": 1},
    )
    assert shown == [2 * PART_BYTES + 9, 2 * PART_BYTES + 10]  # only the next file is short
    assert status.upload_complete and not status.upload_failed
    assert sandbox.stored_bytes(short.id) == source.read_bytes()[:-1]
    assert http.get(f"{sandbox.url}/_sandbox/faults").json()["short_store"] is None


def test_short_store_is_cleared_with_the_faults(sandbox: SandboxServer, http: httpx.Client) -> None:
    http.post(f"{sandbox.url}/_sandbox/faults/short_store", json={"count": 2, "missing_bytes": 5})
    cleared = http.post(f"{sandbox.url}/_sandbox/faults/clear").json()
    refused = http.post(f"{sandbox.url}/_sandbox/faults/short_store", json={"missing_bytes": 0})
    assert cleared["short_store"] is None
    assert refused.status_code == 422


def test_stats_count_part_bytes_including_a_refused_put(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    size = 2 * PART_BYTES + 100
    source = random_file(tmp_path, "a.mov", size)
    upload = create_upload(client, sandbox, source.name, size)
    upload_file(http, upload, source)
    first = upload.upload_urls[0]
    http.post(f"{sandbox.url}/_sandbox/clock", json={"advance_seconds": 86400 + 5})
    headers = {"x-amz-acl": "private", "Content-Type": "video/quicktime"}
    refused = put_part(http, first.url, source, 0, first.size, headers)
    stats = http.get(f"{sandbox.url}/_sandbox/stats").json()
    assert refused.status_code == 403 and "Request has expired" in refused.text
    assert stats["part_bytes_by_file"] == {upload.id: size + first.size}
    assert stats["part_puts_by_file"] == {upload.id: len(upload.upload_urls) + 1}
    assert stats["part_bytes_received"] == size + first.size


def test_media_links_original_serves_byte_ranges(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "a.mov", 3 * PART_BYTES)
    upload = create_upload(client, sandbox, source.name, 3 * PART_BYTES)
    upload_file(http, upload, source)
    shown = client.files.show(sandbox.account_id, upload.id, include="media_links.original").data
    url = shown.media_links.original.download_url  # type: ignore[union-attr]
    ranged = http.get(url, headers={"Range": f"bytes={PART_BYTES - 5}-{PART_BYTES + 4}"})
    tail = http.get(url, headers={"Range": "bytes=-7"})
    assert ranged.status_code == 206
    assert ranged.content == source.read_bytes()[PART_BYTES - 5 : PART_BYTES + 5]
    assert (
        ranged.headers["content-range"]
        == f"bytes {PART_BYTES - 5}-{PART_BYTES + 4}/{3 * PART_BYTES}"
    )
    assert (tail.status_code, tail.content) == (206, source.read_bytes()[-7:])


def test_a_re_put_does_not_regrow_a_short_stored_file(
    sandbox: SandboxServer, client: Frameio, http: httpx.Client, tmp_path: Path
) -> None:
    http.post(f"{sandbox.url}/_sandbox/faults/short_store", json={"missing_bytes": 3})
    source = random_file(tmp_path, "a.mov", 100)
    upload = create_upload(client, sandbox, source.name, 100)
    upload_file(http, upload, source)
    again = upload_file(http, upload, source)
    assert again == [200]
    assert client.files.show(sandbox.account_id, upload.id).data.file_size == 97
    assert sandbox.stored_bytes(upload.id) == source.read_bytes()[:97]
