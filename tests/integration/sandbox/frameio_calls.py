"""The calls the sandbox tests make: an SDK client, folders, local uploads and part PUTs.

``sdk_client`` authenticates like production (server-to-server, the SDK's own auth) against a
:class:`~postflow.sandbox.SandboxServer`; ``put_part`` streams a part from disk the way our
uploader does, so a part is never held in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from frameio import Frameio
from frameio.auth import ServerToServerAuth
from frameio.files import FileCreateLocalUploadParamsData
from frameio.folders import FolderCreateParamsData
from frameio.types import FileWithUploadUrls

from postflow.sandbox import SandboxServer

PART_BYTES = 64 * 1024
NO_RETRY = {"max_retries": 0}


def sdk_client(server: SandboxServer, http: httpx.Client) -> Frameio:
    """An SDK client with server-to-server auth against ``server``, sharing ``http``."""
    auth = ServerToServerAuth(
        client_id=server.client_id,
        client_secret=server.client_secret,
        ims_base_url=server.url,
        http_client=http,
    )
    return Frameio(base_url=server.url, token=auth.get_token, httpx_client=http)


def make_folder(
    client: Frameio, server: SandboxServer, name: str, parent: str | None = None
) -> str:
    """Create folder ``name`` under ``parent`` (default: the root folder); its id."""
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
    """Create a local upload of ``size`` bytes; the file with its part URLs."""
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
    """PUT every part of ``source`` to its URL, 4 at once; the status codes in part order."""
    headers = {"x-amz-acl": "private", "Content-Type": upload.media_type or ""}
    offsets = [sum(u.size for u in upload.upload_urls[:i]) for i in range(len(upload.upload_urls))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [
            pool.submit(put_part, http, u.url, source, off, u.size, headers)
            for u, off in zip(upload.upload_urls, offsets, strict=True)
        ]
        return [f.result().status_code for f in futures]


def random_file(tmp_path: Path, name: str, size: int) -> Path:
    """``size`` random bytes written to ``tmp_path / name``."""
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path
