"""The process's clients of the outside world, made once per :class:`~core.runtime.Runtime`.

* :func:`open_project` - the :class:`~blocks.frameio_project.FrameioProject` (one SDK client
  and IMS token per credentials, not one per file), remade after
  ``projects_cache_ttl_seconds``;
* :func:`open_project_task` - the same as a Prefect task, with the project's first Frame.io
  call (``projects.show``, which fetches the IMS token too) made inside it, so the flow can
  retry an outage at the very start of an ingest like any other call;
* :func:`remote_endpoint` - the Range server and tunnel that remote uploads use, started by
  the first file (a quick tunnel takes seconds to come up) and stopped when the runtime closes.

Example:
    >>> endpoint = remote_endpoint(settings)                            # doctest: +SKIP
    >>> server, tunnel = (endpoint.range_server, endpoint.tunnel) if endpoint else (None, None)
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.frameio import FrameioCredentials
from blocks.frameio_project import FrameioProject
from blocks.remote_endpoint import RemoteEndpoint
from config.sections.frameio import FrameioSettings
from config.settings import PostflowSettings
from core.errors import ConfigurationError
from core.runtime import current_runtime
from tasks.observe.live_metrics import live_window
from tasks.platform.limits import throttle_for

__all__ = ["load_credentials", "open_project", "open_project_task", "remote_endpoint"]


def load_credentials(settings: FrameioSettings) -> FrameioCredentials:
    """The Frame.io credentials: the saved block named in settings, else the settings' own
    ``POSTFLOW_FRAMEIO_CLIENT_ID`` / ``_SECRET`` (e.g. in a ``.env``).

    Raises:
        ConfigurationError: neither is available; says how to fix it.
    """
    try:
        saved = FrameioCredentials.load(settings.frameio_credentials_block)
    except ValueError:
        pass
    else:
        if isinstance(saved, FrameioCredentials):  # a coroutine only in async code
            return saved
    if settings.frameio_client_id and settings.frameio_client_secret.get_secret_value():
        return FrameioCredentials(
            client_id=settings.frameio_client_id,
            client_secret=settings.frameio_client_secret,
            ims_base_url=settings.frameio_ims_base_url,
            api_base_url=settings.frameio_api_base_url,
        )
    raise ConfigurationError(
        f"no Frame.io credentials: save a FrameioCredentials block named "
        f"{settings.frameio_credentials_block!r} or set POSTFLOW_FRAMEIO_CLIENT_ID and "
        "POSTFLOW_FRAMEIO_CLIENT_SECRET"
    )


def open_project(settings: PostflowSettings) -> FrameioProject:
    """The :class:`FrameioProject` of the configured account and project, reused by this
    runtime for ``projects_cache_ttl_seconds`` (0: for the runtime's life), then made afresh.

    Raises:
        ConfigurationError: ids or credentials missing.
    """
    missing = settings.frameio_ids_missing()
    if missing:
        raise ConfigurationError(f"set {', '.join(missing)} (Frame.io ids of the target project)")
    credentials = load_credentials(settings)
    key = (
        credentials.api_base_url,
        credentials.ims_base_url,
        credentials.client_id,
        settings.frameio_account_id,
        settings.frameio_project_id,
        settings.use_prefect_limits,
        settings.installation,
    )

    def make() -> FrameioProject:
        live_window()  # observing the runtime's calls before the client makes its first
        client = credentials.get_client(timeout_seconds=settings.frameio_timeout_seconds)
        return FrameioProject(
            client,
            settings.frameio_account_id,
            settings.frameio_project_id,
            max_retry_after_seconds=settings.max_retry_after_seconds,
            throttle=throttle_for(settings.use_prefect_limits, settings.installation),
        )

    return current_runtime().cached(
        "project", key, make, ttl_seconds=settings.projects_cache_ttl_seconds
    )


@task(name="open-project", cache_policy=NO_CACHE, persist_result=False)
def open_project_task(settings: PostflowSettings) -> FrameioProject:
    """Prefect task: :func:`open_project`, with its root folder looked up (``projects.show``).

    The flow adds transient-only retries (:func:`tasks.recovery.retrying.retry_options`); a failed
    look-up is not cached (the project's ``project`` property is set only on success).

    Returns:
        The project, ``root_folder_id`` already known.

    Raises:
        ConfigurationError: ids or credentials missing.
        FrameioError: the IMS token or ``projects.show`` failed (transient ones are retried).
    """
    project = open_project(settings)
    _ = project.root_folder_id  # projects.show, the IMS token request included
    return project


def remote_endpoint(settings: PostflowSettings) -> RemoteEndpoint | None:
    """This runtime's Range server + tunnel for these settings, started on first use and
    stopped when the runtime closes (at the latest, at interpreter exit).

    Args:
        settings: ``upload_strategy``, ``range_*``, ``share_*``, ``tunnel_*`` and
            ``cloudflared_path`` are read.

    Returns:
        None when remote upload is off (``upload_strategy=multipart`` or ``tunnel_mode=off``).

    Raises:
        OSError: the Range server's address cannot be bound.
    """
    if settings.upload_strategy == "multipart" or settings.tunnel_mode == "off":
        return None
    key = (
        settings.range_server_host,
        settings.range_server_port,
        settings.range_chunk_bytes,
        settings.share_token_ttl_seconds,
        settings.tunnel_mode,
        settings.tunnel_hostname,
        settings.tunnel_token_block,
        settings.tunnel_canary_timeout_seconds,
        settings.cloudflared_path,
    )
    runtime = current_runtime()

    def start() -> RemoteEndpoint:
        endpoint = RemoteEndpoint.start(settings)
        runtime.on_close(endpoint.stop)
        return endpoint

    return runtime.cached("remote-endpoint", key, start)
