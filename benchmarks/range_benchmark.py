"""Range-server benchmark: our Starlette/uvicorn server vs nginx (sendfile), curl as the client.

Prints figures; asserts nothing. Both servers serve the same file (page cache warm unless
stated) on loopback:

1. one full GET (GB/s, and the ratio to nginx);
2. ``--parallel`` (8) concurrent Range GETs covering the file, wall time -> aggregate GB/s;
3. time to first byte: curl's ``time_starttransfer`` (response headers), and the first *body*
   byte read by a raw socket, with the file in page cache (warm) and evicted with
   ``posix_fadvise(DONTNEED)`` (cold);
4. each Range server's peak RSS growth during all of that (each runs in its own child
   process, started before the measurements).

The servers run side by side and are measured in interleaved rounds (best of ``--runs``), so
a slow moment of the machine hits all of them alike.

The Range server runs once per ``--chunk-kib`` value (default 64 = Starlette's default, and
1024 = ours). nginx (Debian ``nginx-light``) runs as a non-daemon with a generated config in a
temp dir.

Usage: ``.venv/bin/python benchmarks/range_benchmark.py [--size-mib 1024] [--runs 5]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import Row, emit  # noqa: E402

from blocks.range_server import RangeServer  # noqa: E402

MIB = 1 << 20
NGINX_CONF = """daemon off;
worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {tmp}/body;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_file(path: Path, size: int) -> None:
    block = os.urandom(8 * MIB)
    with path.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)
        handle.write(block[: size % len(block)])
        handle.flush()
        os.fsync(handle.fileno())  # no writeback competing with the measurements
    path.chmod(0o644)


def warm(path: Path) -> None:
    with path.open("rb") as handle:
        while handle.read(8 * MIB):
            pass


def evict(path: Path) -> None:
    with path.open("rb") as handle:
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


@contextmanager
def nginx(tmp: Path, file: Path) -> Iterator[str]:
    """nginx serving ``file`` at the returned URL until the block exits."""
    (tmp / "www").mkdir()
    os.link(file, tmp / "www" / file.name)
    port = free_port()
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=port))
    proc = subprocess.Popen(
        ["nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf")], stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"nginx did not start: {proc.stderr.read() if proc.stderr else ''}")
        yield f"http://127.0.0.1:{port}/{file.name}"
    finally:
        proc.terminate()
        proc.wait(10)


def curl(url: str, byte_range: str | None = None) -> tuple[int, float, float]:
    """(bytes, total seconds, seconds to first response byte) of one curl GET."""
    command = [
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download} %{time_total} %{time_starttransfer}",
        url,
    ]
    if byte_range:
        command[1:1] = ["-r", byte_range]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def full_get_gbps(url: str) -> float:
    size, seconds, _ = curl(url)
    return size / seconds / 1e9


def parallel_gbps(url: str, size: int, parallel: int) -> float:
    step = -(-size // parallel)
    ranges = [f"{start}-{min(start + step, size) - 1}" for start in range(0, size, step)]
    started = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-r", r, url]) for r in ranges]
    if any(p.wait() for p in procs):
        raise RuntimeError("a parallel curl failed")
    return size / (time.perf_counter() - started) / 1e9


def first_body_byte_ms(url: str) -> float:
    """Milliseconds from connect to the first body byte of a full GET (raw socket)."""
    parts = urlsplit(url)
    started = time.perf_counter()
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received or received.endswith(b"\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed before the body")
            received += chunk
        return (time.perf_counter() - started) * 1000


def ttfb(url: str, file: Path, runs: int) -> tuple[float, float, float]:
    """(curl header TTFB warm, first body byte warm, first body byte cold), median ms."""
    warm(file)
    header = statistics.median(curl(url, "0-0")[2] * 1000 for _ in range(runs))
    body_warm = statistics.median(first_body_byte_ms(url) for _ in range(runs))
    cold = []
    for _ in range(runs):
        evict(file)
        cold.append(first_body_byte_ms(url))
    warm(file)
    return header, body_warm, statistics.median(cold)


class PeakRss:
    """Sample a process's RSS every 20 ms while in the block; ``growth_mb`` over its start."""

    def __init__(self, process: psutil.Process) -> None:
        self.process, self.stop = process, threading.Event()
        self.start = self.peak = process.memory_info().rss
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 1e6


@contextmanager
def range_server_process(file: Path, kib: int) -> Iterator[tuple[str, psutil.Process]]:
    """A Range server in a child process (its RSS is its own); yields (URL, process)."""
    command = [sys.executable, __file__, "--serve", str(file), "--chunk-kib", str(kib)]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        yield proc.stdout.readline().strip(), psutil.Process(proc.pid)
    finally:
        proc.stdin.close()  # the child serves until its stdin closes
        proc.wait(10)


def serve(file: Path, kib: int) -> None:
    """Child mode: serve ``file``, print its URL, stop when stdin closes."""
    with RangeServer(chunk_bytes=kib * 1024) as server:
        print(server.share(file).local_url, flush=True)
        sys.stdin.read()


Server = tuple[str, str, "psutil.Process | None"]


def measure(servers: list[Server], file: Path, args: argparse.Namespace) -> list[dict]:
    """Measure every server, interleaved round by round (best of ``runs``), so a slow moment
    of the machine hits all of them alike."""
    size = file.stat().st_size
    rows = [{"label": label, "full": 0.0, "parallel": 0.0} for label, _, _ in servers]
    with ExitStack() as stack:
        peaks = [stack.enter_context(PeakRss(p)) if p else None for _, _, p in servers]
        warm(file)
        for _ in range(args.runs):
            for row, (_, url, _) in zip(rows, servers, strict=True):
                row["full"] = max(row["full"], full_get_gbps(url))
        for _ in range(args.runs):
            for row, (_, url, _) in zip(rows, servers, strict=True):
                row["parallel"] = max(row["parallel"], parallel_gbps(url, size, args.parallel))
    for row, peak in zip(rows, peaks, strict=True):
        row["rss"] = peak.growth_mb if peak else None
    for row, (_, url, _) in zip(rows, servers, strict=True):
        row["header"], row["body_warm"], row["body_cold"] = ttfb(url, file, max(args.runs, 5))
    return rows


def report(rows: list[dict], args: argparse.Namespace, workers: int) -> None:
    base = rows[0]
    print(
        f"\nRange serving on loopback: {args.size_mib} MiB file, curl client, best of "
        f"{args.runs} (throughput) / median (TTFB); nginx {workers} workers with sendfile; "
        f"range server = Starlette FileResponse on uvicorn, one event loop.\n"
    )
    head = (
        f"{'server':<24}{'full GET':>16}{f'{args.parallel}x Range GET':>18}"
        f"{'TTFB hdr':>10}{'1st body warm':>15}{'1st body cold':>15}{'RSS +MB':>9}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        ratio = "" if row is base else f" {row['full'] / base['full']:.2f}x"
        pratio = "" if row is base else f" {row['parallel'] / base['parallel']:.2f}x"
        rss = "-" if row["rss"] is None else f"{row['rss']:.0f}"
        print(
            f"{row['label']:<24}{row['full']:>9.2f} GB/s{ratio:>6}"
            f"{row['parallel']:>9.2f} GB/s{pratio:>6}{row['header']:>7.2f} ms"
            f"{row['body_warm']:>12.2f} ms{row['body_cold']:>12.2f} ms{rss:>9}"
        )
    print("\n(ratios are to nginx; TTFB hdr = curl time_starttransfer; cold = page cache evicted)")
    for row in rows[1:]:
        label = row["label"]
        emit(
            Row(
                "P3",
                f"{label}: full GET ({args.size_mib} MiB)",
                f"{row['full']:.2f} GB/s",
                f"nginx {base['full']:.2f} GB/s",
                f"{row['full'] / base['full']:.2f}x",
                ">= 0.9x nginx",
            )
        )
        emit(
            Row(
                "P3",
                f"{label}: {args.parallel} parallel Range GETs",
                f"{row['parallel']:.2f} GB/s",
                f"nginx {base['parallel']:.2f} GB/s",
                f"{row['parallel'] / base['parallel']:.2f}x",
                "-",
            )
        )
        emit(
            Row(
                "P3",
                f"{label}: first body byte, cold cache",
                f"{row['body_cold']:.1f} ms",
                f"nginx {base['body_cold']:.1f} ms",
                f"{row['body_cold'] / base['body_cold']:.2f}x",
                "-",
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--chunk-kib", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.chunk_kib[0])
        return
    if not shutil.which("nginx") or not shutil.which("curl"):
        sys.exit("needs nginx (Debian package nginx-light) and curl on PATH")
    tmp = Path(tempfile.mkdtemp(prefix="postflow-range-bench-"))
    tmp.chmod(0o755)  # nginx workers may run as another user
    try:
        file = tmp / "bench.mov"
        make_file(file, args.size_mib * MIB)
        with ExitStack() as stack:
            servers: list[Server] = [
                ("nginx (sendfile)", stack.enter_context(nginx(tmp, file)), None)
            ]
            for kib in args.chunk_kib:
                url, process = stack.enter_context(range_server_process(file, kib))
                servers.append((f"range server {kib} KiB", url, process))
            rows = measure(servers, file, args)
        report(rows, args, os.cpu_count() or 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
