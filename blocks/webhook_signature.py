"""Frame.io v4 webhook deliveries: the signature check, and one key per delivery.

Signature (Frame.io's webhooks guide, "Webhooks" at https://developer.adobe.com/frameio/guides,
markdown source AdobeDocs/frameio-api ``src/pages/guides/Webhooks/index.md``):

* headers ``X-Frameio-Request-Timestamp`` (epoch seconds) and ``X-Frameio-Signature``
  (``v0=<64 hex>``);
* the signed message is ``v0:<timestamp header, as sent>:<raw body bytes>``, the MAC is
  HMAC-SHA256 keyed with the webhook's secret (returned once, by ``webhooks.create``);
* the guide asks for the timestamp to be within 5 minutes of local time. Its sample compares
  one-sided (``now - ts < 500``) with ``==``; here the window is two-sided (``|now - ts| <=
  300``, which also bounds clock skew) and the compare is ``hmac.compare_digest``, as the
  third-party frameio-kit does (``_security.py``).

Delivery key: Frame.io documents no delivery or event id, and the body has no timestamp
(``{"account","project","resource":{"id","type"},"type","user","workspace"}``). A delivery is
therefore known by ``"<type>:<resource id>:<timestamp header>"``, or by ``"id:<id>"`` when the
body carries an optional top-level ``id`` (some third-party code reads one; not documented).
A duplicate (Frame.io retries, the same bytes resent) has the same key; a retry that Frame.io
re-signs with a new timestamp gets a new key, which is why the effects (message posted, reply
sent) are claimed again further on (:mod:`tasks.review.effects`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import WebhookRefused

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "Delivery",
    "parse_delivery",
    "sign",
    "verify_signature",
]

TIMESTAMP_HEADER = "x-frameio-request-timestamp"
SIGNATURE_HEADER = "x-frameio-signature"
TOLERANCE_SECONDS = 300  # "within 5 minutes of local time" (the guide)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``"v0=" + hex(HMAC-SHA256(secret, b"v0:" + timestamp + b":" + body))``.

    Secret and timestamp are encoded latin-1, as the guide's sample does.
    """
    message = b"v0:" + timestamp.encode("latin-1") + b":" + body
    digest = hmac.new(secret.encode("latin-1"), message, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def verify_signature(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now: float,
    tolerance_seconds: float = TOLERANCE_SECONDS,
) -> int:
    """Check one delivery's timestamp and signature; returns the timestamp (epoch seconds).

    Args:
        headers: the request headers (case-insensitive mapping, or lower-case keys).
        body: the raw body bytes, exactly as received (never re-serialised JSON).
        secret: the webhook's signing secret.
        now: local time, Unix seconds.
        tolerance_seconds: the largest ``|now - timestamp|`` accepted (seconds).

    Raises:
        WebhookRefused: a header is missing, the timestamp is not a positive integer or is
            outside the window, or the signature does not match.
    """
    raw_timestamp = headers.get(TIMESTAMP_HEADER) or headers.get("X-Frameio-Request-Timestamp")
    signature = headers.get(SIGNATURE_HEADER) or headers.get("X-Frameio-Signature")
    if not raw_timestamp or not signature:
        raise WebhookRefused("missing X-Frameio-Request-Timestamp or X-Frameio-Signature")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise WebhookRefused("timestamp is not an integer") from None
    if timestamp <= 0:
        raise WebhookRefused("timestamp is not positive")
    if abs(now - timestamp) > tolerance_seconds:
        raise WebhookRefused(f"timestamp {timestamp} is {now - timestamp:+.0f} s from local time")
    if not secret:
        raise WebhookRefused("no webhook secret is saved")
    expected = sign(secret, raw_timestamp, body)
    if not hmac.compare_digest(expected.encode("latin-1"), signature.encode("latin-1", "replace")):
        raise WebhookRefused("signature does not match")
    return timestamp


@dataclass(frozen=True)
class Delivery:
    """One verified webhook delivery.

    Attributes:
        event: the event type, e.g. ``"file.ready"``, ``"comment.created"``.
        resource_id: the resource's id (a file, a comment...).
        resource_type: ``"file"``, ``"comment"``... ("" when absent).
        timestamp: the ``X-Frameio-Request-Timestamp`` (epoch seconds).
        key: the delivery's dedupe key (see the module docstring).
        account_id / project_id / workspace_id: from the body ("" when absent).
    """

    event: str
    resource_id: str
    resource_type: str
    timestamp: int
    key: str
    account_id: str = ""
    project_id: str = ""
    workspace_id: str = ""


def parse_delivery(body: bytes, timestamp: int) -> Delivery:
    """Read a verified body (an optional ``{"data": {...}}`` envelope is unwrapped).

    Raises:
        WebhookRefused: not JSON, or no ``type`` / ``resource.id``.
    """
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRefused("body is not JSON") from None
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        payload = {**payload["data"], "id": payload.get("id") or payload["data"].get("id")}
    if not isinstance(payload, dict):
        raise WebhookRefused("body is not a JSON object")
    event, resource = payload.get("type"), payload.get("resource")
    if not isinstance(event, str) or not isinstance(resource, dict):
        raise WebhookRefused("body has no type or resource")
    resource_id = resource.get("id")
    if not isinstance(resource_id, str) or not resource_id:
        raise WebhookRefused("body has no resource id")
    delivery_id = payload.get("id")
    key = f"id:{delivery_id}" if isinstance(delivery_id, str) and delivery_id else None
    return Delivery(
        event=event,
        resource_id=resource_id,
        resource_type=str(resource.get("type") or ""),
        timestamp=timestamp,
        key=(key or f"{event}:{resource_id}:{timestamp}")[:255],
        account_id=_id(payload, "account"),
        project_id=_id(payload, "project"),
        workspace_id=_id(payload, "workspace"),
    )


def _id(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    return str(value.get("id") or "") if isinstance(value, dict) else ""
