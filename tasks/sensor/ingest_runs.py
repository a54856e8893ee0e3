"""Create the ``ingest-file`` deployment's flow run of a ready file version, from the sensor.

In deployment mode the sensor creates each file's run itself
(``POST /api/deployments/{id}/create_flow_run``, through the official client's
``create_flow_run_from_deployment``) and then emits ``postflow.file.ready`` for the record.
It used to emit the event and leave the run to an event trigger, but Prefect 3.8.8's automation
action handler creates a trigger's runs one at a time: 0.1-2.2 s from "Running deployment" to
"Started flow run" each on SQLite, once 10 s (server log of the P6 benchmark). Twenty files
ready at once then waited up to 27 s for their runs, while the warm runners had free slots.

The run's idempotency key is the sensor's ledger key (``"<relative path>:<size>:<mtime_ns>"``):
creating it again (after a timeout whose answer was lost, on a second sensor) returns the same
run. Prefect client docs, ``create_flow_run_from_deployment``: "If the key matches the key of an
existing flow run, the existing run will be returned instead of creating a new one."

A busy SQLite-backed server answers some writes 503 at once: ``SQLITE_BUSY_SNAPSHOT``, a
deferred transaction that another writer overtook (Prefect 3.9.1
``is_client_retryable_exception``). Trying again is fine as soon as that writer has committed,
but Prefect's client waits ``2 ** attempt`` seconds (2 s, then 4 s) and the sensor's polling
thread with it. So the create is sent with the client's own retries off and retried here after
0.05 s, doubling, :data:`QUICK_RETRIES` times; a 503 that lasts goes back to the dispatcher,
which tries the file later. Retries off also keep an unreachable API from holding the thread
(Prefect retries a refused connection, once connected before, 2 + 4 + ... s).

Prefect 3.9.1 waits after the last attempt it is allowed too: with retries off, still 2 s per
503 unless the answer says ``Retry-After``. So the sensor's client marks such a 503
``Retry-After: 0`` (:func:`retry_here`, an httpx response hook). Before it, each 503 cost the
sensor 2 s (in one P6 run the first file's run was created 4.5 s after it was ready).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from core.logs import run_logger
from tasks.observe.events import emit_file_ready

__all__ = ["INGEST_DEPLOYMENT", "QUICK_RETRIES", "IngestRunStarter", "retry_here"]

INGEST_DEPLOYMENT = "ingest-file/ingest-file"  # "<flow name>/<deployment name>", prefect.yaml
QUICK_RETRIES = 6  # a create's 503s retried after 0.05, 0.1 ... 1.6 s (3.15 s in all)

_log = run_logger("postflow.sensor")


class IngestRunStarter:
    """``(path, size_bytes, mtime_ns, idempotency_key) -> FlowRun | None``: create one file's run.

    Keeps one Prefect client open for the sensor's life (a run costs one API request, plus one
    to look the deployment up the first time). Emits ``postflow.file.ready`` with the run's id
    once the run exists.

    Args:
        deployment: ``"<flow>/<deployment>"`` whose runs ingest a file (``path`` parameter).
        client_factory: makes a sync Prefect client (tests inject one); default
            ``prefect.get_client(sync_client=True)`` on the configured ``PREFECT_API_URL``,
            with :func:`retry_here` on its responses.
        emit: ``(path, size_bytes, mtime_ns, key, flow_run_id) -> event``, the record.
        logger: where failures to create a run are reported.
        sleep: waits between quick retries of a 503; default ``time.sleep``.

    Returns from a call: the created (or, for a known idempotency key, the existing) flow run,
    or None when it could not be created: the API is unreachable or refused, or the deployment
    is not registered (the message says to run ``postflow up`` or ``prefect deploy``). The
    caller tries again later; the idempotency key keeps a retry from making a second run.
    """

    def __init__(
        self,
        deployment: str = INGEST_DEPLOYMENT,
        *,
        client_factory: Callable[[], Any] | None = None,
        emit: Callable[..., Any] = emit_file_ready,
        logger: logging.Logger | logging.LoggerAdapter[Any] = _log,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.deployment = deployment
        self._sleep = sleep or time.sleep
        self._client_factory = client_factory or _sync_client
        self._emit, self._log = emit, logger
        self._client: Any = None
        self._deployment_id: UUID | None = None

    def __call__(self, path: str, size_bytes: int, mtime_ns: int, idempotency_key: str) -> Any:
        try:
            run = self._create(path, idempotency_key)
        except ObjectNotFound:
            self._deployment_id = None
            self._log.error(
                "No deployment %s on the Prefect server, so %s cannot be ingested yet: run "
                "`postflow up` (or `prefect deploy --all`) against this server",
                self.deployment,
                path,
            )
            return None
        except Exception as exc:  # noqa: BLE001 - API down or refusing: the caller retries
            self._log.warning("Cannot create the ingest run of %s yet: %s", path, exc)
            self.close()  # a fresh connection next time
            return None
        self._emit(path, size_bytes, mtime_ns, idempotency_key, flow_run_id=str(run.id))
        return run

    def warm_up(self) -> None:
        """Open the client and look the deployment up now, before any file is ready; never
        raises (the first file's call tries again, and reports what is wrong).

        Opening a sync Prefect client and reading the deployment took 0.3 s in the P6
        benchmark (the first file was ready at 2.33 s, its run created at 2.65 s), time the
        first file of a batch otherwise waits for.
        """
        try:
            with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):
                self._connect()
        except Exception as exc:  # noqa: BLE001 - API not there yet: the first call says so
            self._log.debug("Prefect client not warmed up: %s", exc)
            if not isinstance(exc, ObjectNotFound):
                self.close()

    def _connect(self) -> None:
        """The open client and the deployment's id (each made once).

        Raises:
            ObjectNotFound: the deployment is not registered.
            Exception: what the client raises when the API is unreachable.
        """
        if self._client is None:
            self._client = self._client_factory().__enter__()
        if self._deployment_id is None:
            self._deployment_id = self._client.read_deployment_by_name(self.deployment).id

    def _create(self, path: str, idempotency_key: str) -> Any:
        with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):
            self._connect()
            for attempt in range(QUICK_RETRIES + 1):
                try:
                    return self._client.create_flow_run_from_deployment(
                        self._deployment_id,
                        parameters={"path": path},
                        idempotency_key=idempotency_key,
                    )
                except PrefectHTTPStatusError as exc:
                    if exc.response.status_code != 503 or attempt == QUICK_RETRIES:
                        raise
                    self._sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the client (the next call opens a new one)."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.__exit__(None, None, None)
            except Exception as exc:  # noqa: BLE001 - closing a broken connection
                self._log.debug("Closing the Prefect client: %s", exc)


def retry_here(response: httpx.Response) -> None:
    """httpx response hook: a 503 without ``Retry-After`` gets ``Retry-After: 0``, so that
    Prefect's client does not wait 2 s before handing it back (the caller retries)."""
    if response.status_code == 503 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = "0"


def _sync_client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True, httpx_settings={"event_hooks": {"response": [retry_here]}})
