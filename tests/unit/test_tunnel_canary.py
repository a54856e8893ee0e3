"""check_canary's reading of what answers through the tunnel (httpx.MockTransport as the edge)."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Callable

import httpx
import pytest

from blocks.range_server import CANARY_HEADER
from blocks.tunnel_canary import check_canary

BASE = "https://media.example.com"
ORIGIN = "http://127.0.0.1:8790"
NONCE = "our-nonce"
MARK = {CANARY_HEADER: "canary"}


class Paths:
    """Canary paths as a Range server makes them: a fresh signed token per call."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def __call__(self) -> str:
        self.made.append(f"/canary/payload.signature{len(self.made)}")
        return self.made[-1]


def _check(
    handler: Callable[[httpx.Request], httpx.Response], timeout_seconds: float = 0.6
) -> tuple[str | None, Paths]:
    paths = Paths()
    transport = httpx.MockTransport(handler)
    reason = check_canary(
        BASE, paths, NONCE, timeout_seconds=timeout_seconds, origin=ORIGIN, transport=transport
    )
    return reason, paths


def test_our_nonce_passes_at_the_first_attempt() -> None:
    reason, paths = _check(lambda r: httpx.Response(200, json={"nonce": NONCE}, headers=MARK))
    assert reason is None
    assert len(paths.made) == 1


def test_another_nonce_is_another_process_answering_without_retry() -> None:
    reason, paths = _check(lambda r: httpx.Response(200, json={"nonce": "theirs"}, headers=MARK))
    assert reason is not None and reason.startswith("another process answers")
    assert "another nonce" in reason and BASE in reason
    assert len(paths.made) == 1


def test_a_refused_signature_is_another_process_answering() -> None:
    reason, _ = _check(lambda r: httpx.Response(403, text="invalid canary", headers=MARK))
    assert reason is not None and reason.startswith("another process answers")
    assert "refused the canary (403)" in reason


@pytest.mark.parametrize("status", [502, 530])
def test_a_5xx_from_the_edge_is_nothing_answering_retried_until_the_deadline(status: int) -> None:
    reason, paths = _check(lambda r: httpx.Response(status))
    assert reason is not None and reason.startswith(f"nothing answers: HTTP {status}")
    assert f"should forward to {ORIGIN}" in reason
    assert len(paths.made) >= 2


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (httpx.ConnectError("refused"), "nothing answers: ConnectError"),
        (httpx.ReadTimeout("slow"), "nothing answers: no answer in"),
    ],
)
def test_no_connection_or_no_answer_is_nothing_answering(
    error: httpx.TransportError, said: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    reason, _ = _check(fail)
    assert reason is not None and reason.startswith(said)


def test_an_answer_without_the_marker_is_something_else() -> None:
    reason, paths = _check(lambda r: httpx.Response(404))  # cloudflared's catch-all rule
    assert reason is not None and reason.startswith("something else answers: HTTP 404")
    assert len(paths.made) == 1


def test_a_tunnel_that_routes_after_a_moment_passes() -> None:
    answers = iter([httpx.Response(530), httpx.Response(502)])

    def edge(request: httpx.Request) -> httpx.Response:
        return next(answers, httpx.Response(200, json={"nonce": NONCE}, headers=MARK))

    reason, paths = _check(edge, timeout_seconds=5.0)
    assert reason is None
    assert len(paths.made) == 3


def test_each_attempt_fetches_a_fresh_path_and_no_reason_names_it() -> None:
    seen: list[str] = []

    def edge(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(502)

    reason, paths = _check(edge)
    assert seen == paths.made and len(set(seen)) == len(seen)
    assert reason is not None and "/canary/" not in reason and "signature" not in reason


class _Proxy(socketserver.BaseRequestHandler):
    """An HTTP proxy that answers every request itself, as our Range server would."""

    seen: list[str] = []

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.request.recv(4096)
        _Proxy.seen.append(head.split(b"\r\n", 1)[0].decode())
        body = json.dumps({"nonce": NONCE}).encode()
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"{CANARY_HEADER}: canary\r\ncontent-length: {len(body)}\r\n\r\n".encode()
            + body
        )


def test_the_environments_proxy_carries_the_canary(monkeypatch: pytest.MonkeyPatch) -> None:
    with socketserver.TCPServer(("127.0.0.1", 0), _Proxy) as proxy:
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        paths = Paths()
        base = "http://media.invalid"  # resolvable by the proxy only
        reason = check_canary(base, paths, NONCE, timeout_seconds=2.0, origin=ORIGIN)
        proxy.shutdown()
    assert reason is None
    assert _Proxy.seen == [f"GET {base}{paths.made[0]} HTTP/1.1"]
