"""The demo's review round: Frame.io (the sandbox) answers, Discord shows it.

Once the sample renders have landed, :func:`review_round`:

1. starts the webhook receiver on loopback and registers the sandbox's workspace webhook to
   it (through the SDK, like ``postflow webhooks install``; the secret stays in memory);
2. polls once: the renders' ``file.ready`` fired before the webhook existed, so the poll finds
   them transcoded and edits their Discord messages to "playable";
3. a director comments on the first render and approves it (the sandbox's admin API, as a
   person in Frame.io would): the signed webhooks reach the receiver, which posts one reply
   and one "Review status: Approved" message and emits ``postflow.review.approved``.

A failure is printed as one line; the demo's verdict does not depend on it.
"""

from __future__ import annotations

import time

import httpx
from rich.console import Console

from config.settings import PostflowSettings
from core.errors import PostflowError

__all__ = ["review_round"]

COMMENT = "Lovely grade. Lift the shadows a touch at the end?"
WAIT_SECONDS = 15.0


def review_round(console: Console, settings: PostflowSettings) -> None:
    """Run the review round against the sandbox at ``settings.frameio_api_base_url``."""
    from tasks.review.poll import poll_once
    from tasks.review.service import REVIEW_EVENTS, build_receiver, review_context

    console.rule("Review loop (Frame.io -> Discord)")
    settings = settings.model_copy(update={"review_receiver_port": 0})
    try:
        ctx = review_context(settings)
        secret = {"value": ""}
        receiver = build_receiver(settings, ctx, secret=lambda: secret["value"])
        with receiver:
            _, secret["value"] = ctx.frameio.create_webhook(
                settings.review_webhook_name, receiver.url, list(REVIEW_EVENTS)
            )
            polled = poll_once(ctx, settings.review_poll_files)
            rows = ctx.book.due_for_poll(1)
            if not rows:
                console.print("No uploaded file to review.")
                return
            _review(settings.frameio_api_base_url, rows[0].file_id)
            receiver.wait_idle()
        console.print(
            f"Poll: {polled.get('edited', 0)} message(s) edited to playable; webhooks: "
            f"{receiver.counts['queued']} delivery(ies) handled, "
            f"{receiver.counts['refused']} refused.",
            highlight=False,
        )
    except (PostflowError, OSError, httpx.HTTPError, TimeoutError) as exc:
        console.print(f"[yellow]Review round skipped:[/yellow] {exc}", highlight=False)


def _review(sandbox_url: str, file_id: str) -> None:
    """Comment on and approve ``file_id``, then wait until both deliveries were answered."""
    with httpx.Client(base_url=sandbox_url, timeout=10) as http:
        before = len(http.get("/_sandbox/webhooks/deliveries").json())
        body = {"file_id": file_id, "text": COMMENT, "frame": 96, "owner": "Director"}
        http.post("/_sandbox/comments", json=body).raise_for_status()
        http.post("/_sandbox/status", json={"file_id": file_id, "status": "Approved"})
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            log = http.get("/_sandbox/webhooks/deliveries").json()[before:]
            if sum(entry["status"] == 200 for entry in log) >= 2:
                return
            time.sleep(0.2)
    raise TimeoutError(f"the sandbox's webhooks were not answered within {WAIT_SECONDS:g} s")
