"""``postflow manifest``: list a production's deliveries, re-hash their sources, write the MHL.

The deliveries come from the state store (:mod:`tasks.manifest`); the command first writes the
pending ones into the production's ASC MHL history, then lists them, and with ``--verify``
re-hashes each source in the watch folder against its newest delivery.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from core.errors import ConfigurationError, ManifestError
from postflow.cli.json_out import json_option, print_json, print_json_lines
from postflow.cli.terminal import check_since, console, err, load_settings

if TYPE_CHECKING:  # the store (SQLAlchemy) and the upload modules load when the command runs
    from config.settings import PostflowSettings
    from tasks.manifest import Check, Delivery, Written

PROGRESS_FROM_BYTES = 100_000_000
"""A progress bar (stderr) when the sources to re-hash add up to at least this (bytes)."""


def _production(settings: PostflowSettings, name: str | None) -> PostflowSettings:
    """The settings of production ``name`` (the only one when None).

    Raises:
        ConfigurationError: no production of that name, or several and none named.
    """
    from config.productions import production_settings

    candidates = production_settings(settings)
    if name is None:
        if len(candidates) == 1:
            return candidates[0]
        names = ", ".join(c.production for c in candidates)
        raise ConfigurationError(f"several productions ({names}): name one with --production")
    for candidate in candidates:
        if candidate.production == name:
            return candidate
    known = ", ".join(c.production or "(default)" for c in candidates)
    raise ConfigurationError(f"no production named {name!r} (known: {known})")


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).astimezone().strftime("%Y-%m-%d %H:%M %Z")


def _deliveries_table(deliveries: list[Delivery], written: Written) -> Table:
    table = Table(title=escape(f"Deliveries ({len(deliveries)}) · manifest {written.root}"))
    for column in ("delivered", "path", "size (B)", "xxh128", "gen", "Frame.io"):
        table.add_column(column, overflow="fold")
    for d in deliveries:
        generation = str(d.generation) if d.generation is not None else "pending"
        row = (
            _when(d.delivered_at),
            escape(d.rel_path),
            f"{d.size_bytes:,}",
            d.xxh128[:12],
            generation,
        )
        table.add_row(*row, d.view_url or d.file_id)
    return table


def _verified(deliveries: list[Delivery], watch_path: Path) -> list[Check]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from tasks.manifest import verify_deliveries

    total = sum(d.size_bytes for d in deliveries)
    if total < PROGRESS_FROM_BYTES:
        return verify_deliveries(deliveries, watch_path)
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        bar = progress.add_task("re-hashing", total=total)
        return verify_deliveries(deliveries, watch_path, lambda n: progress.advance(bar, n))


def _checks_table(checks: list[Check]) -> Table:
    from tasks.manifest import Status

    colours = {Status.OK: "green", Status.CHANGED: "red", Status.MISSING: "yellow"}
    table = Table(title="Sources re-hashed against the manifest")
    for column in ("status", "path", "delivered", "detail"):
        table.add_column(column, overflow="fold")
    for check in checks:
        status = f"[{colours[check.status]}]{check.status}[/]"
        when = _when(check.delivery.delivered_at)
        table.add_row(status, escape(check.delivery.rel_path), when, escape(check.detail))
    return table


def _write(settings: PostflowSettings) -> Written:
    """Write the pending deliveries; a history that cannot be written is a warning here (the
    listing comes from the store all the same)."""
    from tasks.manifest import Written, manifest_root, write_pending

    try:
        return write_pending(settings)
    except ManifestError as exc:
        err.print(f"[yellow]Warning:[/yellow] {exc}", soft_wrap=True)
        return Written(manifest_root(settings), reason=str(exc))


def manifest(
    production: str | None = typer.Option(
        None, help="The production (see POSTFLOW_PRODUCTIONS_FILE); default: the only one."
    ),
    since: str | None = typer.Option(
        None, callback=check_since, help="Only deliveries since: 12h, 7d, an ISO date, epoch s."
    ),
    verify: bool = typer.Option(
        False, "--verify", help="Re-hash each listed source (XXH3-128) against its delivery."
    ),
    as_json: bool = json_option(
        "One JSON object per line: each delivery with its manifest folder; with --verify, "
        "then each check (path, status, detail)."
    ),
) -> None:
    """List the files delivered to Frame.io, from the ASC MHL delivery manifest.

    Each delivery is a file uploaded by an ingest: its path relative to the watch folder, size,
    xxh128 (the XXH3-128 computed while it was sent), time and Frame.io link. The deliveries
    live in the state store; the command first writes those not yet in the production's ASC MHL
    history (POSTFLOW_MANIFEST_DIR, default <state_dir>/mhl/<production>) as one generation.

    --verify re-hashes each listed source in the watch folder against its newest delivery and
    prints OK, CHANGED (other size or hash) or MISSING. Exit code 1 when any is not OK.
    """
    from blocks.store import open_store
    from core.since import parse_since
    from tasks.manifest import DeliveryLog, Status

    settings = _production(load_settings(), production)
    written = _write(settings)
    deliveries = DeliveryLog(open_store(settings)).listed(since=parse_since(since))
    checks = _verified(deliveries, Path(settings.watch_path)) if verify else []
    if as_json:
        print_json_lines({**d.__dict__, "manifest": str(written.root)} for d in deliveries)
        for check in checks:
            line = {"path": check.delivery.rel_path, "status": str(check.status)}
            print_json({**line, "detail": check.detail})
    else:
        if written.file is not None:
            console.print(f"Wrote generation {written.generation}: {written.file}")
        console.print(_deliveries_table(deliveries, written) if deliveries else "No deliveries.")
        if checks:
            console.print(_checks_table(checks))
    bad = [c for c in checks if c.status is not Status.OK]
    if bad:
        err.print(f"[red]{len(bad)} of {len(checks)} sources differ from the manifest[/red]")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``postflow manifest`` to the ``postflow`` app."""
    app.command()(manifest)
