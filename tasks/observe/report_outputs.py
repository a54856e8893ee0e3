"""What the weekly report produces from its figures: markdown, CSV, PNG chart, Discord summary.

* :func:`render_markdown` - the Prefect markdown artifact (figures, recommendations, tables);
* :func:`write_csv` - one row per ingest run;
* :func:`render_chart` - files per day (bars, failures stacked) and mean MB/s (line), drawn
  with matplotlib's Agg canvas (no display, no pyplot global state: safe in worker threads);
* :func:`summary_embed` - the Discord embed of the summary; ``tasks.notify.discord.notify_discord``
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

from tasks.notify.messages import text
from tasks.observe.metrics import Recommendation, ReportMetrics

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


# (summary key, unit kind, shown on the previous line after " / "); the label of a line is
# ``figure_<key>`` in tasks/notify/report_words.py
SUMMARY_LINES: Sequence[tuple[str, str, bool]] = (
    ("files_ingested", "", False),
    ("failed", "", False),
    ("error_rate", "pct", False),
    ("success_rate", "pct", False),
    ("files_waiting", "", False),
    ("upload_failure_rate", "pct", False),
    ("cache_hit_rate", "pct", False),
    ("api_calls", "", False),
    ("api_success_rate", "pct", False),
    ("api_latency_seconds_mean", "s", False),
    ("api_latency_seconds_p50", "s", False),
    ("api_latency_seconds_p95", "s", True),
    ("structure_lookup_seconds_mean", "s", False),
    ("upload_part_puts", "", False),
    ("upload_part_failures", "", True),
    ("live_uploads", "", False),
    ("live_upload_failures", "", True),
    ("live_cache_hit_rate", "pct", False),
    ("alerts_fired", "", False),
    ("rate_limited_429", "", False),
    ("task_retries", "", False),
    ("part_retries", "", False),
    ("unparseable_names", "", False),
    ("megabytes_uploaded", "mb", False),
    ("megabytes_per_second_mean", "mbps", False),
    ("megabytes_per_second_median", "mbps", False),
    ("megabytes_per_second_p95", "mbps", False),
    ("cpu_percent_mean", "", False),
    ("cpu_percent_max", "", True),
    ("rss_mb_mean", "", False),
    ("rss_mb_max", "", True),
)


def summary_rows(summary: Mapping[str, Any], language: str = "en") -> list[dict[str, str]]:
    """``[{"figure", "value"}]`` in reading order (mean/max pairs on one line), the labels in
    ``language``."""
    rows: list[dict[str, str]] = []
    for key, kind, same_line in SUMMARY_LINES:
        if same_line:
            rows[-1]["value"] += f" / {fmt(summary.get(key), kind)}"
            continue
        rows.append(
            {"figure": text(f"figure_{key}", language), "value": fmt(summary.get(key), kind)}
        )
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


def _md_table(records: list[dict[str, Any]], language: str = "en") -> str:
    if not records:
        return f"_{text('report_nothing', language)}_\n"
    columns = list(records[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in records]
    return "\n".join(lines) + "\n"


def _error_kinds(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    kinds = summary.get("errors_by_kind") or {}
    return [{"error": kind, "count": count} for kind, count in kinds.items()]


def render_markdown(
    metrics: ReportMetrics,
    recommendations: list[Recommendation],
    window: str,
    language: str = "en",
) -> str:
    """The report as markdown, in ``language`` (``discord_language``): recommendations,
    figures, per-step durations, throughput by strategy, top errors, Frame.io calls per
    endpoint, errors by kind, alerts fired and unparseable names."""

    def words(key: str) -> str:
        return text(key, language)

    def table(records: list[dict[str, Any]]) -> str:
        return _md_table(records, language)

    recs = "\n".join(f"- {r.message}" for r in recommendations)
    parts = [
        f"# {words('report_title')}\n\n{words('report_window')}: {window}\n",
        f"## {words('report_recommendations')}\n\n{recs}\n",
        f"## {words('report_figures')}\n\n" + table(summary_rows(metrics.summary, language)),
        f"## {words('report_steps')}\n\n" + table(table_records(metrics.steps)),
        f"## {words('report_speed')}\n\n" + table(table_records(metrics.throughput)),
        f"## {words('report_errors')}\n\n" + table(table_records(metrics.errors)),
        f"## {words('report_endpoints')}\n\n" + table(table_records(metrics.endpoints)),
        f"## {words('report_error_kinds')}\n\n" + table(_error_kinds(metrics.summary)),
        f"## {words('report_alerts')}\n\n" + table(table_records(metrics.alerts)),
    ]
    if metrics.unparseable:
        parts.append(
            f"## {words('report_unparseable')}\n\n"
            + "\n".join(f"- `{n}`" for n in metrics.unparseable)
        )
    return "\n".join(parts) + "\n"


def write_csv(files: pd.DataFrame, path: Path) -> Path:
    """Write the per-file rows (one per ingest run) as CSV; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    files.to_csv(path, index=False)
    return path


def render_chart(daily: pd.DataFrame, path: Path, title: str, language: str = "en") -> Path:
    """Draw files per day (uploaded and failed, stacked bars) and mean MB/s (line, right
    axis) to a PNG at ``path`` (100 dpi, 10x5 in; labels in ``language``); returns ``path``.
    An empty window draws empty axes with a note."""
    figure = Figure(figsize=(10, 5), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    labels = [str(day) for day in daily.index]
    if labels:
        axis.bar(labels, daily["files"], color="#2ecc71", label=text("chart_uploaded", language))
        axis.bar(
            labels,
            daily["failed"],
            bottom=daily["files"],
            color="#e74c3c",
            label=text("chart_failed", language),
        )
        speed = axis.twinx()
        speed.plot(
            labels,
            daily["megabytes_per_second"],
            color="#2c3e50",
            marker="o",
            label=text("chart_speed", language),
        )
        speed.set_ylabel("MB/s")
        speed.set_ylim(bottom=0)
        speed.legend(loc="upper right")
        axis.legend(loc="upper left")
    else:
        axis.text(0.5, 0.5, text("chart_empty", language), ha="center", va="center")
    axis.set_ylabel(text("chart_per_day", language))
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
    language: str = "en",
) -> DiscordEmbed:
    """The Discord embed (in ``language``): key figures as fields, recommendations as the
    description; green when all is good, orange otherwise; the attached chart as its image."""
    good = [r.metric for r in recommendations] == ["all_good"]
    description = "\n".join(f"• {r.message}" for r in recommendations)
    embed = DiscordEmbed(
        title=text("embed_title", language).format(window=window)[:256],
        description=description[:4000],
        color=GREEN if good else ORANGE,
    )
    for label, key, kind in _EMBED_FIELDS:
        name = text(label, language)
        embed.add_embed_field(name=name, value=fmt(summary.get(key), kind), inline=True)
    if image_name:
        embed.set_image(url=f"attachment://{image_name}")
    return embed


# (label key in tasks/notify/report_words.py, summary key, unit kind) of the Discord summary's
# fields
_EMBED_FIELDS: Sequence[tuple[str, str, str]] = (
    ("figure_files_ingested", "files_ingested", ""),
    ("figure_error_rate", "error_rate", "pct"),
    ("figure_embed_megabytes_per_second_median", "megabytes_per_second_median", "mbps"),
    ("figure_embed_cache_hit_rate", "cache_hit_rate", "pct"),
    ("figure_rate_limited_429", "rate_limited_429", ""),
    ("figure_embed_rss_mb_max", "rss_mb_max", "mb"),
    ("figure_embed_api_success_rate", "api_success_rate", "pct"),
    ("figure_embed_api_latency_seconds_p95", "api_latency_seconds_p95", "s"),
    ("figure_alerts_fired", "alerts_fired", ""),
)
