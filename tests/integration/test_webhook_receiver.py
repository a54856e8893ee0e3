"""The webhook receiver on its own: it answers before the work is done, refuses what is not
signed or too large, and one failing delivery never stops the next."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from blocks.webhook_receiver import MAX_BODY_BYTES, WebhookReceiver
from blocks.webhook_signature import sign

pytestmark = pytest.mark.integration
SECRET = "s3cret"


def _post(receiver: WebhookReceiver, body: bytes, secret: str = SECRET) -> httpx.Response:
    now = str(int(time.time()))
    headers = {"X-Frameio-Request-Timestamp": now, "X-Frameio-Signature": sign(secret, now, body)}
    return httpx.post(receiver.url, content=body, headers=headers, timeout=10)


def _body(resource_id: str) -> bytes:
    return b'{"resource":{"id":"%s","type":"file"},"type":"file.ready"}' % resource_id.encode()


def test_a_delivery_is_answered_while_its_work_still_waits():
    release = threading.Event()
    handled: list[str] = []

    def handle(delivery):
        release.wait(10)
        handled.append(delivery.resource_id)

    with WebhookReceiver(lambda: SECRET, lambda d: True, handle) as receiver:
        answer = _post(receiver, _body("f1"))
        assert (answer.status_code, answer.json()["status"], handled) == (200, "queued", [])
        release.set()
        receiver.wait_idle()
    assert handled == ["f1"]


def test_a_duplicate_is_answered_200_and_not_handled_again():
    seen: set[str] = set()
    handled: list[str] = []

    def claim(delivery):
        new = delivery.key not in seen
        seen.add(delivery.key)
        return new

    with WebhookReceiver(lambda: SECRET, claim, lambda d: handled.append(d.key)) as receiver:
        body = _body("f1")
        now = str(int(time.time()))
        headers = {
            "X-Frameio-Request-Timestamp": now,
            "X-Frameio-Signature": sign(SECRET, now, body),
        }
        answers = [httpx.post(receiver.url, content=body, headers=headers).json() for _ in range(2)]
        receiver.wait_idle()
    assert [a["status"] for a in answers] == ["queued", "duplicate"]
    assert len(handled) == 1


def test_unsigned_and_oversized_deliveries_are_refused_unhandled():
    handled: list[str] = []
    with WebhookReceiver(lambda: SECRET, lambda d: True, lambda d: handled.append("x")) as receiver:
        forged = _post(receiver, _body("f1"), secret="other")
        huge = _post(receiver, b" " * (MAX_BODY_BYTES + 1))
        receiver.wait_idle()
    assert (forged.status_code, huge.status_code, handled) == (401, 413, [])


def test_a_failing_delivery_does_not_stop_the_next_one():
    handled: list[str] = []

    def handle(delivery):
        if delivery.resource_id == "bad":
            raise RuntimeError("Discord is down")
        handled.append(delivery.resource_id)

    with WebhookReceiver(lambda: SECRET, lambda d: True, handle) as receiver:
        _post(receiver, _body("bad"))
        _post(receiver, _body("good"))
        receiver.wait_idle()
        assert receiver.counts["failed"] == 1
    assert handled == ["good"]


def test_a_store_that_cannot_be_written_is_answered_503_for_frameio_to_retry():
    from core.errors import StateStoreError

    def claim(delivery):
        raise StateStoreError("state store sqlite:///x: disk I/O error")

    handled: list[str] = []
    with WebhookReceiver(lambda: SECRET, claim, lambda d: handled.append("x")) as receiver:
        answer = _post(receiver, _body("f1"))
        receiver.wait_idle()
    assert (answer.status_code, answer.json()["status"], handled) == (503, "unavailable", [])
