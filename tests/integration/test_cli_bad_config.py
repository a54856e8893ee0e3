"""Bad input to the ``postflow`` commands (issue 21): each is one line naming the bad thing.

The file, setting or value at fault is named, the exit code is 2, no traceback is shown and
nothing is uploaded or started. The ``.env`` and unreachable-API cases run the command in a
subprocess, as a user would: Prefect reads ``.env`` and ``PREFECT_API_URL`` when imported.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

import postflow.serve.prefect_server
from postflow.cli.main import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def _one_line(output: str, exit_code: int, started: list[int] = ()) -> str:  # type: ignore[assignment]
    lines = output.strip().splitlines()
    assert exit_code == 2, output
    assert "Traceback" not in output
    assert len(lines) == 1, output
    assert not started
    return lines[0]


def _refused(result: Result, started: list[int]) -> str:
    return _one_line(result.output, result.exit_code, started)


def _postflow(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``postflow ARGS`` in a subprocess, in ``cwd``, with this tree's code."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "POSTFLOW_STATE_DIR": str(cwd / "state"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **env,
    }
    command = [sys.executable, "-c", "from postflow.entry import main; main()", *args]
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


# 1. nomenclature: a path with a folder is parsed by its name; markup in a name is literal


def test_a_path_with_a_folder_is_parsed_by_its_name(servers):
    result = runner.invoke(app, ["nomenclature", "dir/SC01_UNDLM_00412_V002.mov"])
    assert result.exit_code == 0, result.output
    assert "UTF-8" not in result.output
    assert "SC01_UNDLM_00412_V002.mov" in result.output


@pytest.mark.parametrize("as_json", [False, True])
def test_markup_in_a_name_is_printed_literally(as_json, servers):
    name = "SC01_UNDLM_00412_V002[bold].mov"
    result = runner.invoke(app, ["nomenclature", *(["--json"] if as_json else []), name])
    assert result.exit_code == 1, result.output
    assert name in result.output
    assert "Traceback" not in result.output


# 2. share: a missing file is said to be missing


def test_sharing_a_missing_file_says_it_does_not_exist(servers, tmp_path):
    missing = tmp_path / "absent.mov"
    line = _refused(runner.invoke(app, ["share", str(missing)]), servers)
    assert str(missing) in line
    assert "does not exist" in line


# 3. --since: not-a-number, infinite and out-of-range epochs are bad arguments


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "1e300", "9999999999999w"])
@pytest.mark.parametrize("command", ["report", "rerun", "status", "alerts"])
def test_a_since_that_is_not_a_time_is_a_bad_argument(command, value, servers):
    line = _refused(runner.invoke(app, [command, "--since", value]), servers)
    assert value in line
    assert "--since" in line


# 4. .env: undecodable bytes and unparsable lines


@pytest.mark.parametrize("args", [["--help"], ["status"], ["nomenclature", "x.mov"]])
def test_a_dotenv_that_is_not_utf8_is_one_line(args, tmp_path):
    (tmp_path / ".env").write_bytes(b"POSTFLOW_X=\xff\n")
    done = _postflow(tmp_path, *args)
    line = _one_line(done.stdout + done.stderr, done.returncode)
    assert str(tmp_path / ".env") in line
    assert "UTF-8" in line


def test_an_unparsable_dotenv_line_is_said_once(tmp_path):
    (tmp_path / ".env").write_text("garbage line without equals\n")
    done = _postflow(tmp_path, "nomenclature", "SC01_UNDLM_00412_V002.mov")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (done.stdout + done.stderr).count("could not parse") == 1, done.stderr


# 5. an unreachable PREFECT_API_URL is named, not reported as a bug


@pytest.mark.parametrize("command", ["rerun", "report", "alerts", "status"])
def test_an_unreachable_prefect_api_names_the_url(command, tmp_path):
    url = f"http://127.0.0.1:{postflow.serve.prefect_server.free_port()}/api"
    done = _postflow(tmp_path, command, PREFECT_API_URL=url)
    line = _one_line(done.stdout + done.stderr, done.returncode)
    assert url in line
    assert "PREFECT_API_URL" in line
    assert "a bug" not in line


# 6. validate: a watch path that is a file is red


def test_validate_is_red_when_the_watch_path_is_a_file(servers, monkeypatch, tmp_path):
    afile = tmp_path / "BY_SHOT"
    afile.write_text("x")
    monkeypatch.setenv("POSTFLOW_WATCH_PATH", str(afile))
    api = contextlib.nullcontext("http://127.0.0.1:9/api")  # validate runs without a server
    monkeypatch.setattr("postflow.cli.terminal.command_prefect_api", lambda _settings: api)
    monkeypatch.setattr("postflow.cli.admin._block_rows", lambda _settings: [])
    monkeypatch.setattr("postflow.cli.admin.console", Console(width=300))
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 1, result.output
    [row] = [line for line in result.output.splitlines() if str(afile) in line]
    assert "✗" in row
    assert "POSTFLOW_WATCH_PATH" in row


# 7. report --out below a regular file


def test_a_report_out_below_a_file_is_one_line(servers, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    line = _refused(runner.invoke(app, ["report", "--out", str(afile / "x")]), servers)
    assert str(afile / "x") in line
    assert "--out" in line


# 8. settings: retry delays out of order; a state dir below a regular file


def test_a_retry_max_delay_below_the_base_delay_is_refused(servers, monkeypatch):
    monkeypatch.setenv("POSTFLOW_RETRY_BASE_DELAY_SECONDS", "600")
    monkeypatch.setenv("POSTFLOW_RETRY_MAX_DELAY_SECONDS", "60")
    line = _refused(runner.invoke(app, ["status"]), servers)
    assert "POSTFLOW_RETRY_MAX_DELAY_SECONDS" in line
    assert "POSTFLOW_RETRY_BASE_DELAY_SECONDS" in line


@pytest.mark.parametrize("command", [["status"], ["cache", "stats"], ["report"], ["rerun"]])
def test_a_state_dir_below_a_file_names_the_setting(command, servers, monkeypatch, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setenv("POSTFLOW_STATE_DIR", str(afile / "state"))
    line = _refused(runner.invoke(app, command), servers)
    assert "POSTFLOW_STATE_DIR" in line
    assert str(afile) in line
