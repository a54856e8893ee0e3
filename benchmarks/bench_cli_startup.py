"""P7 CLI start-up: how long ``postflow --help`` and ``postflow nomenclature NAME`` take, start
to exit, against an interpreter that only imports typer and rich (the floor of any typer CLI).

Prints figures; asserts nothing. Each command is a new interpreter (``python -c``, as the
``postflow`` console script runs :func:`postflow.entry.main`) with this tree on
``PYTHONPATH``; the three commands take turns, ``--runs`` times each after one warm-up round
(the page cache), and the median is reported. Issue 20: ``--help`` took 2.4 s, 28x the floor,
because importing any module of ours imported Prefect, and the CLI modules pandas and the SDK.

Usage: ``.venv/bin/python benchmarks/bench_cli_startup.py [--runs 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import ROOT, Row, emit, ratio  # noqa: E402

SECTION = "P7"
NAME = "SC01_UNDLM_00412_V002.mov"
POSTFLOW = "from postflow.entry import main; main()"
COMMANDS = {
    "floor": ["-c", "import typer, rich"],
    "help": ["-c", POSTFLOW, "--help"],
    "nomenclature": ["-c", POSTFLOW, "nomenclature", NAME],
}


def seconds_of(arguments: list[str], env: dict[str, str]) -> float:
    """Wall-clock seconds of one ``python <arguments>`` run, start to exit.

    Raises:
        RuntimeError: the command exited non-zero (its stderr's last line says why).
    """
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{' '.join(arguments)} exited {result.returncode}: {last}")
    return elapsed


def medians(runs: int) -> dict[str, float]:
    """``{command: median seconds}`` over ``runs`` rounds in which each command runs once."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for arguments in COMMANDS.values():  # warm-up: the page cache, .pyc files
        seconds_of(arguments, env)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for round_number in range(runs):
        for name, arguments in COMMANDS.items():
            times[name].append(seconds_of(arguments, env))
        print(
            f"round {round_number + 1}/{runs}: "
            + ", ".join(f"{n} {t[-1]:.3f} s" for n, t in times.items()),
            flush=True,
        )
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (the median is reported)")
    args = parser.parse_args(argv)
    median = medians(max(1, args.runs))
    floor = median["floor"]
    peer = f"import typer, rich {floor:.3f} s"
    emit(
        Row(
            SECTION,
            f"`postflow --help`, start to exit (median of {args.runs})",
            f"{median['help']:.3f} s",
            peer,
            ratio(median["help"], floor),
            "--help <= 0.3 s",
        )
    )
    emit(
        Row(
            SECTION,
            f"`postflow nomenclature {NAME}` (median of {args.runs})",
            f"{median['nomenclature']:.3f} s",
            peer,
            ratio(median["nomenclature"], floor),
            "imports no Prefect, pandas or SDK",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
