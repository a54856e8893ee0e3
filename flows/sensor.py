"""Watch BY_SHOT and ingest every file once it is complete.

The story: start a watchdog observer on the watch folder (polling by default: LucidLink/FUSE
fires no events for other machines' writes), scan what is already there, and on every poll
hand each *ready* file version to a dispatcher (:mod:`tasks.sensor.dispatch`): in process, it runs
:func:`flows.ingest.ingest_file` here, at most ``ingest_concurrency`` at a time; in deployment
mode, it creates each file's ``ingest-file`` deployment run, for ``postflow up`` or a worker.
A small ledger in the state directory makes each file version ``(path, size, mtime_ns)`` go
out exactly once, across restarts. The loop itself runs no Prefect task, so the sensor's
memory stays flat over hours. With a productions file (:mod:`config.productions`) one loop
polls every production's folder, each with its own ledger and recovery state
(:mod:`tasks.sensor.productions_watch`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from blocks.settings import effective_settings
from blocks.store import open_store
from config.productions import production_settings
from config.settings import PostflowSettings
from core.since import parse_since
from flows.ingest import ingest_file, ingest_run_settings
from tasks.observe.events import sensor_stop_announced
from tasks.observe.metrics_emitter import MetricsEmitter
from tasks.sensor.completeness import container_incomplete
from tasks.sensor.dispatch import DeploymentDispatcher, Dispatcher, InProcessDispatcher
from tasks.sensor.ledger import DispatchLedger
from tasks.sensor.productions_watch import Dispatchers, Folders
from tasks.sensor.recovery import Recovery
from tasks.sensor.watch_folder import WatchFolder
from tasks.sensor.watch_loop import Watcher, run_watch_loop


def _run_name() -> str:
    path = flow_run.parameters.get("watch_path")
    if path:
        return f"watch {path}"
    settings = PostflowSettings()
    if settings.productions_file is not None:
        return f"watch productions of {settings.productions_file.name}"
    return f"watch {settings.watch_path}"


def _ingest_here(path: str) -> BaseException | None:
    """Run :func:`flows.ingest.ingest_file` in this process; None when it completed, else the
    exception it failed with (for the retry queue to tell transient from permanent)."""
    with ingest_run_settings():
        state = ingest_file(path, return_state=True)
    if state.is_completed():
        return None
    error = state.result(raise_on_failure=False)
    return error if isinstance(error, BaseException) else RuntimeError(state.message or "failed")


def _dispatcher(
    settings: PostflowSettings,
    ledger: DispatchLedger,
    root: Path,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> Dispatcher:
    """The dispatcher of ``settings.dispatch_mode``: deployment runs or in process."""
    if settings.dispatch_mode == "deployment":
        logger.info("Watching %s: one ingest-file deployment run per ready file", root)
        dispatcher = DeploymentDispatcher(
            ledger,
            root,
            retry_seconds=settings.run_create_retry_seconds,
            max_attempts=settings.run_create_max_attempts,
            logger=logger,
            recovery=Recovery.from_settings(settings, str(root)),
        )
        dispatcher.warm_up()  # the client is open before the startup scan's first file
        return dispatcher
    logger.info("Watching %s: ingesting here, %d at a time", root, settings.ingest_concurrency)
    return InProcessDispatcher(
        ledger,
        root,
        settings.ingest_concurrency,
        ingest=_ingest_here,
        recovery=Recovery.from_settings(settings, str(root)),
    )


def _watch_one(
    settings: PostflowSettings,
    since_epoch: float | None,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> tuple[WatchFolder, Dispatcher]:
    """The watch folder and dispatcher of one production (its ``watch_path``, its state).

    Raises:
        ConfigurationError: the watch folder is missing or the state dir is not writable.
    """
    root = Path(settings.watch_path).resolve()
    ledger = DispatchLedger(open_store(settings))
    for key in ledger.interrupted():  # an old ledger's key may hold raw bytes: the run log
        # takes UTF-8 only (a lone surrogate is a 'Logging error' traceback), so \xNN them
        shown = key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        logger.warning("Ingest of %s was interrupted by a restart; it will be sent again", shown)
    if settings.production:
        logger.info("Production %s: %s", settings.production, root)
    dispatcher = _dispatcher(settings, ledger, root, logger)
    watcher = WatchFolder(
        root,
        dispatcher.dispatch,
        skip=dispatcher.already_sent,
        settle_seconds=settings.settle_seconds,
        tail_check_bytes=settings.tail_check_bytes,
        poll_interval_seconds=settings.poll_interval_seconds,
        use_polling=settings.use_polling_observer,
        recursive=settings.watch_recursive,
        since_epoch=since_epoch,
        ignore_patterns=settings.ignore_patterns,
        completeness=container_incomplete if settings.container_check_enabled else None,
        allow_inner_symlinks=settings.allow_inner_symlinks,
    )
    return watcher, dispatcher


@flow(name="watch-by-shot", flow_run_name=_run_name, log_prints=False)
def watch_by_shot(
    watch_path: str | None = None,
    since: str | None = None,
    stop_after_files: int | None = None,
    max_runtime_seconds: float | None = None,
) -> dict[str, int]:
    """Watch the BY_SHOT folder and ingest each complete file once.

    Args:
        watch_path: overrides ``POSTFLOW_WATCH_PATH``.
        since: startup-scan cutoff: ``"12h"``, ``"7d"``, an ISO date, or epoch seconds; files
            modified before it are left alone. None scans everything (the ledger still
            prevents resending).
        stop_after_files: return once this many ingests have finished (demo, tests).
        max_runtime_seconds: return after this long (tests); None runs until cancelled.

    Returns:
        ``{"dispatched", "finished", "failed", "pending"}`` counts for this run.

    Raises:
        ConfigurationError: the watch folder is missing or settings are invalid.
    """
    settings = effective_settings()
    logger = get_run_logger()
    if watch_path:  # an explicit folder: that one production
        productions = [settings.model_copy(update={"watch_path": Path(watch_path)})]
    else:
        productions = production_settings(settings)
    cutoff = parse_since(since)
    pairs = [_watch_one(p, cutoff, logger) for p in productions]
    watcher: Watcher
    dispatcher: Dispatcher
    if len(pairs) == 1:
        watcher, dispatcher = pairs[0]
    else:
        watcher, dispatcher = Folders([w for w, _ in pairs]), Dispatchers([d for _, d in pairs])
    logger.info(
        "Observer: %s, settle %.0f s",
        "polling" if settings.use_polling_observer else "native events",
        settings.settle_seconds,
    )
    with sensor_stop_announced(), MetricsEmitter.from_settings(settings):
        counts = run_watch_loop(
            watcher,
            dispatcher,
            poll_interval_seconds=settings.poll_interval_seconds,
            stop_after_files=stop_after_files,
            max_runtime_seconds=max_runtime_seconds,
        )
    logger.info("Sensor stopped: %s", counts)
    return counts
