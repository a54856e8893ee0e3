"""How a flow run ends on an error the project expects: Failed, with the error's one line.

A configuration or permanent input error (a rules file that cannot be used, a file in no
production's folder, an empty file, a Frame.io 403) is not a bug: a person must act, and the
line says what to do. Raised out of a flow, Prefect would log it with a 20-40 line traceback;
:func:`fails_expected` turns it into the run's ``Failed`` state instead, its message that line.
Transient errors (worth retrying), a cancellation and unknown exceptions (bugs) are raised as
before, with their traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from prefect.states import Failed

from core.errors import IngestCancelled, PostflowError, is_transient

__all__ = ["expected_failure", "fails_expected", "one_line"]

F = TypeVar("F", bound=Callable[..., Any])


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


def fails_expected(fn: F) -> F:
    """Decorate a flow function (under ``@flow``): an expected error becomes the run's
    ``Failed(message=<its one line>)``, the exception kept as the state's data (so
    ``state.result(raise_on_failure=False)`` still returns it); anything else is raised."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PostflowError as exc:
            if not expected_failure(exc):
                raise
            return Failed(message=one_line(exc), data=exc)

    return run  # type: ignore[return-value]
