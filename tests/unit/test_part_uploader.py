"""Our part uploader against httpx.MockTransport: sizes, headers, retries, fail-fast."""

from __future__ import annotations

import hashlib
import threading

import httpx
import pytest

from blocks.part_uploader import PartUploader, plan_parts
from core.errors import PartUploadError, UploadError


def _file(tmp_path, size=10_000):
    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    path = tmp_path / "clip.mov"
    path.write_bytes(data)
    return path, data


def test_plan_uses_each_urls_own_size():
    parts = plan_parts([{"size": 7, "url": "u1"}, {"size": 4, "url": "u2"}], 11)
    assert [(p.number, p.offset, p.size) for p in parts] == [(1, 0, 7), (2, 7, 4)]


def test_plan_refuses_urls_that_do_not_cover_the_file():
    with pytest.raises(UploadError, match="covering 10 bytes"):
        plan_parts([{"size": 5, "url": "a"}, {"size": 5, "url": "b"}], 11)


class Sink:
    def __init__(self, fail_first: dict[str, httpx.Response] | None = None) -> None:
        self.bodies: dict[str, bytes] = {}
        self.headers: dict[str, httpx.Headers] = {}
        self.calls: dict[str, int] = {}
        self.fail_first = fail_first or {}
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = request.url.path
        with self.lock:
            self.calls[key] = self.calls.get(key, 0) + 1
            if key in self.fail_first and self.calls[key] == 1:
                return self.fail_first[key]
            self.bodies[key] = request.read()
            self.headers[key] = request.headers
        return httpx.Response(200, headers={"ETag": '"e"'})


def _uploader(sink, sleeps, **kw):
    return PartUploader(
        concurrency=3,
        block_bytes=1024,
        retries=3,
        backoff_seconds=0.5,
        transport=httpx.MockTransport(sink),
        sleep=sleeps.append,
        **kw,
    )


def test_parts_arrive_whole_with_required_headers(tmp_path):
    path, data = _file(tmp_path)
    urls = [
        {"size": 4000, "url": "http://s3.test/p1"},
        {"size": 3500, "url": "http://s3.test/p2"},
        {"size": 2500, "url": "http://s3.test/p3"},
    ]
    sink = Sink()
    _uploader(sink, []).upload(str(path), plan_parts(urls, len(data)), "video/quicktime")
    joined = sink.bodies["/p1"] + sink.bodies["/p2"] + sink.bodies["/p3"]
    assert hashlib.sha256(joined).digest() == hashlib.sha256(data).digest()
    assert sink.headers["/p2"]["x-amz-acl"] == "private"
    assert sink.headers["/p2"]["content-type"] == "video/quicktime"
    assert sink.headers["/p2"]["content-length"] == "3500"
    assert "transfer-encoding" not in sink.headers["/p2"]


def test_503_with_retry_after_is_retried_after_that_wait(tmp_path):
    path, data = _file(tmp_path, 2000)
    sink = Sink({"/p1": httpx.Response(503, headers={"Retry-After": "9"})})
    sleeps: list[float] = []
    progress: list[int] = []
    uploader = _uploader(sink, sleeps, progress=progress.append)
    uploader.upload(str(path), plan_parts([{"size": 2000, "url": "http://s3.test/p1"}], 2000), "v")
    assert sink.calls["/p1"] == 2
    assert sleeps and sleeps[0] >= 9
    assert sum(progress) == 2000
    assert uploader.retried_parts == 1


def test_403_fails_fast_without_retry(tmp_path):
    path, _ = _file(tmp_path, 2000)
    sink = Sink({"/p1": httpx.Response(403, text="SignatureDoesNotMatch")})
    sleeps: list[float] = []
    with pytest.raises(PartUploadError) as info:
        _uploader(sink, sleeps).upload(
            str(path), plan_parts([{"size": 2000, "url": "http://s3.test/p1"}], 2000), "v"
        )
    assert info.value.status_code == 403
    assert sink.calls["/p1"] == 1
    assert sleeps == []


def test_network_errors_exhaust_retries_then_raise(tmp_path):
    path, _ = _file(tmp_path, 1000)

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sleeps: list[float] = []
    uploader = PartUploader(
        concurrency=1, retries=2, transport=httpx.MockTransport(broken), sleep=sleeps.append
    )
    with pytest.raises(PartUploadError, match="network error") as info:
        uploader.upload(
            str(path), plan_parts([{"size": 1000, "url": "http://s3.test/p"}], 1000), "v"
        )
    assert info.value.transient
    assert len(sleeps) == 2
