"""What a set of Frame.io credentials can see: accounts -> workspaces -> projects.

Used by ``postflow projects`` and ``postflow setup`` so nobody has to copy ids out of the web
app. Three SDK listings (``accounts.index``, ``workspaces.index``, ``projects.index``; the
"List accounts / workspaces / projects" endpoints of the v4 API reference,
https://developer.adobe.com/frameio/api/current/), each paged by the SDK's pager and with its
errors mapped once (:func:`blocks.frameio.frameio_errors`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from frameio import Frameio

from blocks.frameio import frameio_errors

PAGE_SIZE = 100


@dataclass(frozen=True)
class ProjectRef:
    """One project the credentials can see, with the ids ``POSTFLOW_FRAMEIO_*`` need.

    Attributes:
        account_id / account_name: the Frame.io v4 account (``display_name``).
        workspace_id / workspace_name: the workspace holding the project.
        project_id / project_name: the project.
    """

    account_id: str
    account_name: str
    workspace_id: str
    workspace_name: str
    project_id: str
    project_name: str

    def as_dict(self) -> dict[str, str]:
        """The six fields as a JSON-ready dict."""
        return asdict(self)


def _listed(operation: str, pager: Any) -> list[Any]:
    """Every item of an SDK pager, with errors mapped (paging happens while iterating)."""
    with frameio_errors(operation):
        return list(pager)


def visible_projects(client: Frameio) -> list[ProjectRef]:
    """Every project in every workspace of every account ``client`` can see, in API order.

    Args:
        client: an SDK client (``FrameioCredentials.get_client()``).

    Returns:
        One :class:`ProjectRef` per project; empty when the credentials see none.

    Raises:
        FrameioError: a listing failed (mapped; 401/403 is :class:`~core.errors.FrameioAuthError`).
    """
    found: list[ProjectRef] = []
    with frameio_errors("accounts.index"):
        accounts_pager = client.accounts.index(page_size=PAGE_SIZE)
    for account in _listed("accounts.index", accounts_pager):
        with frameio_errors("workspaces.index"):
            workspaces_pager = client.workspaces.index(account.id, page_size=PAGE_SIZE)
        for workspace in _listed("workspaces.index", workspaces_pager):
            with frameio_errors("projects.index"):
                pager = client.projects.index(account.id, workspace.id, page_size=PAGE_SIZE)
            for project in _listed("projects.index", pager):
                found.append(
                    ProjectRef(
                        str(account.id),
                        str(account.display_name or ""),
                        str(workspace.id),
                        str(workspace.name or ""),
                        str(project.id),
                        str(project.name or ""),
                    )
                )
    return found
