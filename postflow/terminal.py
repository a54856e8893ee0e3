"""The terminal of the ``postflow`` commands: rich consoles and settings that fail cleanly.

Every command module prints through :data:`console` (stdout) and :data:`err` (stderr) and loads
settings with :func:`load_settings`, so an invalid ``POSTFLOW_*`` value ends the command with
exit code 2 and one readable line instead of a traceback.
"""

from __future__ import annotations

import typer
from rich.console import Console

from config.settings import PostflowSettings

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
