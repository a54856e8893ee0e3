"""`postflow nomenclature` output contract (typer CliRunner)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from postflow.cli import app

runner = CliRunner()


def test_nomenclature_json_one_object_per_name_and_exit_1_on_error():
    names = ["SC01_UNDLM_00412_V002.mov", ".DS_Store", "RANDOM_RENDER_FINAL.mov"]
    result = runner.invoke(app, ["nomenclature", "--json", *names])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1
    assert lines[0] == {
        "file": "SC01_UNDLM_00412_V002.mov", "scene": "SC01", "shot": "UNDLM_00412",
        "version": 2, "extension": ".mov", "folder_path": ["SCENES", "SC01", "UNDLM_00412"],
        "rule": "scene_code_shot",
    }  # fmt: skip
    assert lines[1] == {"file": ".DS_Store", "ignored": "macOS Finder metadata"}
    assert set(lines[2]) == {"file", "error"}


def test_nomenclature_exit_0_when_all_names_parse_or_are_ignored():
    result = runner.invoke(
        app, ["nomenclature", "2EME_MAYDAY_EXT_-_NUIT_AMERICAINE_S03_V005.mp4", "Thumbs.db"]
    )
    assert result.exit_code == 0
    assert "2EME_MAYDAY_EXT_-_NUIT_AMERICAINE" in result.stdout
    assert "ignored" in result.stdout


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("watch", "ingest", "nomenclature", "sandbox", "demo"):
        assert command in result.stdout
