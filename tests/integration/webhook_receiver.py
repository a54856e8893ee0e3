"""A loopback stand-in for a Slack-style incoming webhook, for Prefect's own notification blocks.

``POST /services/<anything>`` with a JSON body is recorded and answered ``200 ok``, as Slack's
incoming webhooks answer. A ``CustomWebhookNotificationBlock`` whose ``json_data`` is Slack's
shape (``{"text": "{{subject}}\\n{{body}}"}``) posts here: the second block type of the
notification tests, beside the Discord receiver.
"""

from __future__ import annotations

import threading
import uuid
from types import TracebackType
from typing import Any

from prefect.blocks.notifications import CustomWebhookNotificationBlock
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from core.loopback import UvicornThread


class WebhookReceiver:
    """Records the JSON payloads posted to ``/services/...`` (``payloads``, oldest first)."""

    def __init__(self) -> None:
        self._payloads: list[dict[str, Any]] = []
        self._condition = threading.Condition()
        app = Starlette(routes=[Route("/services/{path:path}", self._post, methods=["POST"])])
        self._server = UvicornThread(app)

    def __enter__(self) -> WebhookReceiver:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        """The webhook URL, shaped like ``https://hooks.slack.com/services/T/B/X``."""
        return f"{self._server.url}/services/T000/B000/postflow-test"

    @property
    def texts(self) -> list[str]:
        """The ``text`` of every payload received so far."""
        with self._condition:
            return [str(p.get("text", "")) for p in self._payloads]

    def wait_for_text(self, fragment: str, timeout_seconds: float) -> str:
        """The first received text holding ``fragment``, waiting up to ``timeout_seconds``.

        Raises:
            TimeoutError: none arrived in time (the texts received are in the message).
        """

        def found() -> str | None:
            return next((t for t in self.texts if fragment in t), None)

        with self._condition:
            self._condition.wait_for(lambda: found() is not None, timeout_seconds)
        text = found()
        if text is None:
            raise TimeoutError(
                f"no text with {fragment!r} within {timeout_seconds} s: {self.texts}"
            )
        return text

    def save_block(self) -> str:
        """Save a Slack-shaped ``CustomWebhookNotificationBlock`` posting here; returns its ref
        (``custom-webhook/<name>``)."""
        name = f"slack-{uuid.uuid4().hex[:10]}"
        CustomWebhookNotificationBlock(
            name="postflow-test",
            url=self.url,
            json_data={"text": "{{subject}}\n{{body}}"},
            allow_private_urls=True,
        ).save(name)
        return f"custom-webhook/{name}"

    async def _post(self, request: Request) -> PlainTextResponse:
        payload = await request.json()
        with self._condition:
            self._payloads.append(payload)
            self._condition.notify_all()
        return PlainTextResponse("ok")
