"""The one Retry-After reader: delay-seconds, HTTP-date, retry-after-ms, and what it ignores."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from blocks.retry_after import parse_retry_after

NOW = datetime(2026, 11, 26, 6, 0, 0, tzinfo=UTC)


def test_delay_seconds_are_read_as_seconds() -> None:
    assert parse_retry_after({"Retry-After": "120"}) == 120.0


def test_an_http_date_gives_the_seconds_until_it() -> None:
    headers = {"retry-after": "Thu, 26 Nov 2026 06:01:30 GMT"}
    assert parse_retry_after(headers, now=NOW) == 90.0


def test_retry_after_ms_is_read_as_milliseconds() -> None:
    assert parse_retry_after({"Retry-After-Ms": "1500"}) == 1.5


def test_httpx_headers_are_matched_case_insensitively() -> None:
    assert parse_retry_after(httpx.Headers({"RETRY-AFTER": "3"})) == 3.0


def test_retry_after_wins_over_retry_after_ms() -> None:
    assert parse_retry_after({"Retry-After": "2", "retry-after-ms": "9000"}) == 2.0


def test_an_unreadable_retry_after_falls_back_to_retry_after_ms() -> None:
    assert parse_retry_after({"Retry-After": "soon", "retry-after-ms": "250"}) == 0.25


def test_a_date_in_the_past_means_retry_now() -> None:
    headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    assert parse_retry_after(headers, now=NOW) == 0.0


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"Content-Type": "text/plain"},
        {"Retry-After": "soon"},
        {"Retry-After": ""},
        {"Retry-After": "-5"},
        {"Retry-After": "nan"},
        {"Retry-After": "Thu, 99 Foo 2026 25:61:00 GMT"},
        {"retry-after-ms": "-1"},
        {"retry-after-ms": "later"},
    ],
)
def test_garbage_negative_or_missing_values_give_none(headers) -> None:
    assert parse_retry_after(headers, now=NOW) is None
