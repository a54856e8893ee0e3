"""Upload benchmark: our multipart upload vs curl PUTs of the same parts, and peak RSS.

Prints figures; asserts nothing. Everything runs on loopback against the Frame.io sandbox,
started as a separate process (so its CPU and memory are not counted as ours).

1. Throughput: a 1 GiB file through ``tasks.upload.run.run_upload`` (the ingest's own
   upload code: create, streaming part PUTs, status check) vs ``curl -T`` of the same parts
   (pre-cut part files, the same number of PUTs in flight) to the same sandbox. Goal: ratio
   >= 0.9.
2. Memory: peak RSS of a child process uploading a 200 MiB and a 2 GiB file. Goal: flat in file
   size, <= 300 MB.

Usage: ``.venv/bin/python benchmarks/upload_benchmark.py [--size-mib 1024] [--runs 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_common import Row, curl_put_all, emit  # noqa: E402

MIB = 1 << 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_file(path: Path, size: int) -> None:
    block = os.urandom(MIB)
    with path.open("wb") as handle:
        for _ in range(size // MIB):
            handle.write(block)
        handle.write(block[: size % MIB])


def start_sandbox(data_dir: Path, part_bytes: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "postflow.cli.main",
        "sandbox",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--target-part-bytes",
        str(part_bytes),
        "--no-rate-limits",
    ]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/_sandbox/stats", timeout=1.0)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"sandbox did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def child_env(url: str, state: Path, concurrency: int) -> dict[str, str]:
    from postflow.sandbox import defaults

    return {
        **os.environ,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "POSTFLOW_FRAMEIO_API_BASE_URL": url,
        "POSTFLOW_FRAMEIO_IMS_BASE_URL": url,
        "POSTFLOW_FRAMEIO_ACCOUNT_ID": defaults.SANDBOX_ACCOUNT_ID,
        "POSTFLOW_FRAMEIO_PROJECT_ID": defaults.SANDBOX_PROJECT_ID,
        "POSTFLOW_FRAMEIO_CLIENT_ID": defaults.SANDBOX_CLIENT_ID,
        "POSTFLOW_FRAMEIO_CLIENT_SECRET": defaults.SANDBOX_CLIENT_SECRET,
        "POSTFLOW_FRAMEIO_CREDENTIALS_BLOCK": "postflow-benchmark-none",
        "POSTFLOW_UPLOAD_PART_CONCURRENCY": str(concurrency),
        "POSTFLOW_STATE_DIR": str(state),
        "PREFECT_HOME": str(state / "prefect"),
    }


def run_ours(
    url: str, path: Path, name: str, state: Path, concurrency: int, checksum: bool
) -> dict:
    """Upload in a child process (clean RSS); returns its JSON report."""
    env = child_env(url, state, concurrency)
    command = [sys.executable, __file__, "--child", str(path), "--name", name]
    if not checksum:
        command.append("--no-checksum")
    out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(path: str, name: str, checksum: bool) -> None:
    """Child process: one upload through the pipeline's upload code; prints a JSON report."""
    from blocks.frameio import FrameioCredentials
    from blocks.frameio_project import FrameioProject
    from config.settings import PostflowSettings
    from tasks.structure.folders import resolve_folder_path
    from tasks.structure.naming import load_nomenclature
    from tasks.upload.job import UploadJob
    from tasks.upload.run import run_upload

    settings = PostflowSettings()
    credentials = FrameioCredentials(  # not a saved block: no Prefect API needed in the child
        client_id=settings.frameio_client_id,
        client_secret=settings.frameio_client_secret,
        ims_base_url=settings.frameio_ims_base_url,
        api_base_url=settings.frameio_api_base_url,
    )
    project = FrameioProject(
        credentials.get_client(), settings.frameio_account_id, settings.frameio_project_id
    )
    nomenclature = load_nomenclature()
    shot = nomenclature.parse(name)
    folder_id = resolve_folder_path(project, shot.folder_path)
    start = time.perf_counter()
    job = UploadJob(path, shot, folder_id, nomenclature, settings, checksum=checksum)
    result = run_upload(project, job)
    seconds = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "transfer_seconds": result.seconds,
                "bytes": result.size_bytes,
                "parts": result.parts,
                "peak_rss_mb": peak_mb,
                "strategy": result.strategy,
            }
        )
    )


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM) in MB. Unlike ``ru_maxrss``, VmHWM belongs to
    the address space made by exec, so it does not inherit the parent's high-water mark."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def warm_page_cache(path: Path) -> None:
    """Read the file once in 1 MiB blocks so every run starts from the page cache."""
    with path.open("rb") as handle:
        while handle.read(MIB):
            pass


def run_curl(url: str, path: Path, work: Path, concurrency: int) -> dict:
    """Create the same kind of upload via the SDK, then PUT pre-cut parts with curl."""
    from frameio import Frameio
    from frameio.auth import ServerToServerAuth
    from frameio.files import FileCreateLocalUploadParamsData

    from postflow.sandbox import defaults

    auth = ServerToServerAuth(
        client_id=defaults.SANDBOX_CLIENT_ID,
        client_secret=defaults.SANDBOX_CLIENT_SECRET,
        ims_base_url=url,
    )
    client = Frameio(base_url=url, token=auth.get_token)
    root = client.projects.show(defaults.SANDBOX_ACCOUNT_ID, defaults.SANDBOX_PROJECT_ID)
    size = path.stat().st_size
    created = client.files.create_local_upload(
        defaults.SANDBOX_ACCOUNT_ID,
        root.data.root_folder_id,
        data=FileCreateLocalUploadParamsData(name=f"curl-{time.time_ns()}.mov", file_size=size),
    ).data
    parts, offset = [], 0
    with path.open("rb") as source:
        for index, item in enumerate(created.upload_urls):
            part = work / f"part{index}"
            with part.open("wb") as out:
                shutil.copyfileobj(_limited(source, item.size), out, MIB)
            parts.append((part, item.url))
            offset += item.size
    content_type = created.media_type or "application/octet-stream"

    seconds = curl_put_all(parts, content_type, concurrency)
    for part, _ in parts:
        part.unlink()
    return {"seconds": seconds, "bytes": size, "parts": len(parts)}


def _limited(handle, count: int):
    class Limited:
        def __init__(self) -> None:
            self.left = count

        def read(self, n: int = -1) -> bytes:
            n = self.left if n < 0 else min(n, self.left)
            data = handle.read(n)
            self.left -= len(data)
            return data

    return Limited()


def emit_throughput(rows: list[tuple[dict, dict, dict]], args: argparse.Namespace) -> None:
    """The sandbox run's rows for ``make bench`` (best of the runs, curl as the peer)."""
    curl = max(c["bytes"] / c["seconds"] for c, _, _ in rows) / 1e9
    ours = max(s["bytes"] / s["transfer_seconds"] for _, _, s in rows) / 1e9
    task = max(s["bytes"] / s["seconds"] for _, _, s in rows) / 1e9
    where = f"{args.size_mib} MiB, {args.concurrency} in flight, sandbox"
    emit(
        Row(
            "P1",
            f"upload ours + xxh3 transfer ({where})",
            f"{ours:.2f} GB/s",
            f"curl {curl:.2f} GB/s",
            f"{ours / curl:.2f}x",
            ">= 0.9x curl",
        )
    )
    emit(
        Row(
            "P1",
            "upload ours + xxh3, whole task incl. create/status/stack calls",
            f"{task:.2f} GB/s",
            f"curl {curl:.2f} GB/s",
            f"{task / curl:.2f}x",
            "-",
        )
    )
    peak = max(s["peak_rss_mb"] for _, _, s in rows)
    emit(Row("P1", f"peak RSS of that upload ({where})", f"{peak:.0f} MB", "", "", "<= 300 MB"))


def one_run(
    run: int, url: str, source: Path, work: Path, args: argparse.Namespace
) -> tuple[dict, dict, dict]:
    """``(curl, ours, ours + xxh3)`` reports of one round; each goes first in turn, so the
    sandbox's growing store does not always slow the same one."""
    jobs = {
        "curl": lambda: run_curl(url, source, work, args.concurrency),
        "ours": lambda: run_ours(
            url, source, f"SC01_BENCH_{run:05d}_V001.mov", work, args.concurrency, False
        ),
        "summed": lambda: run_ours(
            url, source, f"SC01_BENCHSUM_{run:05d}_V001.mov", work, args.concurrency, True
        ),
    }
    order = list(jobs)[run % 3 :] + list(jobs)[: run % 3]
    done = {name: jobs[name]() for name in order}
    return done["curl"], done["ours"], done["summed"]


def sandbox_dir(work: Path, args: argparse.Namespace) -> Path:
    """Where the sandbox stores the parts: RAM (/dev/shm) when it has room for every upload
    of the run, so the disk's writeback of earlier uploads does not slow the later ones (S3
    does not write to this machine's disk either); else ``work``."""
    need = (
        (3 * args.runs * args.size_mib + sum(int(s) for s in args.rss_sizes_mib.split(",") if s))
        * MIB
        * 1.2
    )
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > need:
        return Path(tempfile.mkdtemp(prefix="postflow-bench-sandbox-", dir=shm))
    return work / "sandbox"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--part-mib", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rss-sizes-mib", default="200,2048")
    parser.add_argument("--child")
    parser.add_argument("--name", default="SC01_BENCH_00001_V001.mov")
    parser.add_argument("--no-checksum", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.name, not args.no_checksum)
        return
    work = Path(tempfile.mkdtemp(prefix="postflow-bench-"))
    data = sandbox_dir(work, args)
    sandbox, url = start_sandbox(data, args.part_mib * MIB)
    try:
        source = work / "source.mov"
        make_file(source, args.size_mib * MIB)
        warm_page_cache(source)
        rows = []
        for run in range(args.runs):
            curl, ours, summed = one_run(run, url, source, work, args)
            rows.append((curl, ours, summed))
            print(
                f"run {run + 1}: curl {curl['bytes'] / curl['seconds'] / 1e9:.2f} GB/s | ours "
                f"{ours['bytes'] / ours['seconds'] / 1e9:.2f} GB/s | ours+xxh3 "
                f"{summed['bytes'] / summed['seconds'] / 1e9:.2f} GB/s ({ours['parts']} parts)"
            )
        ratio = statistics.median(c["seconds"] / o["transfer_seconds"] for c, o, _ in rows)
        ratio_task = statistics.median(c["seconds"] / o["seconds"] for c, o, _ in rows)
        ratio_sum = statistics.median(c["seconds"] / s["transfer_seconds"] for c, _, s in rows)
        print(
            f"\nThroughput ratio ours/curl (median of {args.runs}, {args.size_mib} MiB, "
            f"{args.concurrency} PUTs in flight): transfer {ratio:.2f} (goal >= 0.9); "
            f"whole upload task incl. create/status/stack calls {ratio_task:.2f}; "
            f"transfer with the XXH3-128 fingerprint {ratio_sum:.2f}"
        )
        emit_throughput(rows, args)
        source.unlink()
        for size_mib in (int(s) for s in args.rss_sizes_mib.split(",") if s):
            path = work / f"rss-{size_mib}.mov"
            make_file(path, size_mib * MIB)
            report = run_ours(
                url, path, f"SC01_RSS_{size_mib:05d}_V001.mov", work, args.concurrency, True
            )
            print(
                f"Peak RSS uploading {size_mib} MiB: {report['peak_rss_mb']:.0f} MB "
                f"({report['bytes'] / report['seconds'] / 1e9:.2f} GB/s, {report['parts']} parts)"
            )
            emit(
                Row(
                    "P1",
                    f"peak RSS uploading {size_mib} MiB to the sandbox",
                    f"{report['peak_rss_mb']:.0f} MB",
                    "",
                    "",
                    "flat in file size, <= 300 MB",
                )
            )
            path.unlink()
    finally:
        sandbox.terminate()
        sandbox.wait(10)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
