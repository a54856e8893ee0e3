"""Report figures and recommendations from plain rows (pandas only, no Prefect)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.observe.metrics import (
    UPLOAD_COMPLETED,
    UPLOAD_FAILED,
    Thresholds,
    compute_metrics,
    recommend,
    status_counts,
)

DAY1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def _run(i: int, state: str = "COMPLETED", day: datetime = DAY1, seconds: float = 2.0) -> dict:
    return {
        "id": f"r{i}",
        "path": f"/w/SC01_A_{i:05d}_V001.mov",
        "state": state,
        "start_time": day + timedelta(minutes=i),
        "seconds": seconds,
    }


def _done(i: int, mbps: float, day: datetime = DAY1, **extra: object) -> dict:
    row = {
        "event": UPLOAD_COMPLETED,
        "occurred": day + timedelta(minutes=i),
        "flow_run_id": f"r{i}",
        "path": f"/w/SC01_A_{i:05d}_V001.mov",
        "size_bytes": 10_000_000,
        "seconds": 10 / mbps,
        "strategy": "multipart",
        "megabytes_per_second": mbps,
        "rate_limited": 0,
        "retried_parts": 0,
        "cpu_percent": 10.0,
        "rss_mb": 200.0,
    }
    return {**row, **extra}


def _failed(i: int, error_type: str, day: datetime = DAY1, **extra: object) -> dict:
    return {
        "event": UPLOAD_FAILED,
        "occurred": day + timedelta(minutes=i),
        "flow_run_id": f"r{i}",
        "path": f"/w/BAD_{i}.mov",
        "error_type": error_type,
        "cpu_percent": 30.0,
        "rss_mb": 250.0,
        **extra,
    }


def _structure(run: int, cached: bool, seconds: float = 0.5) -> dict:
    return {
        "flow_run_id": f"r{run}",
        "task": "ensure-folder",
        "state_name": "Cached" if cached else "Completed",
        "seconds": seconds,
        "run_count": 0 if cached else 1,
    }


def _upload(run: int, state: str = "Completed", run_count: int = 1) -> dict:
    return {
        "flow_run_id": f"r{run}",
        "task": "upload-file",
        "state_name": state,
        "seconds": 3.0,
        "run_count": run_count,
    }


@pytest.fixture
def week():
    """17 landed, 2 Frame.io auth failures, 1 bad name; 3 structure look-ups, 1 cached."""
    runs = [_run(i) for i in range(17)]
    runs += [_run(17, "FAILED"), _run(18, "FAILED"), _run(19, "FAILED", day=DAY2)]
    runs.append(
        {
            "id": "w1",
            "path": "/w/SC02_B_00001_V001.mov",
            "state": "SCHEDULED",
            "start_time": None,
            "seconds": 0.0,
        }
    )
    events = [_done(i, mbps=10.0 + i, rate_limited=1 if i < 2 else 0) for i in range(17)]
    events += [
        _failed(17, "FrameioAuthError"),
        _failed(18, "FrameioAuthError"),
        _failed(19, "NamingError", day=DAY2, path="/w/RANDOM_RENDER.mov"),
    ]
    tasks = [_structure(0, False, 1.0), _structure(1, True), _structure(2, False, 3.0)]
    tasks += [_upload(i) for i in range(17)] + [_upload(17, "Failed"), _upload(18, "Failed")]
    tasks[3]["run_count"] = 2  # one upload retried once, then landed
    return compute_metrics(runs, tasks, events)


def test_counts_and_rates_match_the_rows(week):
    s = week.summary
    assert (s["runs_finished"], s["files_ingested"], s["failed"]) == (20, 17, 3)
    assert s["error_rate"] == pytest.approx(0.15)
    assert s["files_waiting"] == 1
    assert s["unparseable_names"] == 1


def test_upload_failures_count_failed_attempts_including_retries(week):
    assert week.summary["upload_attempts"] == 20  # 19 task runs, one of them ran twice
    assert week.summary["upload_failure_rate"] == pytest.approx(3 / 20)
    assert week.summary["task_retries"] == 1


def test_cache_hit_rate_and_lookup_time_come_from_structure_task_runs(week):
    assert week.summary["cache_hit_rate"] == pytest.approx(1 / 3)
    assert week.summary["structure_lookup_seconds_mean"] == pytest.approx(2.0)  # executed only
    assert week.summary["api_latency_seconds_mean"] is None  # no timed calls in this week
    assert week.steps.loc["ensure-folder", "count"] == 2


def test_throughput_by_strategy_has_mean_median_p95(week):
    row = week.throughput.loc["multipart"]
    assert row["count"] == 17
    assert row["mean"] == pytest.approx(18.0) and row["median"] == pytest.approx(18.0)
    assert row["median"] < row["p95"] <= 26.0
    assert week.summary["rate_limited_429"] == 2


def test_top_errors_daily_figures_and_unparseable_names(week):
    assert week.errors.to_dict("records") == [
        {"error_type": "FrameioAuthError", "count": 2},
        {"error_type": "NamingError", "count": 1},
    ]
    assert week.daily["files"].tolist() == [17, 0]
    assert week.daily["failed"].tolist() == [2, 1]
    assert week.unparseable == ["RANDOM_RENDER.mov"]


def test_per_file_rows_join_runs_with_their_upload_event(week):
    files = week.files.set_index("id")
    assert len(files) == 21
    assert files.loc["r3", "megabytes_per_second"] == 13.0
    assert files.loc["r17", "error_type"] == "FrameioAuthError"
    assert {"run_seconds", "upload_seconds", "state"} <= set(files.columns)


def test_worker_cpu_and_memory_from_event_samples(week):
    assert week.summary["rss_mb_max"] == 250.0
    assert week.summary["cpu_percent_max"] == 30.0


def test_error_rate_and_cache_recommendations_fire_above_thresholds(week):
    fired = {r.metric: r for r in recommend(week.summary, Thresholds())}
    assert set(fired) == {"error_rate", "upload_failure_rate", "cache_hit_rate"}
    assert "15.0%" in fired["error_rate"].message
    assert fired["error_rate"].threshold == 0.05


def test_all_good_when_no_threshold_is_crossed(week):
    relaxed = Thresholds(error_rate=0.2, upload_failure_rate=0.2, cache_hit_rate_min=0.3)
    [only] = recommend(week.summary, relaxed)
    assert only.metric == "all_good"
    assert "All good" in only.message


def test_memory_and_latency_recommendations(week):
    strict = Thresholds(
        error_rate=1,
        upload_failure_rate=1,
        cache_hit_rate_min=0,
        memory_mb=240,
        api_latency_seconds=1.5,
    )
    timed = {**week.summary, "api_latency_seconds_mean": 2.0}  # from postflow.metrics events
    assert {r.metric for r in recommend(timed, strict)} == {
        "rss_mb_max",
        "api_latency_seconds_mean",
    }


def test_empty_window_gives_zero_counts_and_no_rates():
    empty = compute_metrics([], [], [])
    assert empty.summary["files_ingested"] == 0
    assert empty.summary["error_rate"] is None and empty.summary["cache_hit_rate"] is None
    assert empty.daily.empty and empty.files.empty
    assert [r.metric for r in recommend(empty.summary, Thresholds())] == ["all_good"]


def test_status_counts_use_each_files_latest_run():
    runs = [
        {**_run(1, "FAILED"), "path": "/w/a.mov"},
        {**_run(2, "COMPLETED"), "path": "/w/a.mov"},  # rerun landed
        {**_run(3, "FAILED"), "path": "/w/b.mov"},
        {**_run(4, "RUNNING"), "path": "/w/c.mov"},
        {"id": "x", "path": "/w/d.mov", "state": "SCHEDULED", "start_time": None, "seconds": 0},
    ]
    assert status_counts(runs) == {
        "pending": 1,
        "running": 1,
        "failed": 1,
        "done": 1,
        "cancelled": 0,
    }


def test_a_rate_exactly_at_its_threshold_fires_nothing():
    summary = {"error_rate": 0.05, "cache_hit_rate": 0.70, "rss_mb_max": 500.0}
    assert [r.metric for r in recommend(summary, Thresholds())] == ["all_good"]


def test_recommendations_carry_figure_and_limit_in_a_fixed_order():
    summary = {"rss_mb_max": 900.0, "cache_hit_rate": 0.5, "error_rate": 0.2}
    found = recommend(summary, Thresholds())
    assert [r.metric for r in found] == ["error_rate", "cache_hit_rate", "rss_mb_max"]
    assert (found[2].value, found[2].threshold) == (900.0, 500.0)
    assert "900 MB (limit 500 MB)" in found[2].message


def test_thresholds_come_from_the_tuning_block():
    from blocks.settings import PostflowTuning
    from tasks.observe.report import thresholds_from

    assert thresholds_from(None) == Thresholds()
    assert thresholds_from(PostflowTuning(alert_memory_mb=64)).memory_mb == 64


def test_report_window_reads_relative_spans_and_refuses_nonsense():
    from core.errors import ConfigurationError
    from tasks.observe.report import report_window

    now = datetime(2025, 3, 10, 7, 0, tzinfo=UTC)
    start, end, label = report_window("2025-03-03T07:00:00+00:00", now=now)
    assert (start, end) == (datetime(2025, 3, 3, 7, 0, tzinfo=UTC), now)
    assert label == "2025-03-03 07:00 to 2025-03-10 07:00 UTC"
    with pytest.raises(ConfigurationError, match="next tuesday"):
        report_window("next tuesday")


def test_the_report_follows_the_installations_language(week, tmp_path):
    """Issue 21: report texts were English only, though discord_language exists."""
    from tasks.observe.report_outputs import render_chart, render_markdown, summary_embed

    french = recommend(week.summary, Thresholds(), "fr")
    english = recommend(week.summary, Thresholds())
    assert [r.metric for r in french] == [r.metric for r in english]  # same findings
    assert any("dépasse" in r.message for r in french)
    markdown = render_markdown(week, french, "7 j", "fr")
    assert markdown.startswith("# Rapport d'optimisation RL PostFlow\n\nPériode: 7 j")
    assert "## Chiffres" in markdown and "| Fichiers ingérés |" in markdown
    assert "Files ingested" not in markdown and "Recommendations" not in markdown
    embed = summary_embed(week.summary, french, "7 j", None, "fr")
    assert embed.title == "Rapport d'optimisation hebdomadaire (7 j)"
    assert "Pic de mémoire" in [field["name"] for field in embed.fields]
    assert render_chart(week.daily, tmp_path / "chart.png", "7 j", "fr").stat().st_size > 0
    assert recommend({}, Thresholds(), "fr")[0].message.startswith("Tout va bien")
