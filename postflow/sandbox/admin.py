"""Admin endpoints under /_sandbox/ (no auth, never faulted, not counted) and the view page.

| Method | Path                              | Body / answer                                      |
|--------|-----------------------------------|----------------------------------------------------|
| GET    | /_sandbox/health                  | {"ok": true}                                        |
| GET    | /_sandbox/tree                    | the whole project tree (see `tree_snapshot`)        |
| POST   | /_sandbox/reset                   | empties the tree, faults, stats, rate buckets       |
| GET    | /_sandbox/stats                   | counters (see `stats.Stats`)                        |
| GET    | /_sandbox/faults                  | {"latency_seconds", "rules": [...]}                 |
| POST   | /_sandbox/faults/status           | {"status", "count"=1, "path"=".*", "method"=null,   |
|        |                                   |  "retry_after_seconds"=null} -> 201 rule            |
| POST   | /_sandbox/faults/drop             | {"count"=1, "path"=".*", "method"=null} -> 201 rule |
| POST   | /_sandbox/faults/lost_response    | same body as drop: applied, then the answer is lost |
| POST   | /_sandbox/faults/latency          | {"seconds"} -> 200                                  |
| POST   | /_sandbox/faults/clear, DELETE /_sandbox/faults | removes every fault and latency      |
| GET    | /_sandbox/files/{file_id}/content | the stored bytes (Range supported); 409 if partial  |
| GET    | /project/{project_id}/view/{id}   | JSON node of the asset (target of `view_url`)       |

Invalid admin bodies answer 422 `{"errors": [...]}`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from postflow.sandbox.defaults import (
    SANDBOX_ACCOUNT_ID,
    SANDBOX_ACCOUNT_NAME,
    SANDBOX_PROJECT_ID,
    SANDBOX_PROJECT_NAME,
    SANDBOX_ROOT_FOLDER_ID,
    SANDBOX_WORKSPACE_ID,
    SANDBOX_WORKSPACE_NAME,
)
from postflow.sandbox.faults import FaultRule
from postflow.sandbox.render import file_status
from postflow.sandbox.responses import frameio_error
from postflow.sandbox.state import SandboxState
from postflow.sandbox.store import Asset

__all__ = ["routes", "tree_snapshot"]


class StatusFault(BaseModel):
    status: int = Field(ge=400, le=599)
    count: int = Field(default=1, ge=1)
    path: str = ".*"
    method: str | None = None
    retry_after_seconds: int | None = Field(default=None, ge=0)


class DropFault(BaseModel):
    count: int = Field(default=1, ge=1)
    path: str = ".*"
    method: str | None = None


class Latency(BaseModel):
    seconds: float = Field(ge=0)


def tree_snapshot(state: SandboxState) -> dict[str, Any]:
    """The project tree as plain JSON.

    Shape::

        {"account": {"id", "name"}, "workspace": {"id", "name"},
         "project": {"id", "name", "root_folder_id"},
         "root": {"type": "folder", "id", "name", "children": [
             {"type": "folder", "id", "name", "children": [...]},
             {"type": "file", "id", "name", "size", "media_type", "status",
              "upload_complete", "sha256"},
             {"type": "version_stack", "id", "name", "head_version_id", "versions": [file, ...]}]}}

    Children are in creation order; stack versions oldest first. `sha256` is null until the
    upload is complete. Computing it reads the file once (then it is cached).
    """
    by_parent: dict[str | None, list[Asset]] = defaultdict(list)
    for asset in state.assets.all_assets():
        by_parent[asset.parent_id].append(asset)

    def node(asset: Asset) -> dict[str, Any]:
        if asset.type == "file":
            return {
                "type": "file",
                "id": asset.id,
                "name": asset.name,
                "size": asset.file_size,
                "media_type": asset.media_type,
                "status": file_status(asset, state.config.transcode_delay_seconds),
                "upload_complete": asset.upload_completed_at is not None,
                "sha256": state.sha256_of(asset),
            }
        if asset.type == "version_stack":
            versions = sorted(by_parent[asset.id], key=lambda a: (a.version_index or 0, a.seq))
            return {
                "type": "version_stack",
                "id": asset.id,
                "name": asset.name,
                "head_version_id": versions[-1].id if versions else None,
                "versions": [node(v) for v in versions],
            }
        return {
            "type": "folder",
            "id": asset.id,
            "name": asset.name,
            "children": [node(child) for child in by_parent[asset.id]],
        }

    root = state.assets.require(SANDBOX_ROOT_FOLDER_ID, "folder")
    return {
        "account": {"id": SANDBOX_ACCOUNT_ID, "name": SANDBOX_ACCOUNT_NAME},
        "workspace": {"id": SANDBOX_WORKSPACE_ID, "name": SANDBOX_WORKSPACE_NAME},
        "project": {
            "id": SANDBOX_PROJECT_ID,
            "name": SANDBOX_PROJECT_NAME,
            "root_folder_id": SANDBOX_ROOT_FOLDER_ID,
        },
        "root": node(root),
    }


def _state(request: Request) -> SandboxState:
    return request.app.state.sandbox


async def _body(request: Request, model: type[BaseModel]) -> BaseModel | Response:
    try:
        return model.model_validate(json.loads(await request.body() or b"{}"))
    except (json.JSONDecodeError, ValidationError) as exc:
        return frameio_error(422, f"invalid admin request: {exc}")


def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


def tree(request: Request) -> Response:
    return JSONResponse(tree_snapshot(_state(request)))


def reset(request: Request) -> Response:
    _state(request).reset()
    return JSONResponse({"ok": True})


def stats(request: Request) -> Response:
    return JSONResponse(_state(request).stats.snapshot())


def faults(request: Request) -> Response:
    return JSONResponse(_state(request).faults.snapshot())


def _rule_response(rule: FaultRule) -> Response:
    return JSONResponse(rule.__dict__, status_code=201)


async def add_status_fault(request: Request) -> Response:
    spec = await _body(request, StatusFault)
    if isinstance(spec, Response):
        return spec
    try:
        rule = _state(request).faults.add_status(**spec.model_dump())
    except ValueError as exc:
        return frameio_error(422, str(exc))
    return _rule_response(rule)


async def add_drop_fault(request: Request) -> Response:
    spec = await _body(request, DropFault)
    if isinstance(spec, Response):
        return spec
    try:
        rule = _state(request).faults.add_drop(**spec.model_dump())
    except ValueError as exc:
        return frameio_error(422, str(exc))
    return _rule_response(rule)


async def add_lost_response_fault(request: Request) -> Response:
    spec = await _body(request, DropFault)
    if isinstance(spec, Response):
        return spec
    try:
        rule = _state(request).faults.add_lost_response(**spec.model_dump())
    except ValueError as exc:
        return frameio_error(422, str(exc))
    return _rule_response(rule)


async def set_latency(request: Request) -> Response:
    spec = await _body(request, Latency)
    if isinstance(spec, Response):
        return spec
    _state(request).faults.set_latency(spec.model_dump()["seconds"])
    return JSONResponse(_state(request).faults.snapshot())


def clear_faults(request: Request) -> Response:
    _state(request).faults.clear()
    return JSONResponse(_state(request).faults.snapshot())


def file_content(request: Request) -> Response:
    state = _state(request)
    asset = state.assets.get(request.path_params["file_id"])
    if asset is None or asset.type != "file":
        return frameio_error(404, f"File not found: {request.path_params['file_id']}")
    if asset.upload_completed_at is None:
        return frameio_error(409, "upload is not complete")
    return FileResponse(
        state.assets.blob_path(asset.id), media_type=asset.media_type, filename=asset.name
    )


def view(request: Request) -> Response:
    state = _state(request)
    asset = state.assets.get(request.path_params["asset_id"])
    if asset is None or request.path_params["project_id"] != asset.project_id:
        return frameio_error(404, "Asset not found")
    return JSONResponse(
        {
            "id": asset.id,
            "type": asset.type,
            "name": asset.name,
            "parent_id": asset.parent_id,
            "project_id": asset.project_id,
        }
    )


routes: list[Route] = [
    Route("/_sandbox/health", health, methods=["GET"], name="admin.health"),
    Route("/_sandbox/tree", tree, methods=["GET"], name="admin.tree"),
    Route("/_sandbox/reset", reset, methods=["POST"], name="admin.reset"),
    Route("/_sandbox/stats", stats, methods=["GET"], name="admin.stats"),
    Route("/_sandbox/faults", faults, methods=["GET"], name="admin.faults"),
    Route("/_sandbox/faults", clear_faults, methods=["DELETE"], name="admin.faults_delete"),
    Route("/_sandbox/faults/clear", clear_faults, methods=["POST"], name="admin.faults_clear"),
    Route("/_sandbox/faults/status", add_status_fault, methods=["POST"], name="admin.fault_status"),
    Route("/_sandbox/faults/drop", add_drop_fault, methods=["POST"], name="admin.fault_drop"),
    Route(
        "/_sandbox/faults/lost_response",
        add_lost_response_fault,
        methods=["POST"],
        name="admin.fault_lost_response",
    ),
    Route("/_sandbox/faults/latency", set_latency, methods=["POST"], name="admin.latency"),
    Route(
        "/_sandbox/files/{file_id}/content",
        file_content,
        methods=["GET"],
        name="admin.file_content",
    ),
    Route("/project/{project_id}/view/{asset_id}", view, methods=["GET"], name="web.view"),
]
