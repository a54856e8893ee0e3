"""Choosing how one file is sent: remote upload (Frame.io pulls it) or multipart (we push it).

Frame.io's remote upload takes files up to 50 GB ("How Local & Remote Uploads Work":
https://next.developer.frame.io/platform/docs/guides/uploading-to-frame-io/how-local-remote-uploads-work).
"""

from __future__ import annotations

from typing import Protocol

from config.sections.tunnel import TunnelSettings
from core.units import human_bytes

__all__ = ["TunnelHealth", "choose_strategy"]


class TunnelHealth(Protocol):
    """What the choice reads of a tunnel (:class:`blocks.tunnel.TunnelManager` has it)."""

    @property
    def reason(self) -> str:
        """Why it is not healthy ("" or a short text)."""
        ...

    def healthy(self) -> bool:
        """True when the tunnel serves a public URL now."""
        ...


def choose_strategy(
    settings: TunnelSettings, size_bytes: int, tunnel: TunnelHealth | None
) -> tuple[str, str]:
    """Pick ``"remote"`` or ``"multipart"`` for one file, and say why.

    ``upload_strategy=multipart`` always gives multipart. Otherwise (``auto`` or ``remote``)
    remote is used when the tunnel is healthy and the file is at most
    ``remote_upload_max_bytes`` (Frame.io's 50 GB cap); files above the cap always go multipart.

    Args:
        settings: ``upload_strategy``, ``tunnel_mode`` and ``remote_upload_max_bytes`` are read.
        size_bytes: size of the file, in bytes.
        tunnel: the running tunnel, or None when there is none.

    Returns:
        ``(strategy, reason)``, e.g. ``("remote", "auto: tunnel healthy, 1.2 GB <= 50.0 GB cap")``
        or ``("multipart", "tunnel unavailable: cloudflared not on PATH ('cloudflared')")``.
    """
    mode = settings.upload_strategy
    if mode == "multipart":
        return "multipart", "upload_strategy=multipart"
    cap = settings.remote_upload_max_bytes
    size, cap_text = human_bytes(size_bytes), human_bytes(cap)
    if size_bytes > cap:
        return "multipart", f"{size} > {cap_text} remote upload cap"
    if tunnel is None:
        why = "tunnel_mode=off" if settings.tunnel_mode == "off" else "no tunnel"
        return "multipart", why
    if not tunnel.healthy():
        return "multipart", f"tunnel unavailable: {tunnel.reason or 'not ready'}"
    return "remote", f"{mode}: tunnel healthy, {size} <= {cap_text} cap"
