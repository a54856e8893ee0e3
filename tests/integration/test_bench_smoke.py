"""``make bench`` in small: every benchmark's small version runs and prints its figures.

Figures, not timings: speed belongs to ``make bench``. The small versions run at once as
subprocesses (one module fixture), against the session's Prefect server where they need one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

from bench import ROW_PREFIX, Row, table  # noqa: E402

NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


def small_runs(api_url: str) -> dict[str, list[str]]:
    """The small version of each benchmark script."""
    return {
        "upload-sandbox": [
            "upload_benchmark.py",
            "--size-mib",
            "8",
            "--part-mib",
            "4",
            "--runs",
            "1",
            "--rss-sizes-mib",
            "8",
        ],
        "upload-sink": ["bench_upload_sink.py", "--size-mib", "8", "--parts", "4,2", "--runs", "1"],
        "range": ["range_benchmark.py", "--size-mib", "8", "--runs", "1", "--chunk-kib", "1024"],
        "detection": [
            "bench_detection.py",
            "--files",
            "200",
            "--detect-files",
            "1",
            "--cold-files",
            "10",
            "--poll-window",
            "1",
            "--settle-seconds",
            "0.5",
            "--rss-minutes",
            "0",  # the RSS run is `postflow watch` for minutes: make bench only
        ],
        "api": [
            "bench_api_economy.py",
            "--files",
            "6",
            "--scenes",
            "2",
            "--shots",
            "3",
            "--prefect-api-url",
            api_url,
        ],
        "overhead": [
            "bench_overhead.py",
            "--files",
            "2",
            "--skip-served",
            "--prefect-api-url",
            api_url,
        ],
        "cli-startup": ["bench_cli_startup.py", "--runs", "1"],
        "webhook-ack": ["bench_webhook_ack.py", "--deliveries", "20", "--work-seconds", "0.02"],
    }


@pytest.fixture(scope="module")
def runs(prefect_harness, tmp_path_factory) -> dict[str, tuple[int, list[Row], str]]:
    """``{name: (exit code, rows, output)}`` of every small run, run side by side (output to
    files: a full pipe would stall a run until its turn to be read)."""
    from prefect.settings import PREFECT_API_URL

    out = tmp_path_factory.mktemp("bench-smoke")
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    procs = {}
    for name, (script, *arguments) in small_runs(str(PREFECT_API_URL.value())).items():
        with (out / f"{name}.log").open("w") as log:
            procs[name] = subprocess.Popen(
                [sys.executable, str(BENCH / script), *arguments],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
    results = {}
    for name, proc in procs.items():
        proc.wait(timeout=240)
        output = (out / f"{name}.log").read_text(errors="replace")
        rows = [
            Row(**json.loads(line[len(ROW_PREFIX) :]))
            for line in output.splitlines()
            if line.startswith(ROW_PREFIX)
        ]
        results[name] = (proc.returncode, rows, output)
    return results


def figures(runs: dict, name: str) -> dict[str, Row]:
    code, rows, output = runs[name]
    assert code == 0, output[-3000:]
    return {row.figure: row for row in rows}


def test_upload_benchmarks_print_ours_and_curl(runs):
    sandbox = figures(runs, "upload-sandbox")
    sink = figures(runs, "upload-sink")
    rows = list(sandbox.values()) + list(sink.values())
    prefixes = ("upload ours + xxh3 transfer", "upload ours + xxh3 fingerprint")
    ours = [r for r in rows if r.figure.startswith(prefixes)]
    assert len(ours) == 3  # against the sandbox, and against nginx in both part layouts asked for
    assert [r.goal.startswith(">= 1.0x") for r in ours[1:]] == [True, False]  # the first carries it
    assert all(r.peer.startswith("curl ") and NUMBER.search(r.value) for r in ours)
    assert any(r.figure.startswith("peak RSS") for r in rows)  # the child's own VmHWM
    assert any(r.peer.startswith("sha256 ") for r in rows)


def test_range_benchmark_prints_ratios_to_nginx(runs):
    rows = figures(runs, "range").values()
    assert {r.section for r in rows} == {"P3"}
    assert all(r.peer.startswith("nginx ") and r.ratio.endswith("x") for r in rows)


def test_detection_prints_latency_and_poll_cpu(runs):
    rows = figures(runs, "detection")
    names = " | ".join(rows)
    assert "last write -> ingest start" in names
    assert "CPU of one poll, BY_SHOT of 200 sent files" in names
    assert all(NUMBER.search(r.value) for r in rows.values())


def test_api_economy_counts_calls_against_the_minimum(runs):
    code, rows, output = runs["api"]
    assert code == 0, output[-3000:]
    calls, cache, task_cache = rows
    assert calls.figure.startswith("Frame.io API calls, backfill of 6 files")
    assert calls.peer.startswith("minimum ") and calls.ratio.endswith("x")
    assert cache.value.endswith("%") and "listed of 18" in cache.figure
    assert task_cache.value.endswith("%") and task_cache.peer.startswith("best possible")
    assert "files.local_upload" in output  # the per-route breakdown


def test_overhead_prints_the_floor_and_the_in_process_way(runs):
    rows = list(figures(runs, "overhead").values())
    assert rows[0].ratio == "1.00x" and rows[0].peer == "floor"
    assert "postflow watch" in rows[1].figure and rows[1].peer.startswith("floor ")


def test_cli_startup_prints_help_and_nomenclature_against_typer_and_rich(runs):
    rows = list(figures(runs, "cli-startup").values())
    assert [r.figure.split(",")[0].split(" (")[0] for r in rows] == [
        "`postflow --help`",
        "`postflow nomenclature SC01_UNDLM_00412_V002.mov`",
    ]
    assert all(r.peer.startswith("import typer, rich ") and r.ratio.endswith("x") for r in rows)


def test_webhook_ack_rows_compare_with_bare_starlette(runs):
    rows = list(figures(runs, "webhook-ack").values())
    assert [r.figure.split(",")[0] for r in rows] == [
        "webhook ACK p50",
        "webhook ACK p95",
        "webhook work drained after the last ACK",
    ]
    assert all(r.peer.startswith("bare Starlette ") for r in rows[:2])


def test_one_table_of_every_row(runs):
    rows = [row for _, section_rows, _ in runs.values() for row in section_rows]
    lines = table(rows).splitlines()
    assert lines[0].startswith("|  | figure | value | floor / peer")
    assert len(lines) == 2 + len(rows)
    assert {line.split("|")[1].strip() for line in lines[2:]} == {
        "P1",
        "P2",
        "P3",
        "P4",
        "P5",
        "P6",
        "P7",
        "P8",
    }
