"""Every ``postflow`` command, given bad arguments or settings, says so in one line and exits 2.

The commands are enumerated from the typer app, so a new command or option is covered without
editing this file: each command gets an unknown option, and each option typer can check (a
number, a range, a fixed choice, a path that must exist, a ``--since`` window) gets a value
it must refuse. No Prefect server may start for an argument error: the temporary server's
starter is replaced by one that records the call.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.testing import CliRunner, Result

from postflow.cli.main import app

runner = CliRunner()
ROOT = typer.main.get_command(app)


def _leaves(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """``(command path, command)`` of every leaf command under ``group``."""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, TyperGroup):
            yield from _leaves(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = dict(_leaves(ROOT))


def _base(annotation: Any) -> Any:
    """``int`` of ``int | None`` (typer's annotations keep the Optional)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 and type(None) in typing.get_args(annotation) else annotation


def _bad_value(param: Any) -> str | None:
    """A value typer must refuse for ``param``, or None when any text is acceptable."""
    described = param.type_descriptor
    if param.name == "since":
        return "yesterday"
    if described.is_choice:
        return "bogus"
    if param.min is not None:
        return "-999999"
    if param.max is not None:
        return "999999999"
    if _base(described.annotation) in (int, float):
        return "not-a-number"
    if described.is_path and described.parameter_info.exists:
        return "/nonexistent/postflow-bad-argument"
    return None


def _good_arguments(command: Any, tmp_path: Path) -> list[str]:
    """Valid values for the required positional arguments, so only the bad option fails."""
    media = tmp_path / "SC01_UNDLM_00412_V001.mov"
    media.write_bytes(b"x" * 100)
    values = {"names": "SC01_UNDLM_00412_V001.mov", "scene": "SC01", "shot": "UNDLM_00412"}
    return [
        values.get(p.name or "", str(media))
        for p in command.params
        if isinstance(p, TyperArgument) and p.required
    ]


CASES = [
    pytest.param(path, param.name, id=f"{' '.join(path)} {param.opts[0]}")
    for path, command in COMMANDS.items()
    for param in command.params
    if isinstance(param, TyperOption) and _bad_value(param) is not None
]


def _assert_one_line_refusal(result: Result, started: list[int]) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(lines) == 1, result.output
    assert not started
    return lines[0]


def test_every_command_is_enumerated():
    assert {"status", "watch", "setup", "cache stats", "cache clear", "up"} <= {
        " ".join(p) for p in COMMANDS
    }
    assert len(CASES) >= 15


@pytest.mark.parametrize("path", [pytest.param(p, id=" ".join(p)) for p in COMMANDS])
def test_an_unknown_option_is_one_line(path, servers, tmp_path):
    args = [*path, *_good_arguments(COMMANDS[path], tmp_path), "--no-such-option"]
    line = _assert_one_line_refusal(runner.invoke(app, args), servers)
    assert "--no-such-option" in line


@pytest.mark.parametrize(("path", "name"), CASES)
def test_a_bad_option_value_is_one_line(path, name, servers, tmp_path):
    command = COMMANDS[path]
    [param] = [p for p in command.params if p.name == name]
    args = [*path, *_good_arguments(command, tmp_path), param.opts[0], _bad_value(param)]
    line = _assert_one_line_refusal(runner.invoke(app, args), servers)
    assert param.opts[0] in line


def test_a_watch_path_that_is_a_file_is_refused_before_any_server(servers, tmp_path):
    afile = tmp_path / "not-a-folder"
    afile.write_text("x")
    line = _assert_one_line_refusal(
        runner.invoke(app, ["watch", "--watch-path", str(afile)]), servers
    )
    assert "--watch-path" in line


def test_a_watch_path_setting_that_is_missing_names_the_setting(servers, monkeypatch, tmp_path):
    monkeypatch.setenv("POSTFLOW_WATCH_PATH", str(tmp_path / "absent"))
    line = _assert_one_line_refusal(runner.invoke(app, ["watch"]), servers)
    assert "POSTFLOW_WATCH_PATH" in line


@pytest.mark.parametrize("command", [["status"], ["watch"], ["cache", "stats"], ["health"]])
def test_a_state_dir_that_is_a_file_names_the_setting(command, servers, monkeypatch, tmp_path):
    afile = tmp_path / "state-file"
    afile.write_text("x")
    monkeypatch.setenv("POSTFLOW_STATE_DIR", str(afile))
    monkeypatch.setenv("POSTFLOW_WATCH_PATH", str(tmp_path))
    line = _assert_one_line_refusal(runner.invoke(app, command), servers)
    assert "POSTFLOW_STATE_DIR" in line


@pytest.mark.parametrize("command", [["nomenclature", "SC01_UNDLM_00412_V001.mov"], ["watch"]])
def test_a_binary_nomenclature_file_is_one_line(command, servers, monkeypatch, tmp_path):
    rules = tmp_path / "nomenclature.toml"
    rules.write_bytes(bytes(range(256)) * 4)
    monkeypatch.setenv("POSTFLOW_NOMENCLATURE_PATH", str(rules))
    monkeypatch.setenv("POSTFLOW_WATCH_PATH", str(tmp_path))
    line = _assert_one_line_refusal(runner.invoke(app, command), servers)
    assert "nomenclature" in line


def test_an_invalid_setting_is_one_line_naming_the_variable(servers, monkeypatch):
    monkeypatch.setenv("POSTFLOW_POLL_INTERVAL_SECONDS", "soon")
    line = _assert_one_line_refusal(runner.invoke(app, ["status"]), servers)
    assert "POSTFLOW_POLL_INTERVAL_SECONDS" in line
