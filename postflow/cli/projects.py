"""``postflow projects``: the accounts, workspaces and projects the credentials can see.

Lists them through the ``frameio`` SDK (:func:`blocks.frameio_catalog.visible_projects`) with
the credentials ``postflow setup`` saved (or ``POSTFLOW_FRAMEIO_CLIENT_ID/SECRET``), and prints
the ``POSTFLOW_FRAMEIO_ACCOUNT_ID`` / ``POSTFLOW_FRAMEIO_PROJECT_ID`` lines to use. ``setup``
uses :func:`pick_project` to let the user choose one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.table import Table

from core.errors import ConfigurationError
from postflow.cli.json_out import json_option, print_json
from postflow.cli.terminal import console, load_settings

if TYPE_CHECKING:  # the frameio SDK and pydantic-settings load when a command runs
    from blocks.frameio_catalog import ProjectRef
    from config.settings import PostflowSettings


def list_projects(settings: PostflowSettings) -> list[ProjectRef]:
    """The projects the configured credentials can see.

    Raises:
        ConfigurationError: no credentials (run ``postflow setup``).
        FrameioError: a listing failed.
    """
    from blocks.frameio_catalog import visible_projects
    from tasks.clients import load_credentials

    credentials = load_credentials(settings)
    return visible_projects(credentials.get_client(settings.frameio_timeout_seconds))


def env_lines(project: ProjectRef) -> str:
    """The two ``POSTFLOW_FRAMEIO_*`` lines (``.env`` syntax) that target ``project``."""
    return (
        f"POSTFLOW_FRAMEIO_ACCOUNT_ID={project.account_id}\n"
        f"POSTFLOW_FRAMEIO_PROJECT_ID={project.project_id}"
    )


def _table(found: list[ProjectRef], current: str) -> Table:
    table = Table(title="Frame.io projects these credentials can see")
    for column in ("#", "account", "workspace", "project", "project id"):
        table.add_column(column, overflow="fold")
    for number, ref in enumerate(found, start=1):
        mark = " (current)" if ref.project_id == current else ""
        table.add_row(
            str(number),
            ref.account_name,
            ref.workspace_name,
            ref.project_name + mark,
            ref.project_id,
        )
    return table


def pick_project(
    found: list[ProjectRef], ask: Callable[[str], str] | None, wanted: str = ""
) -> ProjectRef:
    """Choose one project: the one whose id is ``wanted``, the only one, or the user's pick.

    Args:
        found: what :func:`list_projects` returned.
        ask: prompts with a label and returns the answer (a number); None: no prompt.
        wanted: a project id already chosen (``POSTFLOW_FRAMEIO_PROJECT_ID``), "" for none.

    Raises:
        ConfigurationError: nothing visible, ``wanted`` not visible, or several projects and
            no way to ask.
    """
    if not found:
        raise ConfigurationError(
            "these credentials see no Frame.io project: add the credential's user or "
            "service account to a workspace (Frame.io web app), then run `postflow projects`"
        )
    if wanted:
        for ref in found:
            if ref.project_id == wanted:
                return ref
        raise ConfigurationError(
            f"POSTFLOW_FRAMEIO_PROJECT_ID={wanted} is not visible to these credentials; "
            "`postflow projects` lists those that are"
        )
    if len(found) == 1:
        return found[0]
    if ask is None:
        raise ConfigurationError(
            f"{len(found)} projects are visible: set POSTFLOW_FRAMEIO_PROJECT_ID (see "
            "`postflow projects`)"
        )
    console.print(_table(found, ""))
    while True:
        answer = ask(f"Project number (1-{len(found)})").strip()
        if answer.isdigit() and 1 <= int(answer) <= len(found):
            return found[int(answer) - 1]
        console.print(f"[yellow]{answer!r} is not a number from 1 to {len(found)}[/yellow]")


def projects(
    as_json: bool = json_option("A JSON array of the projects."),
) -> None:
    """List the Frame.io accounts, workspaces and projects the credentials can see, and the
    POSTFLOW_FRAMEIO_ACCOUNT_ID / POSTFLOW_FRAMEIO_PROJECT_ID lines of each."""
    settings = load_settings()
    found = list_projects(settings)
    if as_json:
        print_json([ref.as_dict() for ref in found])
        return
    console.print(_table(found, settings.frameio_project_id))
    if not found:
        console.print("No project visible: add these credentials to a Frame.io workspace.")
    for ref in found[:1] if len(found) == 1 else []:
        console.print(f"Put in .env (or run `postflow setup`):\n{env_lines(ref)}", highlight=False)
