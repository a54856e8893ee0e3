"""Container completeness on real ffmpeg output: whole files pass, cut or unfinished ones do not."""

from __future__ import annotations

import logging
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from tasks.sensor.completeness import container_incomplete

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")

_CODEC = {".mov": "mpeg4", ".mp4": "mpeg4", ".mxf": "mpeg2video"}


def _render(path: Path, *extra: str) -> Path:
    source = "testsrc=duration=1:size=64x64:rate=25"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source]
        + ["-c:v", _CODEC[path.suffix], *extra, str(path)],
        check=True,
        timeout=60,
    )
    return path


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Finished files: moov-last .mov, faststart .mp4, .mxf with footer and RIP."""
    folder = tmp_path_factory.mktemp("renders")
    return {
        ".mov": _render(folder / "SC01_UNDLM_00412_V001.mov"),
        ".mp4": _render(folder / "SC01_UNDLM_00412_V001.mp4", "-movflags", "+faststart"),
        ".mxf": _render(folder / "SC01_UNDLM_00412_V001.mxf"),
    }


def _cut(source: Path, tmp_path: Path, size: int) -> Path:
    target = tmp_path / f"cut{source.suffix}"
    target.write_bytes(source.read_bytes()[:size])
    return target


def _boxes(data: bytes) -> dict[bytes, tuple[int, int]]:
    found, offset = {}, 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        found[kind] = (offset, size)
        offset += size
    return found


@pytest.mark.parametrize("suffix", [".mov", ".mp4", ".mxf"])
def test_a_finished_render_is_complete(renders: dict[str, Path], suffix: str) -> None:
    assert container_incomplete(renders[suffix]) is None


@pytest.mark.parametrize("suffix", [".mov", ".mp4", ".mxf"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_a_cut_render_is_incomplete(
    renders: dict[str, Path], tmp_path: Path, suffix: str, fraction: float
) -> None:
    source = renders[suffix]
    cut = _cut(source, tmp_path, int(source.stat().st_size * fraction))
    assert container_incomplete(cut) is not None


@pytest.mark.parametrize("suffix", [".mov", ".mp4", ".mxf"])
def test_one_byte_short_is_incomplete(
    renders: dict[str, Path], tmp_path: Path, suffix: str
) -> None:
    source = renders[suffix]
    assert container_incomplete(_cut(source, tmp_path, source.stat().st_size - 1)) is not None


def test_a_mov_without_its_moov_atom_is_incomplete(
    renders: dict[str, Path], tmp_path: Path
) -> None:
    data = renders[".mov"].read_bytes()
    offset, size = _boxes(data)[b"moov"]
    assert offset + size == len(data)  # ffmpeg writes it last
    stripped = _cut(renders[".mov"], tmp_path, offset)
    assert "no 'moov' atom" in (container_incomplete(stripped) or "")


@pytest.mark.parametrize("suffix", [".mov", ".mxf"])
def test_a_writer_killed_mid_render_leaves_an_incomplete_file(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"killed{suffix}"
    writer = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-y", "-re", "-f", "lavfi"]
        + ["-i", "testsrc=duration=30:size=320x240:rate=25", "-c:v", _CODEC[suffix]]
        + ["-flush_packets", "1", str(target)]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not target.exists() or target.stat().st_size < 50_000):
        time.sleep(0.05)
    writer.kill()
    writer.wait(10)
    assert target.stat().st_size >= 50_000
    assert container_incomplete(target) is not None


def test_an_mxf_cut_at_its_footer_is_incomplete(renders: dict[str, Path], tmp_path: Path) -> None:
    data = renders[".mxf"].read_bytes()
    footer = data.rfind(bytes.fromhex("060e2b34020501010d01020101040400"))
    reason = container_incomplete(_cut(renders[".mxf"], tmp_path, footer))
    assert reason is not None and "footer" in reason


def test_an_mxf_cut_inside_its_random_index_pack_is_incomplete(
    renders: dict[str, Path], tmp_path: Path
) -> None:
    data = renders[".mxf"].read_bytes()
    rip = data.rfind(bytes.fromhex("060e2b34020501010d01020101110100"))
    reason = container_incomplete(_cut(renders[".mxf"], tmp_path, rip + 20))
    assert reason == "the Random Index Pack at the end of the file is cut short"


def test_an_mxf_without_its_optional_random_index_pack_is_complete(
    renders: dict[str, Path], tmp_path: Path
) -> None:
    data = renders[".mxf"].read_bytes()
    rip = data.rfind(bytes.fromhex("060e2b34020501010d01020101110100"))
    assert container_incomplete(_cut(renders[".mxf"], tmp_path, rip), ffprobe=None) is None


def test_a_streamed_mxf_with_an_open_header_is_complete(tmp_path: Path) -> None:
    target = tmp_path / "streamed.mxf"
    with target.open("wb") as out:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=25"]
            + ["-c:v", "mpeg2video", "-f", "mxf", "-"],
            stdout=out,
            check=True,
            timeout=60,
        )
    assert container_incomplete(target) is None


def test_a_damaged_moov_is_caught_by_ffprobe_only(renders: dict[str, Path], tmp_path: Path) -> None:
    if shutil.which("ffprobe") is None:
        pytest.skip("needs ffprobe")
    data = bytearray(renders[".mov"].read_bytes())
    offset, size = _boxes(bytes(data))[b"moov"]
    data[offset + 8 : offset + size] = b"\xff" * (size - 8)
    damaged = tmp_path / "damaged.mov"
    damaged.write_bytes(bytes(data))
    assert container_incomplete(damaged, ffprobe=None) is None
    assert "ffprobe" in (container_incomplete(damaged) or "")


def test_a_64_bit_box_size_is_followed(tmp_path: Path) -> None:
    ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"qt  ", 0x200, b"qt  ")
    mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + 100) + b"\0" * 100
    moov = struct.pack(">I4s", 16, b"moov") + b"\0" * 8
    whole = tmp_path / "large.mov"
    whole.write_bytes(ftyp + mdat + moov)
    assert container_incomplete(whole, ffprobe=None) is None
    assert "mdat" in (container_incomplete(_cut(whole, tmp_path, 60), ffprobe=None) or "")


def test_an_unknown_extension_is_skipped_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postflow.sensor")
    clip = tmp_path / "SC01_UNDLM_00412_V001.avi"
    clip.write_bytes(b"RIFF" + b"\0" * 100)
    assert [container_incomplete(clip) for _ in range(3)] == [None, None, None]
    assert [r.getMessage() for r in caplog.records] == [
        "Completeness not checked for .avi files (unknown format)"
    ]


def test_a_mov_that_is_not_quicktime_is_skipped_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postflow.sensor")
    clip = tmp_path / "notes.mov"
    clip.write_text("hello, this is not a movie\n", encoding="ascii")
    assert container_incomplete(clip) is None
    assert container_incomplete(clip) is None
    assert len(caplog.records) == 1


def test_without_ffprobe_the_structural_check_still_runs_and_logs_once(
    renders: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="postflow.sensor")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    source = renders[".mov"]
    assert container_incomplete(source) is None
    assert container_incomplete(source) is None
    assert container_incomplete(_cut(source, tmp_path, 100)) is not None
    assert [r.getMessage() for r in caplog.records] == [
        "ffprobe is not on PATH: containers get the structural check only"
    ]


def test_a_name_that_is_not_utf8_is_checked(renders: dict[str, Path], tmp_path: Path) -> None:
    target = os.path.join(os.fsencode(tmp_path), b"\xc9T\xc9_S09_V001.mov")
    with open(target, "wb") as out:
        out.write(renders[".mov"].read_bytes()[:500])
    assert container_incomplete(os.fsdecode(target)) is not None
