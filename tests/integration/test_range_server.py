"""The Range server: Starlette-style Range behaviour, real clients (curl, ffprobe), token rules."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from blocks.range_server import CANARY_HEADER, CANARY_TTL_SECONDS, RangeServer, SharedFile
from config.settings import PostflowSettings
from core.errors import SourceFileError
from postflow.serve.share import share_file
from tests.integration.helpers import make_file
from tests.integration.remote_helpers import wait_until

pytestmark = pytest.mark.integration

SIZE = 3_000_000


@pytest.fixture
def server() -> Iterator[RangeServer]:
    with RangeServer(chunk_bytes=256 * 1024, progress_log_bytes=1_000_000) as running:
        yield running


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_file(tmp_path, "SC01_UNDLM_00412_V002.mov", SIZE)


@pytest.fixture
def shared(server: RangeServer, source: Path) -> SharedFile:
    return server.share(source)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 s H.264 .mov made by ffmpeg, moov atom at the end (readers must seek with Range)."""
    path = tmp_path_factory.mktemp("clip") / "SC02_CLIP_00010_V001.mov"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=1:size=320x240:rate=25",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


def test_full_get_returns_the_file_with_validators(shared: SharedFile, source: Path) -> None:
    response = httpx.get(shared.local_url)
    assert response.status_code == 200
    assert response.content == source.read_bytes()
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] and response.headers["last-modified"]
    assert response.headers["cache-control"] == "private, no-store"


def test_head_sends_the_headers_of_a_get_without_body(shared: SharedFile) -> None:
    response = httpx.head(shared.local_url)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["content-type"] == "video/quicktime"
    assert response.content == b""


def test_single_range_returns_206_with_content_range(shared: SharedFile, source: Path) -> None:
    response = httpx.get(shared.local_url, headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 1000-1999/{SIZE}"
    assert response.headers["content-length"] == "1000"
    assert response.content == source.read_bytes()[1000:2000]


def test_multiple_ranges_return_multipart_byteranges(shared: SharedFile) -> None:
    response = httpx.get(shared.local_url, headers={"Range": "bytes=0-9, 100-109"})
    assert response.status_code == 206
    assert response.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert response.content.count(b"Content-Range: bytes ") == 2


def test_unsatisfiable_range_returns_416(shared: SharedFile) -> None:
    response = httpx.get(shared.local_url, headers={"Range": f"bytes={SIZE}-{SIZE + 10}"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"


def test_if_range_with_a_stale_validator_returns_the_whole_file(shared: SharedFile) -> None:
    response = httpx.get(
        shared.local_url, headers={"Range": "bytes=0-9", "If-Range": '"stale-etag"'}
    )
    assert response.status_code == 200
    assert len(response.content) == SIZE


def test_if_range_with_the_current_etag_honours_the_range(shared: SharedFile) -> None:
    etag = httpx.head(shared.local_url).headers["etag"]
    response = httpx.get(shared.local_url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert response.status_code == 206
    assert len(response.content) == 10


@pytest.mark.parametrize(("spec", "start", "stop"), [("0-99", 0, 100), ("-500", SIZE - 500, SIZE)])
def test_curl_ranges_return_the_exact_bytes(
    shared: SharedFile, source: Path, tmp_path: Path, spec: str, start: int, stop: int
) -> None:
    out = tmp_path / "part.bin"
    result = subprocess.run(
        ["curl", "-sS", "-r", spec, "-o", str(out), "-w", "%{http_code}", shared.local_url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout == "206"
    assert out.read_bytes() == source.read_bytes()[start:stop]


def test_ffprobe_reads_a_mov_over_http_with_range_requests(server: RangeServer, clip: Path) -> None:
    url = server.share(clip).local_url
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
            "-of",
            "json",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    probe = json.loads(result.stdout)
    assert probe["streams"][0]["codec_name"] == "h264"
    assert float(probe["format"]["duration"]) == pytest.approx(1.0, abs=0.1)
    assert server.stats()["partial_responses"] >= 1


def test_forged_token_is_refused_with_403(server: RangeServer) -> None:
    response = httpx.get(f"{server.url}/f/forged.token.value/SC01_UNDLM_00412_V002.mov")
    assert response.status_code == 403
    assert server.stats()["refused"] == 1


def test_tampered_token_is_refused_with_403(server: RangeServer, shared: SharedFile) -> None:
    payload, _, signature = shared.token.rpartition(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]  # first char: no spare bits
    response = httpx.get(shared.local_url.replace(shared.token, f"{payload}.{flipped}"))
    assert response.status_code == 403
    assert response.text == "invalid link"


def test_expired_token_is_refused_with_403(source: Path) -> None:
    now = [1_000_000.0]
    with RangeServer(ttl_seconds=60, clock=lambda: now[0]) as server:
        shared = server.share(source)
        fresh = httpx.head(shared.local_url).status_code
        now[0] += 61
        expired = httpx.get(shared.local_url)
    assert fresh == 200
    assert expired.status_code == 403
    assert expired.text == "link expired"


def test_revoked_token_answers_404(server: RangeServer, shared: SharedFile) -> None:
    server.revoke(shared.token)
    assert httpx.get(shared.local_url).status_code == 404
    assert server.stats()["active_shares"] == 0


def test_validly_signed_but_unregistered_token_answers_404(source: Path) -> None:
    with RangeServer(secret="same-secret") as first:
        url_path = first.share(source).url_path
    with RangeServer(secret="same-secret") as second:
        response = httpx.get(second.url + url_path)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/f/{token}/../../../../etc/passwd",
        "/f/..%2F..%2F..%2Fetc%2Fpasswd/passwd",
        "/f/{token}/passwd",
        "/f/{token}/",
        "/",
        "/f/",
    ],
)
def test_paths_outside_a_registration_are_not_served(
    server: RangeServer, shared: SharedFile, path: str
) -> None:
    url = server.url + path.format(token=shared.token)
    result = subprocess.run(
        ["curl", "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout == "404"


def test_a_client_that_disconnects_is_logged_at_info(
    shared: SharedFile, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postflow.range_server")
    with httpx.stream("GET", shared.local_url) as response:
        next(response.iter_raw(1024))

    def went_away() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "went away" in r.getMessage()]

    assert wait_until(went_away)
    assert went_away()[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_progress_is_logged_every_progress_log_bytes(
    shared: SharedFile, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postflow.range_server")
    httpx.get(shared.local_url)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("served")]
    assert lines == [f"served {mb} MB of SC01_UNDLM_00412_V002.mov" for mb in (1, 2, 3)]


def test_sharing_a_directory_is_refused(server: RangeServer, tmp_path: Path) -> None:
    with pytest.raises(SourceFileError):
        server.share(tmp_path)


def test_share_command_prints_a_loopback_url_that_serves_the_file(source: Path) -> None:
    buffer, stop = StringIO(), threading.Event()
    console = Console(file=buffer, width=400)
    runner = threading.Thread(
        target=share_file,
        args=(source, 60, False, console),
        kwargs={"settings": PostflowSettings(), "stop_event": stop},
    )
    runner.start()
    assert wait_until(lambda: "http://127.0.0.1:" in buffer.getvalue())
    url = next(w for w in buffer.getvalue().split() if w.startswith("http://"))
    body = httpx.get(url).content
    stop.set()
    runner.join(10)
    assert body == source.read_bytes()
    assert f"{SIZE:,} bytes served" in buffer.getvalue()


def test_clip_fixture_has_its_moov_atom_after_the_media_data(clip: Path) -> None:
    data = clip.read_bytes()
    assert data.find(b"moov") > data.find(b"mdat") > 0


def test_a_path_swapped_for_a_symlink_answers_404(
    shared: SharedFile, source: Path, tmp_path: Path
) -> None:
    secret = make_file(tmp_path, "id_rsa", SIZE)
    source.unlink()
    source.symlink_to(secret)
    response = httpx.get(shared.local_url)
    assert response.status_code == 404
    assert secret.read_bytes()[:100] not in response.content


def test_a_path_replaced_by_another_file_answers_404(
    shared: SharedFile, source: Path, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere").mkdir()
    other = make_file(tmp_path / "elsewhere", "other.mov", SIZE, seed=1)
    os.replace(other, source)  # same name and size, another inode
    response = httpx.get(shared.local_url, headers={"Range": "bytes=0-99"})
    assert response.status_code == 404
    assert response.text == "file changed since it was shared"


def test_the_shared_file_rewritten_in_place_answers_404(shared: SharedFile, source: Path) -> None:
    with source.open("ab") as handle:
        handle.write(b"more frames")
    assert httpx.get(shared.local_url).status_code == 404


def test_the_unchanged_file_is_still_served_after_a_refusal(
    server: RangeServer, shared: SharedFile, source: Path, tmp_path: Path
) -> None:
    moved = tmp_path / "moved.mov"
    os.rename(source, moved)
    assert httpx.get(shared.local_url).status_code == 404
    os.rename(moved, source)  # the same inode back at its path
    response = httpx.get(shared.local_url)
    assert response.status_code == 200
    assert response.content == source.read_bytes()


# --- the canary a named tunnel's self-check fetches (blocks.tunnel_canary) -----------------
def test_a_canary_url_answers_this_servers_nonce(server: RangeServer) -> None:
    response = httpx.get(server.url + server.canary_path())
    assert response.status_code == 200
    assert response.json() == {"nonce": server.nonce}
    assert response.headers[CANARY_HEADER] == "canary"
    assert "no-store" in response.headers["cache-control"]


def test_two_servers_have_different_nonces_even_with_one_key() -> None:
    with RangeServer(secret="k") as first, RangeServer(secret="k") as second:
        answered = httpx.get(second.url + first.canary_path()).json()["nonce"]
    assert answered == second.nonce != first.nonce


def test_a_canary_signed_by_another_key_is_refused_with_the_marker(server: RangeServer) -> None:
    with RangeServer() as other:
        response = httpx.get(server.url + other.canary_path())
    assert response.status_code == 403
    assert response.headers[CANARY_HEADER] == "canary"
    assert "nonce" not in response.text


def test_a_canary_expires_after_its_short_ttl() -> None:
    now = [1_000_000.0]
    with RangeServer(clock=lambda: now[0]) as server:
        path = server.canary_path()
        fresh = httpx.get(server.url + path).status_code
        now[0] += CANARY_TTL_SECONDS + 2
        expired = httpx.get(server.url + path).status_code
    assert (fresh, expired) == (200, 403)


def test_a_canary_token_opens_no_file_and_a_file_token_is_no_canary(
    server: RangeServer, shared: SharedFile
) -> None:
    canary_token = server.canary_path().rsplit("/", 1)[1]
    as_file = httpx.get(shared.local_url.replace(shared.token, canary_token))
    as_canary = httpx.get(f"{server.url}/canary/{shared.token}")
    assert as_file.status_code == 403
    assert as_canary.status_code == 403
