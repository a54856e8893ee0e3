"""``postflow setup`` and ``postflow login``: block documents and the OAuth web-app login.

``setup`` registers the block types and creates or updates the named block documents from the
environment (or prompts), idempotently: running it twice changes nothing. The Discord webhook
URL is a secret, so it is no setting: ``setup`` reads ``POSTFLOW_DISCORD_WEBHOOK_URL`` itself
(environment, then ``.env``) and saves it in the one Discord block, which the pipeline's embeds,
the weekly report and the automations' alerts all use. ``login`` runs the
Adobe IMS authorization-code flow with the SDK's ``WebAppAuth`` (authorize URL -> code on a
loopback callback, or a pasted redirect URL -> token exchange) and stores the tokens in the
``FrameioCredentials`` block, which then refreshes and rotates them by itself.
"""

from __future__ import annotations

import os
import secrets
import threading
import webbrowser
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

from dotenv import dotenv_values
from frameio.auth import WebAppAuth
from prefect.exceptions import ObjectAlreadyExists
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from blocks.discord import PostflowDiscord
from blocks.frameio import USER_SCOPES, FrameioCredentials
from blocks.settings import PostflowTuning, load_block
from config.sections.frameio import FrameioSettings
from config.settings import PostflowSettings
from core.errors import ConfigurationError, FrameioAuthError
from core.loopback import UvicornThread

BLOCK_TYPES = (FrameioCredentials, PostflowTuning, PostflowDiscord)
DISCORD_URL_VARIABLE = "POSTFLOW_DISCORD_WEBHOOK_URL"
Prompt = Callable[[str, bool], str]


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
    prompt: Prompt | None = None,
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
    register_block_types()
    done = {settings.frameio_credentials_block: _save_credentials(settings, prompt, auth_mode)}
    if load_block(PostflowTuning, settings.tuning_block) is None:
        PostflowTuning().save(settings.tuning_block)
        done[settings.tuning_block] = "created"
    else:
        done[settings.tuning_block] = "kept"
    done[settings.discord_block] = _save_discord(settings.discord_block)
    return done


def _value(current: str, label: str, prompt: Prompt | None, secret: bool = False) -> str:
    if current:
        return current
    if prompt is None:
        raise ConfigurationError(f"{label} is not set (environment or prompt)")
    return prompt(label, secret)


def _save_credentials(
    settings: FrameioSettings, prompt: Prompt | None, auth_mode: str | None
) -> str:
    """Create or update the ``FrameioCredentials`` block; ``created``/``updated``/``unchanged``."""
    existing = load_block(FrameioCredentials, settings.frameio_credentials_block)
    old = existing if isinstance(existing, FrameioCredentials) else None
    secret_env = settings.frameio_client_secret.get_secret_value()
    saved_secret = old.client_secret.get_secret_value() if old else ""
    fields = {
        "client_id": _value(
            settings.frameio_client_id or (old.client_id if old else ""),
            "POSTFLOW_FRAMEIO_CLIENT_ID",
            prompt,
        ),
        "client_secret": SecretStr(
            _value(secret_env or saved_secret, "POSTFLOW_FRAMEIO_CLIENT_SECRET", prompt, True)
        ),
        "ims_base_url": settings.frameio_ims_base_url,
        "api_base_url": settings.frameio_api_base_url,
        "redirect_uri": settings.frameio_redirect_uri,
        "auth_mode": auth_mode or (old.auth_mode if old else "server_to_server"),
    }
    if old is None:
        FrameioCredentials(**fields).save(settings.frameio_credentials_block)
        return "created"
    changed = {k: v for k, v in fields.items() if getattr(old, k) != v}
    for key, new in changed.items():
        setattr(old, key, new)
    if changed:
        old.save(settings.frameio_credentials_block, overwrite=True)
    return "updated" if changed else "unchanged"


def discord_webhook_url() -> str:
    """``POSTFLOW_DISCORD_WEBHOOK_URL`` from the environment, else from ``./.env``; "" when
    unset (read here only: settings hold block names, never secrets)."""
    return (
        os.environ.get(DISCORD_URL_VARIABLE)
        or dotenv_values(".env").get(DISCORD_URL_VARIABLE)
        or ""
    )


def _save_discord(block_name: str) -> str:
    """Save the one Discord block from ``POSTFLOW_DISCORD_WEBHOOK_URL``; a saved block is kept
    when the variable is unset."""
    url = discord_webhook_url()
    existing = load_block(PostflowDiscord, block_name)
    if not url:
        return "kept" if existing is not None else f"skipped: {DISCORD_URL_VARIABLE} not set"
    if isinstance(existing, PostflowDiscord) and existing.webhook_url.get_secret_value() == url:
        return "unchanged"
    PostflowDiscord(webhook_url=SecretStr(url)).save(block_name, overwrite=True)
    return "updated" if existing is not None else "created"


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


def receives_callback(redirect_uri: str) -> bool:
    """Whether ``login`` can receive the code itself: an ``http`` URI on 127.0.0.1/localhost.

    Adobe's Developer Console wants the default redirect URI on HTTPS "even if it is only a
    localhost instance" (User Authentication Implementation Guide, "Default redirect URI":
    https://developer.adobe.com/developer-console/docs/guides/authentication/UserAuthentication/implementation),
    so with real credentials the browser lands on an ``https://localhost`` page nothing serves
    and the user pastes its URL (the paste flow); the sandbox's IMS accepts loopback http.
    """
    parsed = urlparse(redirect_uri)
    return parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost")


def _needs_paste(redirect_uri: str) -> ConfigurationError:
    return ConfigurationError(
        f"the redirect URI {redirect_uri} is not a loopback http URL: run `postflow login` "
        "in a terminal and paste the URL the browser lands on"
    )


def _authorization_code(
    redirect_uri: str,
    state: str,
    authorize_url: str,
    open_url: Callable[[str], object],
    paste: Callable[[], str] | None,
    timeout_seconds: float,
    force_paste: bool = False,
) -> str:
    """The code, from a loopback callback (:func:`receives_callback`, unless ``force_paste``)
    or from the redirect URL the user pastes."""
    if receives_callback(redirect_uri) and not (force_paste and paste is not None):
        return _callback_code(redirect_uri, state, open_url, authorize_url, timeout_seconds)
    if paste is None:
        raise _needs_paste(redirect_uri)
    open_url(authorize_url)
    return code_from_redirect(paste(), state)


def login(
    credentials_block: str,
    *,
    print_line: Callable[[str], None] = print,
    open_url: Callable[[str], object] = webbrowser.open,
    paste: Callable[[], str] | None = None,
    timeout_seconds: float = 300.0,
    force_paste: bool = False,
) -> FrameioCredentials:
    """OAuth web-app login; stores the tokens in the credentials block and returns it.

    Args:
        credentials_block: name of a saved ``FrameioCredentials`` (client id/secret,
            redirect URI, IMS URL; see ``postflow setup``).
        print_line: where the authorize URL is shown.
        open_url: opens the authorize URL (a browser by default).
        paste: asks the user to paste the URL the browser was redirected to; used when the
            redirect URI is not loopback http (an ``https://localhost`` URI, Adobe's rule) or
            with ``force_paste``.
        timeout_seconds: how long to wait for the loopback callback.
        force_paste: paste even when a loopback callback would work (``login --paste``).

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
    if paste is None and not receives_callback(credentials.redirect_uri):
        raise _needs_paste(credentials.redirect_uri)  # before showing a URL that cannot work
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
    code = _authorization_code(
        credentials.redirect_uri,
        state,
        authorize_url,
        open_url,
        paste,
        timeout_seconds,
        force_paste,
    )
    try:
        auth.exchange_code(code)
    except Exception as exc:  # the SDK's AuthenticationError / NetworkError
        raise FrameioAuthError("login", f"token exchange failed: {exc}") from exc
    credentials.auth_mode = "web_app"
    credentials.store_tokens(auth.export_tokens())
    credentials.save(credentials_block, overwrite=True)
    return credentials
