"""Every Prefect name the product relies on still exists, so an upgrade that drops one fails here.

Two checks. (1) Every ``from prefect... import X`` and ``import prefect...`` in the product's
modules resolves: the module imports and has the name. The modules are read, not imported,
so a lazy import inside a function counts too. (2) The private or semi-private pieces we call
or subclass (the warm runner's engine calls, the ``Runner`` attributes our subclass reads, the
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


def test_the_warm_runner_engine_calls():
    """postflow/serve/warm.py runs claimed runs in threads the way ``python -m prefect.engine``
    does."""
    from prefect.flow_engine import run_flow
    from prefect.utilities.engine import propose_state_sync

    assert {"flow", "flow_run", "return_type"} <= _parameters(run_flow)
    assert {"client", "state", "flow_run_id"} <= _parameters(propose_state_sync)


def test_the_runner_attributes_our_subclass_reads():
    """postflow/serve/runners.py subclasses Runner: handle_sigterm reads ``_loop``, ``_logger`` and
    ``started`` and calls ``astop`` (it overrides ``handle_sigterm``); the constructor takes
    ``pause_on_shutdown`` and ``limit``."""
    from prefect.runner import Runner

    runner = Runner(pause_on_shutdown=True, limit=1)
    for attribute in ("_loop", "_logger", "started"):
        assert hasattr(runner, attribute), f"Runner has no {attribute}"
    for method in ("handle_sigterm", "astop", "start", "add_deployment"):
        assert callable(getattr(Runner, method, None)), f"Runner has no {method}()"


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
