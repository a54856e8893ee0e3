"""Soak: the real sensor against the sandbox, through faults, an outage, kills and bad files.

Runs ``postflow watch`` (this checkout, as a subprocess, with its own temporary Prefect
server) against an in-process sandbox, and during ``--minutes``:

- writes ``--files`` QuickTime renders over ``--shots`` shots, each shot's versions arriving
  out of order; 3 of them by writers that pause 3x the settle window half-way;
- keeps about ``--fault-rate`` of the API calls faulted (503, 429, dropped connections and
  lost responses, in waves), and once answers every call with 503 for ``--outage-seconds``;
- ``kill -9``s the watcher ``--kills`` times and restarts it each time;
- makes 5 hostile files (a non-UTF-8 name, a FIFO, a socket, a name with a newline, an empty
  placeholder) and 2 symlinks (one to a validly named file outside BY_SHOT);
- re-renders 3 already landed files in place, same size, new content.

Then it waits until every good file has landed and the tree is still (or the deadline), stops
the watcher with SIGTERM and prints one line of counts (see ``soak_metrics``). Exit code 0
only when every defect count is 0 and every good file landed once.

    .venv/bin/python benchmarks/soak.py                   # the full run (make soak)
    .venv/bin/python benchmarks/soak.py --minutes 2 --files 12 --shots 3
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soak_faults import FaultWaves  # noqa: E402
from soak_files import (  # noqa: E402
    HOSTILE_TOKENS,
    GoodFile,
    Media,
    Writer,
    make_hostiles,
    plan_good_files,
    rerender_in_place,
    sha256,
)
from soak_metrics import DEFECTS, all_landed, count_defects, landed_files, landed_once  # noqa: E402
from soak_watcher import Watcher  # noqa: E402

from postflow.sandbox.server import SandboxServer  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="Length of the run.")
    parser.add_argument("--files", type=int, default=100, help="Good renders to write.")
    parser.add_argument("--shots", type=int, default=10, help="Shots they spread over.")
    parser.add_argument("--seed", type=int, default=9, help="Random seed (names, bytes, faults).")
    parser.add_argument("--out", type=Path, default=None, help="Work dir (default: a temp dir).")
    parser.add_argument("--kills", type=int, default=None, help="kill -9s (default 5; 2 if short)")
    parser.add_argument("--outage-seconds", type=float, default=None, help="Default 120 (15).")
    parser.add_argument("--fault-rate", type=float, default=0.2, help="Share of calls faulted.")
    parser.add_argument("--settle-seconds", type=float, default=2.0, help="Watcher settle window.")
    parser.add_argument("--rerenders", type=int, default=3, help="Same-size re-renders.")
    parser.add_argument("--paused-writers", type=int, default=3, help="Writers that pause.")
    args = parser.parse_args(argv)
    short = args.minutes < 5
    args.kills = args.kills if args.kills is not None else (2 if short else 5)
    if args.outage_seconds is None:
        args.outage_seconds = 15.0 if short else 120.0
    return args


def watcher_env(server: SandboxServer, work: Path, settle: float) -> dict[str, str]:
    """The environment of ``postflow watch``: pointed at the sandbox, short timings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "POSTFLOW_"))}
    settings = {
        "WATCH_PATH": work / "BY_SHOT",
        "STATE_DIR": work / "state",
        "FRAMEIO_API_BASE_URL": server.url,
        "FRAMEIO_IMS_BASE_URL": server.url,
        "FRAMEIO_ACCOUNT_ID": server.account_id,
        "FRAMEIO_PROJECT_ID": server.project_id,
        "FRAMEIO_CLIENT_ID": server.client_id,
        "FRAMEIO_CLIENT_SECRET": server.client_secret,
        "FRAMEIO_CREDENTIALS_BLOCK": "postflow-soak-absent-block",
        "DISCORD_BLOCK": "postflow-soak-absent-discord",
        "SETTLE_SECONDS": settle,
        "POLL_INTERVAL_SECONDS": 0.5,
        "STRUCTURE_CACHE_TTL_SECONDS": 0,
        "TASK_RETRY_BACKOFF_SECONDS": 0.5,
        "RETRY_BASE_DELAY_SECONDS": 2,
        "RETRY_MAX_DELAY_SECONDS": 15,
        "CIRCUIT_COOL_DOWN_SECONDS": 5,
        "CIRCUIT_MAX_COOL_DOWN_SECONDS": 15,
    }
    env.update({f"POSTFLOW_{name}": str(value) for name, value in settings.items()})
    env.update(PREFECT_HOME=str(work / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


class Soak:
    """One run: the schedule of events, then the wait for a quiet pipeline and the counts."""

    def __init__(self, args: argparse.Namespace, server: SandboxServer, work: Path) -> None:
        self.args, self.server, self.work = args, server, work
        self.rng = random.Random(args.seed)
        self.by_shot = work / "BY_SHOT"
        self.by_shot.mkdir(parents=True)
        self.media = Media(self.rng)
        self.goods = plan_good_files(
            self.media, args.files, args.shots, args.paused_writers, self.rng
        )
        self.hostiles = make_hostiles(self.by_shot, work / "outside", self.media)
        self.watcher = Watcher(watcher_env(server, work, args.settle_seconds), work / "watch.log")
        self.faults = FaultWaves(server, args.fault_rate, self.rng)
        self.rerendered: list[GoodFile] = []

    def run(self) -> dict[str, int]:
        """The whole run; returns the counts (the watcher is stopped)."""
        try:
            return self._run()
        finally:
            if self.watcher.alive():
                self.watcher.kill9()
            self.hostiles.close()

    def _run(self) -> dict[str, int]:
        self.watcher.start()
        span = self.args.minutes * 60
        start = time.monotonic()
        pause = 3 * self.args.settle_seconds
        Writer(self.by_shot, self.goods, 0.45 * span, pause).start()
        self.faults.start()
        outage = threading.Timer(0.3 * span, self.faults.outage, [self.args.outage_seconds])
        outage.daemon = True
        outage.start()
        kills = [span * (0.15 + 0.55 * i / max(1, self.args.kills)) for i in range(self.args.kills)]
        while time.monotonic() - start < 0.8 * span:
            elapsed = time.monotonic() - start
            if kills and elapsed >= kills[0]:
                kills.pop(0)
                self._kill_and_restart()
            if elapsed >= 0.5 * span and len(self.rerendered) < self.args.rerenders:
                self._rerender_one()
            time.sleep(0.5)
        outage.join()
        self.faults.stop()
        self._wait_quiet(start + span + max(15.0, 0.1 * span))
        return self._stop_and_count()

    def _kill_and_restart(self) -> None:
        self.watcher.kill9()
        log(f"kill -9 #{self.watcher.kills}; restarting")
        self.watcher.start()

    def _rerender_one(self) -> None:
        files = landed_files(self.server.tree())
        present = {(f.shot, f.name, f.sha256) for f in files}
        for good in self.goods:
            done = good.written.is_set() and good.original is None and not good.paused
            if done and (good.shot, good.name, sha256(good.data)) in present:
                rerender_in_place(self.by_shot, good, self.media)
                self.rerendered.append(good)
                log(f"re-rendered {good.name} in place")
                return

    def _wait_quiet(self, deadline: float) -> None:
        quiet_for = max(8.0, 4 * self.args.settle_seconds)
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            files = landed_files(self.server.tree())
            if files != last:
                last, since = files, time.monotonic()
            elif all_landed(files, self.goods) and time.monotonic() - since >= quiet_for:
                return
            time.sleep(1.0)
        log("deadline reached before the pipeline was quiet")

    def _stop_and_count(self) -> dict[str, int]:
        code = self.watcher.terminate()
        log(f"watcher stopped by SIGTERM, exit code {code}; {self.faults.summary()}")
        files = landed_files(self.server.tree())
        counts = count_defects(files, self.goods, self.hostiles)
        missing = [g.name for g in self.goods if not landed_once(files, g)]
        log(f"not landed with their final bytes: {', '.join(missing) or 'none'}")
        rejected = self.watcher.rejected_lines()
        counts["hostile_reported"] = sum(
            1 for token in HOSTILE_TOKENS if any(token in line for line in rejected)
        )
        counts["processes_left"] = len(self.watcher.left_running())
        counts["good_files"] = len(self.goods)
        return counts


def log(message: str) -> None:
    print(f"soak: {message}", file=sys.stderr, flush=True)


ORDER = ("landed_once", "duplicates", "partial_left", "wrong_stack_heads", "stale_bytes")
ORDER += ("hostile_reported", "symlinks_uploaded", "processes_left", "good_files")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.out or Path(tempfile.mkdtemp(prefix="postflow-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    log(f"work dir {work}")
    with SandboxServer(work / "sandbox", target_part_bytes=256 * 1024) as server:
        counts = Soak(args, server, work).run()
    print(" ".join(f"{key}={counts[key]}" for key in ORDER), flush=True)
    clean = all(counts[key] == 0 for key in DEFECTS)
    return 0 if clean and counts["landed_once"] == counts["good_files"] else 1


if __name__ == "__main__":
    sys.exit(main())
