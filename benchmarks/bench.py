"""``make bench``: run every benchmark and print ONE table of figures, peers, ratios and goals.

Each section is its own script, run here as a subprocess (its own interpreter, environment
and temp dirs); each prints ``BENCH-ROW`` lines (:mod:`bench_common`) that end up in the table.
Nothing is asserted: a figure off its goal is for a human to read. A section that fails gets
a row saying so, and the others still run.

| section | script | what |
|---|---|---|
| P1/P2 | upload_benchmark.py | our upload vs curl to the sandbox; peak RSS |
| P1/P2 | bench_upload_sink.py | our upload vs curl to nginx (near the wire); sha256 vs xxh3 |
| P3 | range_benchmark.py | the Range server vs nginx |
| P4 | bench_detection.py | detection latency, poll CPU at 10k files, sensor RSS slope |
| P5 | bench_api_economy.py | Frame.io calls of a 1,000-file backfill vs the minimum |
| P6 | bench_overhead.py | per-file overhead: SDK floor, in-process sensor, ``postflow up`` |
| P7 | bench_cli_startup.py | ``postflow --help`` and ``nomenclature`` start-up vs typer + rich |
| P8 | bench_webhook_ack.py | the Frame.io webhook receiver's answer time vs bare Starlette |

Usage::

    .venv/bin/python benchmarks/bench.py                 # everything, <= 15 min on 2 cores
    .venv/bin/python benchmarks/bench.py --only P4 P5    # some sections
    .venv/bin/python benchmarks/bench.py --quick         # tiny sizes: checks it runs (tests)
    .venv/bin/python benchmarks/bench.py --only P4 --minutes 30  # P4's 30-minute RSS run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_common import ROOT, ROW_PREFIX, Row  # noqa: E402


def sections(quick: bool, soak_minutes: float | None) -> list[tuple[str, str, list[str]]]:
    """``(section, script, arguments)`` of every benchmark, full or ``quick`` sizes."""
    rss_minutes = soak_minutes if soak_minutes is not None else (0.3 if quick else 2.0)
    if quick:
        return [
            (
                "P1",
                "upload_benchmark.py",
                ["--size-mib", "16", "--part-mib", "4", "--runs", "1", "--rss-sizes-mib", "8"],
            ),
            ("P1", "bench_upload_sink.py", ["--size-mib", "16", "--parts", "4", "--runs", "1"]),
            (
                "P3",
                "range_benchmark.py",
                ["--size-mib", "16", "--runs", "1", "--chunk-kib", "1024"],
            ),
            (
                "P4",
                "bench_detection.py",
                ["--files", "300", "--detect-files", "1", "--rss-minutes", str(rss_minutes)],
            ),
            ("P5", "bench_api_economy.py", ["--files", "12", "--scenes", "2", "--shots", "4"]),
            ("P6", "bench_overhead.py", ["--files", "2", "--skip-served"]),
            ("P7", "bench_cli_startup.py", ["--runs", "1"]),
            ("P8", "bench_webhook_ack.py", ["--deliveries", "20"]),
        ]
    return [
        ("P1", "upload_benchmark.py", ["--runs", "2", "--rss-sizes-mib", "200,1024"]),
        ("P1", "bench_upload_sink.py", ["--runs", "3"]),
        ("P3", "range_benchmark.py", ["--runs", "3", "--chunk-kib", "1024"]),
        ("P4", "bench_detection.py", ["--rss-minutes", str(rss_minutes)]),
        ("P5", "bench_api_economy.py", []),
        ("P6", "bench_overhead.py", []),
        # the same on a PostgreSQL-backed Prefect server: SQLite's 60 s stalls (docs/prefect.md)
        ("P6", "bench_overhead.py", ["--prefect-db", "postgres"]),
        ("P7", "bench_cli_startup.py", ["--runs", "5"]),
        ("P8", "bench_webhook_ack.py", []),
    ]


def run_section(section: str, script: str, arguments: list[str], log: Path) -> list[Row]:
    """Run one script; its progress lines go to the terminal and ``log``, its rows back here."""
    command = [sys.executable, str(HERE / script), *arguments]
    print(f"\n=== {section}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    rows: list[Row] = []
    with log.open("a") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if line.startswith(ROW_PREFIX):
                rows.append(Row(**json.loads(line[len(ROW_PREFIX) :])))
            print(f"  {line.rstrip()}", flush=True)
        code = proc.wait()
    seconds = time.monotonic() - started
    if code != 0:
        rows.append(Row(section, f"{script} FAILED (exit {code}; see {log})", "-"))
    print(f"=== {section}: {script} took {seconds:.0f} s", flush=True)
    return rows


def table(rows: list[Row]) -> str:
    """The rows as one Markdown table."""
    head = ("", "figure", "value", "floor / peer (same run)", "ratio", "goal")
    lines = [f"| {' | '.join(head)} |", f"|{'---|' * len(head)}"]
    for row in rows:
        cells = (row.section, row.figure, row.value, row.peer, row.ratio, row.goal)
        lines.append(f"| {' | '.join(c.replace('|', '/') for c in cells)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", help="sections to run, e.g. P1 P4")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument("--minutes", type=float, help="length of P4's sensor RSS run")
    parser.add_argument("--log", type=Path, default=Path("/tmp/postflow-bench.log"))
    args = parser.parse_args(argv)
    started = time.monotonic()
    args.log.write_text("")
    rows: list[Row] = []
    for section, script, arguments in sections(args.quick, args.minutes):
        if args.only and section not in args.only:
            continue
        rows += run_section(section, script, arguments, args.log)
    minutes = (time.monotonic() - started) / 60
    print(f"\nRL PostFlow benchmarks ({minutes:.1f} min; full output in {args.log}):\n")
    print(table(rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
