"""One sensor loop over several productions' folders: routing, shared wake-up, summed counts."""

from __future__ import annotations

import threading
from pathlib import Path

from blocks.store import local_store
from tasks.sensor.dispatch import InProcessDispatcher
from tasks.sensor.ledger import DispatchLedger
from tasks.sensor.productions_watch import Dispatchers, Folders
from tasks.sensor.readiness import FileVersion
from tasks.sensor.watch_loop import run_watch_loop
from tests.unit.test_dispatch import FakeWatcher


def _version(root: str, name: str) -> FileVersion:
    return FileVersion(f"{root}/{name}", 1000, 1_700_000_000_000_000_000)


def _part(tmp_path: Path, name: str, ingested: list[str]) -> InProcessDispatcher:
    def ingest(path: str) -> bool:
        ingested.append(path)
        return not path.endswith("BAD.mov")

    ledger = DispatchLedger(local_store(tmp_path / name))
    return InProcessDispatcher(ledger, Path(f"/{name}/BY_SHOT"), 1, ingest=ingest)


def test_each_file_goes_to_the_dispatcher_of_its_folder(tmp_path: Path) -> None:
    undlm, chrono = [], []
    both = Dispatchers([_part(tmp_path, "undlm", undlm), _part(tmp_path, "chrono", chrono)])
    assert both.dispatch(_version("/chrono/BY_SHOT/sub", "SC01_A_00001_V001.mov"))
    assert both.dispatch(_version("/undlm/BY_SHOT", "SC01_A_00001_V001.mov"))
    assert not both.dispatch(_version("/elsewhere", "SC01_A_00001_V001.mov"))
    both.shutdown()
    assert undlm == ["/undlm/BY_SHOT/SC01_A_00001_V001.mov"]
    assert chrono == ["/chrono/BY_SHOT/sub/SC01_A_00001_V001.mov"]


def test_one_loop_drives_every_folder_and_sums_the_counts(tmp_path: Path) -> None:
    ingested: list[str] = []
    parts = [_part(tmp_path, "undlm", ingested), _part(tmp_path, "chrono", ingested)]
    both = Dispatchers(parts)
    watchers = [
        FakeWatcher(parts[0], [_version("/undlm/BY_SHOT", "SC01_A_00001_V001.mov")], pending=1),
        FakeWatcher(
            parts[1],
            [
                _version("/chrono/BY_SHOT", "SC02_B_00001_V001.mov"),
                _version("/chrono/BY_SHOT", "BAD.mov"),
            ],
        ),
    ]
    counts = run_watch_loop(Folders(watchers), both, poll_interval_seconds=5, stop_after_files=3)
    assert counts == {"dispatched": 3, "finished": 3, "failed": 1, "pending": 1}
    assert all(w.entered and w.exited for w in watchers)
    assert len(ingested) == 3


def test_a_finish_in_any_folder_wakes_the_loop(tmp_path: Path) -> None:
    parts = [_part(tmp_path, "undlm", []), _part(tmp_path, "chrono", [])]
    both = Dispatchers(parts)
    woke = threading.Event()

    def waiter() -> None:
        with both.changed:
            both.changed.wait_for(lambda: both.finished >= 1, timeout=10)
            woke.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    parts[1].dispatch(_version("/chrono/BY_SHOT", "SC02_B_00001_V001.mov"))
    thread.join(10)
    both.shutdown()
    assert woke.is_set()
