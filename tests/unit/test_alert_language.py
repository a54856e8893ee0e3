"""Alert texts follow discord_language (issue 21): every automation's subject and body in
French when asked, the "Alert id" key untouched, and the Discord embed built from either."""

from __future__ import annotations

import pytest
from prefect.automations import Automation

from blocks.discord import alert_embed
from blocks.settings import PostflowTuning
from postflow.setup.automations import render

BLOCK = "00000000-0000-0000-0000-000000000001"


def _actions(language: str) -> list[dict]:
    definitions = render(BLOCK, PostflowTuning(), None, language=language)
    for definition in definitions:
        Automation.model_validate(definition)  # what Prefect would be sent: no extra keys
    return [a for d in definitions for a in d["actions"] if a["type"] == "send-notification"]


def test_every_automation_speaks_french_when_asked():
    english, french = _actions("en"), _actions("fr")
    assert len(english) == len(french) > 8
    for en, fr in zip(english, french, strict=True):
        assert fr["subject"] != en["subject"], en["subject"]
        assert fr["body"].splitlines()[-1].startswith("Alert id: ")  # never translated
        assert fr["body"].splitlines()[-1] == en["body"].splitlines()[-1]  # the same key
        assert not any(k.endswith(("_fr", "_en")) for k in fr)
    assert any(a["subject"].startswith("Alerte RL PostFlow") for a in french)


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_live_alert_body_becomes_an_embed_in_either_language(language):
    live = [a for a in _actions(language) if "event.payload.figure_text" in a["body"]]
    assert live
    for action in live:
        embed = alert_embed(action["subject"], action["body"])
        assert embed is not None and len(embed.fields) == 4  # figure, threshold, window, check
    calm = alert_embed("Alerte RL PostFlow résolue : x", live[0]["body"])
    assert calm is not None and calm.color == int("2ecc71", 16)  # green: resolved
