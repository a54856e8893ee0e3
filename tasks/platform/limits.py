"""Prefect global concurrency limits that keep every worker inside Frame.io's rate limits.

Three limits per installation (``PostflowSettings.installation``, ``postflow`` by default),
created by ``postflow up`` (or :func:`ensure_limits`) and shared by every process of that
installation that talks to the same Prefect server (:func:`limit_names`):

* ``<installation>-frameio-api`` - every Frame.io API call takes a slot;
  ``slot_decay_per_second`` refills 10 per second with a burst of 20 (the previous
  generation's figures; Frame.io's own limits are per operation: "Rate Limits" in
  https://developer.adobe.com/frameio/guides);
* ``<installation>-frameio-folder-create`` - folder creation, at most 3 per second (the limit
  in the docstring of ``folders.create`` in the official SDK, https://github.com/Frameio/python-sdk);
* ``<installation>-uploads`` - at most N uploads at once across all workers (a plain slot,
  released when the upload ends).

Another installation on the same server has its own three, so neither's ``up`` changes the
other's figures. Before installations had names the first two were ``frameio-api`` and
``frameio-folder-create``; nothing here touches limits of those names any more.

Prefect docs, https://docs.prefect.io/v3/how-to-guides/workflows/global-concurrency-limits:
``rate_limit`` needs a limit with slot decay; ``concurrency`` holds slots for the duration of a
block.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency, rate_limit
from prefect.exceptions import ObjectAlreadyExists


@dataclass(frozen=True)
class LimitNames:
    """The names of one installation's three limits (see the module docstring)."""

    api: str
    folder_create: str
    uploads: str


def limit_names(installation: str = "postflow") -> LimitNames:
    """The limits of ``installation`` (``PostflowSettings.installation``).

    Example:
        >>> limit_names("postflow").api
        'postflow-frameio-api'
    """
    return LimitNames(
        f"{installation}-frameio-api",
        f"{installation}-frameio-folder-create",
        f"{installation}-uploads",
    )


def ensure_limits(
    requests_per_second: float = 10.0,
    burst: int = 20,
    folder_creates_per_second: float = 3.0,
    max_concurrent_uploads: int = 3,
    installation: str = "postflow",
) -> dict[str, int]:
    """Create or update ``installation``'s three limits (:func:`limit_names`); returns
    ``{name: limit}``. Limits of other names are left alone.

    Raises:
        prefect.exceptions.PrefectHTTPStatusError: the API refused.
    """
    names = limit_names(installation)
    wanted = {
        names.api: (burst, requests_per_second),
        names.folder_create: (max(1, int(folder_creates_per_second)), folder_creates_per_second),
        names.uploads: (max_concurrent_uploads, None),
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


def prefect_throttle(operation: str, installation: str = "postflow") -> None:
    """Take a rate-limit slot of ``installation`` before a Frame.io API call (folder creates
    take two limits)."""
    names = limit_names(installation)
    wanted = [names.api, names.folder_create] if operation == "folders.create" else names.api
    rate_limit(wanted, strict=True)


def upload_slot(
    enabled: bool, installation: str = "postflow"
) -> contextlib.AbstractContextManager[None]:
    """Hold one ``<installation>-uploads`` slot for the duration of an upload (when enabled)."""
    if not enabled:
        return contextlib.nullcontext()
    return concurrency(limit_names(installation).uploads, strict=True)


def no_throttle(_operation: str) -> None:
    """The default: no Prefect limits (demo, tests, a single machine without a server)."""


def throttle_for(enabled: bool, installation: str = "postflow") -> Callable[[str], None]:
    """The throttle to hand to :class:`blocks.frameio_project.FrameioProject`."""
    return (
        functools.partial(prefect_throttle, installation=installation) if enabled else no_throttle
    )
