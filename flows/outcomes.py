"""How a flow run ends on an error the project expects: Failed, with the error's one line.

A configuration or permanent input error (a rules file that cannot be used, a file in no
production's folder, an empty file, a Frame.io 403) is not a bug: a person must act, and the
line says what to do. Raised out of a flow, Prefect would log it with a 20-40 line traceback;
:func:`fail_expected`, called with the flow's body, makes it the run's ``Failed`` state
instead, its message that line.
Transient errors (worth retrying), a cancellation and unknown exceptions (bugs) are raised as
before, with their traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect.states import Failed

from core.errors import IngestCancelled, PostflowError, is_transient

__all__ = ["expected_failure", "fail_expected", "one_line"]


def one_line(exc: BaseException) -> str:
    """The error's message on one line (a TOML or pydantic message may hold newlines)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def expected_failure(exc: BaseException) -> bool:
    """True for an error that ends a run without a traceback (see the module doc)."""
    return (
        isinstance(exc, PostflowError)
        and not is_transient(exc)
        and not isinstance(exc, IngestCancelled)
    )


def fail_expected(body: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a flow's body: an expected error becomes the run's ``Failed(message=<its one
    line>)``, the exception kept as the state's data (so ``state.result(raise_on_failure=False)``
    still returns it); anything else is raised.

    Called from inside the ``@flow`` function, not as a decorator under it: a wrapper would
    move the flow's source file to this module, and a deployment (``postflow up``) would no
    longer be the flow of ``flows/ingest.py:ingest_file`` (its failed runs then raised no
    failed-ingest alert).
    """
    try:
        return body(*args, **kwargs)
    except PostflowError as exc:
        if not expected_failure(exc):
            raise
        return Failed(message=one_line(exc), data=exc)
