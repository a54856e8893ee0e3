"""/v4 review endpoints: webhooks, comments and file metadata (the "Status" select field).

Paths and bodies are the `frameio` 4.0.0 SDK's (`webhooks/raw_client.py`,
`comments/raw_client.py`, `metadata/raw_client.py`); every answer is validated with the SDK's
response model (`render.respond`). Show, update and delete of a webhook use the
account-scoped path the SDK calls (`/v4/accounts/{a}/webhooks/{id}`), not the
`/v4/webhooks/{id}` of the guide. Changes that Frame.io announces by webhook are handed to the
deliverer (`state.webhooks.enqueue`).
"""

from __future__ import annotations

from typing import Any

from frameio.comments import CreateCommentParamsData, UpdateCommentParamsData
from frameio.metadata import BulkUpdateMetadataParamsData
from frameio.types import (
    CommentResponse,
    CommentsWithIncludesResponse,
    CommentWithIncludesResponse,
    MetadataResponse,
    WebhookCreateResponse,
    WebhookResponse,
    WebhooksWithIncludesResponse,
    WebhookWithIncludesResponse,
)
from frameio.webhooks import WebhookCreateParamsData, WebhookUpdateParamsData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postflow.sandbox.defaults import SANDBOX_WORKSPACE_ID
from postflow.sandbox.query import ApiProblem, bool_param, paginate
from postflow.sandbox.render import Renderer, respond
from postflow.sandbox.review import (
    STATUS_FIELD_ID,
    STATUS_FIELD_NAME,
    STATUS_OPTIONS,
    Comment,
    Webhook,
)
from postflow.sandbox.state import SandboxState
from postflow.sandbox.v4 import parse_data, v4_route

__all__ = ["routes", "timecode"]

_ACCOUNT = "/v4/accounts/{account_id}"
_HOOKS = f"{_ACCOUNT}/workspaces/{{workspace_id}}/webhooks"
_HOOK = f"{_ACCOUNT}/webhooks/{{webhook_id}}"
_COMMENT = f"{_ACCOUNT}/comments/{{comment_id}}"
SANDBOX_FPS = 24  # the sandbox knows no frame rate: timecodes assume 24 fps (a guess)


def timecode(frame: int, fps: int = SANDBOX_FPS) -> str:
    """Frame number -> ``HH:MM:SS:FF`` (the format Frame.io returns is not documented)."""
    seconds, frames = divmod(frame, fps)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{frames:02d}"


def _webhook(hook: Webhook, *, secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": hook.id,
        "name": hook.name,
        "url": hook.url,
        "events": hook.events,
        "active": hook.active,
        "workspace_id": SANDBOX_WORKSPACE_ID,
        "created_at": hook.created_at,
        "updated_at": hook.updated_at,
    }
    if secret:
        body["secret"] = hook.secret
    return body


def _check_workspace(request: Request) -> None:
    if request.path_params["workspace_id"] != SANDBOX_WORKSPACE_ID:
        raise ApiProblem(404, f"Workspace not found: {request.path_params['workspace_id']}")


async def create_webhook(request: Request, state: SandboxState) -> Response:
    """POST .../workspaces/{w}/webhooks `{"data": {name, url, events}}` -> 201, with `secret`."""
    _check_workspace(request)
    data = await parse_data(request, WebhookCreateParamsData)
    if not data.url.startswith(("http://", "https://")):
        raise ApiProblem(422, "url must be an http(s) URL", source={"pointer": "/data/url"})
    hook = state.review.create_webhook(data.name, data.url, list(data.events))
    return respond(WebhookCreateResponse, {"data": _webhook(hook, secret=True)}, status=201)


async def index_webhooks(request: Request, state: SandboxState) -> Response:
    """GET .../workspaces/{w}/webhooks -> WebhooksWithIncludesResponse (no secrets)."""
    _check_workspace(request)
    page = paginate(request, state.review.webhooks())
    body = page.envelope([_webhook(hook) for hook in page.items])
    return respond(WebhooksWithIncludesResponse, body)


async def show_webhook(request: Request, state: SandboxState) -> Response:
    """GET .../webhooks/{id} -> WebhookWithIncludesResponse."""
    hook = state.review.webhook(request.path_params["webhook_id"])
    return respond(WebhookWithIncludesResponse, {"data": _webhook(hook)})


async def update_webhook(request: Request, state: SandboxState) -> Response:
    """PATCH .../webhooks/{id} `{"data": {active?, events?, name?, url?}}` -> WebhookResponse."""
    data = await parse_data(request, WebhookUpdateParamsData)
    changes = data.model_dump(exclude_none=True)
    hook = state.review.update_webhook(request.path_params["webhook_id"], changes)
    return respond(WebhookResponse, {"data": _webhook(hook)})


async def delete_webhook(request: Request, state: SandboxState) -> Response:
    """DELETE .../webhooks/{id} -> 204."""
    state.review.delete_webhook(request.path_params["webhook_id"])
    return Response(status_code=204)


def _comment(request: Request, comment: Comment, includes: frozenset[str]) -> dict[str, Any]:
    stamp: str | int | None = comment.frame
    if comment.frame is not None and bool_param(request, "timestamp_as_timecode"):
        stamp = timecode(comment.frame)
    body: dict[str, Any] = {
        "id": comment.id,
        "file_id": comment.file_id,
        "text": comment.text,
        "timestamp": stamp,
        "duration": comment.duration,
        "created_at": comment.created_at,
        "updated_at": comment.updated_at,
        "completed_at": comment.completed_at,
        "links": [],
        "mentions": [],
    }
    if "owner" in includes:
        user = Renderer(request.app.state.sandbox, str(request.base_url)).user()
        body["owner"] = {**user, "name": comment.owner_name or user["name"]}
    return body


def _includes(request: Request) -> frozenset[str]:
    raw = request.query_params.get("include") or ""
    return frozenset(v.strip() for v in raw.split(",") if v.strip())


async def create_comment(request: Request, state: SandboxState) -> Response:
    """POST .../files/{f}/comments `{"data": {text, timestamp?, duration?, completed?}}`."""
    file_id = request.path_params["file_id"]
    state.assets.require(file_id, "file")
    data = await parse_data(request, CreateCommentParamsData)
    frame = data.timestamp if isinstance(data.timestamp, int) else None
    comment, events = state.review.add_comment(file_id, data.text, frame, duration=data.duration)
    if data.completed:
        comment, more = state.review.update_comment(comment.id, completed=True)
        events += more
    state.webhooks.enqueue(events)
    return respond(CommentResponse, {"data": _comment(request, comment, frozenset())}, 201)


async def index_comments(request: Request, state: SandboxState) -> Response:
    """GET .../files/{f}/comments -> CommentsWithIncludesResponse (oldest first)."""
    file_id = request.path_params["file_id"]
    state.assets.require(file_id, "file")
    comments = state.review.comments(file_id)
    if request.query_params.get("sort") == "created_at_desc":
        comments.reverse()
    page = paginate(request, comments)
    includes = _includes(request)
    body = page.envelope([_comment(request, c, includes) for c in page.items])
    return respond(CommentsWithIncludesResponse, body)


async def show_comment(request: Request, state: SandboxState) -> Response:
    """GET .../comments/{id} -> CommentWithIncludesResponse."""
    comment = state.review.comment(request.path_params["comment_id"])
    body = {"data": _comment(request, comment, _includes(request))}
    return respond(CommentWithIncludesResponse, body)


async def update_comment(request: Request, state: SandboxState) -> Response:
    """PATCH .../comments/{id} `{"data": {text?, completed?}}` -> CommentResponse."""
    data = await parse_data(request, UpdateCommentParamsData)
    comment, events = state.review.update_comment(
        request.path_params["comment_id"], text=data.text, completed=data.completed
    )
    state.webhooks.enqueue(events)
    return respond(CommentResponse, {"data": _comment(request, comment, frozenset())})


def metadata_body(state: SandboxState, file_id: str) -> dict[str, Any]:
    """A file's `MetadataWithDefinition`: the one "Status" select field."""
    option_id = state.review.status(file_id)
    options = [{"id": k, "display_name": v} for k, v in STATUS_OPTIONS.items()]
    value = []
    if option_id is not None:
        value = [{"id": option_id, "display_name": STATUS_OPTIONS[option_id]}]
    field = {
        "field_type": "select",
        "field_definition_id": STATUS_FIELD_ID,
        "field_definition_name": STATUS_FIELD_NAME,
        "mutable": True,
        "field_options": options,
        "value": value,
    }
    return {"file_id": file_id, "metadata": [field]}


async def show_metadata(request: Request, state: SandboxState) -> Response:
    """GET .../files/{f}/metadata -> MetadataResponse."""
    file_id = request.path_params["file_id"]
    state.assets.require(file_id, "file")
    return respond(MetadataResponse, {"data": metadata_body(state, file_id)})


async def bulk_update_metadata(request: Request, state: SandboxState) -> Response:
    """PATCH .../projects/{p}/metadata/values `{"data": {file_ids, values}}` -> 204.

    Only the Status field is known; a select value is a list of option ids (empty: unset).
    """
    data = await parse_data(request, BulkUpdateMetadataParamsData)
    for file_id in data.file_ids:
        state.assets.require(file_id, "file")
    for item in data.values:
        if item.field_definition_id != STATUS_FIELD_ID:
            raise ApiProblem(422, "unknown field", source={"pointer": "/data/values"})
        chosen = item.value if isinstance(item.value, list) else [item.value]
        if len(chosen) > 1 or any(v not in STATUS_OPTIONS for v in chosen):
            raise ApiProblem(422, "unknown Status option", source={"pointer": "/data/values"})
        events = state.review.set_status(list(data.file_ids), chosen[0] if chosen else None)
        state.webhooks.enqueue(events)
    return Response(status_code=204)


routes: list[Route] = [
    v4_route(_HOOKS, "webhooks.index", index_webhooks),
    v4_route(_HOOKS, "webhooks.create", create_webhook, method="POST"),
    v4_route(_HOOK, "webhooks.show", show_webhook),
    v4_route(_HOOK, "webhooks.update", update_webhook, method="PATCH"),
    v4_route(_HOOK, "webhooks.delete", delete_webhook, method="DELETE"),
    v4_route(f"{_ACCOUNT}/files/{{file_id}}/comments", "comments.index", index_comments),
    v4_route(
        f"{_ACCOUNT}/files/{{file_id}}/comments", "comments.create", create_comment, method="POST"
    ),
    v4_route(_COMMENT, "comments.show", show_comment),
    v4_route(_COMMENT, "comments.update", update_comment, method="PATCH"),
    v4_route(f"{_ACCOUNT}/files/{{file_id}}/metadata", "metadata.show", show_metadata),
    v4_route(
        f"{_ACCOUNT}/projects/{{project_id}}/metadata/values",
        "metadata.bulk_update",
        bulk_update_metadata,
        method="PATCH",
    ),
]
