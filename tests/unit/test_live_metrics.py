"""The rolling window of live figures and the timing of calls at the edge."""

from __future__ import annotations

import httpx
import pytest

from blocks.call_timing import CallRecord, TimedTransport, add_call_observer, endpoint_name
from tasks.observe.live_metrics import LiveWindow, percentile


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _call(seconds: float, error: str | None = None, kind: str = "api") -> CallRecord:
    return CallRecord("GET /v4/x", kind, 500 if error else 200, seconds, error)


def test_percentile_interpolates_like_pandas():
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == pytest.approx(2.5)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.95) == pytest.approx(3.85)
    assert percentile([], 0.5) is None


def test_error_rate_and_latency_count_api_calls_only():
    window = LiveWindow(60, Clock())
    for seconds in (1.0, 2.0, 3.0):
        window.record_call(_call(seconds))
    window.record_call(_call(4.0, "HTTP 503"))
    window.record_call(_call(9.0, "ReadError", kind="upload"))  # a part PUT
    figures = window.figures()
    assert figures["api_calls"] == 4 and figures["api_failures"] == 1
    assert figures["error_rate"] == pytest.approx(0.25)
    assert figures["api_latency_seconds_mean"] == pytest.approx(2.5)


def test_old_entries_leave_the_window():
    clock = Clock()
    window = LiveWindow(10, clock)
    window.record_call(_call(1.0, "HTTP 500"))
    window.record_upload(False)
    window.record_cache(False)
    clock.now += 11
    window.record_cache(True)
    figures = window.figures()
    assert figures["api_calls"] == 0 and figures["error_rate"] is None
    assert figures["upload_failure_rate"] is None
    assert figures["cache_hit_rate"] == 1.0


def test_uploads_cache_and_process_figures():
    window = LiveWindow(60, Clock())
    for speed in (10.0, 20.0, 30.0):
        window.record_upload(True, speed, 1_000_000)
    window.record_upload(False)
    window.record_cache(True)
    window.record_cache(False)
    window.record_process(300.0, 50.0)
    window.record_process(200.0, 150.0)
    figures = window.figures()
    assert figures["upload_failure_rate"] == pytest.approx(0.25)
    assert figures["megabytes_per_second_median"] == pytest.approx(20.0)
    assert figures["cache_hit_rate"] == pytest.approx(0.5)
    assert (figures["rss_mb"], figures["rss_mb_peak"]) == (200.0, 300.0)
    assert (figures["cpu_percent_mean"], figures["cpu_percent_peak"]) == (100.0, 150.0)


def test_drain_interval_hands_over_raw_data_once():
    window = LiveWindow(60, Clock())
    window.record_call(_call(0.5))
    window.record_call(_call(0.7, "HTTP 429"))
    window.record_cache(True)
    first = window.drain_interval()
    assert first["calls"]["GET /v4/x"] == {
        "kind": "api",
        "calls": 2,
        "errors": {"HTTP 429": 1},
        "seconds": [0.5, 0.7],
    }
    assert first["cache"] == {"hits": 1, "misses": 0}
    assert window.drain_interval()["calls"] == {}
    assert window.figures()["api_calls"] == 2  # the rolling window keeps them


def test_endpoint_names_hide_ids():
    path = "/v4/accounts/0b6f3c1e-1111-4a2b-9c3d-0123456789ab/folders/123456/children"
    assert endpoint_name("get", path) == "GET /v4/accounts/{id}/folders/{id}/children"


def test_timed_transport_reports_answers_and_network_errors():
    seen: list[CallRecord] = []
    remove = add_call_observer(seen.append)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/down"):
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(503 if request.url.path.endswith("/busy") else 200)

    try:
        with httpx.Client(transport=TimedTransport(httpx.MockTransport(handler))) as client:
            client.get("http://frameio.test/v4/me")
            client.get("http://frameio.test/v4/busy")
            with pytest.raises(httpx.ConnectError):
                client.get("http://frameio.test/v4/down")
    finally:
        remove()
    assert [(r.endpoint, r.status, r.error) for r in seen] == [
        ("GET /v4/me", 200, None),
        ("GET /v4/busy", 503, "HTTP 503"),
        ("GET /v4/down", None, "ConnectError"),
    ]
    assert all(r.seconds >= 0 for r in seen)


def test_an_interval_drained_in_one_process_merges_into_another():
    worker = LiveWindow(60, Clock())
    worker.record_call(_call(0.5))
    worker.record_call(_call(1.5, "HTTP 503"))
    worker.record_call(CallRecord("PUT upload part", "upload", 200, 2.0, None))
    worker.record_upload(True, 12.0, 1_000_000)
    worker.record_upload(False)
    worker.record_cache(False)
    worker.record_process(321.0, 80.0)
    sensor = LiveWindow(60, Clock())
    sensor.merge_interval(worker.drain_interval())
    merged, original = sensor.figures(), worker.figures()
    keys = ("api_calls", "api_failures", "api_latency_seconds_mean", "upload_failure_rate")
    assert {k: merged[k] for k in keys} == {k: original[k] for k in keys}
    assert (merged["cache_hit_rate"], merged["rss_mb"]) == (0.0, 321.0)
    assert merged["megabytes_per_second_median"] == 12.0
