"""A local stand-in for Discord's webhook endpoint, for tests and the demo.

`DiscordReceiver` serves `POST /api/webhooks/<id>/<token>` on loopback and answers like Discord:
200 with a message object when `?wait=true` (the `discord-webhook` package always sends
`wait=True`), else 204. `PATCH /api/webhooks/<id>/<token>/messages/<message_id>` edits a
message it accepted ("Edit Webhook Message": the fields sent replace the old ones; 404
`Unknown Message`, code 10008, for another id) and answers 200 with the edited message.
It accepts both bodies the package sends: JSON, and multipart/form-data with a `payload_json`
field plus one part per attached file. Like Discord it refuses empty messages and over-long
content/embeds (400 with Discord's `{"message", "code"}` body), and can answer the next N
requests with 429 `{"retry_after": seconds}` (plus the `Via` header `discord-webhook` requires
before it honours `rate_limit_retry`).

Received messages are kept in memory as `{"payload": <JSON payload>, "files": {filename: bytes},
"id": <message id>, "edits": <how many times edited>}` (an edit changes the message in place).

Example:
    >>> with DiscordReceiver() as discord:                  # doctest: +SKIP
    ...     DiscordWebhook(url=discord.webhook_url, content="hi").execute()
    ...     [message] = discord.wait_for(1)
"""

from __future__ import annotations

import copy
import itertools
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.loopback import UvicornThread
from postflow.sandbox.discord_payload import WebhookRejected, parse_body, validate

__all__ = ["DiscordReceiver", "WebhookRejected"]

DEFAULT_WEBHOOK_ID = "112233445566778899"
DEFAULT_WEBHOOK_TOKEN = "postflow-receiver-token"
_DISCORD_EPOCH_MS = 1_420_070_400_000
_EDITABLE = ("content", "embeds", "allowed_mentions", "components", "attachments")


@dataclass
class _Received:
    message_id: str
    payload: dict[str, Any]
    files: dict[str, bytes]
    edits: int = 0


class DiscordReceiver:
    """Receive Discord webhook calls on a loopback port.

    Args:
        host: Interface to bind.
        port: TCP port; 0 picks a free one.
        webhook_id: The numeric ID in the webhook URL.
        webhook_token: The token in the webhook URL; other IDs/tokens get 404 "Unknown Webhook".
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        webhook_id: str = DEFAULT_WEBHOOK_ID,
        webhook_token: str = DEFAULT_WEBHOOK_TOKEN,
    ) -> None:
        self.webhook_id = webhook_id
        self.webhook_token = webhook_token
        self._messages: list[_Received] = []
        self._condition = threading.Condition()
        self._rate_limits: list[float] = []
        self._rate_limited = 0
        self._ids = itertools.count()
        app = Starlette(
            routes=[
                Route(
                    "/api/webhooks/{webhook_id}/{webhook_token}", self._execute, methods=["POST"]
                ),
                Route(
                    "/api/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                    self._edit,
                    methods=["PATCH"],
                ),
                Route("/attachments/{message_id}/{filename}", self._attachment, methods=["GET"]),
            ]
        )
        self._server = UvicornThread(app, host, port)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> DiscordReceiver:
        """Start serving; returns self."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving. Idempotent."""
        self._server.stop()

    def __enter__(self) -> DiscordReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- public API ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. "http://127.0.0.1:54321"."""
        return self._server.url

    @property
    def webhook_url(self) -> str:
        """Full webhook URL, shaped like https://discord.com/api/webhooks/<id>/<token>."""
        return f"{self.url}/api/webhooks/{self.webhook_id}/{self.webhook_token}"

    @property
    def messages(self) -> list[dict[str, Any]]:
        """A copy of the accepted messages, oldest first:
        `{"payload": dict, "files": dict, "id": str, "edits": int}`."""
        with self._condition:
            return [
                {
                    "payload": copy.deepcopy(m.payload),
                    "files": dict(m.files),
                    "id": m.message_id,
                    "edits": m.edits,
                }
                for m in self._messages
            ]

    def wait_for_edit(self, message_id: str, timeout_seconds: float = 5.0) -> dict[str, Any]:
        """Block until message `message_id` was edited at least once; return a copy of it.

        Raises:
            TimeoutError: When it was not edited within `timeout_seconds`.
        """
        with self._condition:
            if not self._condition.wait_for(
                lambda: any(m.message_id == message_id and m.edits for m in self._messages),
                timeout_seconds,
            ):
                raise TimeoutError(f"message {message_id} not edited within {timeout_seconds} s")
        return next(m for m in self.messages if m["id"] == message_id)

    @property
    def rate_limited_count(self) -> int:
        """How many requests were answered 429 so far."""
        with self._condition:
            return self._rate_limited

    def wait_for(self, count: int, timeout_seconds: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least `count` messages arrived; return a copy of all of them.

        Raises:
            TimeoutError: When fewer than `count` arrived within `timeout_seconds`.
        """
        with self._condition:
            if not self._condition.wait_for(lambda: len(self._messages) >= count, timeout_seconds):
                raise TimeoutError(
                    f"expected {count} Discord message(s), got "
                    f"{len(self._messages)} within {timeout_seconds} s"
                )
        return self.messages

    def clear(self) -> None:
        """Forget received messages and pending rate limits."""
        with self._condition:
            self._messages.clear()
            self._rate_limits.clear()
            self._rate_limited = 0

    def rate_limit_next(self, count: int = 1, retry_after_seconds: float = 0.2) -> None:
        """Answer the next `count` webhook calls with 429 and `retry_after_seconds`."""
        with self._condition:
            self._rate_limits.extend([retry_after_seconds] * count)

    # --- handlers -----------------------------------------------------------------------------
    def _refused(self, request: Request) -> Response | None:
        """Discord's answer before any work: 404 for another webhook's id or token, 429 when a
        rate limit was asked for; None when the call goes on."""
        params = request.path_params
        if (params["webhook_id"], params["webhook_token"]) != (self.webhook_id, self.webhook_token):
            return JSONResponse({"message": "Unknown Webhook", "code": 10015}, status_code=404)
        retry_after = self._take_rate_limit()
        return _rate_limited(retry_after) if retry_after is not None else None

    async def _execute(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        try:
            payload, files = parse_body(
                await request.body(), request.headers.get("content-type", "")
            )
            validate(payload, files)
        except WebhookRejected as rejected:
            return JSONResponse(
                {"message": rejected.message, "code": rejected.code}, status_code=400
            )
        message_id = self._snowflake()
        with self._condition:
            self._messages.append(_Received(message_id, payload, files))
            self._condition.notify_all()
        if request.query_params.get("wait", "").lower() in ("true", "1"):
            return JSONResponse(self._message_object(message_id, payload, files))
        return Response(status_code=204)

    async def _edit(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        try:
            changes, files = parse_body(
                await request.body(), request.headers.get("content-type", "")
            )
        except WebhookRejected as rejected:
            return JSONResponse(
                {"message": rejected.message, "code": rejected.code}, status_code=400
            )
        with self._condition:
            found = next(
                (m for m in self._messages if m.message_id == request.path_params["message_id"]),
                None,
            )
            if found is None:
                return JSONResponse({"message": "Unknown Message", "code": 10008}, status_code=404)
            payload = {**found.payload, **{k: changes[k] for k in _EDITABLE if k in changes}}
            try:
                validate(payload, files or found.files)
            except WebhookRejected as rejected:
                body = {"message": rejected.message, "code": rejected.code}
                return JSONResponse(body, status_code=400)
            found.payload, found.files = payload, files or found.files
            found.edits += 1
            self._condition.notify_all()
            message = self._message_object(found.message_id, payload, found.files)
        message["edited_timestamp"] = datetime.now(UTC).isoformat()
        return JSONResponse(message)

    async def _attachment(self, request: Request) -> Response:
        with self._condition:
            for message in self._messages:
                if message.message_id == request.path_params["message_id"]:
                    data = message.files.get(request.path_params["filename"])
                    if data is not None:
                        return Response(data, media_type="application/octet-stream")
        return JSONResponse({"message": "Unknown Attachment", "code": 10000}, status_code=404)

    def _take_rate_limit(self) -> float | None:
        with self._condition:
            if not self._rate_limits:
                return None
            self._rate_limited += 1
            return self._rate_limits.pop(0)

    def _snowflake(self) -> str:
        millis = int(time.time() * 1000) - _DISCORD_EPOCH_MS
        return str((millis << 22) | (next(self._ids) & 0xFFF))

    def _message_object(
        self, message_id: str, payload: dict[str, Any], files: dict[str, bytes]
    ) -> dict[str, Any]:
        attachments = [
            {
                "id": f"{message_id}{i}",
                "filename": name,
                "size": len(data),
                "url": f"{self.url}/attachments/{message_id}/{name}",
                "proxy_url": f"{self.url}/attachments/{message_id}/{name}",
            }
            for i, (name, data) in enumerate(files.items())
        ]
        return {
            "id": message_id,
            "type": 0,
            "channel_id": "100000000000000001",
            "content": payload.get("content") or "",
            "embeds": payload.get("embeds") or [],
            "attachments": attachments,
            "author": {
                "id": self.webhook_id,
                "username": payload.get("username") or "PostFlow",
                "avatar": None,
                "discriminator": "0000",
                "bot": True,
            },
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": bool(payload.get("tts")),
            "flags": payload.get("flags") or 0,
            "components": [],
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "webhook_id": self.webhook_id,
        }


def _rate_limited(retry_after: float) -> Response:
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
    headers = {
        "Retry-After": str(max(1, math.ceil(retry_after))),
        "Via": "1.1 google",
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": str(retry_after),
        "X-RateLimit-Scope": "shared",
    }
    return JSONResponse(body, status_code=429, headers=headers)
