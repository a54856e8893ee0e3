"""The review loop end to end: a render lands, Frame.io (the sandbox) answers by signed webhook,
Discord (the local receiver) shows "playable", comments and approvals; the poll catches up
what a receiver that was down missed. Real parts on loopback: sandbox, receiver, Discord
receiver, Prefect test server (the approval's event is read back from it)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

from blocks.webhook_signature import sign
from config.settings import PostflowSettings
from flows.ingest import ingest_file
from tasks.review.poll import poll_once
from tasks.review.service import REVIEW_EVENTS, build_receiver, review_context
from tests.integration.helpers import make_file
from tests.integration.scale_out_peers import free_port, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox(tmp_path: Path):
    """The sandbox, retrying failed deliveries after 50 ms (Frame.io: 15 s) and marking files
    ready 0.3 s after their upload."""
    from postflow.sandbox.server import SandboxServer

    with SandboxServer(
        tmp_path / "sandbox",
        target_part_bytes=256 * 1024,
        transcode_delay_seconds=0.3,
        webhook_retry_seconds=0.05,
    ) as server:
        yield server


def _loop(pipeline, postflow_env, *, port: int = 0, start: bool = True):
    postflow_env(review_receiver_port=port)
    settings = PostflowSettings()
    events: list[dict] = []

    def emit(**event):
        events.append(event)
        return emit_event(**event)

    ctx = replace(review_context(settings), emit=emit)
    secret = {"value": ""}
    receiver = build_receiver(settings, ctx, secret=lambda: secret["value"])
    url = f"http://127.0.0.1:{port}/frameio/webhook" if port else None
    if start:
        receiver.start()
        url = receiver.url
    hook, secret["value"] = ctx.frameio.create_webhook("review", url, list(REVIEW_EVENTS))
    return SimpleNamespace(ctx=ctx, receiver=receiver, events=events, secret=secret, hook=hook)


@pytest.fixture
def loop(pipeline, postflow_env):
    state = _loop(pipeline, postflow_env)
    yield state
    state.receiver.stop()


def _settle(pipeline, loop) -> None:
    assert pipeline.sandbox.review.wait_delivered(10)
    loop.receiver.wait_idle()


def _ingest(pipeline, name: str = "SC01_UNDLM_00412_V002.mov") -> str:
    return ingest_file(str(make_file(pipeline.by_shot, name, 300_000)))["file_id"]


def _titles(pipeline) -> list[str]:
    return [m["payload"]["embeds"][0]["title"] for m in pipeline.discord.messages]


def test_render_lands_uploaded_then_its_message_is_edited_to_playable(pipeline, loop):
    file_id = _ingest(pipeline)
    [posted] = pipeline.discord.wait_for(1)
    assert "uploaded" in posted["payload"]["embeds"][0]["title"]

    edited = pipeline.discord.wait_for_edit(posted["id"], timeout_seconds=10)

    assert edited["payload"]["embeds"][0]["title"].endswith("· playable")
    assert edited["edits"] == 1
    assert len(pipeline.discord.messages) == 1  # the same message, not a new one
    assert loop.ctx.book.file(file_id).playable_at is not None


def test_a_comment_gets_one_reply_with_author_timecode_and_text(pipeline, loop):
    file_id = _ingest(pipeline)
    pipeline.discord.wait_for(1)

    pipeline.sandbox.review.comment(file_id, "Too dark at the end", frame=48, owner="Director")
    _settle(pipeline, loop)

    [reply] = pipeline.discord.messages[1:]
    embed = reply["payload"]["embeds"][0]
    assert embed["description"] == "Too dark at the end"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Author"] == "Director"
    assert fields["Timecode"] == "00:00:02:00"
    assert fields["Reply to"] == pipeline.discord.messages[0]["id"]


def test_an_approval_posts_one_message_and_one_prefect_event(pipeline, loop):
    file_id = _ingest(pipeline)
    pipeline.discord.wait_for(1)

    pipeline.sandbox.review.set_status(file_id, "Approved")
    _settle(pipeline, loop)

    assert [t for t in _titles(pipeline) if "Approved" in t] == [
        "Review status: Approved — SC01 / UNDLM_00412 — V002"
    ]
    assert [e["event"] for e in loop.events] == ["postflow.review.approved"]
    assert _server_events("postflow.review.approved", f"frameio.file.{file_id}") == 1


def test_a_duplicate_delivery_posts_nothing(pipeline, loop):
    file_id = _ingest(pipeline)
    pipeline.discord.wait_for(1)
    _settle(pipeline, loop)
    before = len(pipeline.discord.messages)

    pipeline.sandbox.review.arm("duplicate", 2)
    comment_id = pipeline.sandbox.review.comment(file_id, "One reply only", owner="Director")
    _settle(pipeline, loop)
    pipeline.sandbox.review.complete(comment_id)
    _settle(pipeline, loop)

    assert len(pipeline.discord.messages) == before + 2  # created + completed, once each
    assert loop.receiver.counts["duplicate"] == 2


def test_out_of_order_deliveries_post_each_reply_once(pipeline, loop):
    file_id = _ingest(pipeline)
    pipeline.discord.wait_for(1)
    _settle(pipeline, loop)

    pipeline.sandbox.review.pause()  # both lined up: the first is held back behind the second
    pipeline.sandbox.review.arm("out_of_order")
    comment_id = pipeline.sandbox.review.comment(file_id, "Fix the flare", owner="Director")
    pipeline.sandbox.review.complete(comment_id)
    pipeline.sandbox.review.resume()
    _settle(pipeline, loop)

    events = [d["event"] for d in pipeline.sandbox.review.deliveries()]
    assert events.index("comment.completed") < events.index("comment.created")
    replies = [t for t in _titles(pipeline) if "Comment" in t]
    assert sorted(replies) == sorted(
        ["💬 Comment — SC01 / UNDLM_00412 — V002", "✅ Comment done — SC01 / UNDLM_00412 — V002"]
    )


def test_forged_and_replayed_deliveries_are_refused_and_post_nothing(pipeline, loop):
    file_id = _ingest(pipeline)
    [posted] = pipeline.discord.wait_for(1)
    pipeline.discord.wait_for_edit(posted["id"], timeout_seconds=10)  # playable: no edit later
    pipeline.sandbox.review.comment(file_id, "Real comment", owner="Director")
    _settle(pipeline, loop)
    before = pipeline.discord.messages

    body = (
        b'{"resource":{"id":"%s","type":"file"},"type":"metadata.value.updated"}' % file_id.encode()
    )
    now = str(int(time.time()))
    forged = _post(loop, body, now, sign("not-the-secret", now, body))
    stale_at = str(int(time.time()) - 301)
    stale = _post(loop, body, stale_at, sign(loop.secret["value"], stale_at, body))
    first = next(
        i for i, d in enumerate(pipeline.sandbox.review.deliveries()) if d["status"] == 200
    )
    replayed = pipeline.sandbox.review.replay(first)
    loop.receiver.wait_idle()

    assert (forged.status_code, stale.status_code, replayed) == (401, 401, 200)
    assert pipeline.discord.messages == before
    assert loop.receiver.counts["refused"] == 2


def test_receiver_down_the_poll_posts_the_same_messages_once(pipeline, postflow_env):
    port = free_port()
    down = _loop(pipeline, postflow_env, port=port, start=False)
    file_id = _ingest(pipeline)
    [posted] = pipeline.discord.wait_for(1)
    comment_id = pipeline.sandbox.review.comment(file_id, "Seen by the poll", 24, "Director")
    pipeline.sandbox.review.complete(comment_id)
    pipeline.sandbox.review.set_status(file_id, "Approved")
    wait_for(lambda: down.ctx.frameio.file_status(file_id) == "transcoded", 10, "transcoded")
    assert pipeline.sandbox.review.wait_delivered(10)  # every attempt failed: nobody listened
    assert {d["status"] for d in pipeline.sandbox.review.deliveries()} == {None}

    outcomes = poll_once(down.ctx, max_files=10)
    again = poll_once(down.ctx, max_files=10)

    assert outcomes["edited"] == outcomes["replied"] - 1 == outcomes["status-announced"] == 1
    assert "replied" not in again and "edited" not in again
    assert pipeline.discord.messages[0]["edits"] == 1
    assert len(pipeline.discord.messages) == 4  # upload + comment + done + Approved
    assert posted["id"] == pipeline.discord.messages[0]["id"]
    down.receiver.start()  # the receiver is back: Frame.io's late deliveries post nothing more
    try:
        for index, delivery in enumerate(pipeline.sandbox.review.deliveries()):
            if delivery["attempt"] == 1:
                pipeline.sandbox.review.replay(index)
        down.receiver.wait_idle()
    finally:
        down.receiver.stop()
    assert len(pipeline.discord.messages) == 4
    assert [e["event"] for e in down.events] == ["postflow.review.approved"]


def _post(loop, body: bytes, timestamp: str, signature: str) -> httpx.Response:
    headers = {"X-Frameio-Request-Timestamp": timestamp, "X-Frameio-Signature": signature}
    return httpx.post(loop.receiver.url, content=body, headers=headers)


def _server_events(name: str, resource_id: str) -> int:
    deadline = time.monotonic() + 30
    while True:
        with get_client(sync_client=True) as client:
            page = client.read_events(
                filter=EventFilter(
                    event=EventNameFilter(name=[name]),
                    resource=EventResourceFilter(id=[resource_id]),
                ),
                limit=10,
            )
        if page.events or time.monotonic() > deadline:
            return len(page.events)
        time.sleep(0.5)
