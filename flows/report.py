"""Weekly optimisation report (deployment ``weekly-optimisation-report``, Mondays 07:00 Paris).

The story: read the window's ``ingest-file`` runs, their task runs and the ``postflow.upload.*``
events from the Prefect API -> compute the figures with pandas (:mod:`tasks.observe.metrics`) ->
compare
them with the alert thresholds of the ``PostflowTuning`` block -> publish: the report and its
chart as markdown artifacts and its tables as table artifacts in the Prefect UI, a CSV of
per-file rows and a PNG chart in the reports directory, a Discord summary with the chart
attached, and its text form (with a link to the run's artifacts) to each extra notification
block (``POSTFLOW_NOTIFY_BLOCKS``). The delivery manifest (ASC MHL) is linked too: each
production's history, its newest generation and the files delivered in the window
(:mod:`tasks.manifest.summary`). ``postflow report`` runs it on demand.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from discord_webhook import DiscordEmbed
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from blocks.settings import PostflowTuning, effective_settings, load_block
from core.errors import PostflowError
from tasks.manifest.summary import manifest_markdown, manifest_summaries
from tasks.notify.blocks import notify_blocks, text_form
from tasks.notify.discord import notify_discord
from tasks.notify.messages import text
from tasks.observe.metrics import recommend
from tasks.observe.report import (
    metrics_of,
    publish_artifacts,
    read_history,
    report_window,
    thresholds_from,
)
from tasks.observe.report_outputs import render_chart, render_markdown, summary_embed, write_csv


def _notify_blocks(refs: tuple[str, ...], embed: DiscordEmbed, language: str) -> list[str]:
    """The summary's text form, with a link to this run's artifacts (chart and tables, the
    label in ``language``), to each extra notification block; returns those that took it."""
    if not refs:
        return []
    subject, body = text_form(embed)
    link = flow_run.get_flow_run_ui_url()
    if link:
        body += f"\n{text('report_artifacts', language)}: {link}"
    return notify_blocks(refs, subject, body)


def _reports_dir(out_dir: str | None, state_dir: Path) -> Path:
    return Path(out_dir) if out_dir else state_dir / "reports"


@flow(name="weekly-optimisation-report", log_prints=False)
def weekly_optimisation_report(since: str = "7d", out_dir: str | None = None) -> dict[str, Any]:
    """Build the optimisation report of the ingests since ``since``.

    Args:
        since: window start: ``"7d"``, ``"24h"``, an ISO date or epoch seconds.
        out_dir: where the CSV and PNG go (default ``<POSTFLOW_STATE_DIR>/reports``).

    Returns:
        ``{"summary": {figure: value}, "recommendations": [message, ...], "csv": path,
        "chart": path, "discord_sent": bool, "notified_blocks": [block ref, ...], "manifest":
        [per production: history, latest_generation, deliveries, pending]}``.

    Raises:
        ConfigurationError: ``since`` cannot be read.
        prefect.exceptions.PrefectHTTPStatusError: the Prefect API refused a query.
    """
    logger = get_run_logger()
    settings = effective_settings()
    window_start, window_end, window = report_window(since)

    metrics = metrics_of(read_history(window_start, window_end))
    tuning = load_block(PostflowTuning, settings.tuning_block)
    language = settings.discord_language
    recommendations = recommend(metrics.summary, thresholds_from(tuning), language)  # type: ignore[arg-type]

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = _reports_dir(out_dir, settings.state_dir)
    csv_path = write_csv(metrics.files, out / f"postflow-report-{stamp}.csv")
    chart = render_chart(metrics.daily, out / f"postflow-report-{stamp}.png", window, language)
    manifest = manifest_summaries(settings, window_start.timestamp())
    markdown = (
        render_markdown(metrics, recommendations, window, language)
        + "\n"
        + manifest_markdown(manifest)
    )
    publish_artifacts(metrics, markdown, chart, window, language)
    embed = summary_embed(metrics.summary, recommendations, window, chart.name, language)
    delivered = sum(row["deliveries"] or 0 for row in manifest)
    histories = ", ".join(row["latest_generation"] or row["history"] for row in manifest)
    embed.add_embed_field(
        name=text("embed_delivered", language),
        value=text("embed_delivered_files", language).format(count=delivered, histories=histories)[
            :1024
        ],
    )
    try:
        sent = notify_discord(settings.discord_block, embed, chart)
    except PostflowError as exc:
        logger.warning("Discord summary not sent: %s", exc)
        sent = False
    notified = _notify_blocks(settings.notify_blocks, embed, language)
    logger.info("Report %s: %s; %s", window, csv_path, "; ".join(r.metric for r in recommendations))
    return {
        "summary": metrics.summary,
        "recommendations": [r.message for r in recommendations],
        "csv": str(csv_path),
        "chart": str(chart),
        "discord_sent": sent,
        "notified_blocks": notified,
        "manifest": manifest,
    }
