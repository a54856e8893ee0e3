"""``postflow setup`` and ``postflow login``: block documents and the OAuth web-app login.

``setup`` registers the block types and creates or updates the named block documents from the
environment (or prompts), idempotently: running it twice changes nothing. ``login`` runs the
Adobe IMS authorization-code flow with the SDK's ``WebAppAuth`` (authorize URL -> code on a
loopback callback, or a pasted redirect URL -> token exchange) and stores the tokens in the
``FrameioCredentials`` block, which then refreshes and rotates them by itself.
"""

from __future__ import annotations

import secrets
import threading
import webbrowser
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

from frameio.auth import WebAppAuth
from prefect.blocks.notifications import DiscordWebhook
from prefect.exceptions import ObjectAlreadyExists
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from blocks.frameio import USER_SCOPES, FrameioCredentials
from blocks.settings import DiscordEmbedWebhook, PostflowTuning, load_block
from config.settings import PostflowSettings
from core.errors import ConfigurationError, FrameioAuthError
from core.loopback import UvicornThread

BLOCK_TYPES = (FrameioCredentials, PostflowTuning, DiscordEmbedWebhook)
ALERTS_BLOCK = "postflow-alerts"


def register_block_types() -> None:
    """Register every RL PostFlow block type with the Prefect API (like
    ``prefect block register -m blocks``).

    Safe when several processes start at once (two ``postflow up`` on one server): Prefect
    reads, then creates, so the slower one gets ``ObjectAlreadyExists``; its second try
    finds the type and updates it instead.
    """
    for block_type in BLOCK_TYPES:
        try:
            block_type.register_type_and_schema()
        except ObjectAlreadyExists:
            block_type.register_type_and_schema()


def setup_blocks(
    settings: PostflowSettings,
    prompt: Callable[[str, bool], str] | None = None,
    auth_mode: str | None = None,
) -> dict[str, str]:
    """Create or update the named block documents; returns ``{block name: what happened}``.

    Args:
        settings: names of the blocks and values from the environment.
        prompt: ``prompt(label, secret) -> str`` for values missing from the environment;
            None raises instead of asking.
        auth_mode: ``server_to_server`` or ``web_app``; default keeps the saved mode.

    Raises:
        ConfigurationError: a required value is missing and there is no prompt.
    """

    def value(current: str, label: str, secret: bool = False) -> str:
        if current:
            return current
        if prompt is None:
            raise ConfigurationError(f"{label} is not set (environment or prompt)")
        return prompt(label, secret)

    register_block_types()
    done: dict[str, str] = {}
    existing = load_block(FrameioCredentials, settings.frameio_credentials_block)
    old = existing if isinstance(existing, FrameioCredentials) else None
    secret_env = settings.frameio_client_secret.get_secret_value()
    fields = {
        "client_id": value(
            settings.frameio_client_id or (old.client_id if old else ""),
            "POSTFLOW_FRAMEIO_CLIENT_ID",
        ),
        "client_secret": SecretStr(
            value(
                secret_env or (old.client_secret.get_secret_value() if old else ""),
                "POSTFLOW_FRAMEIO_CLIENT_SECRET",
                secret=True,
            )
        ),
        "ims_base_url": settings.frameio_ims_base_url,
        "api_base_url": settings.frameio_api_base_url,
        "auth_mode": auth_mode or (old.auth_mode if old else "server_to_server"),
    }
    if old is None:
        FrameioCredentials(**fields).save(settings.frameio_credentials_block)
        done[settings.frameio_credentials_block] = "created"
    else:
        changed = {k: v for k, v in fields.items() if getattr(old, k) != v}
        for key, new in changed.items():
            setattr(old, key, new)
        if changed:
            old.save(settings.frameio_credentials_block, overwrite=True)
        done[settings.frameio_credentials_block] = "updated" if changed else "unchanged"
    if load_block(PostflowTuning, settings.tuning_block) is None:
        PostflowTuning().save(settings.tuning_block)
        done[settings.tuning_block] = "created"
    else:
        done[settings.tuning_block] = "kept"
    if settings.discord_webhook_url is not None:
        url = settings.discord_webhook_url
        DiscordEmbedWebhook(url=url, username=settings.discord_username).save(
            settings.discord_block, overwrite=True
        )
        done[settings.discord_block] = "saved"
        parts = urlparse(url.get_secret_value()).path.rstrip("/").split("/")
        if len(parts) >= 2 and "webhooks" in parts:
            DiscordWebhook(webhook_id=parts[-2], webhook_token=parts[-1]).save(
                ALERTS_BLOCK, overwrite=True
            )
            done[ALERTS_BLOCK] = "saved"
    return done


def code_from_redirect(redirect_url: str, expected_state: str) -> str:
    """Extract the authorization code from the URL IMS redirected to.

    Raises:
        FrameioAuthError: IMS returned an error, the state does not match (possible CSRF),
            or there is no code.
    """
    query = parse_qs(urlparse(redirect_url.strip()).query)
    if "error" in query:
        detail = query.get("error_description", query["error"])[0]
        raise FrameioAuthError("login", f"IMS refused the login: {detail}", status_code=401)
    if query.get("state", [""])[0] != expected_state:
        raise FrameioAuthError("login", "state mismatch: start `postflow login` again")
    code = query.get("code", [""])[0]
    if not code:
        raise FrameioAuthError("login", "no authorization code in the redirect URL")
    return code


def _callback_code(
    redirect_uri: str,
    state: str,
    open_url: Callable[[str], object],
    authorize_url: str,
    timeout_seconds: float,
) -> str:
    """Serve the loopback redirect URI until IMS sends the browser back with a code."""
    received: dict[str, str] = {}
    arrived = threading.Event()

    async def callback(request: Request) -> PlainTextResponse:
        received["url"] = str(request.url)
        arrived.set()
        return PlainTextResponse("RL PostFlow: login received, you can close this tab.")

    parsed = urlparse(redirect_uri)
    app = Starlette(routes=[Route(parsed.path or "/", callback)])
    with UvicornThread(app, parsed.hostname or "127.0.0.1", parsed.port or 80):
        opener = threading.Thread(target=open_url, args=(authorize_url,), daemon=True)
        opener.start()
        if not arrived.wait(timeout_seconds):
            raise FrameioAuthError("login", f"no redirect received within {timeout_seconds:.0f} s")
    return code_from_redirect(received["url"], state)


def login(
    credentials_block: str,
    *,
    print_line: Callable[[str], None] = print,
    open_url: Callable[[str], object] = webbrowser.open,
    paste: Callable[[], str] | None = None,
    timeout_seconds: float = 300.0,
) -> FrameioCredentials:
    """OAuth web-app login; stores the tokens in the credentials block and returns it.

    Args:
        credentials_block: name of a saved ``FrameioCredentials`` (client id/secret,
            redirect URI, IMS URL; see ``postflow setup``).
        print_line: where the authorize URL is shown.
        open_url: opens the authorize URL (a browser by default).
        paste: when given (or when the redirect URI is not loopback http), asks the user to
            paste the URL the browser was redirected to instead of serving a callback.
        timeout_seconds: how long to wait for the loopback callback.

    Raises:
        ConfigurationError: no such block.
        FrameioAuthError: IMS refused, state mismatch, or the exchange failed.
    """
    found = load_block(FrameioCredentials, credentials_block)
    if not isinstance(found, FrameioCredentials):
        raise ConfigurationError(
            f"no FrameioCredentials block {credentials_block!r}: run `postflow setup`"
        )
    credentials = found
    auth = WebAppAuth(
        client_id=credentials.client_id,
        client_secret=credentials.client_secret.get_secret_value(),
        redirect_uri=credentials.redirect_uri,
        scopes=credentials.scopes or USER_SCOPES,
        ims_base_url=credentials.ims_base_url,
    )
    state = secrets.token_urlsafe(16)
    authorize_url = auth.get_authorization_url(state)
    print_line(f"Open this URL to sign in to Adobe IMS:\n{authorize_url}")
    loopback = urlparse(credentials.redirect_uri)
    if (
        paste is None
        and loopback.scheme == "http"
        and loopback.hostname in ("127.0.0.1", "localhost")
    ):
        code = _callback_code(
            credentials.redirect_uri, state, open_url, authorize_url, timeout_seconds
        )
    else:
        if paste is None:
            raise ConfigurationError("the redirect URI is not a loopback http URL: use --paste")
        open_url(authorize_url)
        code = code_from_redirect(paste(), state)
    try:
        auth.exchange_code(code)
    except Exception as exc:  # the SDK's AuthenticationError / NetworkError
        raise FrameioAuthError("login", f"token exchange failed: {exc}") from exc
    credentials.auth_mode = "web_app"
    credentials.store_tokens(auth.export_tokens())
    credentials.save(credentials_block, overwrite=True)
    return credentials
