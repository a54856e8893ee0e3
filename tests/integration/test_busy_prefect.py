"""The sensor's run creation when the Prefect server answers 503 (a busy SQLite database).

A loopback proxy in front of the session's real Prefect server answers the first creates of a
flow run 503, as a SQLite-backed server does when another writer overtook the transaction,
and passes everything else on. What is measured is what Prefect's client asks to wait
between attempts (``time.sleep`` of this thread), not wall-clock time.
"""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from postflow.serve.up import apply_deployments, free_port, load_deployments
from tasks.sensor.ingest_runs import QUICK_RETRIES, IngestRunStarter
from tests.integration.test_deployments import clean_deployments

pytestmark = [pytest.mark.integration]
__all__ = ["clean_deployments"]  # the fixture, imported for these tests


class BusyProxy:
    """Forwards to ``upstream``; the first ``busy`` POSTs to ``.../create_flow_run`` get 503
    (no ``Retry-After``, as Prefect's server sends it). ``creates`` counts those POSTs;
    ``requests`` lists every request, ``"<METHOD> <path>"``."""

    def __init__(self, upstream: str, busy: int) -> None:
        self.upstream, self.busy, self.creates = upstream.rstrip("/"), busy, 0
        self.requests: list[str] = []
        self._http = httpx.Client(timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.requests.append(f"{self.command} {self.path.partition('?')[0]}")
                if self.command == "POST" and self.path.endswith("/create_flow_run"):
                    proxy.creates += 1
                    if proxy.creates <= proxy.busy:
                        self._answer(503, b'{"exception_message":"Service Unavailable"}', {})
                        return
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in {"host", "content-length"}
                }
                path = self.path.removeprefix("/api")
                answer = proxy._http.request(
                    self.command, proxy.upstream + path, content=body, headers=headers
                )
                keep = {"content-type": answer.headers.get("content-type", "application/json")}
                self._answer(answer.status_code, answer.content, keep)

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _relay

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/api"

    def __enter__(self) -> BusyProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()


@pytest.fixture
def waits(monkeypatch):
    """The seconds this thread was asked to sleep (the client's waits between attempts)."""
    asked: list[float] = []
    sleep, me = time.sleep, threading.get_ident()

    def recorded(seconds: float) -> None:
        if threading.get_ident() == me:
            asked.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(time, "sleep", recorded)
    return asked


@pytest.fixture
def ingest_deployment(clean_deployments):
    (ingest,) = [d for d in load_deployments() if d.name == "ingest-file"]
    apply_deployments([ingest])


def _start(proxy: BusyProxy, path: str, key: str):
    with temporary_settings(updates={PREFECT_API_URL: proxy.url}):
        starter = IngestRunStarter(emit=lambda *a, **k: None)
        try:
            return starter(path, 1, 2, key)
        finally:
            starter.close()


def test_a_busy_servers_503_is_tried_again_at_once_not_after_prefects_2_s(
    ingest_deployment, waits, caplog
):
    with BusyProxy(PREFECT_API_URL.value(), busy=2) as proxy:
        run = _start(proxy, "/by_shot/SC61_BUSY_00001_V001.mov", "SC61_BUSY:1:2")
    assert run is not None and run.parameters == {"path": "/by_shot/SC61_BUSY_00001_V001.mov"}
    assert proxy.creates == 3
    # 0.05 s then 0.1 s: the old way waited Prefect's 2 s more per 503.
    assert [w for w in waits if w] == [0.05, 0.1], waits
    assert "Cannot create" not in caplog.text


def test_a_503_that_lasts_goes_back_to_the_dispatcher_within_seconds(
    ingest_deployment, waits, caplog
):
    with BusyProxy(PREFECT_API_URL.value(), busy=10**6) as proxy:
        assert _start(proxy, "/by_shot/SC61_BUSY_00002_V001.mov", "SC61_BUSY:2:2") is None
    assert proxy.creates == QUICK_RETRIES + 1
    # 0.05 + 0.1 + ... + 1.6 s, where Prefect would add 2 s after each attempt
    assert sum(waits) == pytest.approx(3.15), waits
    assert "Cannot create the ingest run of /by_shot/SC61_BUSY_00002_V001.mov yet" in caplog.text


def test_a_prefect_api_gone_mid_run_hands_the_file_back_at_once(ingest_deployment, waits, caplog):
    """Once connected, Prefect's client retries a refused connection 2 + 4 + ... s (its own
    retries, when on): the sensor's thread must get the file back to try later instead."""
    proxy = BusyProxy(PREFECT_API_URL.value(), busy=0)
    with proxy, temporary_settings(updates={PREFECT_API_URL: proxy.url}):
        starter = IngestRunStarter(emit=lambda *a, **k: None)
        try:
            assert starter("/by_shot/SC61_BUSY_00003_V001.mov", 1, 2, "SC61_BUSY:3:2")
            proxy.__exit__()  # the API goes away; the client has connected before
            assert starter("/by_shot/SC61_BUSY_00004_V001.mov", 1, 2, "SC61_BUSY:4:2") is None
        finally:
            starter.close()
    assert sum(waits) < 5.0, waits  # httpcore tries to connect 3 times (0.5 s, 1 s)
    assert "Cannot create the ingest run of /by_shot/SC61_BUSY_00004_V001.mov yet" in caplog.text


def test_a_warmed_up_sensor_creates_the_first_files_run_in_one_request(ingest_deployment):
    """The client is opened and the deployment found before any file is ready (the sensor
    does it at start): the first file then waits for the create alone, not 0.3 s more."""
    proxy = BusyProxy(PREFECT_API_URL.value(), busy=0)
    with proxy, temporary_settings(updates={PREFECT_API_URL: proxy.url}):
        starter = IngestRunStarter(emit=lambda *a, **k: None)
        try:
            starter.warm_up()
            warmed = list(proxy.requests)
            assert starter("/by_shot/SC61_BUSY_00005_V001.mov", 1, 2, "SC61_BUSY:5:2")
        finally:
            starter.close()
    assert "GET /api/deployments/name/ingest-file/ingest-file" in warmed
    assert [r for r in proxy.requests[len(warmed) :] if "csrf" not in r] == [
        f"POST /api/deployments/{starter._deployment_id}/create_flow_run"
    ], proxy.requests


def test_a_warm_up_without_a_server_says_nothing_and_the_first_file_still_goes(
    ingest_deployment, caplog
):
    starter = IngestRunStarter(emit=lambda *a, **k: None)
    try:
        nobody = f"http://127.0.0.1:{free_port()}/api"  # refused: nothing listens there
        with temporary_settings(updates={PREFECT_API_URL: nobody}):
            starter.warm_up()
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
        proxy = BusyProxy(PREFECT_API_URL.value(), busy=0)
        with proxy, temporary_settings(updates={PREFECT_API_URL: proxy.url}):
            assert starter("/by_shot/SC61_BUSY_00006_V001.mov", 1, 2, "SC61_BUSY:6:2")
    finally:
        starter.close()
    assert "Cannot create" not in caplog.text
