"""Per-file cost of the ways to run an ingest: the SDK floor, in-process, and `postflow up`.

Prints one line per way: seconds from writing N renders of 1 MB (each a new scene and shot)
into BY_SHOT until all N are complete in the Frame.io sandbox, the ratio to the SDK floor, and
for `up` the Prefect API requests per file (from the server's access log). Asserts nothing.

    .venv/bin/python benchmarks/warm_path.py [--files 20] [--ways sdk,inprocess,up]
        [--checkout /path/to/other/checkout]   # `up` of another checkout too (e.g. before)

* ``sdk``: a plain script on the official SDK (through ``FrameioProject``) and the part
  uploader, 3 files in flight: find/create SCENES/<scene>/<shot>, local upload, PUTs, status.
* ``inprocess``: ``postflow watch`` (the sensor runs each ingest flow in its own process).
* ``up``: ``postflow up`` against a real Prefect server; the sensor emits events, the
  ``ingest-file`` trigger creates runs and `up` executes them.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blocks.frameio import FrameioCredentials  # noqa: E402
from blocks.frameio_project import FrameioProject  # noqa: E402
from blocks.part_uploader import Part, PartUploader  # noqa: E402
from postflow.sandbox.server import SandboxServer  # noqa: E402
from postflow.serve.up import free_port, start_local_server, stop_server  # noqa: E402
from tasks.structure.folders import resolve_folder_path  # noqa: E402

SIZE_BYTES = 1_000_000
ACCESS = re.compile(r'"(GET|POST|PATCH|PUT|DELETE) (/api/[^ ?]*)')


def _names(count: int, tag: str) -> list[str]:
    return [f"SC{tag}{n:02d}_SHOT{n:02d}_{n:05d}_V001.mov" for n in range(count)]


def _write(folder: Path, names: list[str]) -> float:
    started = time.monotonic()
    for name in names:
        (folder / name).write_bytes(os.urandom(SIZE_BYTES))
    return started


def _complete(sandbox: SandboxServer) -> int:
    return sum(
        1
        for a in sandbox.state.assets.all_assets()
        if a.type == "file" and a.upload_completed_at is not None
    )


def _wait_complete(sandbox: SandboxServer, count: int, timeout: float = 600.0) -> float:
    deadline = time.monotonic() + timeout
    while _complete(sandbox) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {_complete(sandbox)}/{count} files after {timeout:.0f} s")
        time.sleep(0.1)
    return time.monotonic()


def _sdk_one(project: FrameioProject, path: Path, scene: str, shot: str) -> None:
    folder = resolve_folder_path(project, ("SCENES", scene, shot))
    placeholder = project.create_local_upload(folder, path.name, path.stat().st_size)
    offset, parts = 0, []
    for number, url in enumerate(placeholder.upload_urls, start=1):
        parts.append(Part(number=number, url=url.url, offset=offset, size=url.size))
        offset += url.size
    PartUploader(concurrency=4).upload(str(path), parts, placeholder.media_type)
    while not project.upload_status(placeholder.id).upload_complete:
        time.sleep(0.05)


def way_sdk(sandbox: SandboxServer, base: Path, files: int) -> dict[str, float]:
    by_shot = base / "BY_SHOT"
    names = _names(files, "1")
    credentials = FrameioCredentials(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        ims_base_url=sandbox.url,
        api_base_url=sandbox.url,
    )
    project = FrameioProject(credentials.get_client(), sandbox.account_id, sandbox.project_id)
    started = _write(by_shot, names)
    with ThreadPoolExecutor(3) as pool:
        for future in [
            pool.submit(_sdk_one, project, by_shot / n, n.split("_")[0], n.split("_")[1])
            for n in names
        ]:
            future.result()
    return {"seconds": time.monotonic() - started}


def _env(base: Path, sandbox: SandboxServer, api_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTFLOW_", "PREFECT_API"))}
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_HOME=str(base / "prefect-home"),
        POSTFLOW_WATCH_PATH=str(base / "BY_SHOT"),
        POSTFLOW_STATE_DIR=str(base / "state"),
        POSTFLOW_SETTLE_SECONDS="1.0",
        POSTFLOW_POLL_INTERVAL_SECONDS="0.5",
        POSTFLOW_INGEST_CONCURRENCY="3",
        **sandbox.postflow_environment(),
        POSTFLOW_DISCORD_BLOCK="bench-absent",  # no Discord post, as in the SDK floor
        POSTFLOW_UPLOAD_STRATEGY="multipart",
        POSTFLOW_USE_PREFECT_LIMITS=os.environ.get("BENCH_PREFECT_LIMITS", "false"),
        PREFECT_RUNNER_POLL_FREQUENCY="2",
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def way_inprocess(sandbox: SandboxServer, base: Path, files: int) -> dict[str, float]:
    base = base / "inprocess"  # its own BY_SHOT: the SDK way's files are not scanned again
    (base / "BY_SHOT").mkdir(parents=True)
    env = _env(base, sandbox, None)
    env["POSTFLOW_DISPATCH_MODE"] = "in_process"
    names = _names(files, "2")
    with (base / "watch.log").open("ab") as log:
        watch = subprocess.Popen(
            [sys.executable, "-m", "postflow.cli.main", "watch"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        time.sleep(25)  # its temporary server and the first scan (not timed)
        before = _complete(sandbox)
        started = _write(base / "BY_SHOT", names)
        ended = _wait_complete(sandbox, before + files)
    finally:
        watch.terminate()
        try:
            watch.wait(60)
        except subprocess.TimeoutExpired:
            watch.kill()
            watch.wait(10)
    return {"seconds": ended - started}


def way_up(
    sandbox: SandboxServer, base: Path, files: int, checkout: Path, tag: str
) -> dict[str, float]:
    port = free_port()
    log = base / f"server-{tag}.log"
    os.environ["PREFECT_SERVER_LOGGING_LEVEL"] = "INFO"  # uvicorn access lines
    server, api_url = start_local_server(port, log)
    env = _env(base / tag, sandbox, api_url)
    (base / tag / "BY_SHOT").mkdir(parents=True)
    try:
        with (base / f"up-{tag}.log").open("ab") as up_log:
            up = subprocess.Popen(
                [sys.executable, "-m", "postflow.cli.main", "up"],
                cwd=checkout,
                env=env,
                stdout=up_log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_text(base / f"up-{tag}.log", "Serving:", 180)
            time.sleep(20)  # the sensor's flow-run process starts and scans (not timed)
            mark = len(log.read_bytes())
            before = _complete(sandbox)
            started = _write(base / tag / "BY_SHOT", _names(files, str(3 + int(tag[1:]))))
            ended = _wait_complete(sandbox, before + files)
            calls = Counter(m.group(2) for m in ACCESS.finditer(log.read_text()[mark:]))
        finally:
            up.terminate()
            up.wait(120)
    finally:
        stop_server(server)
    total = sum(calls.values())
    top = ", ".join(f"{path} {n}" for path, n in calls.most_common(6))
    print(f"    API requests during the run: {total} ({top})")
    return {"seconds": ended - started, "api_per_file": total / files}


def _wait_text(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{text!r} not in {path} after {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--ways", default="sdk,inprocess,up")
    parser.add_argument("--checkout", type=Path, action="append", default=[])
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="postflow-warm-bench-"))
    (base / "BY_SHOT").mkdir()
    results: dict[str, dict[str, float]] = {}
    with SandboxServer(base / "sandbox", target_part_bytes=1_000_000) as sandbox:
        os.environ["PREFECT_HOME"] = str(base / "prefect-home")
        ways = args.ways.split(",")
        if "sdk" in ways:
            results["sdk floor"] = way_sdk(sandbox, base, args.files)
        if "inprocess" in ways:
            results["in-process (postflow watch)"] = way_inprocess(sandbox, base, args.files)
        if "up" in ways:
            for n, checkout in enumerate([ROOT, *args.checkout]):
                tag = f"u{n}"
                results[f"postflow up ({checkout})"] = way_up(
                    sandbox, base, args.files, checkout, tag
                )
    floor = results.get("sdk floor", {}).get("seconds")
    print(f"\n{args.files} renders of 1 MB, each a new scene and shot (log dir {base})")
    for way, figures in results.items():
        ratio = f"{figures['seconds'] / floor:.2f}x floor" if floor else ""
        calls = (
            f", {figures['api_per_file']:.0f} Prefect API calls/file"
            if "api_per_file" in figures
            else ""
        )
        print(f"  {way:<60} {figures['seconds']:6.1f} s  {ratio}{calls}")


if __name__ == "__main__":
    main()
