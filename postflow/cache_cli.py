"""``postflow cache stats`` and ``postflow cache clear``: the structure cache's records.

Registered on the main app by :func:`postflow.admin.register` as the ``cache`` group. The
records are Prefect cache records (``tasks/structure.py``'s ensure-folder task) in
``structure_cache_dir`` or Prefect's local result storage.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from config.settings import PostflowSettings
from postflow.terminal import check_since, console, load_settings, with_prefect_api

cache_app = typer.Typer(help="The structure cache (shot folder ids) in Prefect's storage.")


def _cache_dir(settings: PostflowSettings) -> Path:
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    return Path(settings.structure_cache_dir or PREFECT_LOCAL_STORAGE_PATH.value()).expanduser()


def _cache_records(folder: Path) -> list[tuple[list[Path], bool, str]]:
    """``(files, expired, text)`` of every Prefect cache record in ``folder``.

    A record is either whole (``{"metadata", "result"}``, Prefect's default storage) or, with
    ``structure_cache_dir`` set, metadata here and the result at its ``storage_key``; ``files``
    holds both then, and ``text`` both contents (so a folder id can be matched).
    """
    now, out = datetime.now(UTC), []
    for path in sorted(p for p in folder.glob("*") if p.is_file() and p.suffix != ".lock"):
        try:
            text = path.read_text(encoding="utf-8")
            document = json.loads(text)
            metadata = document.get("metadata", document)
            storage_key = metadata["storage_key"]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            continue
        files, result = [path], Path(storage_key)
        if "metadata" not in document and result.is_file():
            files.append(result)
            text += result.read_text(encoding="utf-8", errors="replace")
        expiration = metadata.get("expiration")
        expired = bool(expiration) and datetime.fromisoformat(expiration) < now
        out.append((files, expired, text))
    return out


@cache_app.command("stats")
@with_prefect_api
def cache_stats(
    since: str = typer.Option(
        "7d", callback=check_since, help="Window of the hit rate: 24h, 7d, an ISO date."
    ),
) -> None:
    """Entries, expired entries and the structure cache hit rate.

    The hit rate is cached vs executed ensure-folder task runs in the window (Prefect API).
    """
    from tasks.metrics import compute_metrics
    from tasks.telemetry import read_ingest_history
    from tasks.watch_folder import parse_since

    settings = load_settings()
    folder = _cache_dir(settings)
    records = _cache_records(folder) if folder.is_dir() else []
    start = datetime.fromtimestamp(parse_since(since) or 0, UTC)
    history = read_ingest_history(start, datetime.now(UTC))
    summary = compute_metrics(history.runs, history.task_runs, []).summary
    table = Table(title=f"Structure cache ({folder})", show_header=False)
    table.add_row("entries", str(len(records)))
    table.add_row("expired", str(sum(expired for _, expired, _ in records)))
    rate = summary["cache_hit_rate"]
    table.add_row(f"hit rate ({since})", "n/a" if rate is None else f"{rate:.1%}")
    table.add_row("look-ups", str(summary["structure_lookups"]))
    console.print(table)


@cache_app.command("clear")
def cache_clear(
    pattern: str | None = typer.Option(
        None, help="Only records whose key or content contains this text (e.g. a folder id)."
    ),
    expired_only: bool = typer.Option(False, "--expired-only", help="Only expired records."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete cache records: all, or those matching --pattern / --expired-only.

    Asks first unless --yes. The next ingest of an affected shot looks its folder up in
    Frame.io again.
    """
    folder = _cache_dir(load_settings())
    records = _cache_records(folder) if folder.is_dir() else []
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
    console.print(f"Removed {len(chosen)} of {len(records)} cache record(s) from {folder}")
