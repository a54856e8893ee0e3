"""Admin endpoints under /_sandbox/ (no auth, never faulted, not counted) and the view page.

| Method | Path                              | Body / answer                                      |
|--------|-----------------------------------|----------------------------------------------------|
| GET    | /_sandbox/health                  | {"ok": true}                                       |
| GET    | /_sandbox/tree                    | the whole project tree (see `tree.tree_snapshot`)  |
| POST   | /_sandbox/reset                   | empties the tree, faults, stats, rate buckets;     |
|        |                                   | clock offset -> 0, part URL TTL -> configured      |
| GET    | /_sandbox/stats                   | counters (see `stats.Stats`), incl. part bytes     |
| GET    | /_sandbox/faults                  | {"latency_seconds", "rules": [...],                |
|        |                                   |  "short_store": null|{"remaining","missing_bytes"}}|
| POST   | /_sandbox/faults/status           | {"status", "count"=1, "path"=".*", "method"=null,  |
|        |                                   |  "retry_after_seconds"=null} -> 201 rule           |
| POST   | /_sandbox/faults/drop             | {"count"=1, "path"=".*", "method"=null} -> 201 rule|
| POST   | /_sandbox/faults/lost_response    | same body as drop: applied, then the answer is lost|
| POST   | /_sandbox/faults/latency          | {"seconds"} -> 200                                 |
| POST   | /_sandbox/faults/short_store      | {"count"=1, "missing_bytes"=1} -> 201              |
|        |                                   | {"remaining", "missing_bytes"}: the next `count`   |
|        |                                   | files to complete are stored that many bytes short |
| POST   | /_sandbox/faults/clear, DELETE /_sandbox/faults | removes every fault, latency too    |
| GET    | /_sandbox/clock                   | {"offset_seconds": float, "now": "...Z"}           |
| POST   | /_sandbox/clock                   | {"advance_seconds": >= 0} -> 200, same shape;      |
|        |                                   | cumulative; moves only part-URL signing and expiry |
| GET    | /_sandbox/settings                | {"part_url_ttl_seconds": int}                      |
| POST   | /_sandbox/settings                | {"part_url_ttl_seconds": 1..604800} -> 200, same   |
|        |                                   | shape; applies to URLs issued from then on         |
| GET    | /_sandbox/files/{file_id}/content | the stored bytes (Range -> 206); 409 if partial;   |
|        |                                   | target of `media_links.original`                   |
| GET    | /project/{project_id}/view/{id}   | JSON node of the asset (target of `view_url`)      |

Invalid admin bodies answer 422 `{"errors": [...]}`.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from postflow.sandbox.faults import FaultRule
from postflow.sandbox.responses import frameio_error
from postflow.sandbox.signing import MAX_PART_URL_TTL_SECONDS
from postflow.sandbox.state import SandboxState
from postflow.sandbox.tree import tree_snapshot

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


class ShortStore(BaseModel):
    count: int = Field(default=1, ge=1)
    missing_bytes: int = Field(default=1, ge=1)


class ClockAdvance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    advance_seconds: float = Field(ge=0)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    part_url_ttl_seconds: int | None = Field(default=None, ge=1, le=MAX_PART_URL_TTL_SECONDS)


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


async def arm_short_store(request: Request) -> Response:
    spec = await _body(request, ShortStore)
    if isinstance(spec, Response):
        return spec
    armed = _state(request).faults.arm_short_store(**spec.model_dump())
    return JSONResponse(armed, status_code=201)


async def clock(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        spec = await _body(request, ClockAdvance)
        if isinstance(spec, Response):
            return spec
        state.clock.advance(spec.model_dump()["advance_seconds"])
    return JSONResponse(state.clock.snapshot())


async def settings(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        spec = await _body(request, Settings)
        if isinstance(spec, Response):
            return spec
        ttl = spec.model_dump()["part_url_ttl_seconds"]
        if ttl is not None:
            state.part_url_ttl_seconds = ttl
    return JSONResponse({"part_url_ttl_seconds": state.part_url_ttl_seconds})


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
        "/_sandbox/faults/short_store",
        arm_short_store,
        methods=["POST"],
        name="admin.fault_short_store",
    ),
    Route("/_sandbox/clock", clock, methods=["GET", "POST"], name="admin.clock"),
    Route("/_sandbox/settings", settings, methods=["GET", "POST"], name="admin.settings"),
    Route(
        "/_sandbox/files/{file_id}/content",
        file_content,
        methods=["GET"],
        name="admin.file_content",
    ),
    Route("/project/{project_id}/view/{asset_id}", view, methods=["GET"], name="web.view"),
]
