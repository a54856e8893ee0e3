"""Review actions a person would take in Frame.io's web app, for tests and the demo.

Python: `SandboxServer.review` (a `SandboxReview`); HTTP (no auth, like `admin.py`):

| Method | Path                               | Body / answer                                     |
|--------|------------------------------------|---------------------------------------------------|
| POST   | /_sandbox/comments                 | {"file_id", "text", "frame"=null, "owner"=""}     |
|        |                                    | -> 201 {"id"}; delivers comment.created           |
| POST   | /_sandbox/comments/{id}/complete   | -> 200 {"id"}; delivers comment.completed         |
| POST   | /_sandbox/status                   | {"file_id", "status": "Approved"} -> 200          |
|        |                                    | delivers metadata.value.updated                   |
| POST   | /_sandbox/webhooks/faults          | {"fault": bad_signature|duplicate|out_of_order,   |
|        |                                    |  "count"=1} -> 200 the armed faults               |
| GET    | /_sandbox/webhooks/deliveries      | every attempt: event, url, status, fault, attempt |
| POST   | /_sandbox/webhooks/replay          | {"index"} -> 200 {"status"}: sent again, same     |
|        |                                    | bytes and headers                                 |
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.sandbox.records import AssetNotFound
from postflow.sandbox.responses import frameio_error
from postflow.sandbox.review import status_option_id
from postflow.sandbox.state import SandboxState

__all__ = ["SandboxReview", "routes"]


class SandboxReview:
    """What a reviewer does, applied to the sandbox and delivered by webhook like Frame.io would.

    Args:
        state: the sandbox's state.
    """

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def comment(self, file_id: str, text: str, frame: int | None = None, owner: str = "") -> str:
        """Add a comment (at `frame`, a frame number) to a file; returns its id.

        Raises:
            AssetNotFound: unknown file.
        """
        self.state.assets.require(file_id, "file")
        comment, events = self.state.review.add_comment(file_id, text, frame, owner_name=owner)
        self.state.webhooks.enqueue(events)
        return comment.id

    def complete(self, comment_id: str) -> None:
        """Mark a comment done (comment.completed).

        Raises:
            AssetNotFound: unknown comment.
        """
        _, events = self.state.review.update_comment(comment_id, completed=True)
        self.state.webhooks.enqueue(events)

    def set_status(self, file_id: str, status: str | None) -> None:
        """Set a file's Status by display name ("Approved"...; None clears it).

        Raises:
            AssetNotFound: unknown file.
            ValueError: unknown Status name.
        """
        self.state.assets.require(file_id, "file")
        option = None if status is None else status_option_id(status)
        self.state.webhooks.enqueue(self.state.review.set_status([file_id], option))

    def arm(self, fault: str, count: int = 1) -> dict[str, int]:
        """Apply a delivery fault to the next `count` deliveries (`webhook_delivery.FAULTS`).

        Raises:
            ValueError: unknown fault or count < 1.
        """
        return self.state.webhooks.arm(fault, count)

    def pause(self) -> None:
        """Hold every delivery back until :meth:`resume` (line several up for a fault)."""
        self.state.webhooks.pause()

    def resume(self) -> None:
        """Send the deliveries held by :meth:`pause`."""
        self.state.webhooks.resume()

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery attempt so far (see `WebhookDeliverer.log`)."""
        return self.state.webhooks.log()

    def replay(self, index: int) -> int | None:
        """Send delivery attempt `index` again, byte for byte; returns the HTTP status."""
        return self.state.webhooks.replay(index)

    def wait_delivered(self, timeout_seconds: float = 10.0) -> bool:
        """Wait until no delivery is queued or held back; True when that happened in time."""
        return self.state.webhooks.wait_idle(timeout_seconds)


class _CommentBody(BaseModel):
    file_id: str
    text: str = Field(min_length=1)
    frame: int | None = Field(default=None, ge=0)
    owner: str = ""


class _StatusBody(BaseModel):
    file_id: str
    status: str | None


class _FaultBody(BaseModel):
    fault: str
    count: int = Field(default=1, ge=1)


class _ReplayBody(BaseModel):
    index: int


def _review(request: Request) -> SandboxReview:
    return SandboxReview(request.app.state.sandbox)


async def _parse(request: Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        raise ValueError(str(exc.errors()[0]["msg"])) from exc


async def _answer(request: Request, model: type[BaseModel], act: Any) -> Response:
    try:
        return act(await _parse(request, model))
    except AssetNotFound as missing:
        return frameio_error(404, str(missing))
    except (ValueError, IndexError) as invalid:
        return frameio_error(422, str(invalid))


async def add_comment(request: Request) -> Response:
    def act(body: _CommentBody) -> Response:
        comment_id = _review(request).comment(body.file_id, body.text, body.frame, body.owner)
        return JSONResponse({"id": comment_id}, status_code=201)

    return await _answer(request, _CommentBody, act)


async def complete_comment(request: Request) -> Response:
    try:
        _review(request).complete(request.path_params["comment_id"])
    except AssetNotFound as missing:
        return frameio_error(404, str(missing))
    return JSONResponse({"id": request.path_params["comment_id"]})


async def set_status(request: Request) -> Response:
    def act(body: _StatusBody) -> Response:
        _review(request).set_status(body.file_id, body.status)
        return JSONResponse({"file_id": body.file_id, "status": body.status})

    return await _answer(request, _StatusBody, act)


async def arm_fault(request: Request) -> Response:
    return await _answer(
        request, _FaultBody, lambda body: JSONResponse(_review(request).arm(body.fault, body.count))
    )


def deliveries(request: Request) -> Response:
    log = _review(request).deliveries()
    for entry in log:
        entry["body"] = entry["body"].decode("utf-8", "replace")
    return JSONResponse(log)


async def replay(request: Request) -> Response:
    return await _answer(
        request,
        _ReplayBody,
        lambda body: JSONResponse({"status": _review(request).replay(body.index)}),
    )


routes: list[Route] = [
    Route("/_sandbox/comments", add_comment, methods=["POST"], name="admin.comment"),
    Route(
        "/_sandbox/comments/{comment_id}/complete",
        complete_comment,
        methods=["POST"],
        name="admin.comment_complete",
    ),
    Route("/_sandbox/status", set_status, methods=["POST"], name="admin.status"),
    Route("/_sandbox/webhooks/faults", arm_fault, methods=["POST"], name="admin.webhook_faults"),
    Route("/_sandbox/webhooks/deliveries", deliveries, methods=["GET"], name="admin.webhook_log"),
    Route("/_sandbox/webhooks/replay", replay, methods=["POST"], name="admin.webhook_replay"),
]
