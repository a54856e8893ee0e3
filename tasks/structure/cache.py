"""The structure cache's records: keys that say which installation wrote them.

Prefect stores a cached task result under its cache key, as a file of that name in the result
storage (``$PREFECT_HOME/storage`` by default, shared with every other flow on the machine)
or, with a ``key_storage`` folder, the metadata there and the result under the same name in
the result storage (Prefect docs, https://docs.prefect.io/v3/advanced/caching). A plain cache
policy's key is a bare hash, indistinguishable from another flow's. :class:`OwnedKeys` puts a
name in front of it::

    postflow-structure_<installation>_<hash>

Installation names hold only ``[a-z0-9-]`` (``PostflowSettings.installation``), never ``_``,
so :func:`is_ours` reads the installation back exactly: installation ``postflow`` never claims
``postflow-b``'s records, and no other flow's record (a bare hash) is ever claimed.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

from prefect.cache_policies import NONE, CachePolicy
from prefect.context import TaskRunContext

__all__ = ["RECORD_PREFIX", "OwnedKeys", "is_ours", "key_prefix"]

RECORD_PREFIX = "postflow-structure"


def key_prefix(installation: str) -> str:
    """``"postflow-structure_<installation>_"``: what every key of ``installation`` starts with.

    Args:
        installation: ``PostflowSettings.installation``, e.g. ``"postflow"``.
    """
    return f"{RECORD_PREFIX}_{installation}_"


def is_ours(file_name: str, installation: str) -> bool:
    """Whether ``file_name`` is a structure cache record of ``installation``.

    Args:
        file_name: a file name in the result or key storage (no folder).
        installation: this installation's name.

    Returns:
        True for exactly ``postflow-structure_<installation>_<hex hash>``; False for other
        installations' records, other flows' records and anything else.
    """
    head, sep, digest = file_name.rpartition("_")
    return (
        bool(sep)
        and head == f"{RECORD_PREFIX}_{installation}"
        and bool(digest)
        and all(c in string.hexdigits for c in digest)
    )


@dataclass
class OwnedKeys(CachePolicy):
    """A cache policy whose keys are ``inner``'s, prefixed with :func:`key_prefix`.

    Key storage, isolation level and lock manager are this policy's own (set them with
    ``configure``, as on any Prefect policy); ``inner`` only computes the hash.

    Attributes:
        inner: the policy that hashes the inputs, e.g. ``INPUTS - "project"``.
        installation: whose records these are (``PostflowSettings.installation``).
    """

    inner: CachePolicy = field(default_factory=lambda: NONE)
    installation: str = "postflow"

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """``inner``'s key with the installation's prefix; None when ``inner`` gives none."""
        key = self.inner.compute_key(task_ctx, inputs, flow_parameters, **kwargs)
        return None if key is None else key_prefix(self.installation) + key
