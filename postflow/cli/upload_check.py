"""The ``postflow test-upload`` command: send one file, watch its progress, read a diagnosis.

Registered on the main app by :func:`postflow.cli.admin.register`. The upload itself goes through
:func:`_upload`, the one place that calls the pipeline's upload entry point.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from core.errors import PostflowError
from postflow.cli.json_out import json_option, print_json
from postflow.cli.terminal import Strategy, console, err, load_settings, warn_if_public

if TYPE_CHECKING:
    from config.settings import PostflowSettings
    from tasks.structure.naming import ShotName

RESULT_ROWS = (
    "strategy",
    "strategy_reason",
    "size_bytes",
    "seconds",
    "megabytes_per_second",
    "parts",
    "retried_parts",
    "rate_limited",
    "view_url",
)


def _shot_of(file: Path, scene: str, shot: str) -> ShotName:
    """The ShotName of ``file`` placed in ``SCENES/<scene>/<shot>`` (version from ``_v003``).

    Raises:
        ConfigurationError: the scene or shot is not a fit folder name (one line naming it).
    """
    from tasks.structure.folder_names import check_folder_name
    from tasks.structure.naming import (
        DEFAULT_FOLDER_TEMPLATE,
        ShotName,
        normalise_name,
        split_extension,
    )

    for kind, value in (("scene", scene), ("shot", shot)):
        check_folder_name(value, kind)
    name = normalise_name(str(file))
    version = re.search(r"_v(\d+)$", split_extension(name)[0], re.IGNORECASE)
    folder = DEFAULT_FOLDER_TEMPLATE.format(scene=scene, shot=shot)
    return ShotName(
        name,
        scene,
        shot,
        int(version[1]) if version else 1,
        split_extension(name)[1],
        tuple(folder.split("/")),
        "test-upload",
    )


def _diagnosis(result: Any) -> str:
    """One line on what the upload's figures say (429s, retried parts, a slow uplink)."""
    notes = []
    if result.strategy == "skipped":
        return "already in Frame.io: nothing sent (delete it there to measure again)"
    if result.rate_limited:
        notes.append(f"{result.rate_limited} × 429: lower frameio_requests_per_second")
    if result.retried_parts:
        notes.append(f"{result.retried_parts} part(s) retried: the network drops connections")
    if result.size_bytes >= 50e6 and result.megabytes_per_second < 5:
        notes.append("under 5 MB/s: check the uplink, raise upload_part_concurrency")
    return "; ".join(notes) or "healthy upload"


def _upload(
    project: Any,
    file: Path,
    shot_name: ShotName,
    folder_id: str,
    settings: PostflowSettings,
    progress: Callable[[float], None],
) -> Any:
    """Upload ``file`` into ``folder_id`` by ``settings.upload_strategy``; the UploadResult.

    The one call into the pipeline's upload entry point, :func:`tasks.upload.run.run_upload`.

    Raises:
        PostflowError: the upload failed (after the pipeline's own retries and fallback).
    """
    from tasks.clients import remote_endpoint
    from tasks.structure.naming import load_nomenclature
    from tasks.upload.job import UploadJob
    from tasks.upload.run import run_upload

    rules = load_nomenclature(settings.nomenclature_path, settings.extensions)
    job = UploadJob(str(file.resolve()), shot_name, folder_id, rules, settings)
    return run_upload(project, job, remote_endpoint(settings), progress=progress)


def _figures(result: Any, file_name: str) -> dict[str, Any]:
    """The ``test-upload --json`` document: the file, the upload's figures, the diagnosis."""
    figures = {key: getattr(result, key) for key in RESULT_ROWS}
    return {"file": file_name, **figures, "diagnosis": _diagnosis(result)}


def _show(result: Any, file_name: str) -> None:
    """Print the upload's figures and the diagnosis as a table."""
    table = Table(title=f"Test upload of {file_name}", show_header=False)
    for key in RESULT_ROWS:
        value = getattr(result, key)
        table.add_row(key, str(round(value, 2) if isinstance(value, float) else value))
    table.add_row("diagnosis", _diagnosis(result))
    console.print(table)


def _folder_name(value: str) -> str:
    """typer callback of SCENE and SHOT: a value that cannot be one folder level (``A/B``,
    ``..``) is a bad parameter before anything starts (:mod:`tasks.structure.folder_names`)."""
    from tasks.structure.folder_names import name_problem

    problem = name_problem(value)
    if problem is not None:
        raise typer.BadParameter(f"{value!r} {problem}: not usable as a folder name")
    return value


def _not_empty(file: Path) -> Path:
    """typer callback of FILE: a 0-byte file is never uploaded."""
    from tasks.upload.source import empty_reason

    reason = empty_reason(str(file))
    if reason is not None:
        raise typer.BadParameter(reason)
    return file


def upload_test(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, callback=_not_empty, help="A file to send."
    ),
    scene: str = typer.Argument(..., callback=_folder_name, help="Scene folder, e.g. SC01."),
    shot: str = typer.Argument(..., callback=_folder_name, help="Shot folder, e.g. UNDLM_00412."),
    strategy: Strategy = typer.Option(
        Strategy.multipart,
        help="multipart, auto or remote. auto/remote start "
        "a Range server and a cloudflared tunnel for this upload; "
        "without cloudflared on PATH they fall back to multipart.",
    ),
    as_json: bool = json_option(
        "One JSON object: file, the upload's figures (strategy, size, seconds, speed, parts, "
        "retries, 429s, view URL) and the diagnosis; the progress bar goes to stderr."
    ),
) -> None:
    """Upload one file into SCENES/SCENE/SHOT with a progress bar and a short diagnosis."""
    from core.runtime import current_runtime
    from tasks.clients import open_project
    from tasks.structure.folders import resolve_folder_path

    settings = load_settings().model_copy(update={"upload_strategy": strategy.value})
    warn_if_public(settings)
    shot_name = _shot_of(file, scene, shot)
    columns = (*Progress.get_default_columns()[:1], BarColumn(), DownloadColumn())
    try:
        project = open_project(settings)
        folder_id = resolve_folder_path(project, shot_name.folder_path)
        shown = err if as_json else console
        with Progress(*columns, TransferSpeedColumn(), console=shown) as progress:
            bar = progress.add_task(shot_name.file, total=file.stat().st_size)
            advance = partial(progress.advance, bar)
            result = _upload(project, file, shot_name, folder_id, settings, advance)
    except PostflowError as exc:
        err.print(f"[red]Upload failed:[/red] {type(exc).__name__}: {escape(str(exc))}")
        raise typer.Exit(1) from exc
    finally:
        current_runtime().close()
    if as_json:
        print_json(_figures(result, shot_name.file))
    else:
        _show(result, shot_name.file)
