"""P5 API economy: the Frame.io calls of a backfill vs the minimum, and the structure cache.

Prints figures; asserts nothing. A backfill of ``--files`` small renders over ``--scenes``
scenes and ``--shots`` shots (``files / shots`` versions per shot, V001 upwards) goes through
the in-process ingest path (the Frame.io-facing steps of ``flows.ingest.ingest_file``, see
:func:`backfill`), ``--concurrency`` at once in name order (what ``InProcessDispatcher`` does
after a startup scan), on a temporary Prefect server, against the sandbox with its rate
limits off. The sandbox's stats count every call
by route.

The minimum (what a correct client must send for this backfill, from the code path and the
Frame.io v4 API in ``shared/notes/frameio-v4.md``), per route:

* ``ims.token`` 1 and ``projects.show`` 1 (the root folder id) per process;
* ``folders.index``: one listing per parent that gets new children (the project root,
  ``SCENES``, each scene) = 2 + scenes; ``folders.create``: one per new folder = 1 + scenes +
  shots;
* per file: one listing of its shot folder (``folders.index``: is it already there? the
  idempotence check), ``files.local_upload`` 1 (SDK ``files.create_local_upload``),
  ``files.status`` 1 (SDK ``files.show_file_upload_status``), ``files.show`` 1 (its stored
  ``file_size`` must equal the bytes sent: issue 19);
* stacking, per shot of n versions arriving in order: ``version_stacks.create`` 1 (V002
  with V001), ``files.move`` n - 2 (each later version onto the stack);
* the part PUTs go to storage (S3), not the API: shown, not counted.

The structure cache hit rate counts folder look-ups (3 per file: SCENES, scene, shot)
answered without listing Frame.io: by the Prefect cache of ``ensure_folder`` (the task body
did not run) or by the parent's shared listing (:mod:`tasks.structure.listings`: the parent was
listed
once, and every folder our writers created since was added to it, so "not there yet, create
it" needs no listing). A second row gives the Prefect cache alone (task bodies skipped), whose
best possible is ``1 - new folders / lookups`` (each new folder runs its body once).

Usage: ``.venv/bin/python benchmarks/bench_api_economy.py [--files 1000 --scenes 20 --shots 200]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import Row, emit, sandbox_env, sandbox_ids  # noqa: E402

from postflow.sandbox.server import SandboxServer  # noqa: E402

# Where each route is called on the ingest path (file:function), for the breakdown.
CALLERS = {
    "ims.token": "blocks/frameio.py: token (once per client)",
    "projects.show": "blocks/frameio_project.py:root_folder_id",
    "folders.index": "tasks/structure/folders.py:_find_or_create (a parent without a "
    "shared listing); "
    "tasks/upload/run.py:_identify (the shot folder, before each upload)",
    "folders.create": "tasks/structure/folders.py:ensure_child_folder",
    "files.local_upload": "tasks/upload/multipart.py:MultipartTransfer.send",
    "files.status": "tasks/upload/progress.py:wait_until_complete",
    "files.show": "tasks/upload/run.py:_send (the stored file_size vs the bytes sent)",
    "version_stacks.create": "tasks/upload/stack.py:_Pass.create_stack",
    "files.move": "tasks/upload/stack.py:_arrange / _Pass.raise_above (a lower version "
    "stacked after a higher one costs 2 more)",
    "version_stacks.show": "tasks/upload/stack.py:_checked (once per process)",
    "version_stacks.index": "tasks/upload/identity.py:same_name_files / stack.py:"
    "_with_all_members (a stack whose files no listing holds)",
}
STORAGE_ROUTES = {"upload.put_part"}


def file_names(files: int, scenes: int, shots: int) -> list[str]:
    """``files`` names over ``shots`` shots spread over ``scenes``; versions V001 upwards."""
    names = []
    for index in range(files):
        shot, version = index % shots, index // shots + 1
        names.append(f"SC{shot % scenes + 1:02d}_BF_{shot:05d}_V{version:03d}.mov")
    return sorted(names)


def minimum(files: int, scenes: int, shots: int) -> Counter[str]:
    """The minimum calls per route (see the module doc)."""
    per_shot = files // shots
    return Counter(
        {
            "ims.token": 1,
            "projects.show": 1,
            "folders.index": 2 + scenes + files,
            "folders.create": 1 + scenes + shots,
            "files.local_upload": files,
            "files.status": files,
            "files.show": files,
            "version_stacks.create": shots if per_shot >= 2 else 0,
            "files.move": shots * max(per_shot - 2, 0),
        }
    )


class LevelCounter:
    """Counts structure-cache misses: ``ensure_child_folder`` runs (the Prefect cache missed:
    the task body ran), and the listings those runs made (the shared listing missed too)."""

    def __init__(self) -> None:
        import tasks.structure.folders as structure
        from blocks.frameio_project import FrameioProject

        self.structure, self.original = structure, structure.ensure_child_folder
        self.project_class, self.list_children = FrameioProject, FrameioProject.list_children
        self.misses = self.listings = 0
        self.lock, self.inside = threading.Lock(), threading.local()

    def __enter__(self) -> LevelCounter:
        def counted(*args: object, **kwargs: object) -> str:
            with self.lock:
                self.misses += 1
            self.inside.active = True
            try:
                return self.original(*args, **kwargs)  # type: ignore[arg-type]
            finally:
                self.inside.active = False

        def listed(project: object, folder_id: str) -> object:
            if getattr(self.inside, "active", False):
                with self.lock:
                    self.listings += 1
            return self.list_children(project, folder_id)  # type: ignore[arg-type]

        self.structure.ensure_child_folder = counted  # type: ignore[assignment]
        self.project_class.list_children = listed  # type: ignore[assignment,method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.structure.ensure_child_folder = self.original  # type: ignore[assignment]
        self.project_class.list_children = self.list_children  # type: ignore[method-assign]


def backfill(by_shot: Path, names: list[str], concurrency: int) -> tuple[int, int, int, float]:
    """Ingest every file in this process; ``(failed, task bodies run, structure listings,
    seconds)``.

    Each file goes through the Frame.io-facing steps of ``flows.ingest.ingest_file``, called
    as the flow calls them: ``resolve_shot_folder`` (the cached ``ensure_folder`` Prefect tasks)
    and the upload (``run_upload``, what the ``upload_file`` task runs). The flow-run wrapper
    around them (states, artifacts, events, Discord) makes no Frame.io call and costs about
    1 s per file here, so it is left out to keep ``make bench`` short.
    """
    import logging

    from blocks.settings import effective_settings
    from tasks.clients import open_project
    from tasks.recovery.retrying import retry_options
    from tasks.structure.folders import resolve_shot_folder
    from tasks.structure.naming import load_nomenclature
    from tasks.upload.job import UploadJob
    from tasks.upload.run import run_upload

    logging.getLogger("prefect").setLevel(logging.WARNING)
    logging.getLogger("postflow").setLevel(logging.WARNING)
    settings = effective_settings()
    project = open_project(settings)
    nomenclature = load_nomenclature()
    retry = retry_options(settings.task_retries, settings.task_retry_backoff_seconds)

    def ingest(path: str) -> bool:
        shot = nomenclature.parse(path)
        folder_id, _ = resolve_shot_folder(project, shot, settings, retry)
        run_upload(project, UploadJob(path, shot, folder_id, nomenclature, settings))
        return True

    paths = [str(by_shot / name) for name in names]
    with LevelCounter() as levels, ThreadPoolExecutor(concurrency) as pool:
        started = time.monotonic()
        futures = [pool.submit(ingest, path) for path in paths]
        failed = sum(1 for f in futures if f.exception() is not None)
        seconds = time.monotonic() - started
    return failed, levels.misses, levels.listings, seconds


def report(
    args: argparse.Namespace, stats: dict, misses: int, listings: int, seconds: float
) -> None:
    """Print the per-route breakdown and emit the rows."""
    routes = Counter(stats["requests_by_route"])
    floor = minimum(args.files, args.scenes, args.shots)
    api = {r: n for r, n in routes.items() if r not in STORAGE_ROUTES}
    total, least = sum(api.values()), sum(floor.values())
    print(f"\n{'route':<32}{'calls':>8}{'minimum':>9}{'per file':>10}  called from", flush=True)
    for route in sorted(set(api) | set(floor)):
        print(
            f"{route:<32}{api.get(route, 0):>8}{floor[route]:>9}"
            f"{api.get(route, 0) / args.files:>10.2f}  {CALLERS.get(route, '?')}"
        )
    puts = sum(routes[r] for r in STORAGE_ROUTES)
    print(f"(storage part PUTs, not counted: {puts}; statuses: {stats['responses_by_status']})")
    lookups = 3 * args.files
    new_folders = 1 + args.scenes + args.shots
    hit, best = 1 - listings / lookups, 1 - new_folders / lookups
    task_hit = 1 - misses / lookups
    what = f"{args.files} files, {args.scenes} scenes, {args.shots} shots"
    emit(
        Row(
            "P5",
            f"Frame.io API calls, backfill of {what} ({seconds:.0f} s)",
            f"{total} ({total / args.files:.2f}/file)",
            f"minimum {least} ({least / args.files:.2f}/file)",
            f"{total / least:.2f}x",
            "<= 1.05x",
        )
    )
    emit(
        Row(
            "P5",
            f"structure cache hit rate (look-ups needing no listing; {listings} listed of "
            f"{lookups})",
            f"{hit:.1%}",
            "",
            "",
            ">= 95 %",
        )
    )
    emit(
        Row(
            "P5",
            f"  of which the Prefect task cache alone ({misses} task bodies ran)",
            f"{task_hit:.1%}",
            f"best possible {best:.1%} ({new_folders} new folders)",
            f"{task_hit / best:.2f}x",
            "counted",
        )
    )


def child(by_shot: Path, work: Path, concurrency: int) -> None:
    """Child mode (its own environment): the backfill on a temporary Prefect server; prints
    ``failed misses listings seconds`` as the last line."""
    from postflow.serve.up import prefect_api

    names = sorted(p.name for p in by_shot.iterdir())
    with prefect_api(work / "prefect-server.log", print):
        failed, misses, listings, seconds = backfill(by_shot, names, concurrency)
    print(f"{failed} {misses} {listings} {seconds}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--scenes", type=int, default=20)
    parser.add_argument("--shots", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--size-bytes", type=int, default=2048)
    parser.add_argument("--prefect-api-url", help="a running Prefect API (default: its own)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child / "BY_SHOT", args.child, args.concurrency)
        return
    work = Path(tempfile.mkdtemp(prefix="postflow-bench-api-")).resolve()
    try:
        by_shot = work / "BY_SHOT"
        by_shot.mkdir()
        for name in file_names(args.files, args.scenes, args.shots):
            (by_shot / name).write_bytes(os.urandom(args.size_bytes))
        with SandboxServer(work / "sandbox", rate_limits=False) as server:
            env = sandbox_env(server.url, sandbox_ids(server), work / "state")
            env["POSTFLOW_WATCH_PATH"] = str(by_shot)
            if args.prefect_api_url:
                env["PREFECT_API_URL"] = args.prefect_api_url
            command = [sys.executable, __file__, "--child", str(work)]
            command += ["--concurrency", str(args.concurrency)]
            out = subprocess.run(command, env=env, capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stdout[-3000:], out.stderr[-3000:])
                raise SystemExit(f"the backfill failed (exit {out.returncode})")
            failed, misses, listings, seconds = out.stdout.strip().splitlines()[-1].split()
            stats = server.stats()
        print(
            f"backfill: {args.files} ingests, {failed} failed, {float(seconds):.0f} s", flush=True
        )
        report(args, stats, int(misses), int(listings), float(seconds))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
