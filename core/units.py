"""Units shown to people: byte counts with decimal prefixes, as Frame.io states its limits
(a 50 GB remote-upload cap is 50 * 10**9 bytes)."""

from __future__ import annotations

__all__ = ["human_bytes"]


def human_bytes(size_bytes: float) -> str:
    """Format a byte count with decimal units.

    Args:
        size_bytes: a count of bytes (may be a float, e.g. a rate per second).

    Returns:
        ``"999 B"``, ``"1.5 MB"``, ``"1.2 GB"``; ``"TB"`` is the largest unit.

    Example:
        >>> human_bytes(1_234_567_890)
        '1.2 GB'
    """
    value = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
