"""``postflow share PATH``: serve one file over HTTP (Range-capable) until Ctrl-C.

The file is registered on a :class:`~blocks.range_server.RangeServer` and, unless
``use_tunnel`` is False, exposed through the configured cloudflared tunnel
(:class:`~blocks.tunnel.TunnelManager`); without a usable tunnel the loopback URL is printed
with the reason. A restarted quick tunnel gets a new address, which is printed again.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from rich.console import Console

from blocks.range_server import RangeServer
from blocks.tunnel import TunnelManager
from config.settings import PostflowSettings
from core.errors import SourceFileError

__all__ = ["share_file"]


def share_file(
    path: str | Path,
    ttl_seconds: int | None = None,
    use_tunnel: bool = True,
    console: Console | None = None,
    *,
    settings: PostflowSettings | None = None,
    stop_event: threading.Event | None = None,
) -> None:
    """Register one file, print its URL and serve it until Ctrl-C (or ``stop_event``).

    Args:
        path: the file to share.
        ttl_seconds: lifetime of the link in seconds (default ``share_token_ttl_seconds``).
        use_tunnel: expose it through the tunnel (``tunnel_mode``); False serves on loopback.
        console: where to print (a new rich ``Console`` by default).
        settings: settings to use (read from the environment by default).
        stop_event: set it from another thread to stop (tests).

    Raises:
        SourceFileError: ``path`` is not a regular file.
        OSError: the Range server's address cannot be bound.
    """
    settings = settings or PostflowSettings()
    console = console or Console()
    stop = stop_event or threading.Event()
    _stop_on_signals(stop)
    source = Path(path).expanduser()
    if not source.exists():
        raise SourceFileError(str(path), "does not exist; nothing to share")
    if not source.is_file():
        raise SourceFileError(str(path), "not a regular file; nothing to share")
    ttl = ttl_seconds or settings.share_token_ttl_seconds
    secret = settings.share_secret.get_secret_value() if settings.share_secret else None
    server = RangeServer(
        settings.range_server_host,
        settings.range_server_port,
        chunk_bytes=settings.range_chunk_bytes,
        secret=secret,
        ttl_seconds=ttl,
    )
    with server:
        shared = server.share(source)
        tunnel = TunnelManager.from_settings(settings, server.url) if use_tunnel else None
        try:
            if tunnel is not None:
                tunnel.start()
                if tunnel.base_url is None:
                    console.print(f"[yellow]No tunnel ({tunnel.reason}); loopback only.[/]")
            expires = time.strftime("%Y-%m-%d %H:%M", time.localtime(shared.expires_at))
            console.print(
                f"Sharing [bold]{source.name}[/] ({source.stat().st_size:,} bytes), "
                f"link valid until {expires}. Ctrl-C stops.",
                highlight=False,
            )
            _serve(console, shared.url_path, shared.local_url, tunnel, stop)
        finally:
            if tunnel is not None:
                tunnel.stop()
        console.print(f"Stopped; {server.bytes_served(shared.token):,} bytes served.")


def _serve(
    console: Console,
    url_path: str,
    local_url: str,
    tunnel: TunnelManager | None,
    stop: threading.Event,
) -> None:
    """Print the URL (again whenever the tunnel's address changes) until stopped or Ctrl-C."""
    shown: str | None = None
    try:
        while True:
            base = tunnel.base_url if tunnel is not None else None
            url = base + url_path if base else local_url
            if url != shown:
                console.print(url, soft_wrap=True, highlight=False)
                shown = url
            if stop.wait(1.0):
                return
    except KeyboardInterrupt:
        return


def _stop_on_signals(stop: threading.Event) -> None:
    """Stop on SIGTERM and SIGINT, set explicitly: a job started in the background by a
    non-interactive shell inherits SIGINT *ignored*, and Python then never raises
    KeyboardInterrupt, so Ctrl-C alone would not stop it. Main thread only (signal rule)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
