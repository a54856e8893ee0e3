"""Run an ASGI app on a real loopback socket in a background thread.

`UvicornThread` is the seam every local stand-in uses (the Frame.io sandbox, the Discord receiver,
test servers): the socket is bound in the caller's thread, so `.port` is known as soon as `start()`
returns, and `start()` only returns once uvicorn is accepting connections.

Example:
    >>> with UvicornThread(app) as server:          # doctest: +SKIP
    ...     httpx.get(f"{server.url}/health")
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any

import uvicorn

__all__ = ["UvicornThread"]


class _ReadyServer(uvicorn.Server):
    """A uvicorn server that signals a `threading.Event` once it is listening."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._ready.set()


class UvicornThread:
    """Serve an ASGI app with uvicorn in a daemon thread on a loopback port.

    Args:
        app: Any ASGI 3 application (a Starlette app, for instance).
        host: Interface to bind, e.g. "127.0.0.1" or "::1".
        port: TCP port; 0 picks a free one (read it back from `.port`).
        startup_timeout_seconds: How long `start()` waits for uvicorn to listen.
        shutdown_timeout_seconds: How long `stop()` lets in-flight requests finish before
            cancelling them.
        log_level: uvicorn log level ("warning" keeps tests and the CLI quiet).

    Raises:
        OSError: From `start()`, when the address cannot be bound.
        RuntimeError: From `start()`, when the server fails to start in time or is started twice.
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        startup_timeout_seconds: float = 10.0,
        shutdown_timeout_seconds: float = 5.0,
        log_level: str = "warning",
    ) -> None:
        self._app = app
        self._host = host
        self._requested_port = port
        self._startup_timeout_seconds = startup_timeout_seconds
        self._shutdown_timeout_seconds = shutdown_timeout_seconds
        self._log_level = log_level
        self._socket: socket.socket | None = None
        self._server: _ReadyServer | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._port: int | None = None
        self._ready = threading.Event()

    @property
    def host(self) -> str:
        """The bound interface, as given to the constructor."""
        return self._host

    @property
    def port(self) -> int:
        """The bound TCP port.

        Raises:
            RuntimeError: Before `start()`.
        """
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. "http://127.0.0.1:54321"."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> UvicornThread:
        """Bind the socket, start uvicorn in a daemon thread and wait until it listens.

        Returns:
            self, so `server = UvicornThread(app).start()` works.

        Raises:
            OSError: When the address cannot be bound.
            RuntimeError: When already started, or uvicorn does not start within
                `startup_timeout_seconds`.
        """
        if self._thread is not None:
            raise RuntimeError("UvicornThread can only be started once")
        self._socket = self._bind()
        self._port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            # uvicorn's default log_config is a non-incremental dictConfig: it would flush and
            # close every handler of the process (Prefect's API log handler among them, under
            # the logging lock, which can deadlock a flow run). Its loggers propagate instead.
            log_config=None,
            log_level=self._log_level,
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=max(1, round(self._shutdown_timeout_seconds)),
        )
        self._ready = ready = threading.Event()
        self._server = _ReadyServer(config, ready)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self._port}", daemon=True)
        self._thread.start()
        ready.wait(self._startup_timeout_seconds)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"uvicorn did not start on {self.url}") from self._error
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit, wait for the thread and release the socket. Idempotent."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self._shutdown_timeout_seconds + 5.0)
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> UvicornThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
        # is TCP, and without it every response pays a ~40 ms Nagle/delayed-ACK stall.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._requested_port))
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        return sock

    def _run(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # noqa: BLE001 - surfaced by start() via __cause__
            self._error = exc
        finally:
            self._ready.set()  # never leave start() waiting for a server that died
