"""P4 detection and polling cost: latency from last write to ingest start, CPU of one poll of a
BY_SHOT holding 10,000 files, and the sensor's RSS slope over a run.

Prints figures; asserts nothing.

1. Latency: the real watch loop (``tasks.sensor.watch_loop.run_watch_loop`` over a
   ``tasks.sensor.watch_folder.WatchFolder`` and an ``InProcessDispatcher``, polling observer, as
   the
   sensor builds them) on a temp BY_SHOT, settle ``--settle-seconds``; each ingest uploads the
   file to the sandbox (``run_upload``). A writer writes ``--detect-files`` movies in pieces;
   the figure is the time from each file's last write to its ingest starting. Goal: <= settle
   + 2 s.
2. Poll CPU: ``--files`` movies over 20 scene folders, every one already in the dispatch
   ledger (a BY_SHOT after a backfill). Process CPU time (``time.process_time``: every thread,
   the polling observer's snapshot included) of the startup scan + first poll, and of one
   steady poll cycle (observer snapshot + ``poll_once``) averaged over ``--poll-window``
   seconds. Goal: <= 1 s. Also the CPU per file of making new files ready (stat, two tail
   reads, the container check with ffprobe), over 300 new files.
3. RSS: ``postflow watch`` (this checkout, a subprocess, with its own temporary Prefect
   server) on the same 10k-file BY_SHOT against the sandbox, a new render every 10 s, for
   ``--rss-minutes``; its RSS sampled every 2 s, the slope fitted over the samples after the
   first third. Goal: flat. ``--rss-minutes 30`` is the long run.

Usage: ``.venv/bin/python benchmarks/bench_detection.py [--files 10000] [--rss-minutes 2.5]``
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402
from bench_common import ROOT, Row, emit, sandbox_env, sandbox_ids  # noqa: E402
from soak_files import Media  # noqa: E402

from blocks.store import local_store  # noqa: E402
from blocks.store.legacy import import_state_dir  # noqa: E402
from postflow.sandbox.server import SandboxServer  # noqa: E402
from tasks.sensor.completeness import container_incomplete  # noqa: E402
from tasks.sensor.dispatch import InProcessDispatcher  # noqa: E402
from tasks.sensor.ledger import DispatchLedger  # noqa: E402
from tasks.sensor.watch_folder import WatchFolder  # noqa: E402
from tasks.sensor.watch_loop import run_watch_loop  # noqa: E402

SCENES = 20


def cpu_seconds() -> float:
    """CPU time of this process (every thread) and of its waited-for children (ffprobe)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def movie_name(index: int, version: int = 1) -> str:
    """``SC07_SH_00421_V001.mov``-style names spread over the 20 scenes."""
    return f"SC{index % SCENES + 1:02d}_SH_{index:05d}_V{version:03d}.mov"


def make_tree(root: Path, count: int, data: bytes, first: int = 0) -> list[Path]:
    """``count`` movies, ``root/SCnn/<name>``; returns their paths."""
    paths = []
    for index in range(first, first + count):
        name = movie_name(index)
        folder = root / name[:4]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def seed_ledger(state: Path, root: Path, paths: list[Path]) -> None:
    """Record every path as finished in the state store of ``state``, as after a backfill: one
    bulk import of an earlier version's ledger file (``dispatched.jsonl``), not a transaction
    a file."""
    ledger = state / "dispatched.jsonl"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    with ledger.open("a") as handle:
        for path in paths:
            info = path.stat()
            key = f"{os.path.relpath(path, root)}:{info.st_size}:{info.st_mtime_ns}"
            handle.write(f'{{"key": "{key}", "event": "finished", "ok": true, "at": 0}}\n')
    import_state_dir(local_store(state), state)


def watch_folder(root: Path, state: Path, settle: float, poll: float) -> WatchFolder:
    """A watch folder as the sensor builds it, with its ledger in the state store of
    ``state``, dispatching to a no-op ingest."""
    ledger = DispatchLedger(local_store(state))
    dispatcher = InProcessDispatcher(ledger, root, 2, ingest=lambda _p: None)
    return WatchFolder(
        root,
        dispatcher.dispatch,
        skip=dispatcher.already_sent,
        settle_seconds=settle,
        poll_interval_seconds=poll,
        completeness=container_incomplete,
    )


def poll_cpu(root: Path, state: Path, window: float, poll: float) -> tuple[float, float, int]:
    """``(startup scan + first poll CPU s, steady poll cycle CPU s, cycles)`` for a BY_SHOT
    whose files are all in the ledger."""
    folder = watch_folder(root, state, 30.0, poll)
    cpu = cpu_seconds()
    folder.start()
    folder.poll_once()
    startup = cpu_seconds() - cpu
    try:
        time.sleep(poll)  # the observer's first snapshot diff is behind us
        cpu, started = cpu_seconds(), time.monotonic()
        while time.monotonic() - started < window:
            folder.poll_once()
            time.sleep(poll)
        cycles = max(1, round((time.monotonic() - started) / poll))
        steady = (cpu_seconds() - cpu) / cycles
    finally:
        folder.stop()
    return startup, steady, cycles


def readiness_cpu_per_file(work: Path, media: Media, count: int) -> float:
    """CPU seconds per file of making ``count`` new movies ready (settle 0)."""
    root = work / "cold"
    make_tree(root, count, media.make(4096))
    folder = watch_folder(root, work / "cold-state", 0.0, 0.2)
    ready = 0
    cpu = cpu_seconds()
    folder.scan()  # no observer: the scan queues them, the polls decide
    for _ in range(10):
        ready += len(folder.poll_once())
        if ready >= count:
            break
    return (cpu_seconds() - cpu) / max(ready, 1)


def _uploader(server: SandboxServer, state: Path, started: dict[str, float]):
    """An ingest callable: note when it starts, then upload the file to the sandbox."""
    from blocks.frameio import FrameioCredentials
    from blocks.frameio_project import FrameioProject
    from config.settings import PostflowSettings
    from tasks.structure.folders import resolve_folder_path
    from tasks.structure.naming import load_nomenclature
    from tasks.upload.job import UploadJob
    from tasks.upload.run import run_upload

    settings = PostflowSettings(state_dir=state)
    credentials = FrameioCredentials(
        client_id=server.client_id,
        client_secret=server.client_secret,
        ims_base_url=server.url,
        api_base_url=server.url,
    )
    project = FrameioProject(credentials.get_client(), server.account_id, server.project_id)
    nomenclature = load_nomenclature()

    def ingest(path: str) -> bool:
        started[path] = time.monotonic()
        shot = nomenclature.parse(path)
        folder_id = resolve_folder_path(project, shot.folder_path)
        run_upload(project, UploadJob(path, shot, folder_id, nomenclature, settings))
        return True

    return ingest


def latencies(work: Path, media: Media, count: int, settle: float, poll: float) -> list[float]:
    """Seconds from each file's last write to its ingest start (see the module doc)."""
    root = work / "detect"
    root.mkdir()
    started: dict[str, float] = {}
    last_write: dict[str, float] = {}
    with SandboxServer(work / "sandbox-detect") as server:
        ledger = DispatchLedger(local_store(work / "detect-state"))
        ingest = _uploader(server, work / "detect-state", started)
        dispatcher = InProcessDispatcher(ledger, root, 2, ingest=ingest)
        folder = WatchFolder(
            root,
            dispatcher.dispatch,
            skip=dispatcher.already_sent,
            settle_seconds=settle,
            poll_interval_seconds=poll,
            completeness=container_incomplete,
        )

        def write() -> None:
            for index in range(count):
                data = media.make(200_000)
                path = root / movie_name(90000 + index)
                with path.open("wb") as handle:
                    for piece in range(4):
                        handle.write(data[piece * len(data) // 4 : (piece + 1) * len(data) // 4])
                        handle.flush()
                        time.sleep(0.25)
                last_write[str(path)] = time.monotonic()
                time.sleep(random.uniform(0.2, 1.0))

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        run_watch_loop(
            folder,
            dispatcher,
            poll_interval_seconds=poll,
            stop_after_files=count,
            max_runtime_seconds=count * 3 + settle + 60,
        )
        writer.join()
    return [started[p] - last_write[p] for p in last_write if p in started]


def rss_run(
    work: Path, root: Path, media: Media, minutes: float, settle: float, api_url: str | None
) -> list[tuple[float, float]]:
    """``[(seconds, RSS MB)]`` of ``postflow watch`` on ``root`` (see the module doc)."""
    state = work / "rss-state"
    # The steady run's ledger, imported by `postflow watch` at its start (the store's migration).
    state.mkdir(parents=True, exist_ok=True)
    shutil.copy(work / "steady-state" / "dispatched.jsonl.imported", state / "dispatched.jsonl")
    with SandboxServer(work / "sandbox-rss", rate_limits=False) as server:
        env = sandbox_env(server.url, sandbox_ids(server), state)
        env.update(
            POSTFLOW_WATCH_PATH=str(root),
            POSTFLOW_SETTLE_SECONDS=str(settle),
            POSTFLOW_POLL_INTERVAL_SECONDS="1",
        )
        if api_url:  # else `postflow watch` starts its own temporary Prefect server
            env["PREFECT_API_URL"] = api_url
        log = (work / "watch.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "postflow.cli.main", "watch"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        samples: list[tuple[float, float]] = []
        try:
            deadline = time.monotonic() + 240
            while b"Startup scan" not in (work / "watch.log").read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"postflow watch did not start; see {work / 'watch.log'}")
                time.sleep(0.5)
            watcher = psutil.Process(proc.pid)
            started = time.monotonic()
            next_file, index = started, 0
            while (now := time.monotonic()) - started < minutes * 60:
                if now >= next_file:
                    make_tree(root, 1, media.make(100_000), first=80000 + index)
                    index, next_file = index + 1, next_file + 10
                samples.append((now - started, watcher.memory_info().rss / 1e6))
                time.sleep(2)
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    return samples


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS over time, MB per minute, after the first third."""
    tail = samples[len(samples) // 3 :]
    if len(tail) < 3:
        return 0.0
    xs = [t / 60 for t, _ in tail]
    ys = [mb for _, mb in tail]
    return statistics.linear_regression(xs, ys).slope


def rss_report(work: Path, root: Path, media: Media, args: argparse.Namespace) -> None:
    """The RSS run (:func:`rss_run`) and its row."""
    (work / "rss-state").mkdir()
    samples = rss_run(
        work, root, media, args.rss_minutes, args.settle_seconds, args.prefect_api_url
    )
    slope = slope_mb_per_min(samples)
    first, last = samples[len(samples) // 3][1], samples[-1][1]
    print(
        f"watch RSS: {samples[0][1]:.0f} MB at start, {first:.0f} MB after a third, "
        f"{last:.0f} MB at the end; slope {slope:+.2f} MB/min",
        flush=True,
    )
    emit(
        Row(
            "P4",
            f"postflow watch RSS slope, {args.files} files, {args.rss_minutes:g} min "
            "(a render every 10 s)",
            f"{slope:+.2f} MB/min",
            f"RSS {first:.0f} -> {last:.0f} MB",
            "",
            "flat (~0 MB/min)",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--detect-files", type=int, default=5)
    parser.add_argument("--settle-seconds", type=float, default=2.0)
    parser.add_argument("--poll-seconds", type=float, default=0.5)
    parser.add_argument("--poll-window", type=float, default=10.0)
    parser.add_argument("--cold-files", type=int, default=300)
    parser.add_argument("--rss-minutes", type=float, default=2.5, help="0: no RSS run")
    parser.add_argument("--prefect-api-url", help="for the RSS run (default: its own server)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="postflow-bench-detect-")).resolve()
    try:
        media = Media(random.Random(10))
        ages = latencies(work, media, args.detect_files, args.settle_seconds, args.poll_seconds)
        goal = args.settle_seconds + 2
        print(f"last write -> ingest start: {', '.join(f'{a:.2f}' for a in ages)} s", flush=True)
        emit(
            Row(
                "P4",
                f"last write -> ingest start, max of {len(ages)} (settle "
                f"{args.settle_seconds:g} s, poll {args.poll_seconds:g} s)",
                f"{max(ages):.2f} s",
                f"settle + 2 s = {goal:g} s",
                f"{max(ages) / goal:.2f}x",
                "<= 1.0x (settle + 2 s)",
            )
        )
        root = work / "BY_SHOT"
        paths = make_tree(root, args.files, media.make(4096))
        seed_ledger(work / "steady-state", root, paths)
        startup, steady, cycles = poll_cpu(root, work / "steady-state", args.poll_window, 1.0)
        print(
            f"{args.files} files: startup {startup:.3f} s CPU; poll {steady:.3f} s CPU "
            f"(mean of {cycles} cycles)",
            flush=True,
        )
        emit(
            Row(
                "P4",
                f"CPU of one poll, BY_SHOT of {args.files} sent files (observer "
                "snapshot + poll_once)",
                f"{steady:.3f} s",
                "budget 1 s",
                f"{steady:.2f}x",
                "<= 1 s",
            )
        )
        emit(
            Row(
                "P4",
                f"CPU of startup scan + first poll, {args.files} sent files",
                f"{startup:.3f} s",
                "budget 1 s",
                f"{startup:.2f}x",
                "-",
            )
        )
        per_file = readiness_cpu_per_file(work, media, args.cold_files)
        emit(
            Row(
                "P4",
                f"CPU per new file made ready (stat, 2 tail reads, container check; "
                f"{args.cold_files} files)",
                f"{per_file * 1000:.1f} ms",
                "",
                "",
                "-",
            )
        )
        if args.rss_minutes > 0:
            rss_report(work, root, media, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
