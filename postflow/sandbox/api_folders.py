"""/v4 folder and version-stack endpoints: show, children, sub-folders, create, stacks.

Listings return items in creation order unless `sort` is given, paginated with an opaque cursor
(see `query.py`). Version-stack children are listed oldest first; the last is the head version.
`PATCH .../version_stacks/{id}/versions` (reorder) is in Frame.io's v4 API reference but not in
the `frameio` 4.0.0 SDK; `SandboxConfig.stack_reorder=False` makes it answer 404 (see FIDELITY.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from frameio.folders import FolderCreateParamsData
from frameio.types import (
    AssetWithIncludes_File,
    FileAssetsWithIncludesResponse,
    FolderAssetsWithIncludesResponse,
    FolderResponse,
    FoldersWithIncludesResponse,
    FolderWithIncludesResponse,
    VersionStackAssetsWithIncludesResponse,
    VersionStacksWithIncludesResponse,
    VersionStackWithIncludesResponse,
)
from frameio.version_stacks import VersionStackCreateParamsData
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postflow.sandbox.query import (
    ASSET_INCLUDES,
    FOLDER_INCLUDES,
    ApiProblem,
    include_param,
    paginate,
    sort_items,
    type_param,
)
from postflow.sandbox.render import Renderer, respond
from postflow.sandbox.stacks import ReorderParams
from postflow.sandbox.state import SandboxState
from postflow.sandbox.store import Asset
from postflow.sandbox.v4 import parse_data, v4_route

__all__ = ["routes"]


class VersionStackChildren(BaseModel):
    """Reorder answer: `data` = the stack's files (`VersionStackChildrenResponse` in the
    experimental SDK, whose `Asset` items are the 4.0.0 SDK's file shape)."""

    data: list[AssetWithIncludes_File]


_FOLDER = "/v4/accounts/{account_id}/folders/{folder_id}"
_STACK = "/v4/accounts/{account_id}/version_stacks/{version_stack_id}"

_SORT_KEYS: dict[str, Callable[[Asset], Any]] = {
    "name": lambda a: (a.name.casefold(), a.seq),
    "created_at": lambda a: (a.created_at, a.seq),
    "updated_at": lambda a: (a.updated_at, a.seq),
    "file_size": lambda a: (a.file_size or 0, a.seq),
}


def _renderer(request: Request, state: SandboxState, allowed: frozenset[str]) -> Renderer:
    return Renderer(state, str(request.base_url), include_param(request, allowed))


def _listing(
    request: Request,
    state: SandboxState,
    parent_id: str,
    kinds: frozenset[str] | None,
    allowed_includes: frozenset[str],
) -> dict[str, Any]:
    renderer = _renderer(request, state, allowed_includes)
    items = [a for a in state.assets.children(parent_id) if kinds is None or a.type in kinds]
    page = paginate(request, sort_items(request, items, _SORT_KEYS))
    return page.envelope([renderer.asset(a) for a in page.items])


async def show_folder(request: Request, state: SandboxState) -> Response:
    """GET .../folders/{folder_id} -> FolderWithIncludesResponse."""
    folder = state.assets.require(request.path_params["folder_id"], "folder")
    body = _renderer(request, state, FOLDER_INCLUDES).folder(folder)
    return respond(FolderWithIncludesResponse, {"data": body})


async def index_children(request: Request, state: SandboxState) -> Response:
    """GET .../folders/{folder_id}/children -> files, folders and version stacks."""
    folder = state.assets.require(request.path_params["folder_id"], "folder")
    body = _listing(request, state, folder.id, type_param(request), ASSET_INCLUDES)
    return respond(FolderAssetsWithIncludesResponse, body)


async def list_folders(request: Request, state: SandboxState) -> Response:
    """GET .../folders/{folder_id}/folders -> sub-folders only."""
    folder = state.assets.require(request.path_params["folder_id"], "folder")
    body = _listing(request, state, folder.id, frozenset({"folder"}), FOLDER_INCLUDES)
    return respond(FoldersWithIncludesResponse, body)


async def list_files(request: Request, state: SandboxState) -> Response:
    """GET .../folders/{folder_id}/files -> files only."""
    folder = state.assets.require(request.path_params["folder_id"], "folder")
    body = _listing(request, state, folder.id, frozenset({"file"}), ASSET_INCLUDES)
    return respond(FileAssetsWithIncludesResponse, body)


async def list_version_stacks(request: Request, state: SandboxState) -> Response:
    """GET .../folders/{folder_id}/version_stacks -> version stacks only."""
    folder = state.assets.require(request.path_params["folder_id"], "folder")
    body = _listing(request, state, folder.id, frozenset({"version_stack"}), ASSET_INCLUDES)
    return respond(VersionStacksWithIncludesResponse, body)


async def create_folder(request: Request, state: SandboxState) -> Response:
    """POST .../folders/{folder_id}/folders `{"data": {"name"}}` -> 201 FolderResponse."""
    data = await parse_data(request, FolderCreateParamsData)
    name = data.name.strip()
    if not name:
        raise ApiProblem(422, "name must not be blank", source={"pointer": "/data/name"})
    folder = state.assets.create_folder(request.path_params["folder_id"], name)
    body = Renderer(state, str(request.base_url)).folder(folder)
    return respond(FolderResponse, {"data": body}, status=201)


async def create_version_stack(request: Request, state: SandboxState) -> Response:
    """POST .../folders/{folder_id}/version_stacks `{"data": {"file_ids"}}` -> 201."""
    data = await parse_data(request, VersionStackCreateParamsData)
    stack = state.assets.create_version_stack(request.path_params["folder_id"], list(data.file_ids))
    body = Renderer(state, str(request.base_url)).version_stack(stack)
    return respond(VersionStackWithIncludesResponse, {"data": body}, status=201)


async def show_version_stack(request: Request, state: SandboxState) -> Response:
    """GET .../version_stacks/{version_stack_id} -> VersionStackWithIncludesResponse."""
    stack = state.assets.require(request.path_params["version_stack_id"], "version_stack")
    body = _renderer(request, state, ASSET_INCLUDES).version_stack(stack)
    return respond(VersionStackWithIncludesResponse, {"data": body})


async def index_version_stack(request: Request, state: SandboxState) -> Response:
    """GET .../version_stacks/{version_stack_id}/children -> its files, oldest first."""
    stack = state.assets.require(request.path_params["version_stack_id"], "version_stack")
    renderer = _renderer(request, state, ASSET_INCLUDES)
    versions = sort_items(request, state.assets.versions(stack.id), _SORT_KEYS)
    page = paginate(request, versions)
    body = page.envelope([renderer.file(a) for a in page.items])
    return respond(VersionStackAssetsWithIncludesResponse, body)


async def reorder_version_stack(request: Request, state: SandboxState) -> Response:
    """PATCH .../version_stacks/{id}/versions `{"data": {"target_file_id", "move_to" |
    "move_above_file_id" | "move_below_file_id"}}` -> 200 the files, oldest first; 422 when the
    reorder cannot be applied."""
    if not state.config.stack_reorder:
        raise ApiProblem(404, f"Not Found: {request.method} {request.url.path}")
    data = await parse_data(request, ReorderParams)
    versions = state.assets.reorder_versions(request.path_params["version_stack_id"], data)
    renderer = Renderer(state, str(request.base_url))
    return respond(VersionStackChildren, {"data": [renderer.file(v) for v in versions]})


routes: list[Route] = [
    v4_route(_FOLDER, "folders.show", show_folder),
    v4_route(f"{_FOLDER}/children", "folders.index", index_children),
    v4_route(f"{_FOLDER}/folders", "folders.list", list_folders),
    v4_route(f"{_FOLDER}/folders", "folders.create", create_folder, method="POST"),
    v4_route(f"{_FOLDER}/files", "files.list", list_files),
    v4_route(f"{_FOLDER}/version_stacks", "version_stacks.list", list_version_stacks),
    v4_route(
        f"{_FOLDER}/version_stacks", "version_stacks.create", create_version_stack, method="POST"
    ),
    v4_route(_STACK, "version_stacks.show", show_version_stack),
    v4_route(f"{_STACK}/children", "version_stacks.index", index_version_stack),
    v4_route(f"{_STACK}/versions", "version_stacks.reorder", reorder_version_stack, method="PATCH"),
]
