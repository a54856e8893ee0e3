"""The HTTP/1.1 transport of the part PUTs: each body block goes to the socket as it was read.

httpx's own transport (httpcore over h11) joins every body chunk into a new ``bytes`` before
writing it: a ``memoryview`` block (what the part uploader reads into the buffers it shares
with the fingerprint, :mod:`blocks.stream_digest`) is copied once more per byte, into freshly
allocated memory. On 2 cores against a loopback sink that copy and its allocations cost
about 15 % of the client's CPU per GiB. This transport speaks HTTP/1.1 through the same h11
state machine (a dependency of httpx's httpcore), but writes each chunk with
``h11.Connection.send_with_data_passthrough``: the block itself goes to ``socket.sendall``,
as ``curl -T`` writes its read buffer.

It does only what a pre-signed part PUT needs: one request at a time per connection,
keep-alive between the PUTs of one uploader, TLS (httpx's default context: certifi, or
``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), a response body read whole (S3 answers a PUT with an
ETag and at most a short XML error). Like the httpx transport it replaces in
:class:`blocks.part_uploader.PartUploader`, it ignores proxy variables. Errors are httpx's:
``ConnectError``/``ConnectTimeout``, ``WriteError``/``WriteTimeout``, ``ReadError``/
``ReadTimeout``, ``RemoteProtocolError`` (all ``httpx.TransportError``). When storage answers
before the body is sent and closes (an expired URL's 403), that answer is returned, not the
write error, as httpcore does.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from collections.abc import Iterable
from typing import Any

import h11
import httpx

__all__ = ["StreamingPutTransport"]

_READ_BYTES = 64 * 1024
_MAX_BODY_BYTES = 1 << 20  # a longer answer is cut here and its connection closed

Origin = tuple[str, str, int]


class _WriteFailed(Exception):
    """Writing the request failed; its ``error`` is reported unless storage answered."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _Connection:
    """A socket and its h11 state."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.h11 = h11.Connection(our_role=h11.CLIENT)

    def stale(self) -> bool:
        """Whether an idle keep-alive connection was closed (or written to) by the server."""
        try:
            poll = select.poll()
            poll.register(self.sock, select.POLLIN)
            return bool(poll.poll(0))
        except (OSError, ValueError):
            return True

    def write(self, data: bytes | memoryview) -> None:
        """``sendall``; a timeout raises ``httpx.WriteTimeout``, another error
        :class:`_WriteFailed` (the answer may say why)."""
        try:
            self.sock.sendall(data)
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc) or "write timed out") from exc
        except OSError as exc:
            raise _WriteFailed(exc) from exc

    def close(self) -> None:
        with contextlib.suppress(OSError):  # a broken socket
            self.sock.close()


class StreamingPutTransport(httpx.BaseTransport):
    """An httpx transport for request bodies streamed from memoryview blocks (see module doc).

    Args:
        ssl_context: for ``https`` URLs; None builds httpx's default
            (``httpx.create_ssl_context()``) on first use.

    Thread-safe: each request holds its own connection.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` (its body streamed block by block) and read the whole answer.

        Raises:
            httpx.TransportError: the connection failed, timed out or broke the protocol.
            Whatever the request's body iterator raises (the connection is closed).
        """
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        origin = (request.url.scheme, request.url.host, request.url.port or _port(request))
        connection = self._connect(origin, timeouts.get("connect"))
        try:
            written = self._send(connection, request, timeouts.get("write"))
            response = self._receive(connection, request, timeouts.get("read"), written)
        except BaseException:
            connection.close()
            raise
        h = connection.h11
        if h.our_state is h11.DONE and h.their_state is h11.DONE:
            h.start_next_cycle()
            with self._lock:
                self._idle.setdefault(origin, []).append(connection)
        else:
            connection.close()
        return response

    def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                connection = idle.pop()
                if not connection.stale():
                    return connection
                connection.close()
        scheme, host, port = origin
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._tls().wrap_socket(sock, server_hostname=host)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timed out") from exc
        except OSError as exc:  # ssl.SSLError included
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        return _Connection(sock)

    def _tls(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
                self._ssl.set_alpn_protocols(["http/1.1"])
            return self._ssl

    def _send(
        self, connection: _Connection, request: httpx.Request, timeout: float | None
    ) -> OSError | None:
        """Write the request; an error writing it is returned (the answer may say why)."""
        h = connection.h11
        target = request.url.raw_path
        head = h11.Request(method=request.method, target=target, headers=request.headers.raw)
        connection.sock.settimeout(timeout)
        try:
            connection.write(h.send(head) or b"")
            for chunk in _chunks(request.stream):  # what the body's reader raises goes up
                for piece in h.send_with_data_passthrough(h11.Data(data=chunk)) or ():
                    connection.write(piece)
            connection.write(h.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from exc
        except _WriteFailed as failed:
            return failed.error
        return None

    def _receive(
        self,
        connection: _Connection,
        request: httpx.Request,
        timeout: float | None,
        write_error: OSError | None,
    ) -> httpx.Response:
        """Read the answer: status, headers and the whole (short) body."""
        h = connection.h11
        connection.sock.settimeout(timeout)
        head: h11.Response | None = None
        body = bytearray()
        try:
            while True:
                event = h.next_event()
                if event is h11.NEED_DATA:
                    h.receive_data(connection.sock.recv(_READ_BYTES))
                elif isinstance(event, h11.Response):
                    head = event
                elif isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > _MAX_BODY_BYTES:
                        break  # not a storage answer to a PUT; the connection is closed
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
        except h11.RemoteProtocolError as exc:
            if write_error is not None:
                raise httpx.WriteError(str(write_error)) from write_error
            raise httpx.RemoteProtocolError(str(exc)) from exc
        except OSError as exc:
            failed = write_error or exc
            raise (httpx.WriteError if write_error else httpx.ReadError)(str(failed)) from exc
        if head is None:
            raise httpx.RemoteProtocolError("the server closed the connection without answering")
        return httpx.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            content=bytes(body),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


def _port(request: httpx.Request) -> int:
    return 443 if request.url.scheme == "https" else 80


def _chunks(stream: Any) -> Iterable[bytes]:
    """The request body's chunks (httpx gives a sync byte stream)."""
    if isinstance(stream, Iterable):
        return stream
    raise httpx.LocalProtocolError("the part PUT body must be a sync byte stream")
