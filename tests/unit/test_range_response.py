"""RangeFileResponse: a small first read, then the large chunk size; Starlette does the rest.

The response is driven as a plain ASGI callable (no server): the messages it sends are checked.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from blocks.range_response import RangeFileResponse

KIB = 1024


def _serve(path: Path, byte_range: str | None = None) -> tuple[int, bytes, list[int]]:
    """Run one GET through the response; returns (status, body, sizes of body messages)."""
    headers = [(b"range", byte_range.encode())] if byte_range else []
    scope = {"type": "http", "method": "GET", "headers": headers, "asgi": {"spec_version": "2.4"}}
    messages: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        messages.append(message)

    sizes: list[int] = []
    response = RangeFileResponse(
        path, chunk_bytes=256 * KIB, first_chunk_bytes=16 * KIB, on_bytes=sizes.append
    )
    asyncio.run(response(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return messages[0]["status"], body, sizes


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, bytes]:
    content = bytes(range(256)) * 4 * 600  # 600 KiB
    path = tmp_path / "clip.mov"
    path.write_bytes(content)
    return path, content


def test_the_first_read_is_small_and_the_rest_use_the_chunk_size(data) -> None:
    path, content = data
    status, body, sizes = _serve(path)
    assert status == 200
    assert body == content
    assert sizes[:3] == [16 * KIB, 256 * KIB, 256 * KIB]
    assert sum(sizes) == len(content)


def test_a_range_smaller_than_the_first_read_is_one_chunk(data) -> None:
    path, content = data
    status, body, sizes = _serve(path, "bytes=100-1099")
    assert status == 206
    assert body == content[100:1100]
    assert sizes == [1000]


def test_a_range_across_the_ramp_is_served_whole(data) -> None:
    path, content = data
    status, body, sizes = _serve(path, "bytes=10-400009")
    assert status == 206
    assert body == content[10:400010]
    assert sizes == [16 * KIB, 256 * KIB, 400000 - 16 * KIB - 256 * KIB]


def _serve_descriptor(path: Path, fd: int, byte_range: str | None = None) -> tuple[int, bytes]:
    headers = [(b"range", byte_range.encode())] if byte_range else []
    scope = {"type": "http", "method": "GET", "headers": headers, "asgi": {"spec_version": "2.4"}}
    messages: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        messages.append(message)

    response = RangeFileResponse(path, file_descriptor=fd, stat_result=os.fstat(fd))
    asyncio.run(response(scope, receive, send))
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages[1:])


@pytest.mark.parametrize("byte_range", [None, "bytes=10-19", "bytes=10-19, 30-39"])
def test_a_descriptor_is_served_even_after_its_path_is_swapped(
    data, tmp_path: Path, byte_range: str | None
) -> None:
    path, content = data
    fd = os.open(path, os.O_RDONLY)
    impostor = tmp_path / "impostor"
    impostor.write_bytes(b"\xee" * len(content))
    os.replace(impostor, path)
    status, body = _serve_descriptor(path, fd, byte_range)
    assert status in (200, 206)
    assert b"\xee" * 10 not in body
    assert (content[10:20] in body) if byte_range else body == content


def test_the_descriptor_is_closed_after_the_response(data) -> None:
    path, _ = data
    fd = os.open(path, os.O_RDONLY)
    _serve_descriptor(path, fd)
    with pytest.raises(OSError):
        os.fstat(fd)
