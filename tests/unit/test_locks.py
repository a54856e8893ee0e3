"""FileLockManager: a Prefect lock manager on flock(2) that holds across threads and processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prefect.locking.protocol import LockManager

from config.settings import PostflowSettings
from tasks.platform.locks import FileLockManager, held, lock_manager_for

HOLDER_SCRIPT = """
import sys
from tasks.platform.locks import FileLockManager
FileLockManager(sys.argv[1]).acquire_lock("folder:SC01", "other-process")
print("held", flush=True)
sys.stdin.read()  # hold until the test closes stdin or kills us
"""


@pytest.fixture
def other_process(tmp_path: Path):
    """Start a second Python process that takes lock 'folder:SC01' and keeps it."""
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, str(tmp_path)],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait(10)


def test_it_is_a_prefect_lock_manager(tmp_path):
    assert isinstance(FileLockManager(tmp_path), LockManager)


def test_default_settings_use_file_locks_in_the_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("POSTFLOW_STATE_DIR", str(tmp_path / "state"))
    manager = lock_manager_for(PostflowSettings())
    assert isinstance(manager, FileLockManager)
    assert Path(manager.directory) == (tmp_path / "state" / "locks").resolve()


def test_a_lock_held_by_another_process_is_not_granted(tmp_path, other_process):
    manager = FileLockManager(tmp_path)
    assert manager.is_locked("folder:SC01")
    assert manager.acquire_lock("folder:SC01", "me", acquire_timeout=0) is False
    assert manager.acquire_lock("folder:SC02", "me", acquire_timeout=0) is True


def test_the_kernel_frees_the_lock_when_its_holder_dies(tmp_path, other_process):
    manager = FileLockManager(tmp_path)
    other_process.kill()
    other_process.wait(10)
    assert manager.acquire_lock("folder:SC01", "me", acquire_timeout=10) is True
    assert manager.is_lock_holder("folder:SC01", "me")


def test_threads_of_one_process_exclude_each_other(tmp_path):
    manager, counter, inside, overlaps = FileLockManager(tmp_path), [0], [0], []

    def bump() -> None:
        with held(manager, "stack:folder-1"):
            inside[0] += 1
            overlaps.append(inside[0])
            value = counter[0]
            time.sleep(0.005)  # widen the read-modify-write window; not a timing assert
            counter[0] = value + 1
            inside[0] -= 1

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter[0] == 8
    assert max(overlaps) == 1
    assert not manager.is_locked("stack:folder-1")


def test_only_the_holder_can_release(tmp_path):
    manager = FileLockManager(tmp_path)
    assert manager.acquire_lock("k", "a")
    with pytest.raises(ValueError, match="No lock held by b"):
        manager.release_lock("k", "b")
    manager.release_lock("k", "a")
    assert not manager.is_locked("k")
