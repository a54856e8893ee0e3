"""The sensor's quick retries of a busy Prefect server's 503: the response hook that gives
such an answer a short ``Retry-After`` (the real client against a busy server:
``tests/integration/test_busy_prefect.py``)."""

from __future__ import annotations

import httpx

from tasks.sensor.ingest_runs import quick_retry_after


def _answer(request: httpx.Request, status: int, **headers: str) -> httpx.Response:
    response = httpx.Response(status, request=request, headers=headers)
    quick_retry_after(response)
    return response


def test_each_503_of_one_request_waits_twice_as_long_up_to_1_6_s():
    request = httpx.Request("POST", "http://prefect/api/deployments/x/create_flow_run")
    waits = [_answer(request, 503).headers["Retry-After"] for _ in range(8)]
    assert waits == ["0.05", "0.1", "0.2", "0.4", "0.8", "1.6", "1.6", "1.6"]
    other = httpx.Request("POST", "http://prefect/api/deployments/x/create_flow_run")
    assert _answer(other, 503).headers["Retry-After"] == "0.05"  # counted per request


def test_the_servers_own_retry_after_and_other_statuses_are_left_alone():
    request = httpx.Request("POST", "http://prefect/api/flow_runs/")
    assert _answer(request, 503, **{"Retry-After": "7"}).headers["Retry-After"] == "7"
    assert "Retry-After" not in _answer(request, 500).headers
    assert "Retry-After" not in _answer(request, 429).headers
    assert "Retry-After" not in _answer(request, 201).headers
