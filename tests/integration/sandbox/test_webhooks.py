"""The sandbox's webhooks, comments and metadata, driven through the official SDK, and the
signed deliveries it sends (checked here with hmac directly, not with the pipeline's code)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import Any

import pytest
from frameio.comments import CreateCommentParamsData, UpdateCommentParamsData
from frameio.metadata import BulkUpdateMetadataParamsData
from frameio.metadata.types import BulkUpdateMetadataParamsDataValuesItem
from frameio.webhooks import WebhookCreateParamsData, WebhookUpdateParamsData
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.loopback import UvicornThread
from postflow.sandbox.review import STATUS_FIELD_ID, status_option_id
from tests.integration.sandbox.frameio_calls import create_upload, random_file, upload_file

pytestmark = pytest.mark.integration
EVENTS = ["file.ready", "comment.created", "comment.completed", "metadata.value.updated"]


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {
        "rate_limits": False,
        "target_part_bytes": 64 * 1024,
        "transcode_delay_seconds": 0,
        "webhook_retry_seconds": 0.02,
    }


class Recorder:
    """A loopback endpoint recording each POST (headers, raw body); answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self._lock = threading.Lock()
        self._server = UvicornThread(
            Starlette(routes=[Route("/hook", self._post, methods=["POST"])])
        )

    async def _post(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.received.append((dict(request.headers), body))
        return Response(status_code=self.status)

    @property
    def url(self) -> str:
        return f"{self._server.url}/hook"


@pytest.fixture
def recorder():
    rec = Recorder()
    rec._server.start()
    yield rec
    rec._server.stop()


def _hook(client, sandbox, url: str, events: list[str] = EVENTS):
    return client.webhooks.create(
        sandbox.account_id,
        sandbox.workspace_id,
        data=WebhookCreateParamsData(name="review", url=url, events=events),
    ).data


def _signed_by(secret: str, headers: dict[str, str], body: bytes) -> bool:
    timestamp = headers["x-frameio-request-timestamp"]
    message = f"v0:{timestamp}:".encode() + body
    expected = "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-frameio-signature"])


def _uploaded_file(client, sandbox, http, tmp_path) -> str:
    """A file uploaded whole; its file.ready goes to the webhooks that exist now."""
    upload = create_upload(client, sandbox, "A.mov", 100_000)
    assert set(upload_file(http, upload, random_file(tmp_path, "A.mov", 100_000))) == {200}
    assert sandbox.review.wait_delivered()
    return upload.id


def test_the_secret_is_shown_on_create_only(client, sandbox, recorder):
    created = _hook(client, sandbox, recorder.url)
    listed = client.webhooks.index(sandbox.account_id, sandbox.workspace_id).items
    shown = client.webhooks.show(sandbox.account_id, created.id).data

    assert len(created.secret) == 64
    assert [h.id for h in listed] == [created.id]
    assert "secret" not in listed[0].model_dump() and "secret" not in shown.model_dump()


def test_update_and_delete_use_the_account_scoped_path(client, sandbox, recorder):
    created = _hook(client, sandbox, recorder.url)
    updated = client.webhooks.update(
        sandbox.account_id, created.id, data=WebhookUpdateParamsData(active=False)
    ).data
    client.webhooks.delete(sandbox.account_id, created.id)

    assert updated.active is False
    assert list(client.webhooks.index(sandbox.account_id, sandbox.workspace_id).items) == []


def test_a_completed_upload_is_delivered_signed_as_file_ready(
    client, sandbox, http, recorder, tmp_path
):
    secret = _hook(client, sandbox, recorder.url).secret
    file_id = _uploaded_file(client, sandbox, http, tmp_path)
    assert sandbox.review.wait_delivered()

    [(headers, body)] = recorder.received
    payload = json.loads(body)
    assert payload["type"] == "file.ready"
    assert payload["resource"] == {"id": file_id, "type": "file"}
    assert headers["user-agent"] == "Frame.io V4 API"
    assert _signed_by(secret, headers, body)


def test_an_inactive_or_unsubscribed_webhook_gets_nothing(
    client, sandbox, http, recorder, tmp_path
):
    inactive = _hook(client, sandbox, recorder.url)
    client.webhooks.update(
        sandbox.account_id, inactive.id, data=WebhookUpdateParamsData(active=False)
    )
    _hook(client, sandbox, recorder.url, events=["comment.created"])
    _uploaded_file(client, sandbox, http, tmp_path)
    assert sandbox.review.wait_delivered()

    assert recorder.received == []


def test_comments_through_the_sdk_are_delivered_and_read_back_as_timecodes(
    client, sandbox, http, recorder, tmp_path
):
    file_id = _uploaded_file(client, sandbox, http, tmp_path)
    _hook(client, sandbox, recorder.url)
    comment = client.comments.create(
        sandbox.account_id, file_id, data=CreateCommentParamsData(text="Too dark", timestamp=60)
    ).data
    client.comments.update(
        sandbox.account_id, comment.id, data=UpdateCommentParamsData(completed=True)
    )
    assert sandbox.review.wait_delivered()

    shown = client.comments.show(
        sandbox.account_id, comment.id, include="owner", timestamp_as_timecode=True
    ).data
    listed = client.comments.index(sandbox.account_id, file_id).items
    types = [json.loads(body)["type"] for _, body in recorder.received]
    assert types == ["comment.created", "comment.completed"]
    assert (shown.timestamp, shown.owner.name, shown.completed_at is not None) == (
        "00:00:02:12",
        "PostFlow Sandbox User",
        True,
    )
    assert [c.timestamp for c in listed] == [60]


def test_the_status_field_is_a_select_set_through_bulk_update(
    client, sandbox, http, recorder, tmp_path
):
    file_id = _uploaded_file(client, sandbox, http, tmp_path)
    _hook(client, sandbox, recorder.url)
    approved = status_option_id("Approved")
    client.metadata.bulk_update(
        sandbox.account_id,
        sandbox.project_id,
        data=BulkUpdateMetadataParamsData(
            file_ids=[file_id],
            values=[
                BulkUpdateMetadataParamsDataValuesItem(
                    field_definition_id=STATUS_FIELD_ID, value=[approved]
                )
            ],
        ),
    )
    assert sandbox.review.wait_delivered()

    [field] = client.metadata.show(sandbox.account_id, file_id).data.metadata
    assert (field.field_definition_name, field.value[0].display_name) == ("Status", "Approved")
    [(_, body)] = recorder.received
    assert json.loads(body)["resource"] == {"id": file_id, "type": "file"}


def test_a_refused_delivery_is_retried_five_times_freshly_signed(
    client, sandbox, http, recorder, tmp_path
):
    recorder.status = 500
    secret = _hook(client, sandbox, recorder.url).secret
    _uploaded_file(client, sandbox, http, tmp_path)
    assert sandbox.review.wait_delivered()

    assert len(recorder.received) == 5
    assert all(_signed_by(secret, headers, body) for headers, body in recorder.received)


def test_faults_forge_the_signature_or_send_twice(client, sandbox, http, recorder, tmp_path):
    secret = _hook(client, sandbox, recorder.url).secret
    sandbox.review.arm("bad_signature")
    sandbox.review.arm("duplicate")
    file_id = _uploaded_file(client, sandbox, http, tmp_path)
    assert sandbox.review.wait_delivered()
    sandbox.review.comment(file_id, "twice")
    assert sandbox.review.wait_delivered()

    signed = [_signed_by(secret, h, b) for h, b in recorder.received]
    types = [json.loads(body)["type"] for _, body in recorder.received]
    assert types == ["file.ready", "comment.created", "comment.created"]
    assert signed == [False, True, True]  # the forged one was answered 200: not sent again
    assert recorder.received[1] == recorder.received[2]  # the same bytes and headers
