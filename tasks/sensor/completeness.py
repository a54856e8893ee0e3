"""Container completeness: is a settled file a *finished* QuickTime/MP4 or MXF, or a pause?

A renderer that pauses longer than the settle window (a render node flushing its cache, a
LucidLink upload stalling) leaves a file that looks settled but is partial. For the two
container families post houses deliver, the structure itself says whether the writer
finished; :func:`container_incomplete` reads it:

* **QuickTime / ISO BMFF** (``.mov``, ``.mp4``, ``.m4v``; ISO/IEC 14496-12 §4.2, QuickTime
  File Format "Atoms"): walks the top-level boxes (32-bit size + 4-char type, 64-bit
  ``largesize`` when size is 1, "to end of file" when 0). Catches: a file cut inside any box
  (a box that claims more bytes than remain; a header cut short), garbage where a box header
  should be, and a file with no ``moov`` atom (moov-last writers such as ffmpeg and most
  NLEs write it at the very end, so a paused or killed writer leaves none). The last box must
  end exactly at end of file.
* **MXF** (``.mxf``; SMPTE ST 377-1:2011 §7.1 Partition Pack, §12 Random Index Pack): the
  header partition pack's ``FooterPartition`` offset, the footer partition pack key
  ``06 0E 2B 34 02 05 01 01 0D 01 02 01 01 04 xx 00`` at that offset, its declared header
  metadata and index byte counts within the file, and a Random Index Pack
  (``... 0D 01 02 01 01 11 01 00``) at end of file whose last entry is the footer. Catches:
  no footer yet (open header, ``FooterPartition`` 0 and no footer pack in the last MiB), a
  footer offset beyond end of file (a copy in progress of a finished file), a footer cut
  short, a Random Index Pack cut short.
* **ffprobe** (``ffprobe -v error -show_entries stream=codec_type``), when on ``PATH`` and
  the structure looks whole: confirms that a demuxer opens it *and finds a stream*. Catches
  what the walk does not parse: a ``moov`` or MXF header metadata whose *contents* are
  damaged (``-show_format`` alone exits 0 on a ``moov`` with no valid track). It does not
  decode frames, so damaged media data inside a whole container still passes.

Other extensions and files whose first bytes are not one of these containers are *unknown*:
not checked (None), with one log line per process per extension (or per file for a
known extension with an unrecognised structure). A missing ffprobe is logged once per
process; the structural check still runs.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import BinaryIO

from core.logs import run_logger
from core.runtime import current_runtime

__all__ = ["BMFF_EXTENSIONS", "MXF_EXTENSIONS", "container_incomplete"]

log = run_logger("postflow.sensor")

BMFF_EXTENSIONS = frozenset({".mov", ".mp4", ".m4v"})
MXF_EXTENSIONS = frozenset({".mxf"})
_AUTO = "auto"

# ISO BMFF / QuickTime top-level box types a file may start with.
_FIRST_BOXES = frozenset(
    {b"ftyp", b"wide", b"free", b"skip", b"mdat", b"moov", b"pnot", b"junk", b"uuid", b"styp"}
)
_MAX_BOXES = 1_000_000  # fragmented MP4: one moof+mdat pair per fragment

# SMPTE ST 377-1 keys; byte 7 (registry version) is not compared, writers differ on it.
_MXF_PARTITION = bytes.fromhex("060e2b34020501010d01020101")
_HEADER, _FOOTER, _RIP = 0x02, 0x04, 0x11
_FILL = bytes.fromhex("060e2b34010101010301021001000000")
_MXF_RUN_IN_MAX_BYTES = 65536
_MXF_TAIL_SCAN_BYTES = 1 << 20


class _Unknown(Exception):
    """The file is not a container this module understands."""


def container_incomplete(
    path: str | os.PathLike[str],
    *,
    ffprobe: str | None = _AUTO,
    ffprobe_timeout_seconds: float = 30.0,
) -> str | None:
    """Tell why a settled file is not a finished container, or None when it is (or unknown).

    Args:
        path: the file (a regular file; opened read-only).
        ffprobe: the ffprobe executable; ``"auto"`` looks it up on ``PATH``; None skips it.
        ffprobe_timeout_seconds: how long ffprobe may run, in seconds; a timeout is logged
            and does not block the file (the structure already looked whole).

    Returns:
        A sentence naming what is missing (e.g. ``"no 'moov' atom: ..."``), or None when the
        file is complete as far as can be told, or its format is not checked.

    Raises:
        OSError: the file cannot be opened or read (the caller retries next poll).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in BMFF_EXTENSIONS | MXF_EXTENSIONS:
        _log_once(
            ("extension", suffix), "Completeness not checked for %s files (unknown format)", suffix
        )
        return None
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            if suffix in BMFF_EXTENSIONS:
                reason = _bmff_incomplete(handle, size)
            else:
                reason = _mxf_incomplete(handle, size)
        except _Unknown as exc:
            shown = _shown(path)
            _log_once(("structure", shown), "Completeness not checked for %s: %s", shown, exc)
            return None
    if reason is not None:
        return reason
    return _ffprobe_incomplete(os.fspath(path), ffprobe, ffprobe_timeout_seconds)


# --- ISO BMFF / QuickTime ------------------------------------------------------------------------
def _bmff_incomplete(handle: BinaryIO, size: int) -> str | None:
    offset, seen = 0, set()
    for _ in range(_MAX_BOXES):
        if offset == size:
            break
        header = _pread(handle, offset, 16)
        if len(header) < 8:
            return f"ends with {len(header)} bytes that are not a whole box header (cut short)"
        box_size, kind = struct.unpack(">I4s", header[:8])
        if offset == 0 and kind not in _FIRST_BOXES:
            raise _Unknown("not a QuickTime/ISO BMFF file (no known first box)")
        if not _printable(kind):
            return f"no valid box header at byte {offset} (corrupt, or still being written)"
        header_bytes = 8
        if box_size == 1:
            if len(header) < 16:
                return f"box '{_name(kind)}' at byte {offset}: 64-bit size cut short"
            (box_size,), header_bytes = struct.unpack(">Q", header[8:16]), 16
        elif box_size == 0:
            box_size = size - offset  # "extends to the end of the file"
        if box_size < header_bytes:
            return f"box '{_name(kind)}' at byte {offset} has an impossible size {box_size}"
        if offset + box_size > size:
            return (
                f"box '{_name(kind)}' at byte {offset} needs {box_size} bytes but only "
                f"{size - offset} remain (cut short, or still being written)"
            )
        seen.add(kind)
        offset += box_size
    else:
        raise _Unknown(f"more than {_MAX_BOXES} top-level boxes")
    if b"moov" not in seen:
        return "no 'moov' atom (the writer has not finished the file: paused, or killed)"
    return None


def _printable(kind: bytes) -> bool:
    return all(32 <= b < 127 for b in kind)


def _name(kind: bytes) -> str:
    return kind.decode("latin-1")


# --- MXF -----------------------------------------------------------------------------------------
def _mxf_incomplete(handle: BinaryIO, size: int) -> str | None:
    head = _pread(handle, 0, _MXF_RUN_IN_MAX_BYTES + 16)
    base = _find_partition(head, _HEADER)
    if base < 0:
        raise _Unknown("not an MXF file (no header partition pack in the first 64 KiB)")
    rip = _read_rip(handle, size, base)
    if isinstance(rip, str):
        return rip
    footer = rip if rip is not None else _footer_offset(handle, size, base)
    if isinstance(footer, str):
        return footer
    position = base + footer
    if position + 16 > size:
        return (
            f"the footer partition is declared at byte {position} but the file has {size} "
            "bytes (a copy or render still in progress)"
        )
    pack = _read_partition_pack(handle, position, _FOOTER)
    if pack is None and _is_key(_pread(handle, position, 16), _FOOTER):
        return f"the footer partition at byte {position} is cut short"
    if pack is None:
        return f"no footer partition pack at byte {position}, where the file says it is"
    end, header_bytes, index_bytes = pack
    # KAG fill after the pack is not counted; the two counts include their trailing fill.
    end = _skip_fill(handle, _skip_fill(handle, end) + header_bytes + index_bytes)
    if end > size:
        return f"the footer partition at byte {position} is cut short"
    if rip is None and _is_key(_pread(handle, end, 16), _RIP):
        return "the Random Index Pack at the end of the file is cut short"
    return None


def _skip_fill(handle: BinaryIO, offset: int) -> int:
    """The offset after the KLV Fill item at ``offset`` (KAG alignment), or ``offset``."""
    key = _pread(handle, offset, 16)
    if len(key) < 16 or key[:7] != _FILL[:7] or key[8:] != _FILL[8:]:
        return offset
    length = _ber(handle, offset + 16)
    if length is None:
        return offset + 17  # cut inside the fill: past the end
    return offset + 16 + length[1] + length[0]


def _find_partition(data: bytes, kind: int, start: int = 0) -> int:
    """Offset in ``data`` of the first partition pack key of ``kind``, or -1."""
    at = data.find(_MXF_PARTITION[:7], start)
    while at >= 0:
        if _is_key(data[at : at + 16], kind):
            return at
        at = data.find(_MXF_PARTITION[:7], at + 1)
    return -1


def _is_key(data: bytes, kind: int) -> bool:
    return (
        len(data) >= 14 and data[:7] == _MXF_PARTITION[:7] and data[8:13] == _MXF_PARTITION[8:13]
    ) and data[13] == kind


def _ber(handle: BinaryIO, offset: int) -> tuple[int, int] | None:
    """``(length, bytes used)`` of the BER length at ``offset``, or None when cut short."""
    first = _pread(handle, offset, 9)
    if not first:
        return None
    if first[0] < 0x80:
        return first[0], 1
    count = first[0] & 0x7F
    if count == 0 or count > 8 or len(first) < 1 + count:
        return None
    return int.from_bytes(first[1 : 1 + count], "big"), 1 + count


def _read_partition_pack(handle: BinaryIO, position: int, kind: int) -> tuple[int, int, int] | None:
    """``(end of the pack, HeaderByteCount, IndexByteCount)`` of a partition pack, or None."""
    if not _is_key(_pread(handle, position, 16), kind):
        return None
    length = _ber(handle, position + 16)
    if length is None:
        return None
    value_at = position + 16 + length[1]
    value = _pread(handle, value_at, 48)
    if len(value) < 48:
        return None
    header_bytes, index_bytes = struct.unpack(">QQ", value[32:48])
    return value_at + length[0], header_bytes, index_bytes


def _footer_offset(handle: BinaryIO, size: int, base: int) -> int | str:
    """The footer's offset from the header partition, or a reason when there is none."""
    value = _pread(handle, base + 16 + (_ber(handle, base + 16) or (0, 1))[1], 32)
    if len(value) == 32:
        footer = int(struct.unpack(">Q", value[24:32])[0])
        if footer:
            return footer
    start = max(base, size - _MXF_TAIL_SCAN_BYTES)
    tail = _pread(handle, start, size - start)
    at = _find_partition(tail, _FOOTER)
    if at < 0:
        return "no footer partition (the MXF writer has not finished the file)"
    return start + at - base


def _read_rip(handle: BinaryIO, size: int, base: int) -> int | str | None:
    """The footer offset named by a Random Index Pack ending the file, a reason when the
    pack is damaged, or None when the file does not end with one."""
    if size - base < 16 + 1 + 12 + 4:
        return None
    (length,) = struct.unpack(">I", _pread(handle, size - 4, 4))
    start = size - length
    if length < 16 + 1 + 4 or start < base or not _is_key(_pread(handle, start, 16), _RIP):
        return None
    ber = _ber(handle, start + 16)
    entries_at = start + 16 + (ber[1] if ber else 1)
    entries = _pread(handle, entries_at, size - 4 - entries_at)
    if not entries or len(entries) % 12:
        return "the Random Index Pack at the end of the file is damaged"
    return int(struct.unpack(">Q", entries[-8:])[0])


# --- ffprobe and helpers -------------------------------------------------------------------------
def _ffprobe_incomplete(path: str, ffprobe: str | None, timeout_seconds: float) -> str | None:
    executable = shutil.which("ffprobe") if ffprobe == _AUTO else ffprobe
    if executable is None:
        if ffprobe == _AUTO:
            _log_once(
                ("ffprobe",), "ffprobe is not on PATH: containers get the structural check only"
            )
        return None
    try:
        result = subprocess.run(
            [
                executable,
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type",
                "-of",
                "json",
                "-i",
                path,
            ],
            capture_output=True,
            timeout=timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning(
            "ffprobe took over %.0f s on %s; not blocking it", timeout_seconds, _shown(path)
        )
        return None
    except OSError as exc:
        _log_once(("ffprobe",), "ffprobe cannot run (%s): structural check only", exc)
        return None
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1] if message else f"exit status {result.returncode}"
        return f"ffprobe cannot open it: {detail}"
    try:
        streams = json.loads(result.stdout or b"{}").get("streams") or []
    except ValueError:
        return None  # an ffprobe that does not speak JSON: no opinion
    if not streams:
        return "ffprobe finds no stream in it (its header is damaged or unfinished)"
    return None


def _log_once(key: tuple[str, ...], message: str, *args: object) -> None:
    """Log ``message`` at INFO the first time ``key`` is seen in this runtime."""
    if not current_runtime().first_time("completeness-logged", key):
        return
    log.info(message, *args)


def _shown(path: str | os.PathLike[str]) -> str:
    """``path`` printable anywhere: bytes that are not UTF-8 become ``\\xNN`` escapes."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


def _pread(handle: BinaryIO, offset: int, count: int) -> bytes:
    if count <= 0 or offset < 0:
        return b""
    return os.pread(handle.fileno(), count, offset)
