"""P6 per-file overhead: 20 renders of 1 MB, each a new scene and shot, three ways.

Prints figures; asserts nothing. One sandbox (rate limits on, as Frame.io: folder create
3/s), reset between the ways; the time is from the first render written (or, for the floor,
from the script's first call) until all of them are complete in Frame.io (the sandbox's tree).

(a) floor: a plain script with the official ``frameio`` SDK, ``--in-flight`` (3) files at a
    time: find/create the scene and shot folders, ``files.create_local_upload``, PUT the
    parts, ``files.show_file_upload_status`` until complete. A child process, timed after
    its imports.
(b) in-process: ``postflow watch`` (the sensor ingesting in its own process, as
    ``postflow demo --in-process``), settle 1.5 s, poll 0.5 s, 3 ingests at once.
(c) served: ``postflow up`` as it is on this branch (the sensor emits events; the trigger
    starts an ``ingest-file`` run per file), the same settings.

(b) and (c) use one Prefect server started here with its access log on, so the Prefect API
requests made while the files go through are counted (``uvicorn.access`` lines between the
first write and the last completion; background polling of the runner and sensor included),
per file. Websocket connections (events) are counted once each, not per message.

``--prefect-db postgres`` puts that Prefect server on a throw-away PostgreSQL cluster (the
Debian package) instead of SQLite, as a studio's own server would be: on SQLite, Prefect
3.9.1's server sometimes stops answering for 60 s (its SQLite busy timeout) when several
writes meet, and a run where that happens measures the stall, not the pipeline.

Usage: ``.venv/bin/python benchmarks/bench_overhead.py [--files 20] [--skip-served]
[--prefect-db sqlite|postgres]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import ROOT, Row, emit, ratio, sandbox_env, sandbox_ids  # noqa: E402

SIZE_BYTES = 1_000_000
WAIT_SECONDS = 300.0


def names(files: int, tag: str) -> list[str]:
    """One new scene and shot per render."""
    return [f"SC{index + 1:02d}_{tag}_{index:05d}_V001.mov" for index in range(files)]


def complete_files(server: Any, wanted: set[str]) -> int:
    """How many of ``wanted`` are complete files in the sandbox's tree."""
    found = 0
    stack = [server.tree()["root"]]
    while stack:
        node = stack.pop()
        if node["type"] == "file":
            found += node["name"] in wanted and node["upload_complete"]
        stack.extend(node.get("children", []) + node.get("versions", []))
    return found


def wait_complete(server: Any, wanted: set[str], proc: subprocess.Popen | None) -> float:
    """``time.monotonic()`` when every one of ``wanted`` is complete.

    Raises:
        RuntimeError: ``proc`` exited, or ``WAIT_SECONDS`` went by.
    """
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if complete_files(server, wanted) >= len(wanted):
            return time.monotonic()
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process under test exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"not all of {len(wanted)} files complete after {WAIT_SECONDS:.0f} s")


# --- (a) the floor -----------------------------------------------------------------------------


def floor_child(source: Path, url: str, account: str, project: str, in_flight: int) -> None:
    """Child mode: the plain SDK script over every file in ``source``; prints its seconds."""
    import httpx
    from frameio import Frameio
    from frameio.auth import ServerToServerAuth
    from frameio.files import FileCreateLocalUploadParamsData
    from frameio.folders import FolderCreateParamsData

    from postflow.sandbox import defaults

    auth = ServerToServerAuth(
        client_id=defaults.SANDBOX_CLIENT_ID,
        client_secret=defaults.SANDBOX_CLIENT_SECRET,
        ims_base_url=url,
    )
    client = Frameio(base_url=url, token=auth.get_token)
    retry: Any = {"max_retries": 10}  # the SDK waits out 429s (Retry-After) and tries again
    started = time.monotonic()
    root = client.projects.show(account, project, request_options=retry).data.root_folder_id

    def folder(parent: str, name: str) -> str:
        for child in client.folders.index(account, parent, request_options=retry):
            if child.type == "folder" and child.name == name:
                return str(child.id)
        return str(
            client.folders.create(
                account, parent, data=FolderCreateParamsData(name=name), request_options=retry
            ).data.id
        )

    scenes = folder(root, "SCENES")

    def one(path: Path) -> None:
        scene, tag, number = path.stem.split("_")[:3]
        shot = folder(folder(scenes, scene), f"{tag}_{number}")
        data = FileCreateLocalUploadParamsData(name=path.name, file_size=path.stat().st_size)
        created = client.files.create_local_upload(
            account, shot, data=data, request_options=retry
        ).data
        offset = 0
        with path.open("rb") as handle:
            for part in created.upload_urls:
                handle.seek(offset)
                httpx.put(
                    part.url,
                    content=handle.read(part.size),
                    headers={"x-amz-acl": "private", "Content-Type": created.media_type},
                ).raise_for_status()
                offset += part.size
        status = client.files.show_file_upload_status
        while not status(account, created.id, request_options=retry).data.upload_complete:
            time.sleep(0.1)

    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(one, sorted(source.iterdir())))
    print(f"{time.monotonic() - started:.3f}", flush=True)


def floor(server: Any, work: Path, files: int, in_flight: int) -> float:
    """Seconds of the SDK floor (a child process)."""
    source = work / "floor-src"
    source.mkdir()
    for name in names(files, "FLOOR"):
        (source / name).write_bytes(os.urandom(SIZE_BYTES))
    command = [
        sys.executable,
        __file__,
        "--floor-child",
        str(source),
        server.url,
        server.account_id,
        server.project_id,
        str(in_flight),
    ]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=WAIT_SECONDS)
    if out.returncode != 0:
        raise RuntimeError(f"the SDK floor script failed: {out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


# --- (b) and (c): the sensor's two ways ----------------------------------------------------------


class AccessLog:
    """Counts the Prefect server's ``uvicorn.access`` lines from a mark on."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def counts(self) -> tuple[int, int]:
        """``(HTTP requests, websocket connections)`` since the mark."""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            lines = [
                line
                for line in handle.read().decode(errors="replace").splitlines()
                if "uvicorn.access" in line or "WebSocket" in line
            ]
        sockets = sum(1 for line in lines if "WebSocket" in line and "accepted" in line)
        return sum(1 for line in lines if "HTTP/1.1" in line), sockets


def sensor_env(server: Any, work: Path, tag: str, api_url: str) -> dict[str, str]:
    by_shot = work / f"BY_SHOT-{tag}"
    by_shot.mkdir()
    env = sandbox_env(server.url, sandbox_ids(server), work / f"state-{tag}")
    env.update(
        PREFECT_API_URL=api_url,
        POSTFLOW_WATCH_PATH=str(by_shot),
        POSTFLOW_SETTLE_SECONDS="1.5",
        POSTFLOW_POLL_INTERVAL_SECONDS="0.5",
        POSTFLOW_INGEST_CONCURRENCY="3",
        PREFECT_RUNNER_POLL_FREQUENCY="2",
        COLUMNS="160",
    )
    return env


def wait_log(log: Path, text: str, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no {text!r} in {log} (exit {proc.poll()})")
        time.sleep(0.3)


def sensor_way(
    server: Any, work: Path, files: int, tag: str, command: str, access: AccessLog, api_url: str
) -> tuple[float, int, int]:
    """``(seconds, Prefect HTTP requests, websocket connections)`` of ``postflow <command>``
    taking ``files`` renders from first write to all complete."""
    env = sensor_env(server, work, tag, api_url)
    if command == "watch":
        env["POSTFLOW_DISPATCH_MODE"] = "in_process"
    log = work / f"{command}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "postflow.cli.main", command],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_log(log, "Startup scan", proc, 240)
        time.sleep(2)  # the observer's first snapshot is taken
        wanted = names(files, tag)
        access.mark()
        started = time.monotonic()
        for name in wanted:
            (Path(env["POSTFLOW_WATCH_PATH"]) / name).write_bytes(os.urandom(SIZE_BYTES))
        done = wait_complete(server, set(wanted), proc)
        requests, sockets = access.counts()
        return done - started, requests, sockets
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM (``up`` cancels its runs), then SIGKILL the process group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def report(files: int, base: float, ways: dict[str, tuple[float, int, int]], database: str) -> None:
    emit(
        Row(
            "P6",
            f"{files} renders of 1 MB, new scene+shot each: SDK script, 3 in flight",
            f"{base:.1f} s",
            "floor",
            "1.00x",
            "floor",
        )
    )
    on = f", Prefect on {database}"
    goals = {
        "in-process": (f"postflow watch (in-process sensor{on})", "<= 1.5x floor"),
        "served": (f"postflow up (served{on})", "<= 1.2x floor (issue 20)"),
    }
    for way, (seconds, requests, sockets) in ways.items():
        label, goal = goals[way]
        emit(
            Row(
                "P6",
                f"{files} renders: {label}",
                f"{seconds:.1f} s",
                f"floor {base:.1f} s",
                ratio(seconds, base),
                goal,
            )
        )
        counted = f"{requests / files:.1f}" if requests else "n/a (not our server)"
        emit(
            Row(
                "P6",
                f"{label}: Prefect API HTTP requests per file ({sockets} websockets)",
                counted,
                "",
                "",
                "counted",
            )
        )


@contextlib.contextmanager
def prefect_database(kind: str) -> Any:
    """Environment for the Prefect server: ``{}`` (its SQLite file) or the URL of a
    throw-away PostgreSQL cluster, stopped on exit."""
    if kind == "sqlite":
        yield {}
        return
    from tests.integration.scale_out_peers import postgres_server

    with postgres_server() as url:
        yield {"PREFECT_API_DATABASE_CONNECTION_URL": url}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--in-flight", type=int, default=3)
    parser.add_argument("--skip-served", action="store_true")
    parser.add_argument("--prefect-api-url", help="a running Prefect API (no request counts)")
    parser.add_argument(
        "--prefect-db",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="the database of the Prefect server started here (postgres: a throw-away cluster)",
    )
    parser.add_argument(
        "--keep-logs", type=Path, help="copy the watch/up and Prefect server logs here"
    )
    parser.add_argument("--floor-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_child:
        source, url, account, project, in_flight = args.floor_child
        floor_child(Path(source), url, account, project, int(in_flight))
        return
    from postflow.sandbox.server import SandboxServer
    from postflow.serve.up import free_port, start_local_server, stop_server

    work = Path(tempfile.mkdtemp(prefix="postflow-bench-overhead-")).resolve()
    prefect = None
    try:
        with (
            SandboxServer(work / "sandbox", target_part_bytes=SIZE_BYTES) as server,
            prefect_database(args.prefect_db) as database,
        ):
            base = floor(server, work, args.files, args.in_flight)
            print(f"(a) SDK floor: {base:.1f} s", flush=True)
            if args.prefect_api_url:
                api_url = args.prefect_api_url
                (work / "prefect-server.log").touch()  # not ours: nothing to count
            else:
                os.environ.update(
                    PREFECT_HOME=str(work / "prefect-home"), PREFECT_SERVER_LOGGING_LEVEL="INFO"
                )
                prefect, api_url = start_local_server(
                    free_port(), work / "prefect-server.log", environment=database
                )
            access = AccessLog(work / "prefect-server.log")
            ways: dict[str, tuple[float, int, int]] = {}
            plan = [("in-process", "watch", "INPROC")]
            if not args.skip_served:
                plan.append(("served", "up", "SERVED"))
            for way, command, tag in plan:
                server.reset()
                ways[way] = sensor_way(server, work, args.files, tag, command, access, api_url)
                seconds, requests, sockets = ways[way]
                print(
                    f"({way}) postflow {command}: {seconds:.1f} s, {requests} Prefect "
                    f"requests, {sockets} websockets",
                    flush=True,
                )
        database = "PostgreSQL" if args.prefect_db == "postgres" else "SQLite"
        report(args.files, base, ways, "a running server" if args.prefect_api_url else database)
    finally:
        stop_server(prefect)
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in work.glob("*.log"):
                shutil.copy(log, args.keep_logs / log.name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
