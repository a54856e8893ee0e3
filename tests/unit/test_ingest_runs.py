"""The sensor's run starter against a stand-in client: quick retries of a busy server's 503."""

from __future__ import annotations

from types import SimpleNamespace
from uuid import uuid4

import httpx
import pytest
from prefect.exceptions import PrefectHTTPStatusError
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES

from tasks.sensor.ingest_runs import QUICK_RETRIES, IngestRunStarter


def _status(code: int) -> PrefectHTTPStatusError:
    request = httpx.Request("POST", "http://prefect/api/deployments/x/create_flow_run")
    response = httpx.Response(code, request=request)
    return PrefectHTTPStatusError(f"HTTP {code}", request=request, response=response)


class Client:
    """Answers ``create_flow_run_from_deployment`` with the queued errors, then a run."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.creates: list[tuple[str, int]] = []  # (idempotency key, client max retries)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read_deployment_by_name(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(id=uuid4())

    def create_flow_run_from_deployment(self, deployment_id, *, parameters, idempotency_key):
        self.creates.append((idempotency_key, PREFECT_CLIENT_MAX_RETRIES.value()))
        if self.errors:
            raise self.errors.pop(0)
        return SimpleNamespace(id=uuid4(), parameters=parameters)


def _starter(client: Client, waits: list[float]) -> IngestRunStarter:
    return IngestRunStarter(
        client_factory=lambda: client, emit=lambda *a, **k: None, sleep=waits.append
    )


def test_a_busy_servers_503_is_retried_at_once_not_after_prefects_2_s(caplog):
    client, waits = Client([_status(503), _status(503)]), []
    run = _starter(client, waits)("/by_shot/a.mov", 1, 2, "a.mov:1:2")
    assert run is not None and run.parameters == {"path": "/by_shot/a.mov"}
    assert waits == [0.05, 0.1]
    # Same key every time, and the client's own (2 s, 4 s) retries were off.
    assert client.creates == [("a.mov:1:2", 0)] * 3
    assert "Cannot create" not in caplog.text


def test_a_503_that_lasts_is_left_to_the_dispatchers_later_attempt(caplog):
    client, waits = Client([_status(503)] * (QUICK_RETRIES + 1)), []
    assert _starter(client, waits)("/by_shot/a.mov", 1, 2, "k") is None
    assert len(client.creates) == QUICK_RETRIES + 1 and sum(waits) == pytest.approx(3.15)
    assert "Cannot create the ingest run of /by_shot/a.mov yet" in caplog.text


def test_other_statuses_are_not_retried_here(caplog):
    client, waits = Client([_status(500)]), []
    assert _starter(client, waits)("/by_shot/a.mov", 1, 2, "k") is None
    assert len(client.creates) == 1 and waits == []
