"""Bad input values refused before anything reaches Frame.io: each in one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.errors import ConfigurationError, NamingError
from postflow.cli.main import app
from postflow.cli.terminal import err
from tasks.structure.folders import resolve_folder_path
from tasks.structure.naming import load_nomenclature

runner = CliRunner()


def test_postflow_ingest_refuses_an_empty_file_in_one_line_with_exit_2(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("POSTFLOW_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(err, "width", 400)  # rich wraps at the terminal's width, not us
    path = tmp_path / "SC01_UNDLM_00412_V002.mov"
    path.write_bytes(b"")
    result = runner.invoke(app, ["ingest", str(path)], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "0 bytes" in lines[0] and path.name in lines[0], result.output
    assert "Traceback" not in result.output


# --- scene and shot values, folder templates, rules files --------------------------------------


def _rules(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text('extensions = [".mov"]\n' + body, encoding="utf-8")
    return path


RULE = '[[rules]]\nname = "{name}"\npattern = \'{pattern}\'\nfolder = "{folder}"\n'
GOOD = "(?P<scene>.+?)_(?P<shot>S\\d+)_V(?P<version>\\d+)"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (".._S01_V001.mov", "'..'"),
        ("A\\B_S01_V001.mov", "'A\\\\B'"),
        ("SC\x0101_S01_V001.mov", "'SC\\x0101'"),
        (".SC01_S01_V001.mov", "'.SC01'"),
        ("SC01_.._V001.mov", None),  # the shot group takes S\d+ only: no rule matches
    ],
)
def test_a_name_whose_scene_or_shot_is_no_folder_name_is_refused_naming_the_value(name, value):
    rules = load_nomenclature()
    with pytest.raises(NamingError) as raised:
        rules.parse(name)
    message = str(raised.value)
    assert "\n" not in message
    if value is not None:
        assert value in message, message


def test_a_folder_template_climbing_out_is_refused_at_load_naming_file_and_rule(tmp_path):
    path = _rules(tmp_path, RULE.format(name="up", pattern=GOOD, folder="../../{scene}/{shot}"))
    with pytest.raises(ConfigurationError) as raised:
        load_nomenclature(path)
    message = str(raised.value)
    assert str(path) in message and "'up'" in message and "'..'" in message
    assert "\n" not in message


@pytest.mark.parametrize("folder", ["SCENES\\\\{scene}/{shot}", ".hidden/{scene}/{shot}"])
def test_other_bad_folder_templates_are_refused_at_load(tmp_path, folder):
    path = _rules(tmp_path, RULE.format(name="odd", pattern=GOOD, folder=folder))
    with pytest.raises(ConfigurationError, match=r"rule 'odd': bad folder template"):
        load_nomenclature(path)


@pytest.mark.parametrize(
    "body", ['rules = "x"\n', "rules = [1, 2]\n", 'extensions = "x"\n[[rules]]\nname = "a"\n']
)
def test_a_rules_file_of_the_wrong_shape_is_one_configuration_line_naming_it(tmp_path, body):
    path = tmp_path / "rules.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigurationError) as raised:
        load_nomenclature(path)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_a_rule_without_a_version_group_is_refused_at_load_in_one_line(tmp_path):
    pattern = "(?P<scene>SC\\d+)_(?P<shot>S\\d+)_V\\d+"
    path = _rules(tmp_path, RULE.format(name="nov", pattern=pattern, folder="{scene}/{shot}"))
    with pytest.raises(ConfigurationError) as raised:
        load_nomenclature(path)
    message = str(raised.value)
    assert str(path) in message and "'nov'" in message and "version" in message
    assert "\n" not in message


def test_resolve_folder_path_refuses_a_bad_level_before_any_frameio_call():
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"Frame.io touched: {name}")

    with pytest.raises(ConfigurationError, match=r"'A/B'"):
        resolve_folder_path(Untouchable(), ("SCENES", "A/B", "S01"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scene", "shot", "value"), [("A/B", "S1", "'A/B'"), ("SC1", "..", "'..'")]
)
def test_test_upload_refuses_a_bad_scene_or_shot_in_one_line_with_exit_2(
    tmp_path: Path, monkeypatch, scene, shot, value
) -> None:
    monkeypatch.setenv("POSTFLOW_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("tasks.clients.open_project", _no_frameio)
    path = tmp_path / "f_v001.mov"
    path.write_bytes(b"x" * 100)
    result = runner.invoke(app, ["test-upload", str(path), scene, shot], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and value in lines[0], result.output


def test_test_upload_refuses_an_empty_file_with_exit_2(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("POSTFLOW_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("tasks.clients.open_project", _no_frameio)
    path = tmp_path / "f_v001.mov"
    path.write_bytes(b"")
    result = runner.invoke(app, ["test-upload", str(path), "SC01", "S01"], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert "0 bytes" in result.output and len(result.output.strip().splitlines()) == 1


def _no_frameio(*args, **kwargs):
    raise AssertionError("Frame.io opened for a refused input")
