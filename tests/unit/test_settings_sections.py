"""The settings in slices (config/sections/): every field in exactly one, names unchanged."""

from __future__ import annotations

from collections import Counter

import pytest

from config.sections.recovery import RecoverySettings
from config.sections.tunnel import TunnelSettings
from config.sections.watch import WatchSettings
from config.settings import SECTIONS, PostflowSettings


def test_every_setting_is_in_exactly_one_slice() -> None:
    counts = Counter(name for section in SECTIONS for name in section.model_fields)
    assert [name for name, n in counts.items() if n > 1] == []
    assert set(counts) == set(PostflowSettings.model_fields)


def test_the_whole_is_every_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTFLOW_SETTLE_SECONDS", "12")
    monkeypatch.setenv("POSTFLOW_CIRCUIT_FAILURE_THRESHOLD", "3")
    settings = PostflowSettings(_env_file=None)
    assert isinstance(settings, WatchSettings) and isinstance(settings, RecoverySettings)
    assert (settings.settle_seconds, settings.circuit_failure_threshold) == (12.0, 3)


def test_a_slices_own_rules_still_hold_in_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTFLOW_TUNNEL_MODE", "named")
    monkeypatch.setenv("POSTFLOW_RANGE_SERVER_PORT", "0")
    with pytest.raises(ValueError, match="POSTFLOW_RANGE_SERVER_PORT"):
        PostflowSettings(_env_file=None)
    assert TunnelSettings(tunnel_mode="quick", range_server_port=0).tunnel_mode == "quick"
