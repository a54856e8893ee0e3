"""The README's settings reference is generated from the models and lists every setting."""

from __future__ import annotations

from pathlib import Path

from blocks.settings import PostflowTuning
from config.settings import PostflowSettings
from postflow.settings_doc import END, START, settings_markdown

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
FIX = "run `postflow settings --write README.md`"


def _reference() -> str:
    return README[README.index(START) : README.index(END) + len(END)]


def test_every_setting_and_tuning_field_is_in_the_readme_reference():
    reference = _reference()
    missing = [f"POSTFLOW_{n.upper()}" for n in PostflowSettings.model_fields]
    missing = [name for name in missing if f"`{name}`" not in reference]
    missing += [n for n in PostflowTuning.model_fields if f"| `{n}` |" not in reference]
    assert not missing, f"missing from README.md: {missing}; {FIX}"


def test_the_readme_reference_is_the_generated_one():
    assert _reference() == settings_markdown(), FIX


def test_cache_stats_default_window_matches_its_help():
    from typer.testing import CliRunner

    from postflow.cli import app

    result = CliRunner().invoke(app, ["cache", "stats", "--help"], env={"COLUMNS": "200"})
    assert "7d" in result.stdout
    assert "`postflow cache stats [--since 7d]`" in README
