"""The ``--since`` option of the commands that read history (report, rerun, status, cache,
manifest, alerts): a duration back from now, an ISO date, or epoch seconds."""

from __future__ import annotations

import re
import time
from datetime import datetime
from types import MappingProxyType

from core.errors import ConfigurationError

__all__ = ["parse_since"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = MappingProxyType({"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800})


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """Parse a ``--since`` cutoff into epoch seconds.

    Accepts a duration back from now (``"90m"``, ``"12h"``, ``"7d"``), an ISO-8601 date or
    datetime (``"2026-11-20"``, ``"2026-11-20T08:00"``, local time unless an offset is given),
    or epoch seconds.

    Raises:
        ConfigurationError: the text is none of these.
    """
    if text is None or not str(text).strip():
        return None
    now = time.time() if now is None else now
    bad = f"--since {text!r}: use a duration like 12h or 7d, an ISO date, or epoch seconds"
    match = _DURATION.match(str(text))
    try:
        back = float(match[1]) * _UNIT_SECONDS[match[2].lower()] if match else None
        seconds = float(text) if back is None else now - back
    except ValueError:
        try:
            return datetime.fromisoformat(str(text)).timestamp()
        except ValueError as exc:
            raise ConfigurationError(bad) from exc
    try:  # nan, inf, 1e400 or a time no clock shows: refused here, not deep in a flow
        datetime.fromtimestamp(seconds)
    except (ValueError, OverflowError, OSError) as exc:
        raise ConfigurationError(f"{bad} (not a time a clock can show)") from exc
    return seconds
