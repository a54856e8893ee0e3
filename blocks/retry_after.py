"""The one reader of a server's "wait before retrying" headers.

Two headers say how long to wait before sending a request again:

* ``Retry-After`` (RFC 9110 §10.2.3, https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3):
  either *delay-seconds* (``"120"``) or an *HTTP-date* (``"Fri, 31 Dec 1999 23:59:59 GMT"``);
* ``retry-after-ms``: milliseconds, sent by some APIs and honoured by the Fern-generated
  ``frameio`` SDK's retry loop (https://github.com/Frameio/python-sdk, ``core/http_client.py``).

Both the Frame.io error mapping (:mod:`blocks.frameio`) and the part uploader
(:mod:`blocks.part_uploader`) read them through :func:`parse_retry_after`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after"]


def _seconds(text: str, scale: float = 1.0) -> float | None:
    """A non-negative, finite number of seconds from ``text`` (``scale`` per unit), or None."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value * scale


def _until_date(text: str, now: datetime) -> float | None:
    """Seconds from ``now`` until the HTTP-date ``text`` (0 for a past date), or None."""
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": RFC 5322's "UTC, source zone unknown"
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def parse_retry_after(
    headers: Mapping[str, str] | None, now: datetime | None = None
) -> float | None:
    """How long a response asks us to wait, in seconds.

    ``Retry-After`` is read first (delay-seconds or HTTP-date); when it is absent or
    unreadable, ``retry-after-ms`` is read. Header names are matched case-insensitively.

    Args:
        headers: response headers (a dict, or ``httpx.Headers``); None means no headers.
        now: the current time for an HTTP-date (timezone-aware; default: now, UTC).

    Returns:
        The wait in seconds (0.0 for a date in the past), or None when neither header is
        present or readable (garbage, a negative or non-finite number).

    Example:
        >>> parse_retry_after({"Retry-After": "7"})
        7.0
        >>> parse_retry_after({"retry-after-ms": "1500"})
        1.5
    """
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value is not None:
        seconds = _seconds(value)
        if seconds is None:
            seconds = _until_date(value, now or datetime.now(UTC))
        if seconds is not None:
            return seconds
    millis = lowered.get("retry-after-ms")
    return _seconds(millis, scale=1e-3) if millis is not None else None
