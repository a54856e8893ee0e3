"""Scale-out: a real Prefect server, two serve processes, Redis locks, 50 files -> each once."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from prefect.client.orchestration import get_client

from flows.sensor import EventDispatcher
from tasks.ledger import DispatchLedger
from tasks.readiness import FileVersion
from tests.integration.helpers import all_files, make_file, tree_paths
from tests.integration.test_deployments import ROOT, _env, _wait

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def redis_url(tmp_path: Path):
    """A throw-away redis-server on loopback (Debian package; `.ci/run` installs it)."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is required (apt-get install redis-server)"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    _wait(lambda: _pings(client), 30, "redis-server")
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


# Its own waits allow up to 720 s (each flow run is a fresh process: ~4 s of CPU to start).
@pytest.mark.timeout(900)
def test_two_workers_ingest_fifty_files_each_exactly_once(
    pipeline, postflow_env, redis_url, tmp_path
):
    postflow_env(
        lock_manager="redis",
        redis_url=redis_url,
        structure_cache_ttl_seconds=3600,
        structure_cache_dir=tmp_path / "shared-cache",
        settle_seconds=0,
    )
    files = [
        make_file(
            pipeline.by_shot,
            f"SC{scene}_SHOT{shot}_{shot:05d}_V{version:03d}.mov",
            20_000 + version,
            seed=version,
        )
        for scene in (21, 22)
        for shot in range(1, 6)
        for version in range(1, 6)
    ]
    # Output to files, not pipes: nobody reads a pipe until the end, and a full one (64 KiB of
    # INFO lines) would block the worker mid-run.
    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "postflow.cli", "up", "--only", "ingest-file", "--limit", "4"],
            env=_worker_env(),
            cwd=ROOT,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        for log in logs
    ]
    try:
        with get_client(sync_client=True) as client:
            _wait(lambda: _served(client), 120, "the ingest-file deployment")
        time.sleep(3)  # both runners registered and polling
        # The sensor's events-mode dispatcher: it emits postflow.file.ready and, when a
        # trigger action is lost (the busy SQLite server can answer it 503), emits again.
        ledger = DispatchLedger(tmp_path / "ledger.jsonl")
        sensor = EventDispatcher(ledger, pipeline.by_shot, 1)  # confirm_seconds: 120
        for path in files:
            stat = path.stat()
            assert sensor.dispatch(FileVersion(str(path), stat.st_size, stat.st_mtime_ns))

        def landed() -> bool:
            sensor.confirm()
            return len(all_files(pipeline.project())) >= 50

        _wait(landed, 600, "50 uploaded files")
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(60)
        outputs = [log.read_text(errors="replace") for log in logs]
        with get_client(sync_client=True) as client:
            for deployment in client.read_deployments():
                client.delete_deployment(deployment.id)
            for automation in client.read_automations():
                client.delete_automation(automation.id)
    names = Counter(f.name for f in all_files(pipeline.project()))
    tree = tree_paths(pipeline.project())
    assert len(names) == 50 and set(names.values()) == {1}, names.most_common(3)
    assert sorted(a.name for a in tree["SCENES"]) == ["SC21", "SC22"]
    assert [len(tree[f"SCENES/SC{s}"]) for s in (21, 22)] == [5, 5]
    # Flow-run processes inherit their worker's stdout: each worker ran ingests itself.
    ran = [out.count("Flow run 'ingest ") for out in outputs]
    assert all(ran), [o[-1500:] for o in outputs]


def _worker_env() -> dict[str, str]:
    # INFO: the runner's "Submitting flow run" lines show which worker ran what (the test
    # session itself logs at WARNING).
    return {**_env(), "PREFECT_LOGGING_LEVEL": "INFO"}


def _served(client) -> bool:
    try:
        client.read_deployment_by_name("ingest-file/ingest-file")
    except Exception:  # noqa: BLE001
        return False
    return True
