"""Every Prefect name the product relies on still exists, so an upgrade that drops one fails here.

Two checks. (1) Every ``from prefect... import X`` and ``import prefect...`` in the product's
modules resolves: the module imports and has the name. The modules are read, not imported,
so a lazy import inside a function counts too. (2) The private or semi-private pieces we call
or subclass (the warm worker's engine call, the ``BaseWorker`` internals our worker type uses, the
log and event workers we drain, a block's document id, the deployment step that deletes old
triggers) are named one by one with what we rely on, so a failure says which one moved.
Prefect's version is pinned in ``uv.lock``; run this after ``make lock`` with a new one.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("postflow", "flows", "tasks", "blocks", "core", "config")


def _prefect_imports() -> list[tuple[str, str, str | None]]:
    """(where, module, name) for every import of a prefect module in the product."""
    found = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            where = str(path.relative_to(ROOT))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prefect"):
                    found += [(where, node.module or "", alias.name) for alias in node.names]
                elif isinstance(node, ast.Import):
                    found += [
                        (where, alias.name, None)
                        for alias in node.names
                        if alias.name.startswith("prefect")
                    ]
    return found


IMPORTS = _prefect_imports()


def test_the_product_imports_prefect_somewhere():
    assert len(IMPORTS) > 50  # the scan found them (a broken scan would pass the next test)


@pytest.mark.parametrize(
    ("where", "module", "name"), IMPORTS, ids=[f"{m}.{n or ''}@{w}" for w, m, n in IMPORTS]
)
def test_each_prefect_import_of_the_product_resolves(where, module, name):
    imported = importlib.import_module(module)
    if name is not None:
        assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}"), (
            f"{where}: `from {module} import {name}`: {module} has no {name}"
        )


def _parameters(function) -> set[str]:
    return set(inspect.signature(function).parameters)


def test_the_warm_worker_engine_call():
    """postflow/serve/warm_thread.py runs claimed runs in threads the way ``python -m
    prefect.engine`` does."""
    from prefect.flow_engine import run_flow

    assert {"flow", "flow_run", "return_type"} <= _parameters(run_flow)


def test_the_worker_internals_our_worker_type_uses():
    """postflow/serve/warm_worker.py subclasses BaseWorker: it logs through ``_logger``, calls
    ``client.read_flow_runs`` and ``get_and_submit_flow_runs``, and overrides ``setup``,
    ``sync_with_backend``, ``teardown``, ``run``, ``kill_infrastructure`` and the job
    configuration's ``resolve_for_flow_run``."""
    from prefect.workers.base import BaseWorker

    from postflow.serve.warm_worker import WarmWorker

    assert {"infrastructure_pid", "configuration", "grace_seconds"} <= _parameters(
        BaseWorker.kill_infrastructure
    )
    assert {"flow_run", "configuration", "task_status"} <= _parameters(BaseWorker.run)
    # WarmJobConfiguration.resolve_for_flow_run replaces Prefect's: the same keywords
    from prefect.workers.base import BaseJobConfiguration

    assert _parameters(BaseJobConfiguration.resolve_for_flow_run) == {
        "flow_run",
        "client",
        "work_pool",
        "worker_name",
        "worker_id",
        "deployment",
    }
    # WarmWorker sends the labels beside the run (BaseWorker awaits them before run())
    assert _parameters(BaseWorker._give_worker_labels_to_flow_run) == {"self", "flow_run_id"}
    for method in ("setup", "sync_with_backend", "teardown", "get_and_submit_flow_runs"):
        assert callable(getattr(BaseWorker, method, None)), f"BaseWorker has no {method}()"
    worker = WarmWorker(work_pool_name="probe", limit=1)
    assert hasattr(worker, "_logger")
    assert BaseWorker.get_worker_class_from_type("postflow-warm") is WarmWorker  # entry point


def test_the_workers_we_drain_before_a_temporary_server_stops():
    """postflow/cli/terminal.py drains the event and log workers; core/logs.py adds the handler."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogHandler, APILogWorker

    for worker in (EventsWorker, APILogWorker):
        assert {"timeout", "at_exit"} <= _parameters(worker.drain_all), worker.__name__
    assert callable(APILogHandler.prepare)


def test_a_saved_block_knows_its_document_id():
    """postflow/setup/automations.py aims an automation's notification at
    ``block._block_document_id``."""
    from prefect.blocks.system import Secret

    assert Secret(value="x")._block_document_id is None  # set when saved or loaded


def test_registering_a_deployment_still_replaces_its_triggers():
    """postflow/serve/deployments.py relies on apply() deleting the automations a deployment owns
    (``RunnerDeployment._create_triggers_sync``), which removed the old file-ready trigger."""
    from prefect.deployments.runner import RunnerDeployment

    assert callable(getattr(RunnerDeployment, "_create_triggers_sync", None))
