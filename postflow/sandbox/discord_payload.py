"""What Discord's webhook endpoint accepts, for its stand-in
(:mod:`postflow.sandbox.discord_receiver`): the two bodies ``discord-webhook`` sends (JSON, or
multipart/form-data with ``payload_json`` and one part per file) and Discord's message limits,
refused with its ``{"message", "code"}`` errors (Discord docs, "Execute Webhook" and "Embed
Limits").
"""

from __future__ import annotations

import json
from email.message import Message
from typing import Any

__all__ = ["WebhookRejected", "parse_body", "validate"]

_LIMITS = {
    "content": 2000,
    "embeds": 10,
    "title": 256,
    "description": 4096,
    "fields": 25,
    "field_name": 256,
    "field_value": 1024,
    "footer": 2048,
    "author": 256,
    "total": 6000,
}


class WebhookRejected(ValueError):
    """A payload Discord would refuse. Attributes: `code` (Discord JSON error code), `message`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_body(body: bytes, content_type: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Return (payload, files) from a JSON or multipart/form-data body.

    Raises:
        WebhookRejected: Invalid JSON (50109) or an unsupported content type (50035).
    """
    header = Message()
    header["content-type"] = content_type
    if header.get_content_type() == "multipart/form-data":
        boundary = header.get_param("boundary")
        if not isinstance(boundary, str):
            raise WebhookRejected(50035, "Invalid Form Body: missing multipart boundary")
        fields = _multipart_fields(body, boundary.encode())
        raw_payload = next((data for name, _, data in fields if name == "payload_json"), b"{}")
        files = {filename: data for _, filename, data in fields if filename is not None}
        return _json_object(raw_payload), files
    if header.get_content_type() == "application/json":
        return _json_object(body), {}
    raise WebhookRejected(50035, f"Invalid Form Body: unsupported content type {content_type!r}")


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WebhookRejected(50109, "The request body contains invalid JSON.") from exc
    if not isinstance(payload, dict):
        raise WebhookRejected(50109, "The request body contains invalid JSON.")
    return payload


def _multipart_fields(body: bytes, boundary: bytes) -> list[tuple[str | None, str | None, bytes]]:
    """Split a multipart body into (field name, filename or None, bytes), byte-exact."""
    fields = []
    for chunk in (b"\r\n" + body).split(b"\r\n--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                disposition["content-disposition"] = value.strip()
        name = disposition.get_param("name", header="content-disposition")
        filename = disposition.get_filename()
        fields.append((name if isinstance(name, str) else None, filename, data))
    return fields


def validate(payload: dict[str, Any], files: dict[str, bytes]) -> None:
    """Apply Discord's message limits.

    Raises:
        WebhookRejected: 50006 for an empty message, 50035 for a limit exceeded.
    """
    content = payload.get("content") or ""
    embeds = payload.get("embeds") or []
    if not content and not embeds and not files:
        raise WebhookRejected(50006, "Cannot send an empty message")
    if len(content) > _LIMITS["content"]:
        raise WebhookRejected(50035, "Invalid Form Body: content must be 2000 or fewer in length.")
    if len(embeds) > _LIMITS["embeds"]:
        raise WebhookRejected(50035, "Invalid Form Body: embeds must be 10 or fewer in length.")
    total = sum(_embed_length(embed) for embed in embeds)
    if total > _LIMITS["total"]:
        raise WebhookRejected(50035, "Invalid Form Body: embed size exceeds maximum size of 6000")


def _embed_length(embed: dict[str, Any]) -> int:
    def text(value: Any) -> str:
        return value if isinstance(value, str) else ""

    checks = [
        ("title", text(embed.get("title"))),
        ("description", text(embed.get("description"))),
        ("footer", text((embed.get("footer") or {}).get("text"))),
        ("author", text((embed.get("author") or {}).get("name"))),
    ]
    fields = embed.get("fields") or []
    if len(fields) > _LIMITS["fields"]:
        raise WebhookRejected(50035, "Invalid Form Body: embeds.fields must be 25 or fewer.")
    for field in fields:
        checks += [
            ("field_name", text(field.get("name"))),
            ("field_value", text(field.get("value"))),
        ]
        if not text(field.get("name")) or not text(field.get("value")):
            raise WebhookRejected(50035, "Invalid Form Body: embed fields need a name and value.")
    for key, value in checks:
        if len(value) > _LIMITS[key]:
            raise WebhookRejected(
                50035, f"Invalid Form Body: embed {key} must be {_LIMITS[key]} or fewer in length."
            )
    return sum(len(value) for _, value in checks)
