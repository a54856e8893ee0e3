"""A Range server and the tunnel in front of it: what a remote upload needs to be pulled.

:meth:`RemoteEndpoint.start` starts a :class:`~blocks.range_server.RangeServer` on loopback
and a :class:`~blocks.tunnel.TunnelManager` (which may wait up to
``tunnel_start_timeout_seconds`` for cloudflared). One per process is enough: the pipeline
keeps it in its runtime (:func:`tasks.clients.remote_endpoint`).

A named tunnel forwards to the fixed port of its ingress rule (``range_server_port``), so:

* its tunnel checks itself on start (:func:`blocks.tunnel_canary.check_canary`): a signed
  canary URL fetched through the public hostname must reach this process's Range server;
* when that port is already taken on this machine (another process serves the tunnel's
  origin), no cloudflared is started.

Either way remote uploads are then off for this process (its tunnel is unhealthy, so each
file goes by multipart), with one warning that says why.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from blocks.range_server import RangeServer
from blocks.tunnel import TunnelManager
from blocks.tunnel_canary import check_canary
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
            OSError: the Range server's address cannot be bound (for a named tunnel, a port
                already in use is not raised: that tunnel is disabled instead).
        """
        server = RangeServer.from_settings(settings)
        try:
            server.start()
        except OSError as exc:
            if settings.tunnel_mode != "named" or exc.errno != errno.EADDRINUSE:
                raise
            port = settings.range_server_port
            tunnel = TunnelManager.from_settings(settings, f"http://127.0.0.1:{port}")
            tunnel.disable(
                f"port {port} (POSTFLOW_RANGE_SERVER_PORT) is in use: another process on "
                "this machine serves the named tunnel's origin"
            )
            return cls(server, tunnel)
        check = None
        if settings.tunnel_mode == "named":
            timeout = settings.tunnel_canary_timeout_seconds

            def check(base_url: str) -> str | None:
                return check_canary(
                    base_url,
                    server.canary_path,
                    server.nonce,
                    timeout_seconds=timeout,
                    origin=server.url,
                )

        tunnel = TunnelManager.from_settings(settings, server.url, self_check=check).start()
        return cls(server, tunnel)

    def stop(self) -> None:
        """Stop the tunnel, then the Range server."""
        self.tunnel.stop()
        self.range_server.stop()
