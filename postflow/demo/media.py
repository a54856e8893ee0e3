"""Sample media for ``postflow demo``: what a BY_SHOT folder looks like on a busy day.

The three seed name formats (and a second version of one shot), junk files the sensor must
ignore, a 0-byte LucidLink-style placeholder, and one name no nomenclature rule reads. Clips are
made by ffmpeg when it is installed, else synthetic bytes; files grow over a few seconds, like
a render being written or a LucidLink download.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from rich.console import Console

GOOD_FILES = (
    "SC01_UNDLM_00412_V001.mov",
    "SC01_UNDLM_00412_V002.mov",
    "13H49_-_RECUPERATION_DES_2_SURVIVANTS_S01_V001.mov",
    "2EME_MAYDAY_EXT_-_NUIT_AMERICAINE_S03_V005.mp4",
)
BAD_FILES = ("RANDOM_RENDER_FINAL.mov",)
JUNK_FILES = (
    ".DS_Store",
    "._SC01_UNDLM_00412_V002.mov",
    "Thumbs.db",
    "SC01_UNDLM_00412_V003.mov.part",
)
PLACEHOLDER = "SC02_PLATE_00010_V001.mov"  # stays 0 bytes, like a LucidLink placeholder


def clip_bytes(work: Path, index: int) -> bytes:
    """A short ffmpeg test clip when ffmpeg is installed, else 2-5 MB of synthetic bytes."""
    if shutil.which("ffmpeg"):
        out = work / f"clip{index}.mov"
        command = [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=duration=2:size=640x360:rate=25,hue=h={index * 60}",
            "-pix_fmt",
            "yuv420p",
            str(out),
        ]
        if subprocess.run(command, check=False, timeout=120).returncode == 0:
            return out.read_bytes()
    return os.urandom((2 + index) * 1_000_000)


def write_slowly(path: Path, data: bytes, pieces: int = 4, pause_seconds: float = 0.4) -> None:
    """Write like a render or a LucidLink download: the file grows over a few seconds."""
    step = max(1, len(data) // pieces)
    with path.open("wb") as handle:
        for start in range(0, len(data), step):
            handle.write(data[start : start + step])
            handle.flush()
            time.sleep(pause_seconds)


def populate(by_shot: Path, scratch: Path, console: Console) -> None:
    """Fill ``by_shot`` with the placeholder, the junk, then the good and bad renders."""
    (by_shot / PLACEHOLDER).touch()
    for name in JUNK_FILES:
        (by_shot / name).write_bytes(b"junk")
    for index, name in enumerate(GOOD_FILES + BAD_FILES):
        write_slowly(by_shot / name, clip_bytes(scratch, index))
        console.print(f"  wrote [cyan]{name}[/cyan]", highlight=False)
