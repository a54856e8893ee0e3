"""Which Prefect the demo talks to: its own, unless the user names a server.

On a pipeline TD's machine ``PREFECT_API_URL``, the active Prefect profile, a ``.env`` or a
``prefect.toml`` in the current folder may name the studio's Prefect server or Prefect Cloud.
The demo saves blocks, applies automations and registers deployments; it must do none of that
there unless asked. :func:`isolate_prefect` therefore gives this process and every process it
starts (the demo's Prefect server, ``postflow up``, the ephemeral API of ``--in-process``):

* a ``PREFECT_HOME`` of its own under the demo's work folder, with its own (absent) profiles
  file, so no profile is read;
* no ``PREFECT_*`` variable of the caller's, except logging ones (and, with a named server,
  the API key or auth string that server may need);
* ``PREFECT_API_URL`` set explicitly - to the named server, or empty (the demo then starts
  its own server, or uses Prefect's ephemeral API) - and a SQLite database in its home:
  variables beat ``.env``, ``prefect.toml`` and profiles in Prefect's settings sources
  (https://docs.prefect.io/v3/develop/settings-and-profiles);
* no ``POSTFLOW_*`` variable of the caller's (a real installation's state, lock manager,
  cache folder or limits) but ``POSTFLOW_TRACEBACK``, and
  ``POSTFLOW_INSTALLATION=postflow-demo``: on a named server, the demo's blocks, automations
  and limits never replace those of a real installation there.

Prefect reads its settings when first imported; :func:`isolate_prefect` rebuilds its global
settings context (``prefect.context.refresh_global_settings_context``) after changing them.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import ConfigurationError

__all__ = ["DEMO_INSTALLATION", "isolate_prefect"]

DEMO_INSTALLATION = "postflow-demo"
_KEPT_PREFIXES = ("PREFECT_LOGGING_", "POSTFLOW_TRACEBACK")  # how much is shown, nothing else
_KEPT_FOR_A_NAMED_SERVER = ("PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")


def isolate_prefect(base: Path, api_url: str | None) -> Path:
    """Point this process and its children at the demo's own Prefect (see the module
    docstring), or at ``api_url`` when the user named one.

    Args:
        base: the demo's work folder; the Prefect home is ``base / "prefect-home"``.
        api_url: the server the user named (``--prefect-api-url``), or None.

    Returns:
        The demo's ``PREFECT_HOME``.

    Raises:
        ConfigurationError: ``api_url`` was given but no Prefect server answers there.
    """
    from prefect.context import refresh_global_settings_context

    from postflow.serve.prefect_server import api_healthy

    if api_url and not api_healthy(api_url):
        raise ConfigurationError(
            f"no Prefect server answers at {api_url} (--prefect-api-url); start it, fix the "
            "URL, or leave the option out to run the demo on its own temporary server"
        )
    kept = _KEPT_FOR_A_NAMED_SERVER if api_url else ()
    for name in [n for n in os.environ if n.startswith(("PREFECT_", "POSTFLOW_"))]:
        if not name.startswith(_KEPT_PREFIXES) and name not in kept:
            del os.environ[name]
    home = base / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        PREFECT_HOME=str(home),
        PREFECT_PROFILES_PATH=str(home / "profiles.toml"),
        PREFECT_API_URL=api_url or "",
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # a fresh home's database is migrated first: Prefect's 20 s is short on a busy machine
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        POSTFLOW_INSTALLATION=DEMO_INSTALLATION,
    )
    refresh_global_settings_context()
    return home
