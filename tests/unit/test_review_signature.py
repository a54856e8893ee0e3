"""Frame.io webhook signatures (v0 HMAC-SHA256 over ``v0:<timestamp>:<raw body>``, 5-minute
window) and the delivery key (type + resource id + timestamp, or the optional top-level id)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from blocks.webhook_signature import parse_delivery, sign, verify_signature
from core.errors import WebhookRefused

SECRET = "whsec-test"
BODY = b'{"resource":{"id":"f1","type":"file"},"type":"file.ready","account":{"id":"a1"}}'
NOW = 1_796_650_000


def _headers(timestamp: int | str = NOW, secret: str = SECRET, body: bytes = BODY) -> dict:
    return {
        "x-frameio-request-timestamp": str(timestamp),
        "x-frameio-signature": sign(secret, str(timestamp), body),
    }


def test_signature_is_hmac_sha256_of_v0_timestamp_and_raw_body():
    expected = hmac.new(SECRET.encode(), b"v0:%d:" % NOW + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, str(NOW), BODY) == f"v0={expected}"


def test_a_valid_delivery_passes_and_returns_its_timestamp():
    assert verify_signature(_headers(), BODY, SECRET, now=NOW + 10) == NOW


@pytest.mark.parametrize("offset", [300, -300])
def test_five_minutes_either_way_is_still_accepted(offset):
    assert verify_signature(_headers(NOW + offset), BODY, SECRET, now=NOW) == NOW + offset


@pytest.mark.parametrize("offset", [301, -301])
def test_older_or_newer_than_five_minutes_is_refused(offset):
    with pytest.raises(WebhookRefused, match="from local time"):
        verify_signature(_headers(NOW + offset), BODY, SECRET, now=NOW)


def test_another_secret_is_refused():
    with pytest.raises(WebhookRefused, match="signature does not match"):
        verify_signature(_headers(secret="forged"), BODY, SECRET, now=NOW)


def test_a_body_changed_after_signing_is_refused():
    with pytest.raises(WebhookRefused, match="signature does not match"):
        verify_signature(_headers(), BODY.replace(b"f1", b"f2"), SECRET, now=NOW)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-frameio-request-timestamp": str(NOW)},
        {"x-frameio-request-timestamp": "soon", "x-frameio-signature": "v0=00"},
        {"x-frameio-request-timestamp": "0", "x-frameio-signature": "v0=00"},
    ],
)
def test_missing_or_malformed_headers_are_refused(headers):
    with pytest.raises(WebhookRefused):
        verify_signature(headers, BODY, SECRET, now=NOW)


def test_no_saved_secret_refuses_everything():
    with pytest.raises(WebhookRefused, match="no webhook secret"):
        verify_signature(_headers(secret=""), BODY, "", now=NOW)


def test_the_key_is_type_resource_and_header_timestamp():
    delivery = parse_delivery(BODY, NOW)
    assert delivery.key == f"file.ready:f1:{NOW}"
    assert (delivery.event, delivery.resource_id, delivery.account_id) == ("file.ready", "f1", "a1")


def test_an_optional_top_level_id_is_the_key():
    body = b'{"id":"d-42","resource":{"id":"c1","type":"comment"},"type":"comment.created"}'
    assert parse_delivery(body, NOW).key == "id:d-42"


def test_a_data_envelope_is_unwrapped():
    body = b'{"data":{"resource":{"id":"f9"},"type":"metadata.value.updated"}}'
    delivery = parse_delivery(body, NOW)
    assert (delivery.event, delivery.resource_id) == ("metadata.value.updated", "f9")


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"type":"file.ready"}', b'{"resource":{}}'])
def test_a_body_without_type_or_resource_is_refused(body):
    with pytest.raises(WebhookRefused):
        parse_delivery(body, NOW)
