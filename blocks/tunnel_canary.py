"""A named tunnel's start-up self-check: does its public hostname reach *this* process?

A token tunnel (``cloudflared tunnel run``) forwards every request for its public hostname to
the origin of the ingress rule configured in Cloudflare, not to whatever this process listens
on; and every connector running the same tunnel (another process, another machine) gets a
share of its requests. So once cloudflared is ready, :func:`check_canary` fetches a fresh
signed canary URL (:meth:`blocks.range_server.RangeServer.canary_path`) through the public
hostname and reads the answer:

* ``{"nonce": <ours>}`` with the ``X-Postflow-Range-Server`` header: this process answers;
* the header with another nonce, or a refusal of the signature (403): **another process
  answers** (another PostFlow Range server sits behind the ingress rule);
* a connection error, a timeout or a 5xx without the header (cloudflared's 502 when the
  rule's origin refuses connections; Cloudflare's 530 when no connector is up): **nothing
  answers** - retried until ``timeout_seconds``, since a tunnel that has just connected may
  take a moment to route;
* any other answer without the header (cloudflared's catch-all 404, a Cloudflare Access
  redirect): something else answers.

The reason returned is one line naming the public base URL, never the canary token.
The request goes through an httpx *transport* (no client): the client logs each request's
URL at INFO, the transport does not, so the signed token stays out of the logs. The proxy of
the environment (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``, read by the standard library's
``urllib.request.getproxies``/``proxy_bypass``, as a client with ``trust_env`` would) is used,
so a machine whose web traffic must go through a proxy checks the same path as its browser.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from blocks.range_server import CANARY_HEADER

__all__ = ["check_canary"]

_ATTEMPT_TIMEOUT_SECONDS = 5.0
_RETRY_INTERVAL_SECONDS = 0.5


def check_canary(
    base_url: str,
    canary_path: Callable[[], str],
    nonce: str,
    *,
    timeout_seconds: float,
    origin: str,
    transport: httpx.BaseTransport | None = None,
) -> str | None:
    """Fetch a canary URL through the tunnel until it answers or ``timeout_seconds`` pass.

    Args:
        base_url: the tunnel's public base URL, e.g. ``https://media.example.com``.
        canary_path: makes a fresh signed ``/canary/<token>`` path (one per attempt).
        nonce: this process's Range-server nonce, which the answer must carry.
        timeout_seconds: how long to keep trying while nothing answers (seconds).
        origin: this process's Range-server URL, named in the reason as the rule's service.
        transport: the httpx transport to use (tests); a fresh ``HTTPTransport`` by default.

    Returns:
        None when this process answered; else why not, one line without secrets.
    """
    deadline = time.monotonic() + timeout_seconds
    with transport or _environment_transport(base_url) as sender:
        while True:
            remaining = deadline - time.monotonic()
            attempt = min(_ATTEMPT_TIMEOUT_SECONDS, max(remaining, 0.5))
            retry, problem = _one_fetch(sender, base_url, canary_path(), nonce, attempt)
            if problem is None or not retry or time.monotonic() >= deadline:
                return _explain(problem, base_url, origin) if problem else None
            time.sleep(min(_RETRY_INTERVAL_SECONDS, max(deadline - time.monotonic(), 0.0)))


def _environment_transport(base_url: str) -> httpx.HTTPTransport:
    """A transport through the environment's proxy for ``base_url``, if one applies."""
    split = urlsplit(base_url)
    proxy = urllib.request.getproxies().get(split.scheme)
    if proxy and not urllib.request.proxy_bypass(split.hostname or ""):
        return httpx.HTTPTransport(proxy=proxy, retries=0)
    return httpx.HTTPTransport(retries=0)


def _one_fetch(
    sender: httpx.BaseTransport, base_url: str, path: str, nonce: str, timeout: float
) -> tuple[bool, str | None]:
    """``(worth retrying, problem or None)`` for one GET of the canary."""
    request = httpx.Request(
        "GET", base_url + path, extensions={"timeout": httpx.Timeout(timeout).as_dict()}
    )
    try:
        response = sender.handle_request(request)
        try:
            response.read()
        finally:
            response.close()
    except httpx.TimeoutException:
        return True, f"nothing answers: no answer in {timeout:.1f} s"
    except httpx.TransportError as exc:  # the message may hold the host, never the path
        return True, f"nothing answers: {type(exc).__name__}"
    status, ours = response.status_code, CANARY_HEADER in response.headers
    if ours and status == 200:
        try:
            answered = response.json().get("nonce")
        except ValueError:
            answered = None
        if answered == nonce:
            return False, None
        return False, "another process answers: its Range server has another nonce"
    if ours:
        return False, f"another process answers: its Range server refused the canary ({status})"
    if status >= 500:
        return True, f"nothing answers: HTTP {status} from Cloudflare or cloudflared"
    return False, f"something else answers: HTTP {status}, not a PostFlow Range server"


def _explain(problem: str, base_url: str, origin: str) -> str:
    """The problem, where it was seen, and the ingress rule that would fix it."""
    if problem.startswith("another process"):
        hint = (
            "another process or machine is connected to this tunnel or behind its ingress "
            "rule; give each machine its own tunnel and hostname"
        )
    else:
        hint = f"the ingress rule for this hostname should forward to {origin}"
    return f"{problem} at {base_url} ({hint})"
