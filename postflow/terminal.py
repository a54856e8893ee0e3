"""The terminal of the ``postflow`` commands: rich consoles and settings that fail cleanly.

Every command module prints through :data:`console` (stdout) and :data:`err` (stderr) and loads
settings with :func:`load_settings`, so an invalid ``POSTFLOW_*`` value ends the command with
exit code 2 and one readable line instead of a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from config.settings import PostflowSettings

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err = Console(stderr=True)


def load_settings() -> PostflowSettings:
    """Settings from ``POSTFLOW_*`` variables and ``.env``.

    Returns:
        The validated settings.

    Raises:
        typer.Exit: with code 2, after printing why, when a setting is invalid.
    """
    try:
        return PostflowSettings()
    except ValueError as exc:
        err.print(f"[red]Invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


def with_prefect_api(command: Callable[P, R]) -> Callable[P, R]:
    """Run a command that needs the Prefect API on ``PREFECT_API_URL``, or on a temporary
    local server started for it, announced in one line and stopped with it: on return, Ctrl-C,
    SIGTERM and ``kill -9`` (:func:`postflow.up.prefect_api`). Arguments are validated by typer
    before this runs, so a bad argument never starts a server.

    Args:
        command: a typer command function.

    Returns:
        The same command, wrapped (its signature, help and options are unchanged).
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from postflow.up import exit_on_sigterm, prefect_api

        settings = load_settings()
        exit_on_sigterm()
        with prefect_api(settings.state_dir / "prefect-server.log", err.print):
            return command(*args, **kwargs)

    return wrapper
