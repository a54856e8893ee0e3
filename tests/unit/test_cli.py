"""`postflow` CLI contract: nomenclature output, the command list, help texts (CliRunner)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from postflow.cli.main import app

runner = CliRunner()
WIDE = {"COLUMNS": "200"}  # rich wraps help at the terminal width


def test_nomenclature_json_one_object_per_name_and_exit_1_on_error():
    names = ["SC01_UNDLM_00412_V002.mov", ".DS_Store", "RANDOM_RENDER_FINAL.mov"]
    result = runner.invoke(app, ["nomenclature", "--json", *names])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1
    assert lines[0] == {
        "file": "SC01_UNDLM_00412_V002.mov",
        "scene": "SC01",
        "shot": "UNDLM_00412",
        "version": 2,
        "extension": ".mov",
        "folder_path": ["SCENES", "SC01", "UNDLM_00412"],
        "rule": "scene_code_shot",
    }
    assert lines[1] == {"file": ".DS_Store", "ignored": "macOS Finder metadata"}
    assert set(lines[2]) == {"file", "error"}


def test_nomenclature_exit_0_when_all_names_parse_or_are_ignored():
    result = runner.invoke(
        app, ["nomenclature", "2EME_MAYDAY_EXT_-_NUIT_AMERICAINE_S03_V005.mp4", "Thumbs.db"]
    )
    assert result.exit_code == 0
    assert "2EME_MAYDAY_EXT_-_NUIT_AMERICAINE" in result.stdout
    assert "ignored" in result.stdout


COMMANDS = (
    "nomenclature",
    "ingest",
    "watch",
    "setup",
    "login",
    "automations",
    "rerun",
    "up",
    "sandbox",
    "share",
    "demo",
    # registered by postflow/cli/admin.py
    "health",
    "validate",
    "structure",
    "test-upload",
    "status",
    "report",
    "cache",
)


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"], env=WIDE)
    assert result.exit_code == 0
    listed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ")}
    assert set(COMMANDS) <= listed, set(COMMANDS) - listed


def test_share_help_explains_its_options():
    result = runner.invoke(app, ["share", "--help"], env=WIDE)
    assert result.exit_code == 0
    for text in ("PATH", "--ttl", "--no-tunnel", "Range", "Ctrl-C"):
        assert text in result.stdout


def test_share_refuses_a_missing_file(tmp_path):
    missing = tmp_path / "absent.mov"
    result = runner.invoke(app, ["share", str(missing), "--no-tunnel"])
    assert result.exit_code == 2
    assert str(missing) in result.stderr and "does not exist" in result.stderr


def test_demo_help_offers_the_in_process_fallback():
    result = runner.invoke(app, ["demo", "--help"], env=WIDE)
    assert result.exit_code == 0
    assert "--in-process" in result.stdout and "--keep-running" in result.stdout


def test_nomenclature_reports_a_name_that_is_not_utf8_on_a_strict_utf8_stdout(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    name = os.fsdecode(b"\xc9T\xc9_S09_V001.mov")  # Latin-1 bytes from an old Samba client
    root = Path(__file__).resolve().parents[2]
    code = "import sys; from postflow.cli.main import app; app()"
    result = subprocess.run(
        [sys.executable, "-c", code, "nomenclature", "--json", name],
        cwd=root,
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
        timeout=120,
    )
    assert result.returncode == 1, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr
    record = json.loads(result.stdout)
    assert record["file"] == "\\xc9T\\xc9_S09_V001.mov" and "UTF-8" in record["error"]


def test_uploads_are_multipart_unless_a_tunnel_is_asked_for():
    from config.settings import PostflowSettings
    from postflow.cli.terminal import public_tunnel_warning

    assert PostflowSettings().upload_strategy == "multipart"
    assert public_tunnel_warning(PostflowSettings()) is None
    assert (
        public_tunnel_warning(
            PostflowSettings(upload_strategy="auto", tunnel_mode="named", range_server_port=8790)
        )
        is None
    )
    warning = public_tunnel_warning(PostflowSettings(upload_strategy="auto"))
    assert warning is not None and "public" in warning and "tunnel_mode=named" in warning


def test_version_prints_the_installed_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("rl-postflow ")


def test_a_bug_is_one_line_exit_1_and_its_traceback_goes_to_a_file():
    import typer

    from postflow.cli.terminal import TRACEBACK_FILE, PostflowGroup

    broken = typer.Typer(cls=PostflowGroup)

    @broken.command()
    def boom() -> None:
        raise RuntimeError("the bug")

    @broken.command()
    def other() -> None:  # a second command keeps `boom` a subcommand
        """Unused."""

    result = runner.invoke(broken, ["boom"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "unexpected RuntimeError: the bug" in line and "Traceback" not in result.output
    assert "RuntimeError: the bug" in TRACEBACK_FILE.read_text(encoding="utf-8")
