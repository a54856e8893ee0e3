"""Prefect global concurrency limits that keep every worker inside Frame.io's rate limits.

Three limits, created by ``postflow up`` (or :func:`ensure_limits`) and shared by every
process that talks to the same Prefect server:

* ``frameio-api`` - every Frame.io API call takes a slot; ``slot_decay_per_second`` refills
  10 per second with a burst of 20 (the previous generation's figures; Frame.io's own limits
  are per operation: "Rate Limits" in https://developer.adobe.com/frameio/guides);
* ``frameio-folder-create`` - folder creation, at most 3 per second (the limit in the docstring
  of ``folders.create`` in the official SDK, https://github.com/Frameio/python-sdk);
* ``postflow-uploads`` - at most N uploads at once across all workers (a plain slot, released
  when the upload ends).

Prefect docs, https://docs.prefect.io/v3/how-to-guides/workflows/global-concurrency-limits:
``rate_limit`` needs a limit with slot decay; ``concurrency`` holds slots for the duration of a
block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency, rate_limit
from prefect.exceptions import ObjectAlreadyExists

API_LIMIT = "frameio-api"
FOLDER_CREATE_LIMIT = "frameio-folder-create"
UPLOADS_LIMIT = "postflow-uploads"


def ensure_limits(
    requests_per_second: float = 10.0,
    burst: int = 20,
    folder_creates_per_second: float = 3.0,
    max_concurrent_uploads: int = 3,
) -> dict[str, int]:
    """Create or update the three limits; returns ``{name: limit}``.

    Raises:
        prefect.exceptions.PrefectHTTPStatusError: the API refused.
    """
    wanted = {
        API_LIMIT: (burst, requests_per_second),
        FOLDER_CREATE_LIMIT: (max(1, int(folder_creates_per_second)), folder_creates_per_second),
        UPLOADS_LIMIT: (max_concurrent_uploads, None),
    }
    with get_client(sync_client=True) as client:
        for name, (limit, decay) in wanted.items():
            try:
                client.upsert_global_concurrency_limit_by_name(
                    name, limit, slot_decay_per_second=decay
                )
            except ObjectAlreadyExists:  # another machine's `up` created it meanwhile
                client.upsert_global_concurrency_limit_by_name(
                    name, limit, slot_decay_per_second=decay
                )
    return {name: limit for name, (limit, _) in wanted.items()}


def prefect_throttle(operation: str) -> None:
    """Take a rate-limit slot before a Frame.io API call (folder creates take two limits)."""
    names = [API_LIMIT, FOLDER_CREATE_LIMIT] if operation == "folders.create" else API_LIMIT
    rate_limit(names, strict=True)


def upload_slot(enabled: bool) -> contextlib.AbstractContextManager[None]:
    """Hold one ``postflow-uploads`` slot for the duration of an upload (when enabled)."""
    return concurrency(UPLOADS_LIMIT, strict=True) if enabled else contextlib.nullcontext()


def no_throttle(_operation: str) -> None:
    """The default: no Prefect limits (demo, tests, a single machine without a server)."""


def throttle_for(enabled: bool) -> Callable[[str], None]:
    """The throttle to hand to :class:`blocks.frameio_project.FrameioProject`."""
    return prefect_throttle if enabled else no_throttle
