"""A Range server and the tunnel in front of it: what a remote upload needs to be pulled.

:meth:`RemoteEndpoint.start` starts a :class:`~blocks.range_server.RangeServer` on loopback
and a :class:`~blocks.tunnel.TunnelManager` (which may wait up to
``tunnel_start_timeout_seconds`` for cloudflared). One per process is enough: the pipeline
keeps it in its runtime (:func:`tasks.clients.remote_endpoint`).
"""

from __future__ import annotations

from dataclasses import dataclass

from blocks.range_server import RangeServer
from blocks.tunnel import TunnelManager
from config.settings import PostflowSettings

__all__ = ["RemoteEndpoint"]


@dataclass(frozen=True)
class RemoteEndpoint:
    """A running Range server and the tunnel in front of it.

    Attributes:
        range_server: serves registered files on loopback.
        tunnel: gives them a public URL (may be unhealthy: then uploads use multipart).
    """

    range_server: RangeServer
    tunnel: TunnelManager

    @classmethod
    def start(cls, settings: PostflowSettings) -> RemoteEndpoint:
        """Start both from settings (``range_*``, ``share_*``, ``tunnel_*``, ``cloudflared_path``).

        Raises:
            OSError: the Range server's address cannot be bound.
        """
        server = RangeServer.from_settings(settings).start()
        tunnel = TunnelManager.from_settings(settings, server.url).start()
        return cls(server, tunnel)

    def stop(self) -> None:
        """Stop the tunnel, then the Range server."""
        self.tunnel.stop()
        self.range_server.stop()
