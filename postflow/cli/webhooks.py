"""``postflow webhooks install | status | remove | serve | poll``: the review loop's webhook.

Registered on the main app by :func:`register` as the ``webhooks`` group. The work is in
:mod:`tasks.review.install` (idempotent, never touching other webhooks) and
:mod:`tasks.review.service` (the receiver and the poll); Prefect and the SDK are imported
inside the commands, so ``postflow --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from postflow.cli.json_out import json_option, print_json
from postflow.cli.terminal import console, load_settings, say, with_prefect_api

if TYPE_CHECKING:
    from tasks.review.install import WebhookState

__all__ = ["register", "webhooks_app"]

webhooks_app = typer.Typer(
    help="Frame.io webhooks of the review loop: 'playable', comments and approvals in Discord."
)


def _frameio():  # type: ignore[no-untyped-def]
    from blocks.frameio_review import FrameioReview
    from tasks.clients import open_project

    return FrameioReview(open_project(load_settings()))


def _show(state: WebhookState, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "action": state.action,
                "url": state.url,
                "secret_saved": state.secret_saved,
                "others": state.others,
                "webhooks": [
                    {
                        "id": h.id,
                        "name": h.name,
                        "url": h.url,
                        "active": h.active,
                        "events": list(h.events),
                    }
                    for h in state.ours
                ],
            }
        )
        return
    if state.action:
        say(f"Webhook {state.action}.")
    table = Table(title="Frame.io review webhook", show_header=False)
    table.add_row("receiver URL", state.url or "none: the poll only (`postflow webhooks serve`)")
    for hook in state.ours:
        table.add_row("webhook", f"{hook.id} ({'active' if hook.active else 'inactive'})")
        table.add_row("events", ", ".join(hook.events))
    if not state.ours:
        table.add_row("webhook", "none of ours in Frame.io")
    table.add_row("secret saved", "yes" if state.secret_saved else "no")
    table.add_row("other webhooks (left alone)", str(state.others))
    console.print(table)


@webhooks_app.command("install")
@with_prefect_api
def install(
    as_json: bool = json_option("One JSON object: action, url, secret_saved, others, webhooks."),
) -> None:
    """Create our workspace webhook (or keep/update it), its secret saved in a Prefect block.

    Idempotent: run it again after the tunnel's hostname or the URL changed.
    """
    from tasks.review.install import install as do_install

    _show(do_install(_frameio(), load_settings()), as_json)


@webhooks_app.command("status")
@with_prefect_api
def status(
    as_json: bool = json_option("One JSON object: url, secret_saved, others, webhooks."),
) -> None:
    """Show our webhook as Frame.io has it, and whether its secret is saved."""
    from tasks.review.install import state

    _show(state(_frameio(), load_settings()), as_json)


@webhooks_app.command("remove")
@with_prefect_api
def remove(
    as_json: bool = json_option("One JSON object: action (removed|nothing), url, others."),
) -> None:
    """Delete our webhook and its saved secret (other webhooks are never touched)."""
    from tasks.review.install import remove as do_remove

    _show(do_remove(_frameio(), load_settings()), as_json)


@webhooks_app.command("poll")
@with_prefect_api
def poll(as_json: bool = json_option("One JSON object: outcome -> count.")) -> None:
    """Read comments, Status and 'playable' from Frame.io once and post what is new."""
    from tasks.review.poll import poll_once
    from tasks.review.service import review_context

    settings = load_settings()
    outcomes = poll_once(review_context(settings), settings.review_poll_files)
    if as_json:
        print_json(outcomes)
        return
    say(", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())) or "nothing to poll")


@webhooks_app.command("serve")
@with_prefect_api
def serve() -> None:
    """Receive Frame.io's webhooks (when a public URL is set) and poll, until Ctrl-C."""
    from tasks.review.service import ReviewService

    service = ReviewService(load_settings())

    def ready(running: ReviewService) -> None:
        where = running.receiver.url if running.receiver else "no receiver (poll only)"
        say(
            f"Review loop running: {where}; poll every "
            f"{running.settings.review_poll_interval_seconds:g} s. Ctrl-C stops it."
        )

    try:
        service.run(ready)
    except KeyboardInterrupt:
        service.stop()


def register(app: typer.Typer) -> None:
    """Add ``postflow webhooks`` to the ``postflow`` app."""
    app.add_typer(webhooks_app, name="webhooks")
