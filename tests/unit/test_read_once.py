"""Each byte of a multipart upload is read once, for its PUT and the whole file's fingerprint,
even when the first part lags (blocks/part_uploader.py with blocks/stream_digest.py)."""

from __future__ import annotations

import os
import threading

import httpx
import xxhash

from blocks.part_uploader import PartUploader, plan_parts
from blocks.stream_digest import OrderedDigest

PART = 4096
PARTS = 8
CONCURRENCY = 4


def test_parts_far_ahead_of_a_lagging_first_part_are_not_read_twice(tmp_path) -> None:
    data = os.urandom(PART * PARTS)
    path = tmp_path / "render.mov"
    path.write_bytes(data)
    others_done = threading.Event()
    finished: list[str] = []
    lock = threading.Lock()

    class Sink(httpx.BaseTransport):
        """Storage that reads a PUT's body as it arrives (httpx.MockTransport reads it
        before its handler runs)."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/p1":
                # The first part's body is not read until every other part is stored, or
                # (when the uploader holds the later parts back, as it should) for a while.
                others_done.wait(2.0)
            for _chunk in request.stream:
                pass
            with lock:
                finished.append(request.url.path)
                if len(finished) == PARTS - 1 and "/p1" not in finished:
                    others_done.set()
            return httpx.Response(200)

    reread: list[int] = []

    def reader(offset: int, length: int) -> bytes:
        reread.append(length)
        return data[offset : offset + length]

    # the room multipart.py gives the digest: (part concurrency + 1) x part size
    digest = OrderedDigest(len(data), (CONCURRENCY + 1) * PART, reader)
    uploader = PartUploader(concurrency=CONCURRENCY, block_bytes=1024, transport=Sink())
    urls = [{"size": PART, "url": f"http://s3.test/p{n}"} for n in range(1, PARTS + 1)]
    uploader.upload(str(path), plan_parts(urls, len(data)), "video/quicktime", digest=digest)

    assert digest.hexdigest() == xxhash.xxh3_128_hexdigest(data)
    assert sum(reread) == digest.reread_bytes == 0
    assert uploader.bytes_read == len(data)
