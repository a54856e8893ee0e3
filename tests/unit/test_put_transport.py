"""The part PUTs' HTTP/1.1 transport (blocks/put_transport.py) against loopback servers."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from blocks.put_transport import StreamingPutTransport

Handler = Callable[[socket.socket], None]


@contextlib.contextmanager
def _server(handle: Handler) -> Iterator[tuple[str, list[int]]]:
    """A loopback server running ``handle`` on each connection; yields its base URL and a
    list that counts the connections it accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            threading.Thread(target=_run, args=(handle, conn), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        listener.close()


def _run(handle: Handler, conn: socket.socket) -> None:
    with conn, contextlib.suppress(OSError):
        handle(conn)


@contextlib.contextmanager
def _session(handle: Handler, **kw: float) -> Iterator[tuple[str, list[int], httpx.Client]]:
    """A loopback server and an httpx client on the transport: (base URL, connections
    accepted, client)."""
    transport = StreamingPutTransport()
    with _server(handle) as (url, accepted), httpx.Client(transport=transport, **kw) as client:
        yield url, accepted, client


def _storage(bodies: list[tuple[str, dict[str, str], bytes]]) -> Handler:
    """An HTTP/1.1 server (the standard library's) that stores each PUT and answers 200 with
    an ETag, keeping the connection open."""

    class Storage(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_PUT(self) -> None:
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            if len(body) < length:  # the client stopped mid-body: nothing stored
                self.close_connection = True
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            bodies.append((self.path, headers, body))
            self.send_response(200)
            self.send_header("ETag", '"e"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    def handle(conn: socket.socket) -> None:
        Storage(conn, ("127.0.0.1", 0), None)  # type: ignore[arg-type]

    return handle


def _blocks(data: bytes, size: int) -> Iterator[memoryview]:
    view = memoryview(bytearray(data))
    for start in range(0, len(data), size):
        yield view[start : start + size]


def _put(client: httpx.Client, url: str, data: bytes, blocks: Iterator[object]) -> httpx.Response:
    headers = {"Content-Length": str(len(data)), "x-amz-acl": "private"}
    return client.put(url, content=blocks, headers=headers)  # type: ignore[arg-type]


def test_memoryview_blocks_arrive_whole_over_one_kept_alive_connection() -> None:
    bodies: list[tuple[str, dict[str, str], bytes]] = []
    first, second = bytes(range(256)) * 300, b"second part" * 1000
    with _session(_storage(bodies)) as (url, accepted, client):
        one = _put(client, f"{url}/p1?X-Amz-Expires=60", first, _blocks(first, 4096))
        two = _put(client, f"{url}/p2", second, _blocks(second, 1000))
    assert (one.status_code, one.headers["etag"], two.status_code) == (200, '"e"', 200)
    assert [(target, body) for target, _, body in bodies] == [
        ("/p1?X-Amz-Expires=60", first),
        ("/p2", second),
    ]
    assert bodies[0][1]["x-amz-acl"] == "private"
    assert "transfer-encoding" not in bodies[0][1]
    assert len(accepted) == 1


def test_an_answer_sent_before_the_body_ends_is_returned() -> None:
    xml = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"

    def refuse(conn: socket.socket) -> None:
        conn.recv(65536)  # the head and the start of the body
        head = b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
        conn.sendall(head % len(xml) + xml)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):  # take the rest of the body, as S3 does, so no reset
            pass

    data = b"x" * (4 << 20)
    with _session(refuse) as (url, _, client):
        response = _put(client, f"{url}/p1", data, _blocks(data, 1 << 20))
    assert response.status_code == 403
    assert "Request has expired" in response.text


def test_a_connection_closed_without_an_answer_is_a_transport_error() -> None:
    def hang_up(conn: socket.socket) -> None:
        conn.recv(1024)

    data = b"y" * 10_000
    with _session(hang_up) as (url, _, client), pytest.raises(httpx.TransportError):
        _put(client, f"{url}/p1", data, _blocks(data, 1000))


def test_an_error_reading_the_body_goes_up_as_it_is_and_the_next_put_works() -> None:
    bodies: list[tuple[str, dict[str, str], bytes]] = []
    data = b"z" * 3000

    def failing() -> Iterator[memoryview]:
        yield memoryview(data)[:1000]
        raise ValueError("the source shrank")

    with _session(_storage(bodies)) as (url, _, client):
        with pytest.raises(ValueError, match="shrank"):
            _put(client, f"{url}/p1", data, failing())
        assert _put(client, f"{url}/p1", data, _blocks(data, 1000)).status_code == 200
    assert [body for _, _, body in bodies] == [data]


def test_no_answer_within_the_read_timeout_is_a_read_timeout() -> None:
    stop = threading.Event()

    def silent(conn: socket.socket) -> None:
        conn.recv(65536)
        stop.wait(10)

    data = b"w" * 100
    try:
        with _session(silent, timeout=0.2) as (url, _, client), pytest.raises(httpx.ReadTimeout):
            _put(client, f"{url}/p1", data, _blocks(data, 100))
    finally:
        stop.set()
