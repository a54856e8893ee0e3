"""The delivery manifest in the weekly report: where each production's history is, its newest
generation and how many files it delivered in the window."""

from __future__ import annotations

from typing import Any

from blocks.store import open_store
from config.productions import production_settings
from config.settings import PostflowSettings
from core.errors import PostflowError
from tasks.manifest.deliveries import DeliveryLog
from tasks.manifest.record import write_pending

__all__ = ["manifest_markdown", "manifest_summaries"]


def _summary(settings: PostflowSettings, since: float) -> dict[str, Any]:
    row: dict[str, Any] = {"production": settings.production or settings.installation}
    try:
        written = write_pending(settings)  # the report shows a history that is up to date
        log = DeliveryLog(open_store(settings))
        state = log.state()
        row.update(
            history=str(written.root / "ascmhl"),
            latest_generation=state.last_generation_file or "",
            deliveries=log.count_since(since),
            pending=len(log.listed(pending_only=True)),
        )
    except PostflowError as exc:  # the report goes out all the same
        row.update(history="", latest_generation="", deliveries=None, pending=None, error=str(exc))
    return row


def manifest_summaries(settings: PostflowSettings, since: float) -> list[dict[str, Any]]:
    """One row per production: ``production``, ``history`` (the ``ascmhl`` folder),
    ``latest_generation`` (its newest .mhl file), ``deliveries`` since ``since`` (Unix
    seconds) and ``pending`` (not yet written; each pending delivery is written first). A
    production whose store or history cannot be read gets ``error`` instead of figures.

    Raises:
        ConfigurationError: the productions file cannot be read.
    """
    return [_summary(production, since) for production in production_settings(settings)]


def manifest_markdown(rows: list[dict[str, Any]]) -> str:
    """The report's "Delivery manifest (ASC MHL)" section."""
    lines = ["## Delivery manifest (ASC MHL)\n"]
    for row in rows:
        if row.get("error"):
            lines.append(f"- **{row['production']}**: not available ({row['error']})")
            continue
        pending = f", {row['pending']} pending" if row["pending"] else ""
        lines.append(
            f"- **{row['production']}**: {row['deliveries']} files delivered in the window; "
            f"history `{row['history']}`, latest generation `{row['latest_generation'] or '-'}`"
            f"{pending}. Verify: `postflow manifest --verify`."
        )
    return "\n".join(lines) + "\n"
