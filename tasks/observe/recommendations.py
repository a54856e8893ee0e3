"""Recommendations: which report figures crossed their threshold, and what to do about it.

:class:`Thresholds` holds the limits (the ``PostflowTuning`` block's alert thresholds, also
used by the live alerts of :mod:`tasks.observe.alerts`); :func:`recommend` compares a report's
summary (:attr:`tasks.observe.metrics.ReportMetrics.summary`) with them and words the advice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tasks.notify.messages import text

__all__ = ["Recommendation", "Thresholds", "recommend"]


@dataclass(frozen=True)
class Thresholds:
    """When a figure deserves a recommendation (defaults: the ``PostflowTuning`` block's).

    Attributes:
        error_rate: failed / finished ingests above this fires (fraction, 0.05 = 5 %).
        api_latency_seconds: mean seconds of a timed Frame.io API call above this fires.
        cache_hit_rate_min: structure cache hits / look-ups below this fires (fraction).
        memory_mb: peak worker RSS above this fires (10^6 bytes).
        upload_failure_rate: failed / all upload attempts (retries included) above this fires.
        min_api_calls: the live error-rate alert needs this many Frame.io calls in its window
            (one failed call in three is no 33 % trend).
        min_latency_calls: the live latency alert needs this many timed calls in its window.
        min_cache_lookups: the live cache-hit-rate alert needs this many structure-cache
            look-ups in its window (a new shot in a quiet window is always a miss).
        min_uploads: the live upload-failure alert needs this many uploads in its window.
    """

    error_rate: float = 0.05
    api_latency_seconds: float = 5.0
    cache_hit_rate_min: float = 0.70
    memory_mb: float = 500.0
    upload_failure_rate: float = 0.10
    min_api_calls: int = 20
    min_latency_calls: int = 5
    min_cache_lookups: int = 20
    min_uploads: int = 10


@dataclass(frozen=True)
class Recommendation:
    """One finding: ``metric`` is a summary key (or ``"all_good"``), ``value`` its figure,
    ``threshold`` the limit it crossed, ``message`` what to do, in words."""

    metric: str
    message: str
    value: float | None = None
    threshold: float | None = None


# (summary key, Thresholds field, fires when the figure is "above" or "below" the limit); the
# advice is ``advice_<summary key>`` in tasks/notify/report_words.py, with {value} and {limit}
_ADVICE: tuple[tuple[str, str, str], ...] = (
    ("error_rate", "error_rate", "above"),
    ("upload_failure_rate", "upload_failure_rate", "above"),
    ("api_latency_seconds_mean", "api_latency_seconds", "above"),
    ("cache_hit_rate", "cache_hit_rate_min", "below"),
    ("rss_mb_max", "memory_mb", "above"),
)


def _crossed(value: Any, limit: float, direction: str) -> bool:
    if value is None or pd.isna(value):
        return False
    return float(value) > limit if direction == "above" else float(value) < limit


def recommend(
    summary: Mapping[str, Any], thresholds: Thresholds, language: str = "en"
) -> list[Recommendation]:
    """Recommendations for every threshold crossed, or one ``all_good`` when none is.

    Args:
        summary: :attr:`ReportMetrics.summary`.
        thresholds: the limits (from the ``PostflowTuning`` block).
        language: the messages' language (``discord_language``: ``"en"`` or ``"fr"``).

    Returns:
        A non-empty list, in the order of ``_ADVICE``;
        ``[Recommendation("all_good", ...)]`` when every figure is fine.
    """
    found = []
    for metric, limit_name, direction in _ADVICE:
        value, limit = summary.get(metric), getattr(thresholds, limit_name)
        if value is not None and _crossed(value, limit, direction):
            advice = text(f"advice_{metric}", language)
            found.append(
                Recommendation(metric, advice.format(value=float(value), limit=limit), value, limit)
            )
    return found or [Recommendation("all_good", text("advice_all_good", language))]
