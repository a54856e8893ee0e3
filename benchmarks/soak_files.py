"""What the soak writes into BY_SHOT: the good renders, the hostile files and the symlinks.

Every good file is a small but real QuickTime movie (made once with ffmpeg when it is on PATH):
``ftyp``, ``mdat``, a ``free`` box of random bytes that makes each file unique, then ``moov``
last, as ffmpeg and most NLEs write it. A writer that pauses before the end leaves a file with
no ``moov`` yet, which is what a paused render node leaves on LucidLink. Without ffmpeg the
files are random bytes (the container check then cannot help and only the clean-up can).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GoodFile", "Hostiles", "Writer", "make_hostiles", "plan_good_files", "sha256"]

NON_UTF8_NAME = b"\xc9T\xc9_S09_V001.mov"
# A token of each hostile file as the watcher shows it when it reports it (the empty
# placeholder is never reported: it only waits, as LucidLink placeholders do).
HOSTILE_TOKENS = (
    "\\xc9T\\xc9_S09_V001",
    "SC09_FIFO_00001",
    "SC09_SOCK_00001",
    "LINE_00001",
    "SC09_EMPTY_00001",
)
SYMLINK_NAMES = ("SC08_LINKS_00001_V001.mov", "SC08_LINKS_00002_V001.mov")


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data`` (the sandbox tree reports the same digest)."""
    return hashlib.sha256(data).hexdigest()


def _base_movie() -> bytes:
    """A 1-second 64x64 QuickTime movie with ``moov`` last, or b"" without ffmpeg."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return b""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "base.mov"
        subprocess.run(
            [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=1", "-t", "1"]
            + ["-c:v", "mjpeg", "-y", str(out)],
            check=True,
            timeout=60,
        )
        return out.read_bytes()


def _moov_offset(movie: bytes) -> int:
    offset = 0
    while offset + 8 <= len(movie):
        size, kind = struct.unpack(">I4s", movie[offset : offset + 8])
        if kind == b"moov":
            return offset
        offset += size
    raise ValueError("no moov atom in the ffmpeg output")


class Media:
    """Makes unique file contents of a given payload size, all the same structure."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._base = _base_movie()
        self._moov = _moov_offset(self._base) if self._base else 0

    def make(self, payload_bytes: int) -> bytes:
        """A complete movie whose ``free`` box holds ``payload_bytes`` random bytes."""
        payload = self._rng.randbytes(payload_bytes)
        if not self._base:
            return payload
        free = struct.pack(">I4s", 8 + payload_bytes, b"free") + payload
        return self._base[: self._moov] + free + self._base[self._moov :]

    def same_size_as(self, data: bytes) -> bytes:
        """New content of exactly ``len(data)`` bytes (a same-size re-render)."""
        overhead = len(self._base) + 8 if self._base else 0
        return self.make(len(data) - overhead)


@dataclass
class GoodFile:
    """One render the pipeline must land: where, and which bytes (``data`` is the final)."""

    name: str
    shot: str  # Frame.io folder path, "SCENES/SC01/PLATE_00010"
    version: int
    data: bytes
    paused: bool = False
    original: bytes | None = None  # the first bytes, when re-rendered in place
    written: threading.Event = field(default_factory=threading.Event)


def plan_good_files(media: Media, files: int, shots: int, paused: int, rng: random.Random):
    """``files`` renders over ``shots`` shots, in a write order where each shot's versions
    arrive out of order; ``paused`` of them (not the first of a shot) use a pausing writer."""
    per_shot: list[list[GoodFile]] = []
    for index in range(shots):
        scene, shot = f"SC{index // 2 + 1:02d}", f"PLATE_{(index + 1) * 10:05d}"
        count = files // shots + (1 if index < files % shots else 0)
        versions = list(range(1, count + 1))
        while count > 1 and versions == sorted(versions):
            rng.shuffle(versions)
        per_shot.append(
            [
                GoodFile(
                    name=f"{scene}_{shot}_V{version:03d}.mov",
                    shot=f"SCENES/{scene}/{shot}",
                    version=version,
                    data=media.make(rng.randrange(200_000, 900_000)),
                )
                for version in versions
            ]
        )
    order: list[GoodFile] = []
    while any(per_shot):
        order.append(rng.choice([queue for queue in per_shot if queue]).pop(0))
    for good in rng.sample(order[shots:] or order, min(paused, len(order))):
        good.paused = True
    return order


class Writer(threading.Thread):
    """Writes the planned files over ``window_seconds``; pausing writers stop after 60 % of
    the bytes for ``pause_seconds`` (in their own thread) and then finish."""

    def __init__(self, by_shot: Path, order: list[GoodFile], window_seconds: float, pause: float):
        super().__init__(name="soak-writer", daemon=True)
        self.by_shot, self.order = by_shot, order
        self.window_seconds, self.pause_seconds = window_seconds, pause

    def run(self) -> None:
        start = time.monotonic()
        step = self.window_seconds / max(1, len(self.order))
        for index, good in enumerate(self.order):
            time.sleep(max(0.0, start + index * step - time.monotonic()))
            if good.paused:
                threading.Thread(target=self._write_paused, args=(good,), daemon=True).start()
            else:
                (self.by_shot / good.name).write_bytes(good.data)
                good.written.set()

    def _write_paused(self, good: GoodFile) -> None:
        cut = int(len(good.data) * 0.6)
        with (self.by_shot / good.name).open("wb") as handle:
            handle.write(good.data[:cut])
            handle.flush()
            time.sleep(self.pause_seconds)
            handle.write(good.data[cut:])
        good.written.set()


def rerender_in_place(by_shot: Path, good: GoodFile, media: Media) -> None:
    """Overwrite a landed file in place (same inode, same size) with new content."""
    new = media.same_size_as(good.data)
    good.original, good.data = good.data, new
    with (by_shot / good.name).open("r+b") as handle:
        handle.write(new)


@dataclass
class Hostiles:
    """The hostile files and symlinks made, with the bytes that must never reach Frame.io."""

    forbidden_sha256: set[str]
    symlink_target_sha256: set[str]
    keep_open: list[socket.socket]

    def close(self) -> None:
        for sock in self.keep_open:
            sock.close()


def _bind_socket(folder: Path, name: str) -> socket.socket:
    """A listening-capable Unix socket file ``folder/name``. Bound through ``/proc/self/fd``
    because a socket path is limited to 107 bytes (deep temp dirs, e.g. under pytest-xdist,
    exceed it)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sock.bind(f"/proc/self/fd/{fd}/{name}")
    finally:
        os.close(fd)
    return sock


def make_hostiles(by_shot: Path, outside: Path, media: Media) -> Hostiles:
    """Five hostile names and two symlinks (one to a valid name outside BY_SHOT)."""
    forbidden = {sha256(data := media.make(50_000))}
    fd = os.open(os.path.join(os.fsencode(by_shot), NON_UTF8_NAME), os.O_WRONLY | os.O_CREAT)
    os.write(fd, data)
    os.close(fd)
    os.mkfifo(by_shot / "SC09_FIFO_00001_V001.mov")
    sock = _bind_socket(by_shot, "SC09_SOCK_00001_V001.mov")
    (by_shot / "SC09_NEW\nLINE_00001_V001.mov").write_bytes(data := media.make(60_000))
    forbidden.add(sha256(data))
    (by_shot / "SC09_EMPTY_00001_V001.mov").touch()
    outside.mkdir(parents=True, exist_ok=True)
    secret = outside / "SC08_SECRET_00001_V001.mov"
    secret.write_bytes(data := media.make(70_000))
    targets = {sha256(data)}
    inner = by_shot / "refs" / "inner_reference.txt"
    inner.parent.mkdir()
    inner.write_bytes(data := os.urandom(40_000))
    targets.add(sha256(data))
    (by_shot / SYMLINK_NAMES[0]).symlink_to(secret)
    (by_shot / SYMLINK_NAMES[1]).symlink_to(inner)
    return Hostiles(forbidden | targets, targets, [sock])
