"""Hostile names and files in the watch folder (issue: exactly the right bytes in Frame.io).

Any byte sequence as a name, symlinks, FIFOs and sockets: the watcher reports each once and
never dispatches it, never crashes, never hangs; the ledger records any key.
"""

from __future__ import annotations

import os
import socket

import pytest

from blocks.store import local_store
from tasks.sensor.ledger import DispatchLedger
from tasks.sensor.watch_folder import WatchFolder

LATIN1_NAME = b"\xc9T\xc9_S09_V001.mov"  # "ÉTÉ_S09_V001.mov" written by an old Samba client


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _settle(watcher: WatchFolder, clock: Clock) -> None:
    watcher.poll_once()
    clock.now += 6
    watcher.poll_once()
    watcher.poll_once()


def _watch(root, **kw):
    ready: list = []
    rejected: list[tuple[str, str]] = []
    clock = Clock()
    watcher = WatchFolder(
        root,
        ready.append,
        skip=lambda version: version in ready,  # what a ledger does: once per version
        settle_seconds=5.0,
        tail_check_bytes=64,
        poll_interval_seconds=0.1,
        clock=clock,
        on_rejected=lambda path, reason: rejected.append((path, reason)),
        **kw,
    )
    return watcher, clock, ready, rejected


def test_a_non_utf8_name_is_reported_once_and_never_dispatched(tmp_path):
    os.close(os.open(os.path.join(os.fsencode(tmp_path), LATIN1_NAME), os.O_CREAT | os.O_WRONLY))
    with open(os.path.join(os.fsencode(tmp_path), LATIN1_NAME), "wb") as handle:
        handle.write(b"x" * 100)
    (tmp_path / "SC01_A_00001_V001.mov").write_bytes(b"y" * 100)
    watcher, clock, ready, rejected = _watch(tmp_path)
    with watcher:
        _settle(watcher, clock)
        watcher.scan()  # seen again: still one report
        _settle(watcher, clock)
    assert [os.path.basename(v.path) for v in ready] == ["SC01_A_00001_V001.mov"]
    assert len(rejected) == 1
    shown = rejected[0][1]
    assert "\\xc9T\\xc9_S09_V001.mov" in shown and "UTF-8" in shown
    shown.encode("utf-8")  # printable anywhere: no lone surrogate left in the message


def test_a_symlink_is_skipped_even_to_a_real_render(tmp_path):
    outside = tmp_path / "secret"
    outside.write_bytes(b"private key")
    root = tmp_path / "BY_SHOT"
    root.mkdir()
    (root / "SC08_LINKS_00001_V001.mov").symlink_to(outside)
    watcher, clock, ready, rejected = _watch(root)
    with watcher:
        _settle(watcher, clock)
    assert ready == []
    assert [("SC08_LINKS_00001_V001.mov" in p, "symlink" in r) for p, r in rejected] == [
        (True, True)
    ]


def test_a_symlink_inside_the_root_may_be_allowed(tmp_path):
    (tmp_path / "renders").mkdir()
    target = tmp_path / "renders" / "real.mov"
    target.write_bytes(b"z" * 100)
    (tmp_path / "SC08_LINKS_00002_V001.mov").symlink_to(target)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.mov"
    outside.write_bytes(b"o" * 100)
    (tmp_path / "SC08_LINKS_00003_V001.mov").symlink_to(outside)
    watcher, clock, ready, rejected = _watch(tmp_path, recursive=False, allow_inner_symlinks=True)
    with watcher:
        _settle(watcher, clock)
    assert sorted(os.path.basename(v.path) for v in ready) == ["SC08_LINKS_00002_V001.mov"]
    assert [os.path.basename(p) for p, _ in rejected] == ["SC08_LINKS_00003_V001.mov"]


@pytest.mark.timeout(30)
def test_a_fifo_and_a_socket_are_skipped_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "SC08_PIPE_00001_V001.mov")  # reading its tail would block forever
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "SC08_SOCK_00001_V001.mov"))
    try:
        watcher, clock, ready, rejected = _watch(tmp_path)
        with watcher:
            _settle(watcher, clock)
    finally:
        server.close()
    assert ready == []
    assert sorted(os.path.basename(p) for p, _ in rejected) == [
        "SC08_PIPE_00001_V001.mov",
        "SC08_SOCK_00001_V001.mov",
    ]


def test_the_ledger_records_a_key_of_any_bytes(tmp_path):
    key = os.fsdecode(LATIN1_NAME) + ":100:1"
    ledger = DispatchLedger(local_store(tmp_path))
    assert ledger.mark_dispatched(key) is True
    ledger.mark_finished(key, ok=False)
    assert DispatchLedger(local_store(tmp_path)).should_dispatch(key) is False
