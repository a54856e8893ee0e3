"""Frame.io credentials block, SDK client factory, and the one place SDK errors are mapped.

The block is configuration plus a client factory (the prefect-slack pattern): the secret is
unwrapped with ``get_secret_value()`` only inside :meth:`FrameioCredentials.get_client`.
Every Frame.io API call goes through the official ``frameio`` SDK (Fern-generated, v4.0.x);
:func:`frameio_errors` turns its exceptions into :mod:`core.errors` types once, here.

Sources for the status-code semantics:

* the Frame.io v4 "Getting Started" guide, its errors section:
  https://developer.adobe.com/frameio/guides/
* the retry rules of the SDK (``frameio/core/http_client.py``: it retries 408, 409, 429 and
  5xx, POSTs included): https://github.com/Frameio/python-sdk
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any, Literal

import httpx
from frameio import Frameio
from frameio.auth import ServerToServerAuth, WebAppAuth
from frameio.auth import _errors as auth_errors
from frameio.core.api_error import ApiError
from prefect.blocks.core import Block
from pydantic import Field, HttpUrl, SecretStr

from blocks.call_timing import TimedTransport
from blocks.pacing import api_pacer
from blocks.retry_after import parse_retry_after
from core.errors import (
    ConfigurationError,
    FrameioAuthError,
    FrameioError,
    FrameioNetworkError,
    FrameioNotFound,
    FrameioRateLimited,
    FrameioRejected,
    FrameioServerError,
)

S2S_SCOPES = "openid AdobeID frame.s2s.all"  # SDK ServerToServerAuth default
USER_SCOPES = "openid email profile offline_access additional_info.roles"  # SDK DEFAULT_SCOPES


class FrameioCredentials(Block):
    """Adobe IMS credentials for the Frame.io v4 API, and a factory for SDK clients.

    Two grants: ``server_to_server`` (client_credentials; Admin-Console-managed accounts) and
    ``web_app`` (OAuth authorization code, what the previous generation used; ``postflow login``
    stores the tokens). In ``web_app`` mode IMS rotates the refresh token on every refresh, so
    each refresh is written back to this block document: a restart never forces a new login.
    Sources:

    * Adobe IMS, server-to-server:
      https://developer.adobe.com/developer-console/docs/guides/authentication/ServerToServerAuthentication/implementation
    * Adobe IMS, user authentication (Web App credential, redirect URI rules):
      https://developer.adobe.com/developer-console/docs/guides/authentication/UserAuthentication/implementation
    * the SDK's auth helpers (``ServerToServerAuth``, ``WebAppAuth``):
      https://developer.frame.io/platform/docs/guides/authentication/python-sdk

    Attributes:
        auth_mode: ``"server_to_server"`` or ``"web_app"``.
        client_id: IMS client id from the Adobe Developer Console.
        client_secret: IMS client secret.
        redirect_uri: web_app only: the redirect URI registered for the credential.
        scopes: IMS scopes; empty means the SDK default of the mode.
        access_token / refresh_token: web_app only; written by ``postflow login`` and refreshes.
        expires_at: web_app only: access-token expiry, epoch seconds.
        ims_base_url: IMS host (``https://ims-na1.adobelogin.com``; the sandbox's URL in demos).
        api_base_url: Frame.io API host without ``/v4`` (``https://api.frame.io``).

    Example:
        >>> FrameioCredentials(client_id="id", client_secret="s").save("postflow-frameio")
        >>> client = FrameioCredentials.load("postflow-frameio").get_client()
    """

    _block_type_name = "Frame.io Credentials"
    _block_type_slug = "postflow-frameio-credentials"
    _description = "Adobe IMS credentials for Frame.io v4 and a factory for SDK clients."
    _logo_url = HttpUrl("https://github.com/Frameio.png")  # Frame.io's GitHub avatar
    _documentation_url = HttpUrl("https://developer.adobe.com/frameio/guides/Authentication/")

    auth_mode: Literal["server_to_server", "web_app"] = Field(
        "server_to_server", description="IMS grant used to obtain access tokens."
    )
    client_id: str = Field(..., description="IMS client id.")
    client_secret: SecretStr = Field(..., description="IMS client secret.")
    redirect_uri: str = Field(
        "https://localhost:8976/callback",
        description="web_app: the redirect URI registered for the credential (HTTPS: Adobe's "
        "rule, even for localhost; POSTFLOW_FRAMEIO_REDIRECT_URI).",
    )
    scopes: str = Field("", description="IMS scopes; empty = the SDK default of the mode.")
    access_token: SecretStr | None = Field(None, description="web_app: current access token.")
    refresh_token: SecretStr | None = Field(None, description="web_app: current refresh token.")
    expires_at: float | None = Field(None, description="web_app: token expiry, epoch seconds.")
    ims_base_url: str = Field("https://ims-na1.adobelogin.com", description="IMS base URL.")
    api_base_url: str = Field("https://api.frame.io", description="API base URL, without /v4.")

    def get_client(self, timeout_seconds: float = 60.0, max_retries: int = 2) -> Frameio:
        """Build a ready SDK client whose token refreshes itself.

        Args:
            timeout_seconds: per-request timeout.
            max_retries: IMS token-request retries (5xx/network) done by the SDK's auth helper.

        Returns:
            ``frameio.Frameio`` bound to ``api_base_url``.

        Raises:
            FrameioAuthError: only later, on the first call, if the credentials are refused.
        """
        auth = self.get_auth(timeout_seconds, max_retries)
        http = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds, connect=10.0),
            # every API call timed (blocks.call_timing) and paced to Frame.io's announced
            # rate limits (blocks.pacing)
            transport=TimedTransport(pacer=api_pacer()),
        )
        return Frameio(base_url=self.api_base_url, token=auth.get_token, httpx_client=http)

    def get_auth(
        self, timeout_seconds: float = 30.0, max_retries: int = 2
    ) -> ServerToServerAuth | WebAppAuth:
        """The SDK auth helper for this mode (tokens imported, rotation saved back).

        Raises:
            ConfigurationError: web_app mode without tokens (run ``postflow login``).
        """
        client_secret = self.client_secret.get_secret_value()
        if self.auth_mode == "server_to_server":
            return ServerToServerAuth(
                client_id=self.client_id,
                client_secret=client_secret,
                scopes=self.scopes or S2S_SCOPES,
                ims_base_url=self.ims_base_url,
                timeout=timeout_seconds,
                max_retries=max_retries,
            )
        auth = WebAppAuth(
            client_id=self.client_id,
            client_secret=client_secret,
            redirect_uri=self.redirect_uri,
            scopes=self.scopes or USER_SCOPES,
            ims_base_url=self.ims_base_url,
            on_token_refreshed=self._tokens_refreshed,
            timeout=timeout_seconds,
            max_retries=max_retries,
        )
        if self.refresh_token is None and self.access_token is None:
            raise ConfigurationError(
                "Frame.io web_app credentials have no tokens yet: run `postflow login`"
            )
        auth.import_tokens(self.token_dict())
        return auth

    def token_dict(self) -> dict[str, object]:
        """``{"access_token", "refresh_token", "expires_at"}`` as the SDK exports them."""
        return {
            "access_token": _secret_value(self.access_token),
            "refresh_token": _secret_value(self.refresh_token),
            "expires_at": float(self.expires_at or 0.0),
        }

    def store_tokens(self, tokens: dict[str, Any]) -> None:
        """Keep tokens exported by the SDK and save this block document if it has a name.

        Args:
            tokens: as ``export_tokens()`` / ``on_token_refreshed`` give them (the SDK types
                them ``dict[str, Any]``): ``access_token``, ``refresh_token``, ``expires_at``.
        """
        access = tokens.get("access_token")
        self.access_token = SecretStr(str(access)) if access else None
        refresh = tokens.get("refresh_token")
        if refresh:
            self.refresh_token = SecretStr(str(refresh))
        self.expires_at = float(tokens.get("expires_at") or 0.0) or None
        if self._block_document_name:
            self.save(self._block_document_name, overwrite=True)

    def _tokens_refreshed(self, tokens: dict[str, Any]) -> None:
        self.store_tokens(tokens)


def _secret_value(secret: SecretStr | None) -> str | None:
    """The plain text of an optional secret (for handing tokens to the SDK)."""
    return secret.get_secret_value() if secret is not None else None


def _detail(body: object) -> str:
    """Return Frame.io's ``errors[].detail`` texts joined, or the raw body as text."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        parts = [str(e.get("detail") or e.get("title") or e) for e in body["errors"] if e]
        return "; ".join(parts)
    return str(body)[:300] if body else ""


_HINTS = MappingProxyType(
    {
        401: "the access token was refused: check the client id/secret in the Frame.io credentials "
        "block (`postflow setup`)",
        403: "permission denied (or the account is locked by plan limits): check the service "
        "account's access to this project",
        404: "not found: check POSTFLOW_FRAMEIO_ACCOUNT_ID / POSTFLOW_FRAMEIO_PROJECT_ID, or the "
        "folder was deleted in Frame.io",
    }
)


def map_frameio_error(operation: str, exc: BaseException) -> FrameioError:
    """Translate an SDK or transport exception into the :mod:`core.errors` hierarchy.

    Args:
        operation: what was being done, e.g. ``"folders.create"``.
        exc: the exception raised by the SDK call.

    Returns:
        The mapped error (the caller raises it ``from exc``); an unknown exception type is
        returned as a transient :class:`FrameioNetworkError` only if it is an httpx
        transport error, otherwise as a permanent :class:`FrameioRejected`.
    """
    if isinstance(exc, ApiError):
        status = exc.status_code or 0
        detail = _detail(exc.body)
        hint = _HINTS.get(status, detail or "unexpected answer")
        if status == 429:
            return FrameioRateLimited(
                operation,
                detail or "rate limited",
                retry_after_seconds=parse_retry_after(exc.headers),
            )
        if status >= 500 or status in (408, 409):
            return FrameioServerError(operation, detail or "server error", status_code=status)
        if status in (401, 403):
            return FrameioAuthError(operation, hint, status_code=status, detail=detail)
        if status == 404:
            return FrameioNotFound(operation, hint, status_code=status, detail=detail)
        return FrameioRejected(operation, detail or "request rejected", status_code=status)
    if isinstance(exc, auth_errors.RateLimitError):
        return FrameioRateLimited(
            operation, "IMS rate limited", retry_after_seconds=getattr(exc, "retry_after", None)
        )
    if isinstance(exc, auth_errors.NetworkError | httpx.TransportError):
        return FrameioNetworkError(operation, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, auth_errors.AuthenticationError) and _ims_outage(exc.error_code):
        return FrameioServerError(operation, f"IMS unavailable: {exc}", status_code=503)
    if isinstance(exc, auth_errors.FrameioAuthError):
        return FrameioAuthError(operation, f"IMS refused the credentials: {exc}", status_code=401)
    return FrameioRejected(operation, f"{type(exc).__name__}: {exc}")


def _ims_outage(error_code: str) -> bool:
    """Whether an IMS token error is the service failing rather than the credentials.

    ``server_error`` and ``temporarily_unavailable`` are OAuth's codes for that (RFC 6749
    section 5.2 and 4.1.2.1, https://www.rfc-editor.org/rfc/rfc6749); the SDK's auth helper
    reports a 5xx without an OAuth body as ``http_5xx`` and wraps an unexpected failure (a
    dropped connection) as ``refresh_failed``.
    """
    code = error_code or ""
    return code in ("server_error", "temporarily_unavailable", "refresh_failed") or (
        code.startswith("http_5")
    )


@contextlib.contextmanager
def frameio_errors(operation: str) -> Iterator[None]:
    """Context manager: any SDK/httpx error inside is re-raised as a :class:`FrameioError`.

    Raises:
        FrameioError: a subclass chosen by :func:`map_frameio_error`.
    """
    try:
        yield
    except FrameioError:
        raise
    except (ApiError, httpx.HTTPError, auth_errors.FrameioAuthError) as exc:
        raise map_frameio_error(operation, exc) from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        # a malformed answer: bad JSON, or JSON of the wrong shape (the SDK's
        # ``model_construct(**data)`` raises TypeError on a list where an object belongs)
        raise FrameioServerError(operation, f"malformed response: {exc}") from exc
