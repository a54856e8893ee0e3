"""What each Frame.io event does, with the store on SQLite and Frame.io / Discord faked: one
effect per event, the claim given back when Discord fails, nothing fetched for others' files."""

from __future__ import annotations

import pytest

from blocks.frameio_review import ReviewComment
from blocks.store import local_store
from blocks.store.review import ReviewBook
from blocks.webhook_signature import Delivery
from core.errors import NotificationError
from tasks.review.effects import ReviewContext, announce_ready, handle

EMBED = {"title": "SC01 / S01 — V001 uploaded", "fields": []}


class FakeDiscord:
    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.edits: list[tuple[str, dict]] = []
        self.fail = 0

    def _maybe_fail(self) -> None:
        if self.fail:
            self.fail -= 1
            raise NotificationError("Discord unreachable: ConnectionError")

    def send(self, embed: dict) -> str:
        self._maybe_fail()
        self.sent.append(embed)
        return str(len(self.sent))

    def edit(self, message_id: str, embed: dict) -> None:
        self._maybe_fail()
        self.edits.append((message_id, embed))


class FakeFrameio:
    def __init__(self) -> None:
        self.status = "Approved"
        self.completed = False
        self.calls: list[str] = []

    def comment(self, comment_id: str) -> ReviewComment:
        self.calls.append("comments.show")
        return ReviewComment(
            comment_id, "f1", "Too dark", "Director", "00:00:02:00", "2026-01-01", self.completed
        )

    def review_status(self, file_id: str) -> str:
        self.calls.append("metadata.show")
        return self.status


@pytest.fixture
def world(tmp_path):
    book = ReviewBook(local_store(tmp_path))
    discord, frameio, events = FakeDiscord(), FakeFrameio(), []
    ctx = ReviewContext(book, frameio, lambda _name: discord, lambda **e: events.append(e))  # type: ignore[arg-type]
    book.record_message(
        "f1", block="b", message_id="m1", embed=EMBED, label="SC01 / S01 — V001", language="en"
    )
    return ctx, discord, frameio, events


def _delivery(event: str, resource_id: str = "f1", timestamp: int = 1) -> Delivery:
    return Delivery(event, resource_id, "", timestamp, f"{event}:{resource_id}:{timestamp}")


def test_file_ready_edits_the_message_once(world):
    ctx, discord, _, _ = world
    assert handle(ctx, _delivery("file.ready")) == "edited"
    assert handle(ctx, _delivery("file.ready", timestamp=2)) == "ready-recorded"
    assert [message_id for message_id, _ in discord.edits] == ["m1"]


def test_a_failed_edit_is_given_back_for_the_next_try(world):
    ctx, discord, _, _ = world
    discord.fail = 1
    with pytest.raises(NotificationError):
        announce_ready(ctx, "f1")
    assert announce_ready(ctx, "f1") == "edited"
    assert len(discord.edits) == 1


def test_a_comment_is_replied_to_once_even_when_delivered_twice(world):
    ctx, discord, _, _ = world
    outcomes = [handle(ctx, _delivery("comment.created", "c1", t)) for t in (1, 2)]
    assert outcomes == ["replied", "duplicate"]
    assert len(discord.sent) == 1


def test_a_reply_that_failed_is_posted_by_the_next_delivery(world):
    ctx, discord, _, _ = world
    discord.fail = 1
    with pytest.raises(NotificationError):
        handle(ctx, _delivery("comment.created", "c1"))
    assert handle(ctx, _delivery("comment.created", "c1", 2)) == "replied"
    assert len(discord.sent) == 1


def test_a_completion_undone_before_it_is_handled_posts_nothing(world):
    ctx, discord, frameio, _ = world
    frameio.completed = False
    assert handle(ctx, _delivery("comment.completed", "c1")) == "no-longer-completed"
    assert discord.sent == []


def test_a_status_change_posts_one_message_and_one_event(world):
    ctx, discord, _, events = world
    outcomes = [handle(ctx, _delivery("metadata.value.updated", "f1", t)) for t in (1, 2)]
    assert outcomes == ["status-announced", "unchanged"]
    assert [e["event"] for e in events] == ["postflow.review.approved"]
    assert events[0]["resource"]["prefect.resource.id"] == "frameio.file.f1"
    assert len(discord.sent) == 1


def test_a_status_whose_message_failed_is_announced_again_with_no_event_before(world):
    ctx, discord, _, events = world
    discord.fail = 1
    with pytest.raises(NotificationError):
        handle(ctx, _delivery("metadata.value.updated"))
    assert events == []
    assert handle(ctx, _delivery("metadata.value.updated", timestamp=2)) == "status-announced"
    assert len(events) == 1


def test_another_projects_file_costs_no_frameio_call(world):
    ctx, discord, frameio, _ = world
    assert handle(ctx, _delivery("metadata.value.updated", "someone-elses")) == "not-ours"
    assert frameio.calls == [] and discord.sent == []


def test_events_the_loop_does_not_use_are_ignored(world):
    ctx, _, frameio, _ = world
    assert handle(ctx, _delivery("share.viewed")) == "ignored"
    assert frameio.calls == []
