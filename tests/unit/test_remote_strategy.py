"""Choosing remote upload or multipart per file (pure; the tunnel is a stub)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from config.settings import PostflowSettings
from core.units import human_bytes
from tasks.upload.strategy import choose_strategy

GB = 10**9


@dataclass
class StubTunnel:
    up: bool = True
    reason: str = ""

    def healthy(self) -> bool:
        return self.up


def test_auto_picks_remote_when_the_tunnel_is_healthy_and_the_file_is_under_the_cap() -> None:
    settings = PostflowSettings(upload_strategy="auto")
    strategy, reason = choose_strategy(settings, int(1.2 * GB), StubTunnel())
    assert strategy == "remote"
    assert reason == "auto: tunnel healthy, 1.2 GB <= 50.0 GB cap"


def test_files_above_the_cap_always_go_multipart() -> None:
    settings = PostflowSettings(upload_strategy="remote")
    strategy, reason = choose_strategy(settings, 50 * GB + 1, StubTunnel())
    assert strategy == "multipart"
    assert reason == "50.0 GB > 50.0 GB remote upload cap"


def test_an_unhealthy_tunnel_gives_multipart_with_its_reason() -> None:
    tunnel = StubTunnel(up=False, reason="cloudflared not on PATH ('cloudflared')")
    strategy, reason = choose_strategy(PostflowSettings(upload_strategy="auto"), GB, tunnel)
    assert strategy == "multipart"
    assert reason == "tunnel unavailable: cloudflared not on PATH ('cloudflared')"


@pytest.mark.parametrize(
    ("settings", "tunnel", "reason"),
    [
        (PostflowSettings(upload_strategy="multipart"), StubTunnel(), "upload_strategy=multipart"),
        (PostflowSettings(), StubTunnel(), "upload_strategy=multipart"),  # the default
        (PostflowSettings(upload_strategy="auto"), None, "no tunnel"),
    ],
)
def test_multipart_when_asked_for_or_without_a_tunnel(settings, tunnel, reason) -> None:
    assert choose_strategy(settings, GB, tunnel) == ("multipart", reason)


@pytest.mark.parametrize(
    ("size", "text"), [(999, "999 B"), (1_500, "1.5 KB"), (1_200_000_000, "1.2 GB")]
)
def test_human_bytes_uses_decimal_units(size: int, text: str) -> None:
    assert human_bytes(size) == text
