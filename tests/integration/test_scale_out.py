"""Scale-out: a Prefect server on PostgreSQL, two warm workers standing in for two machines.

Each worker is ``postflow up --only ingest-file`` with its own Prefect home and state
directory (nothing local is shared); they share only what several machines would: the Prefect
server, Redis (the lock manager) and the result storage, a ``LocalFileSystem`` block on a
shared directory that holds the structure cache's records. The sensor's deployment-mode
dispatcher creates one ``ingest-file`` run per file, and whichever worker claims a run executes
it.

The in-suite run has 12 files; ``SCALE_OUT_FILES=200`` runs the full-size version:
``SCALE_OUT_FILES=200 .venv/bin/python -m pytest tests/integration/test_scale_out.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.filesystems import LocalFileSystem
from prefect.settings import PREFECT_API_URL, temporary_settings

from blocks.store import local_store
from tasks.sensor.dispatch import DeploymentDispatcher
from tasks.sensor.ingest_runs import IngestRunStarter
from tasks.sensor.ledger import DispatchLedger
from tasks.sensor.readiness import FileVersion
from tests.integration.helpers import all_files, make_file, tree_paths
from tests.integration.scale_out_peers import (
    postgres_server,
    prefect_server_on,
    redis_server,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
FILES = int(os.environ.get("SCALE_OUT_FILES", "12"))
RESULTS_BLOCK = "postflow-shared-results"
CONCURRENCY = 3
POLLING = "polling for flow runs"  # postflow.serve.warm_worker: it takes work from now on
RAN = re.compile(r"running flow run '[^']*' \(([0-9a-f-]{36})\)")


@pytest.fixture
def cluster(tmp_path: Path):
    """``(api_url, redis_url)``: PostgreSQL + Prefect server on it + Redis, all on loopback."""
    with (
        postgres_server() as database_url,
        redis_server(tmp_path) as redis_url,
        prefect_server_on(database_url, tmp_path / "server-home") as api_url,
    ):
        yield api_url, redis_url


def _files(by_shot: Path) -> list[Path]:
    """FILES renders, two versions per shot, shots spread over 10 scenes: two workers often
    need the same new folders at once."""
    return [
        make_file(by_shot, f"SC{70 + n // 2 % 10}_SHOT_{n // 2:05d}_V{n % 2 + 1:03d}.mov", 30_000)
        for n in range(FILES)
    ]


def _worker_env(api_url: str, redis_url: str, sandbox, by_shot: Path, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTFLOW_")}
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(home / "prefect-home"),  # one "machine" each
        PREFECT_LOGGING_LEVEL="INFO",  # the warm runner's "running flow run" lines
        PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK=f"local-file-system/{RESULTS_BLOCK}",
        POSTFLOW_STATE_DIR=str(home / "state"),
        POSTFLOW_WATCH_PATH=str(by_shot),
        POSTFLOW_INGEST_CONCURRENCY=str(CONCURRENCY),
        POSTFLOW_LOCK_MANAGER="redis",
        POSTFLOW_REDIS_URL=redis_url,
        POSTFLOW_USE_PREFECT_LIMITS="true",
        POSTFLOW_STRUCTURE_CACHE_TTL_SECONDS="3600",
        POSTFLOW_UPLOAD_STRATEGY="multipart",
        POSTFLOW_TASK_RETRY_BACKOFF_SECONDS="0.2",
        POSTFLOW_DISCORD_BLOCK="postflow-test-absent-block",
        **sandbox.postflow_environment(),
    )
    return env


def _peak_overlap(runs: list) -> int:
    """Most runs of ``runs`` that were Running at the same moment."""
    edges = sorted(
        [(r.start_time, 1) for r in runs] + [(r.end_time, -1) for r in runs],
        key=lambda edge: (edge[0], edge[1]),
    )
    current = peak = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


@pytest.mark.timeout(300 + 8 * FILES)
def test_two_workers_on_postgres_ingest_every_file_exactly_once(cluster, sandbox, tmp_path):
    api_url, redis_url = cluster
    by_shot = tmp_path / "BY_SHOT"
    by_shot.mkdir()
    shared = tmp_path / "shared-results"
    files = _files(by_shot)
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        LocalFileSystem(basepath=str(shared)).save(RESULTS_BLOCK)
        homes = [tmp_path / f"machine-{n}" for n in range(2)]
        logs = [home / "up.log" for home in homes]
        workers = []
        for home, log in zip(homes, logs, strict=True):
            home.mkdir()
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "postflow.cli.main", "up", "--only", "ingest-file"],
                    env=_worker_env(api_url, redis_url, sandbox, by_shot, home),
                    cwd=ROOT,
                    stdout=log.open("wb"),  # a file: a full pipe would block the worker
                    stderr=subprocess.STDOUT,
                )
            )
        try:
            # Both warm runners poll before any file is announced, so both can get work.
            wait_for(lambda: all(POLLING in _text(log) for log in logs), 180, "two pollers")
            # The sensor's run starter on this server (the file.ready record is left out: this
            # process's events worker is bound to the test session's server).
            starter = IngestRunStarter(emit=lambda *_, **__: None)
            sensor = DeploymentDispatcher(
                DispatchLedger(local_store(tmp_path)), by_shot, start_run=starter
            )
            for path in files:
                stat = path.stat()
                assert sensor.dispatch(FileVersion(str(path), stat.st_size, stat.st_mtime_ns))
            sensor.shutdown()  # closes the starter's client

            def settled() -> list | None:
                """The ingest runs, once every file has its run and every run is final. (Not
                "once Frame.io lists every file": a file is listed from its upload's first
                call on, seconds before its run ends.)"""
                runs = _ingest_runs()
                enough = len(runs) >= FILES
                return runs if enough and all(_final(r) for r in runs) else None

            runs = wait_for(settled, 120 + 6 * FILES, f"{FILES} ingest runs, all final")
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(120)
            print(_diagnosis(logs))  # pytest shows it when the test fails
    outputs = [_text(log) for log in logs]
    names = Counter(f.name for f in all_files(_project(sandbox)))
    tree = tree_paths(_project(sandbox))
    assert len(names) == FILES and set(names.values()) == {1}, names.most_common(3)
    scenes, shots = min(10, FILES // 2), FILES // 2
    assert sorted(a.name for a in tree["SCENES"]) == [f"SC{70 + n}" for n in range(scenes)]
    assert sum(len(tree[f"SCENES/{scene.name}"]) for scene in tree["SCENES"]) == shots
    by_worker = [set(RAN.findall(out)) for out in outputs]
    assert all(by_worker) and not by_worker[0] & by_worker[1]
    # One run per file: the sensor created each once, and each ran on one worker.
    assert len(runs) == FILES, Counter(r.name for r in runs).most_common(3)
    completed = {r.id: r for r in runs if r.state_type.value == "COMPLETED"}
    assert len(completed) >= FILES
    for ran in by_worker:  # POSTFLOW_INGEST_CONCURRENCY held on each worker
        assert (
            _peak_overlap([completed[UUID(i)] for i in ran if UUID(i) in completed]) <= CONCURRENCY
        )
    # Both workers' structure-cache records are in the shared block's directory.
    # (One record per cached folder level; the flow results of the runs are stored there too.)
    records = [p for p in shared.rglob("*") if p.is_file()]
    assert len(records) >= 1 + scenes + shots, sorted(p.name for p in records)


def _ingest_runs() -> list:
    """Every run of the ingest-file deployment, started or not (an unstarted run has no
    "ingest ..." name yet); the API returns at most 200 per page."""
    deployment = DeploymentFilter(name=DeploymentFilterName(any_=["ingest-file"]))
    runs: list = []
    with get_client(sync_client=True) as client:
        while page := client.read_flow_runs(
            deployment_filter=deployment, limit=200, offset=len(runs)
        ):
            runs.extend(page)
    return runs


def _final(run) -> bool:
    return run.state is not None and run.state.is_final()


def _diagnosis(logs: list[Path]) -> str:
    """What a failure needs to explain itself: each run's state, which worker ran which run,
    and the tail of each worker's log."""
    try:
        runs = {str(r.id): r for r in _ingest_runs()}
    except Exception as exc:  # noqa: BLE001 - the report must not hide the failure
        runs, lines = {}, [f"runs: cannot read them: {exc}"]
    else:
        states = Counter(r.state_type.value if r.state_type else "NONE" for r in runs.values())
        lines = [f"{len(runs)} ingest runs: {dict(states)}"]
    for n, log in enumerate(logs):
        text = _text(log)
        ran = RAN.findall(text)
        lines.append(f"--- machine-{n} ran {len(ran)} runs:")
        for run_id in ran:
            run = runs.get(run_id)
            state = run.state_type.value if run and run.state_type else "?"
            lines.append(f"  {run_id} {run.name if run else '?'}: {state}")
        lines.append(f"--- machine-{n} log, last 40 lines:")
        lines.extend(text.splitlines()[-40:])
    return "\n".join(lines)


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _project(sandbox):
    from blocks.frameio import FrameioCredentials
    from blocks.frameio_project import FrameioProject

    credentials = FrameioCredentials(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        ims_base_url=sandbox.url,
        api_base_url=sandbox.url,
    )
    return FrameioProject(credentials.get_client(), sandbox.account_id, sandbox.project_id)
