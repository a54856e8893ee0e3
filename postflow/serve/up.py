"""``postflow up``: run RL PostFlow the Prefect way on one machine.

1. use the Prefect API at ``PREFECT_API_URL`` if it answers, else start a local
   ``prefect server start`` (SQLite, loopback) and point this process at it;
2. register the block types;
3. build every deployment of ``prefect.yaml`` (the single source of truth: schedules, triggers,
   concurrency limits) and register them (:func:`apply_deployments`) *before* the automations
   are applied, so the sensor-restart action can name the ``watch-by-shot`` deployment;
4. make sure exactly one ``watch-by-shot`` run exists (:func:`ensure_sensor_run`: the sensor
   has no schedule or trigger, so nothing else would start it);
5. run a Prefect worker per work pool in this process (:func:`serve_deployments`; the pools
   are created first when missing, :func:`ensure_pools`), with the sensor in deployed mode (it
   creates one ``ingest-file`` run per ready file and emits ``postflow.file.ready`` for the
   record): ingest runs execute warm, in threads of the ``postflow-warm`` worker
   (:mod:`postflow.serve.warm_worker`), the others in a process each through Prefect's ``process``
   worker.

A server started here runs in its own session (Ctrl-C in the terminal does not reach it) and is
stopped by :func:`stop_server` on every exit path, SIGTERM included (:func:`exit_on_sigterm`).

This module is the command's one namespace; each step lives in a module of its own:
:mod:`postflow.serve.prefect_server` (the API, a local server, SIGTERM),
:mod:`postflow.serve.deployments` (``prefect.yaml`` built and registered),
:mod:`postflow.serve.sensor_run` (the one sensor run) and :mod:`postflow.serve.runners` (the
workers). ``postflow/cli/serving.py`` runs them in this order.
"""

from __future__ import annotations

from postflow.serve.deployments import (
    PREFECT_YAML,
    PROJECT_ROOT,
    apply_deployments,
    load_deployments,
    module_entrypoint,
)
from postflow.serve.prefect_server import (
    api_healthy,
    exit_on_sigterm,
    free_port,
    prefect_api,
    start_local_server,
    stop_server,
)
from postflow.serve.runners import ensure_pools, serve_deployments  # re-export for the CLI
from postflow.serve.sensor_run import LIVE_STATES, SENSOR_DEPLOYMENT, ensure_sensor_run

__all__ = [
    "LIVE_STATES",
    "PREFECT_YAML",
    "PROJECT_ROOT",
    "SENSOR_DEPLOYMENT",
    "api_healthy",
    "apply_deployments",
    "ensure_pools",
    "ensure_sensor_run",
    "exit_on_sigterm",
    "free_port",
    "load_deployments",
    "module_entrypoint",
    "prefect_api",
    "serve_deployments",
    "start_local_server",
    "stop_server",
]
