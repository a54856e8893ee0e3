"""``postflow cache stats`` and ``postflow cache clear``: the structure cache's records.

Registered on the main app by :func:`postflow.cli.admin.register` as the ``cache`` group. The
records are Prefect cache records (``tasks/structure/folders.py``'s ensure-folder task) in
``structure_cache_dir`` or Prefect's local result storage, which other flows share: only
records named for this installation (:mod:`tasks.structure.cache`) are counted or deleted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from postflow.cli.json_out import json_option, print_json
from postflow.cli.terminal import check_since, console, load_settings, with_prefect_api

if TYPE_CHECKING:
    from config.sections.tasks import TaskSettings
    from config.settings import PostflowSettings

cache_app = typer.Typer(help="The structure cache (shot folder ids) in Prefect's storage.")


def _cache_dir(settings: TaskSettings) -> Path:
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    return Path(settings.structure_cache_dir or PREFECT_LOCAL_STORAGE_PATH.value()).expanduser()


def _cache_records(
    folder: Path, installation: str
) -> tuple[list[tuple[list[Path], bool, str]], int]:
    """``([(files, expired, text), ...], others)``: this installation's cache records in
    ``folder``, and how many other files were left alone.

    Only records named ``postflow-structure_<installation>_<hash>``
    (:func:`tasks.structure.cache.is_ours`) are ours; everything else - another flow's result,
    another installation's record, a record of a version before records were named - is
    counted in ``others`` and never touched. A record is either whole (``{"metadata",
    "result"}``, Prefect's default storage) or, with ``structure_cache_dir`` set, metadata here
    and the result at its ``storage_key`` (same name, in the result storage); ``files`` holds
    both then, and ``text`` both contents (so a folder id can be matched).
    """
    from tasks.structure.cache import is_ours

    now, out, others = datetime.now(UTC), [], 0
    for path in sorted(p for p in folder.glob("*") if p.is_file() and p.suffix != ".lock"):
        if not is_ours(path.name, installation):
            others += 1
            continue
        try:
            text = path.read_text(encoding="utf-8")
            document = json.loads(text)
            metadata = document.get("metadata", document)
            storage_key = metadata["storage_key"]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            others += 1
            continue
        files, result = [path], Path(storage_key)
        if "metadata" not in document and result.is_file() and is_ours(result.name, installation):
            files.append(result)
            text += result.read_text(encoding="utf-8", errors="replace")
        expiration = metadata.get("expiration")
        expired = bool(expiration) and datetime.fromisoformat(expiration) < now
        out.append((files, expired, text))
    return out, others


def _records_of(settings: PostflowSettings) -> tuple[Path, list[tuple[list[Path], bool, str]], int]:
    """``(folder, our records, others left alone)`` for the configured storage."""
    folder = _cache_dir(settings)
    if not folder.is_dir():
        return folder, [], 0
    return folder, *_cache_records(folder, settings.installation)


@cache_app.command("stats")
@with_prefect_api
def cache_stats(
    since: str = typer.Option(
        "7d", callback=check_since, help="Window of the hit rate: 24h, 7d, an ISO date."
    ),
    as_json: bool = json_option(
        "One JSON object: folder, since, entries, expired, hit_rate (0-1 or null), lookups, "
        "others (files not ours)."
    ),
) -> None:
    """This installation's entries, expired entries and the structure cache hit rate.

    The hit rate is cached vs executed ensure-folder task runs in the window (Prefect API).
    """
    from core.since import parse_since
    from tasks.observe.metrics import compute_metrics
    from tasks.observe.telemetry import read_ingest_history

    settings = load_settings()
    folder, records, others = _records_of(settings)
    start = datetime.fromtimestamp(parse_since(since) or 0, UTC)
    history = read_ingest_history(start, datetime.now(UTC))
    summary = compute_metrics(history.runs, history.task_runs, []).summary
    if as_json:
        figures = {
            "folder": str(folder),
            "since": since,
            "entries": len(records),
            "expired": sum(expired for _, expired, _ in records),
            "hit_rate": summary["cache_hit_rate"],
            "lookups": summary["structure_lookups"],
            "others": others,
        }
        print_json(figures)
        return
    table = Table(title=f"Structure cache ({folder})", show_header=False)
    table.add_row("entries", str(len(records)))
    table.add_row("expired", str(sum(expired for _, expired, _ in records)))
    rate = summary["cache_hit_rate"]
    table.add_row(f"hit rate ({since})", "n/a" if rate is None else f"{rate:.1%}")
    table.add_row("look-ups", str(summary["structure_lookups"]))
    table.add_row("other files (not ours)", str(others))
    console.print(table)


@cache_app.command("clear")
def cache_clear(
    pattern: str | None = typer.Option(
        None, help="Only records whose key or content contains this text (e.g. a folder id)."
    ),
    expired_only: bool = typer.Option(False, "--expired-only", help="Only expired records."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete this installation's cache records: all, or those matching --pattern/--expired-only.

    Only records this installation wrote (named postflow-structure_<installation>_<hash>) are
    candidates; other flows' results in the same storage are never touched. Asks first
    unless --yes. The next ingest of an affected shot looks its folder up in Frame.io again.
    """
    settings = load_settings()
    folder, records, others = _records_of(settings)
    chosen = [
        files
        for files, expired, text in records
        if not (pattern and pattern not in files[0].name and pattern not in text)
        and not (expired_only and not expired)
    ]
    if chosen and not yes:
        typer.confirm(
            f"Delete {len(chosen)} of {len(records)} cache record(s) from {folder}?", abort=True
        )
    for files in chosen:
        for path in files:
            path.unlink(missing_ok=True)
    console.print(
        f"Removed {len(chosen)} of {len(records)} cache record(s) of installation "
        f"{settings.installation!r} from {folder}; {others} other file(s) there left alone"
    )
