"""/v4 discovery endpoints: me, accounts, workspaces, projects.

The sandbox has exactly one account, workspace and project (IDs in `defaults.py`); other IDs
answer 404 with Frame.io's `errors[]` body.
"""

from __future__ import annotations

from frameio.types import (
    AccountsResponse,
    ProfileResponse,
    ProjectsWithIncludesResponse,
    ProjectWithIncludesResponse,
    WorkspacesWithIncludesResponse,
    WorkspaceWithIncludesResponse,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postflow.sandbox.defaults import (
    SANDBOX_PROJECT_ID,
    SANDBOX_SECOND_PROJECT_ID,
    SANDBOX_WORKSPACE_ID,
)
from postflow.sandbox.query import ApiProblem, include_param, paginate
from postflow.sandbox.render import Renderer, respond
from postflow.sandbox.state import SandboxState
from postflow.sandbox.v4 import v4_route

__all__ = ["routes"]

_ACCOUNTS = "/v4/accounts/{account_id}"


def _served_projects(state: SandboxState) -> list[str]:
    """The projects this sandbox serves: the first, and the second when configured."""
    if state.config.second_project:
        return [SANDBOX_PROJECT_ID, SANDBOX_SECOND_PROJECT_ID]
    return [SANDBOX_PROJECT_ID]


def _renderer(
    request: Request, state: SandboxState, allowed: frozenset[str] = frozenset()
) -> Renderer:
    return Renderer(state, str(request.base_url), include_param(request, allowed))


def _workspace(request: Request) -> None:
    workspace_id = request.path_params["workspace_id"]
    if workspace_id != SANDBOX_WORKSPACE_ID:
        raise ApiProblem(404, f"Workspace not found: {workspace_id}")


async def show_me(request: Request, state: SandboxState) -> Response:
    """GET /v4/me -> ProfileResponse."""
    return respond(ProfileResponse, {"data": _renderer(request, state).profile()})


async def index_accounts(request: Request, state: SandboxState) -> Response:
    """GET /v4/accounts -> AccountsResponse (one account)."""
    page = paginate(request, [_renderer(request, state).account()])
    return respond(AccountsResponse, page.envelope(page.items))


async def index_workspaces(request: Request, state: SandboxState) -> Response:
    """GET /v4/accounts/{account_id}/workspaces -> WorkspacesWithIncludesResponse."""
    page = paginate(request, [_renderer(request, state, frozenset({"creator"})).workspace()])
    return respond(WorkspacesWithIncludesResponse, page.envelope(page.items))


async def show_workspace(request: Request, state: SandboxState) -> Response:
    """GET /v4/accounts/{account_id}/workspaces/{workspace_id}."""
    _workspace(request)
    body = _renderer(request, state, frozenset({"creator"})).workspace()
    return respond(WorkspaceWithIncludesResponse, {"data": body})


async def index_projects(request: Request, state: SandboxState) -> Response:
    """GET /v4/accounts/{account_id}/workspaces/{workspace_id}/projects."""
    _workspace(request)
    return await index_account_projects(request, state)


async def index_account_projects(request: Request, state: SandboxState) -> Response:
    """GET /v4/accounts/{account_id}/projects -> ProjectsWithIncludesResponse."""
    renderer = _renderer(request, state, frozenset({"owner", "creator"}))
    page = paginate(request, [renderer.project(p) for p in _served_projects(state)])
    return respond(ProjectsWithIncludesResponse, page.envelope(page.items))


async def show_project(request: Request, state: SandboxState) -> Response:
    """GET /v4/accounts/{account_id}/projects/{project_id} -> ProjectWithIncludesResponse."""
    project_id = request.path_params["project_id"]
    if project_id not in _served_projects(state):
        raise ApiProblem(404, f"Project not found: {project_id}")
    body = _renderer(request, state, frozenset({"owner", "creator"})).project(project_id)
    return respond(ProjectWithIncludesResponse, {"data": body})


routes: list[Route] = [
    v4_route("/v4/me", "users.show", show_me),
    v4_route("/v4/accounts", "accounts.index", index_accounts),
    v4_route(f"{_ACCOUNTS}/workspaces", "workspaces.index", index_workspaces),
    v4_route(f"{_ACCOUNTS}/workspaces/{{workspace_id}}", "workspaces.show", show_workspace),
    v4_route(f"{_ACCOUNTS}/workspaces/{{workspace_id}}/projects", "projects.index", index_projects),
    v4_route(f"{_ACCOUNTS}/projects", "projects.account_index", index_account_projects),
    v4_route(f"{_ACCOUNTS}/projects/{{project_id}}", "projects.show", show_project),
]
