"""Ingest one file: parse its name -> find or create its shot folder -> upload -> tell Discord
(and each extra notification block, :mod:`tasks.notify.blocks`).

Run it with ``postflow ingest PATH`` or let the sensor (:mod:`flows.sensor`) call it. It is
idempotent: ingesting a file that is already in Frame.io uploads nothing, so Prefect's Retry
button and reruns are safe.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import PurePath
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run
from prefect.settings import temporary_settings
from prefect.states import Failed

from blocks.settings import effective_settings
from config.productions import settings_for_path
from config.settings import DISCORD_BLOCK_SLUG, PostflowSettings
from core.errors import (
    ConfigurationError,
    FrameioNotFound,
    IngestCancelled,
    NamingError,
    PostflowError,
)
from flows.outcomes import fail_expected
from tasks.clients import open_project_task, remote_endpoint
from tasks.manifest import record_delivery, write_pending
from tasks.notify.blocks import notify_blocks, text_form
from tasks.notify.discord import failure_embed, naming_error_embed, notify_discord, success_embed
from tasks.observe.events import emit_upload_completed, emit_upload_failed
from tasks.observe.ingest_record import IngestRecord
from tasks.recovery.retrying import retry_options
from tasks.review.announce import notify_upload
from tasks.sensor.recovery import record_ingest_outcome
from tasks.structure.folders import resolve_shot_folder
from tasks.structure.naming import Nomenclature, ShotName, load_nomenclature
from tasks.upload.job import UploadJob, UploadResult
from tasks.upload.run import upload_file
from tasks.upload.source import refuse_empty


@contextlib.contextmanager
def ingest_run_settings() -> Iterator[None]:
    """Prefect settings for the ingest runs this thread starts: heartbeats every
    ``ingest_heartbeat_seconds``, or none (the default).

    Prefect 3.8.8 sends a flow run's heartbeats from a thread that sleeps in 1 s steps and
    joins it when the run ends (``prefect.flow_engine._send_heartbeats``): a profiled ingest of
    a small file spent 0.76 s of its 1.09 s there. Nothing of ours reads ingest heartbeats;
    the sensor run keeps Prefect's default (its silence raises an alert).
    """
    every = PostflowSettings().ingest_heartbeat_seconds or None
    with temporary_settings(updates={"flows.heartbeat_frequency": every}):
        yield


def _run_name() -> str:
    path = str(flow_run.parameters.get("path", "?"))
    try:
        production = settings_for_path(PostflowSettings(), path).production
    except (ConfigurationError, ValueError):  # the flow body reports it
        production = ""
    return f"ingest {f'[{production}] ' if production else ''}{PurePath(path).name}"


def _words(settings: PostflowSettings) -> dict[str, str]:
    """The Discord messages' language and production (:mod:`tasks.notify.messages`)."""
    return {"language": settings.discord_language, "production": settings.production}


def _notify(settings: PostflowSettings, embed: Any, review: tuple[str, str] | None = None) -> None:
    """Send a Discord embed, and its text form to each extra notification block; a
    notification failure is logged, never fails the ingest. ``review`` (file id, shot label):
    the message is kept for the review loop to edit (:mod:`tasks.review.announce`)."""
    options = retry_options(min(settings.task_retries, 3), settings.task_retry_backoff_seconds)
    try:
        if review is not None:
            notify_upload.with_options(**options)(settings, embed, *review)
        else:
            notify_discord.with_options(**options)(settings.discord_block, embed)
    except PostflowError as exc:
        get_run_logger().warning("Discord notification not sent: %s", exc)
    if settings.notify_blocks:
        notify_blocks(settings.notify_blocks, *text_form(embed))


def _report_bad_name(path: str, error: NamingError, settings: PostflowSettings) -> None:
    get_run_logger().error("Not uploading %s: %s", path, error)
    create_markdown_artifact(
        key="postflow-unreadable-name",
        markdown=(
            f"### Unreadable name: `{error.file}`\n\n{error.reason}\n\n"
            f"Rules tried: {', '.join(error.rules_tried) or 'none'}\n\nPath: `{path}`\n\n"
            "Rename the file to the nomenclature (e.g. `SC01_UNDLM_00412_V002.mov`)."
        ),
        description="A BY_SHOT file whose name matches no nomenclature rule (not uploaded)",
    )
    _notify(settings, naming_error_embed(path, error, **_words(settings)))


def _failed(
    settings: PostflowSettings, path: str, exc: BaseException, shot: ShotName | None
) -> None:
    """Say that the ingest of ``path`` failed: the log line, the shared outcome, the
    ``postflow.upload.failed`` event and the run's own red message. Every failure a run can
    report goes through here, so each bad file gets this one message: the ingest-failed
    automation announces only runs that could not report (Crashed)."""
    get_run_logger().error("Ingest of %s failed: %s", path, exc)
    _record_outcome(settings, path, exc)
    emit_upload_failed(path, exc, shot.as_dict() if shot is not None else None)
    embed = failure_embed(path, exc, shot, **_words(settings))
    _notify(settings, embed)
    discord = f"{DISCORD_BLOCK_SLUG}/{settings.discord_block}"
    if settings.alerts_block not in (discord, *settings.notify_blocks):
        notify_blocks((settings.alerts_block,), *text_form(embed))  # e.g. an on-call Slack


def _record_outcome(settings: PostflowSettings, path: str, error: BaseException | None) -> None:
    """Under ``postflow up`` (deployment mode) the sensor runs elsewhere: leave it the outcome
    in the shared retry queue, so a transient failure gets a new run by itself."""
    if settings.dispatch_mode == "deployment":
        record_ingest_outcome(settings, path, error)


def _manifest(settings: PostflowSettings, path: str, result: UploadResult) -> str:
    """Record the delivery in the manifest and write what is pending when due
    (:mod:`tasks.manifest`); returns the manifest reference for the artifact. A failure is
    one warning, never the ingest's: the rows stay pending for the next write."""
    try:
        if record_delivery(settings, path, result) is None:
            return ""  # skipped, or no fingerprint: not a new delivery
        written = write_pending(settings, due_only=True)
    except Exception as exc:  # noqa: BLE001 - the upload succeeded; the manifest waits
        get_run_logger().warning("Delivery manifest not written (it will be later): %s", exc)
        return "pending"
    if written.file is not None:
        return str(written.file)
    return f"{written.root} (pending: {written.reason})"


def _parse(path: str, settings: PostflowSettings) -> tuple[Nomenclature, ShotName]:
    """The rules and the parsed name (microseconds, no I/O: not worth a task run).

    Raises:
        NamingError: the name matches no rule.
    """
    nomenclature = load_nomenclature(
        settings.nomenclature_path,
        settings.extensions,
        settings.ignore_patterns,
        settings.nomenclature_cache_ttl_seconds,
    )
    return nomenclature, nomenclature.parse(path)


@flow(name="ingest-file", flow_run_name=_run_name, log_prints=False)
def ingest_file(path: str) -> Any:
    """Ingest one BY_SHOT file into Frame.io.

    Args:
        path: absolute path of a ready file in the watch folder.

    Returns:
        A dict with the shot fields and the :class:`UploadResult` fields (bytes, seconds,
        fingerprint, re_render, strategy, view_url...), or a Failed state for an unreadable
        name (reported to Discord and as an artifact; nothing uploaded).

    Raises:
        PostflowError: a transient error that outlived its retries (the run ends Failed and
            a red Discord message is sent). A configuration or permanent error ends the run
            as a Failed state whose message is its one line (:func:`flows.outcomes.fail_expected`).
    """
    return fail_expected(_ingest, path)  # an expected error: Failed with its line


def _ingest(path: str) -> Any:
    """The body of :func:`ingest_file` (same returns; raises what it documents)."""
    try:
        settings = effective_settings()
    except Exception as exc:  # a .env or tuning block edited wrong: still say the file failed
        _notify(PostflowSettings.model_construct(), failure_embed(path, exc))  # the defaults
        raise
    if not path:
        problem = ConfigurationError("ingest-file started without a path (a malformed event?)")
        _notify(settings, failure_embed(path, problem, **_words(settings)))
        return Failed(message=str(problem))
    logger = get_run_logger()
    try:
        settings = settings_for_path(settings, path)  # its production's project
        nomenclature, shot = _parse(path, settings)
        refuse_empty(path)  # before any Frame.io call: not even its shot folder is made
    except NamingError as exc:
        _report_bad_name(path, exc, settings)
        emit_upload_failed(path, exc, None)
        return Failed(message=f"Unreadable name, not uploaded: {exc}")
    except PostflowError as exc:  # its rules, its production, an empty file: a person acts
        _failed(settings, path, exc, None)
        raise
    retry = retry_options(settings.task_retries, settings.task_retry_backoff_seconds)
    upload = upload_file.with_options(**retry)
    try:
        project = open_project_task.with_options(**retry)(settings)  # first Frame.io call
        folder_id, cache_hit = resolve_shot_folder(project, shot, settings, retry)
        endpoint = remote_endpoint(settings)  # Range server + tunnel; None: multipart only
        job = UploadJob(path, shot, folder_id, nomenclature, settings)
        try:
            result = upload(project, job, endpoint)
        except FrameioNotFound:
            logger.warning("Cached folder of %s is gone in Frame.io; resolving again", shot.file)
            folder_id, cache_hit = resolve_shot_folder(project, shot, settings, retry, refresh=True)
            result = upload(project, replace(job, folder_id=folder_id), endpoint)
    except IngestCancelled:
        logger.warning("Ingest of %s cancelled; nothing of it stays in Frame.io", path)
        raise
    except Exception as exc:
        _failed(settings, path, exc, shot)
        raise
    logger.info(
        "%s -> %s (%s: %s, %.1f MB/s)",
        shot.file,
        "/".join(shot.folder_path),
        result.strategy,
        result.strategy_reason,
        result.megabytes_per_second,
    )
    record = IngestRecord(
        path,
        shot,
        result,
        folder_id,
        cache_hit,
        settings.production,
        _manifest(settings, path, result),  # beside file_id and view_url
    )
    create_table_artifact(table=[record.artifact_row()], description=f"Ingest of {shot.file}")
    emit_upload_completed(record)
    _record_outcome(settings, path, None)
    label = f"{shot.scene} / {shot.shot} — V{shot.version:03d}"
    _notify(settings, success_embed(shot, result, **_words(settings)), (result.file_id, label))
    return record.as_dict()
