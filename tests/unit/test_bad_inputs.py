"""Bad input values refused before anything reaches Frame.io: each in one line naming it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from postflow.cli import app

runner = CliRunner()


def test_postflow_ingest_refuses_an_empty_file_in_one_line_with_exit_2(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("POSTFLOW_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "SC01_UNDLM_00412_V002.mov"
    path.write_bytes(b"")
    result = runner.invoke(app, ["ingest", str(path)], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "0 bytes" in lines[0] and path.name in lines[0], result.output
    assert "Traceback" not in result.output
