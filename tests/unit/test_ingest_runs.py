"""The sensor's client hook that keeps Prefect from waiting 2 s on a busy server's 503 (the
real client against a busy server: ``tests/integration/test_busy_prefect.py``)."""

from __future__ import annotations

import httpx

from tasks.sensor.ingest_runs import retry_here


def _answer(status: int, **headers: str) -> httpx.Response:
    request = httpx.Request("POST", "http://prefect/api/deployments/x/create_flow_run")
    response = httpx.Response(status, request=request, headers=headers)
    retry_here(response)
    return response


def test_a_503_without_retry_after_is_handed_back_at_once():
    assert _answer(503).headers["Retry-After"] == "0"


def test_the_servers_own_retry_after_and_other_statuses_are_left_alone():
    assert _answer(503, **{"Retry-After": "7"}).headers["Retry-After"] == "7"
    assert "Retry-After" not in _answer(500).headers
    assert "Retry-After" not in _answer(429).headers
    assert "Retry-After" not in _answer(201).headers
