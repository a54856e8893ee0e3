"""What the weekly report produces from its figures: markdown, CSV, PNG chart, Discord summary.

* :func:`render_markdown` - the Prefect markdown artifact (figures, recommendations, tables);
* :func:`write_csv` - one row per ingest run;
* :func:`render_chart` - files per day (bars, failures stacked) and mean MB/s (line), drawn
  with matplotlib's Agg canvas (no display, no pyplot global state: safe in worker threads);
* :func:`summary_embed` - the Discord embed of the summary; ``tasks.notify.notify_discord``
  sends it with the chart attached, through the Discord block.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from discord_webhook import DiscordEmbed
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tasks.metrics import Recommendation, ReportMetrics

GREEN, ORANGE = "2ecc71", "e67e22"


def fmt(value: Any, kind: str = "") -> str:
    """Format a figure for people: ``"pct"`` 0.15 -> ``15.0 %``, ``"s"``, ``"mbps"``, ``"mb"``;
    None/NaN -> ``n/a``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if kind == "pct":
        return f"{float(value) * 100:.1f} %"
    if kind in ("s", "mbps", "mb"):
        unit = {"s": "s", "mbps": "MB/s", "mb": "MB"}[kind]
        return f"{float(value):.2f} {unit}"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


SUMMARY_LINES: Sequence[tuple[str, str, str]] = (
    ("Files ingested", "files_ingested", ""),
    ("Failed ingests", "failed", ""),
    ("Error rate", "error_rate", "pct"),
    ("Success rate", "success_rate", "pct"),
    ("Files waiting", "files_waiting", ""),
    ("Upload failure rate", "upload_failure_rate", "pct"),
    ("Structure cache hit rate", "cache_hit_rate", "pct"),
    ("Frame.io API calls", "api_calls", ""),
    ("Frame.io API success rate", "api_success_rate", "pct"),
    ("Frame.io API latency mean (all calls)", "api_latency_seconds_mean", "s"),
    ("Frame.io API latency p50 / p95", "api_latency_seconds_p50", "s"),
    ("", "api_latency_seconds_p95", "s"),
    ("Structure look-up mean (ensure-folder)", "structure_lookup_seconds_mean", "s"),
    ("Part PUTs (failed)", "upload_part_puts", ""),
    ("", "upload_part_failures", ""),
    ("Uploads measured live (failed)", "live_uploads", ""),
    ("", "live_upload_failures", ""),
    ("Structure cache hit rate (live)", "live_cache_hit_rate", "pct"),
    ("Alerts fired", "alerts_fired", ""),
    ("Frame.io 429s", "rate_limited_429", ""),
    ("Task retries", "task_retries", ""),
    ("Part retries", "part_retries", ""),
    ("Unparseable names", "unparseable_names", ""),
    ("Uploaded", "megabytes_uploaded", "mb"),
    ("Upload speed mean", "megabytes_per_second_mean", "mbps"),
    ("Upload speed median", "megabytes_per_second_median", "mbps"),
    ("Upload speed p95", "megabytes_per_second_p95", "mbps"),
    ("Worker CPU mean / peak (%)", "cpu_percent_mean", ""),
    ("", "cpu_percent_max", ""),
    ("Worker memory mean / peak (MB)", "rss_mb_mean", ""),
    ("", "rss_mb_max", ""),
)


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    """``[{"figure", "value"}]`` in reading order (mean/max pairs on one line)."""
    rows: list[dict[str, str]] = []
    for label, key, kind in SUMMARY_LINES:
        if not label:
            rows[-1]["value"] += f" / {fmt(summary.get(key), kind)}"
            continue
        rows.append({"figure": label, "value": fmt(summary.get(key), kind)})
    return rows


def table_records(frame: pd.DataFrame, digits: int = 3) -> list[dict[str, Any]]:
    """JSON-able records of a figures table (index as a column, NaN -> None, rounded)."""
    flat = frame.reset_index() if frame.index.name else frame
    out = []
    for record in flat.to_dict("records"):
        out.append(
            {
                str(k): (
                    None
                    if isinstance(v, float) and math.isnan(v)
                    else round(v, digits)
                    if isinstance(v, float)
                    else v
                    if isinstance(v, int | str | bool) or v is None
                    else str(v)
                )
                for k, v in record.items()
            }
        )
    return out


def _md_table(records: list[dict[str, Any]]) -> str:
    if not records:
        return "_none_\n"
    columns = list(records[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in records]
    return "\n".join(lines) + "\n"


def _error_kinds(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    kinds = summary.get("errors_by_kind") or {}
    return [{"error": kind, "count": count} for kind, count in kinds.items()]


def render_markdown(
    metrics: ReportMetrics, recommendations: list[Recommendation], window: str
) -> str:
    """The report as markdown: recommendations, figures, per-step durations, throughput by
    strategy, top errors, Frame.io calls per endpoint, errors by kind, alerts fired and
    unparseable names."""
    recs = "\n".join(f"- {r.message}" for r in recommendations)
    parts = [
        f"# RL PostFlow optimisation report\n\nWindow: {window}\n",
        f"## Recommendations\n\n{recs}\n",
        "## Figures\n\n" + _md_table(summary_rows(metrics.summary)),
        "## Duration per step (seconds)\n\n" + _md_table(table_records(metrics.steps)),
        "## Upload speed by strategy (MB/s)\n\n" + _md_table(table_records(metrics.throughput)),
        "## Top error types\n\n" + _md_table(table_records(metrics.errors)),
        "## Frame.io calls per endpoint\n\n" + _md_table(table_records(metrics.endpoints)),
        "## Frame.io errors by kind\n\n" + _md_table(_error_kinds(metrics.summary)),
        "## Alerts fired\n\n" + _md_table(table_records(metrics.alerts)),
    ]
    if metrics.unparseable:
        parts.append(
            "## Unparseable names\n\n" + "\n".join(f"- `{n}`" for n in metrics.unparseable)
        )
    return "\n".join(parts) + "\n"


def write_csv(files: pd.DataFrame, path: Path) -> Path:
    """Write the per-file rows (one per ingest run) as CSV; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    files.to_csv(path, index=False)
    return path


def render_chart(daily: pd.DataFrame, path: Path, title: str) -> Path:
    """Draw files per day (uploaded and failed, stacked bars) and mean MB/s (line, right
    axis) to a PNG at ``path`` (100 dpi, 10x5 in); returns ``path``. An empty window draws
    empty axes with a note."""
    figure = Figure(figsize=(10, 5), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    labels = [str(day) for day in daily.index]
    if labels:
        axis.bar(labels, daily["files"], color="#2ecc71", label="files uploaded")
        axis.bar(labels, daily["failed"], bottom=daily["files"], color="#e74c3c", label="failed")
        speed = axis.twinx()
        speed.plot(
            labels, daily["megabytes_per_second"], color="#2c3e50", marker="o", label="mean MB/s"
        )
        speed.set_ylabel("MB/s")
        speed.set_ylim(bottom=0)
        speed.legend(loc="upper right")
        axis.legend(loc="upper left")
    else:
        axis.text(0.5, 0.5, "no ingests in this window", ha="center", va="center")
    axis.set_ylabel("files per day")
    axis.set_title(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def summary_embed(
    summary: Mapping[str, Any],
    recommendations: list[Recommendation],
    window: str,
    image_name: str | None,
) -> DiscordEmbed:
    """The Discord embed: key figures as fields, recommendations as the description; green
    when all is good, orange otherwise; the attached chart as its image."""
    good = [r.metric for r in recommendations] == ["all_good"]
    text = "\n".join(f"• {r.message}" for r in recommendations)
    embed = DiscordEmbed(
        title=f"Weekly optimisation report ({window})"[:256],
        description=text[:4000],
        color=GREEN if good else ORANGE,
    )
    fields = {
        "Files ingested": fmt(summary.get("files_ingested")),
        "Error rate": fmt(summary.get("error_rate"), "pct"),
        "Upload speed (median)": fmt(summary.get("megabytes_per_second_median"), "mbps"),
        "Cache hit rate": fmt(summary.get("cache_hit_rate"), "pct"),
        "Frame.io 429s": fmt(summary.get("rate_limited_429")),
        "Peak memory": fmt(summary.get("rss_mb_max"), "mb"),
        "Frame.io API success": fmt(summary.get("api_success_rate"), "pct"),
        "API latency p95": fmt(summary.get("api_latency_seconds_p95"), "s"),
        "Alerts fired": fmt(summary.get("alerts_fired")),
    }
    for name, value in fields.items():
        embed.add_embed_field(name=name, value=value, inline=True)
    if image_name:
        embed.set_image(url=f"attachment://{image_name}")
    return embed
