"""The process-wide Range server + tunnel that remote uploads use, started on first use.

Flows call :func:`remote_endpoint` once per file; the first call starts a
:class:`~blocks.range_server.RangeServer` and a :class:`~blocks.tunnel.TunnelManager` (which
may wait up to ``tunnel_start_timeout_seconds`` for cloudflared), later calls with the same
settings reuse them, and both stop when the interpreter exits. Like ``open_project``, one
per process rather than one per file: a quick tunnel takes seconds to come up.

Example:
    >>> endpoint = remote_endpoint(settings)                            # doctest: +SKIP
    >>> server, tunnel = (endpoint.range_server, endpoint.tunnel) if endpoint else (None, None)
    >>> upload_with_fallback(project, folder_id, path, shot, rules, settings, server, tunnel)
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass

from blocks.range_server import RangeServer
from blocks.tunnel import TunnelManager
from config.settings import PostflowSettings

__all__ = ["RemoteEndpoint", "close_remote_endpoints", "remote_endpoint"]


@dataclass(frozen=True)
class RemoteEndpoint:
    """A running Range server and the tunnel in front of it.

    Attributes:
        range_server: serves registered files on loopback.
        tunnel: gives them a public URL (may be unhealthy: then uploads use multipart).
    """

    range_server: RangeServer
    tunnel: TunnelManager


_endpoints: dict[tuple[object, ...], RemoteEndpoint] = {}
_lock = threading.Lock()


def remote_endpoint(settings: PostflowSettings) -> RemoteEndpoint | None:
    """The process's Range server + tunnel for these settings, started on first use.

    Args:
        settings: ``upload_strategy``, ``range_*``, ``share_*``, ``tunnel_*`` and
            ``cloudflared_path`` are read.

    Returns:
        None when remote upload is off (``upload_strategy=multipart`` or ``tunnel_mode=off``).

    Raises:
        OSError: the Range server's address cannot be bound.
    """
    if settings.upload_strategy == "multipart" or settings.tunnel_mode == "off":
        return None
    key = (
        settings.range_server_host, settings.range_server_port, settings.range_chunk_bytes,
        settings.share_token_ttl_seconds, settings.tunnel_mode, settings.tunnel_hostname,
        settings.tunnel_token_block, settings.cloudflared_path,
    )  # fmt: skip
    with _lock:
        if key not in _endpoints:
            server = RangeServer.from_settings(settings).start()
            tunnel = TunnelManager.from_settings(settings, server.url).start()
            _endpoints[key] = RemoteEndpoint(server, tunnel)
        return _endpoints[key]


@atexit.register
def close_remote_endpoints() -> None:
    """Stop every endpoint started by :func:`remote_endpoint` (also run at exit)."""
    with _lock:
        endpoints = list(_endpoints.values())
        _endpoints.clear()
    for endpoint in endpoints:
        endpoint.tunnel.stop()
        endpoint.range_server.stop()
