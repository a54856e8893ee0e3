"""``--json`` on every command that prints data: stdout carries only JSON (issue 21).

The commands are enumerated from the typer app (as in ``test_cli_bad_arguments.py``); the ones
that gained ``--json`` run against the sandbox, the Prefect test server and the Discord
receiver (the ``pipeline`` fixture), and their stdout must parse as JSON with the said keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner, Result

from flows.ingest import ingest_file
from postflow.cli.main import app
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration
runner = CliRunner()

# Every command that prints data; the others (setup, login, up, watch, share, sandbox, demo,
# settings, cache clear) print progress or documents, not records.
DATA_COMMANDS = {
    "nomenclature",
    "health",
    "structure",
    "projects",
    "status",
    "alerts",
    "manifest",
    "validate",
    "cache stats",
    "rerun",
    "report",
    "ingest",
    "test-upload",
    "automations apply",
}


def _leaves(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, TyperGroup):
            yield from _leaves(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


COMMANDS = dict(_leaves(typer.main.get_command(app)))


def _json_help(command: Any) -> str | None:
    """The help of ``command``'s ``--json`` option, or None without one."""
    found = [p for p in command.params if "--json" in getattr(p, "opts", ())]
    return (found[0].help or "") if found else None


def test_every_data_command_has_a_json_option_that_says_what_it_holds():
    assert set(COMMANDS) >= DATA_COMMANDS, DATA_COMMANDS - set(COMMANDS)
    missing = sorted(name for name in DATA_COMMANDS if _json_help(COMMANDS[name]) is None)
    assert not missing, f"no --json on {missing}"
    for name in DATA_COMMANDS:
        assert "JSON" in (_json_help(COMMANDS[name]) or ""), name


def _since_now() -> str:
    return (datetime.now(UTC) - timedelta(seconds=1)).isoformat()


def _one(result: Result) -> dict[str, Any]:
    """The single JSON object of ``result``'s stdout (nothing else may be there)."""
    [line] = result.stdout.splitlines()
    document = json.loads(line)
    assert isinstance(document, dict)
    return document


@pytest.fixture
def cli(pipeline):
    """``cli("validate", "--json")`` -> the CliRunner result, with the pipeline's settings."""
    return lambda *args: runner.invoke(app, list(args))


def test_validate_json_holds_the_verdict_and_each_check(cli):
    result = cli("validate", "--json")
    assert result.exit_code == 0, result.output
    document = _one(result)
    assert document["valid"] is True
    assert {"ok", "item", "detail"} <= set(document["checks"][0])
    assert any(check["item"] == "rule scene_code_shot" for check in document["checks"])


def test_validate_json_exits_1_when_a_rule_is_invalid(cli, postflow_env, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rules]]\nname = "bare"\npattern = \'(?P<scene>SC\\d+)_(?P<shot>\\w+?)'
        "_V(?P<version>\\d+)'\n"
    )
    postflow_env(nomenclature_path=rules)
    result = cli("validate", "--json")
    assert result.exit_code == 1, result.output
    document = _one(result)
    assert document["valid"] is False
    assert any(not c["ok"] and "no example" in c["detail"] for c in document["checks"])


def test_ingest_and_cache_stats_json(cli, pipeline, postflow_env, tmp_path):
    postflow_env(structure_cache_ttl_seconds=3600, structure_cache_dir=tmp_path / "cache")
    source = make_file(pipeline.by_shot, "SC07_JSON_00001_V001.mov", 30_000)
    ingested = cli("ingest", "--json", str(source))
    assert ingested.exit_code == 0, ingested.output
    record = _one(ingested)
    assert (record["scene"], record["shot"], record["version"]) == ("SC07", "JSON_00001", 1)
    assert {"file", "strategy", "size_bytes", "view_url", "folder_id"} <= set(record)
    stats = cli("cache", "stats", "--json", "--since", _since_now())
    assert stats.exit_code == 0, stats.output
    figures = _one(stats)
    assert (figures["entries"], figures["expired"], figures["others"]) == (3, 0, 0)
    assert {"folder", "since", "hit_rate", "lookups"} <= set(figures)


def test_test_upload_json_holds_the_figures_and_the_diagnosis(cli, pipeline, tmp_path):
    source = make_file(tmp_path, "probe_v005.mov", 600_000)
    result = cli("test-upload", "--json", str(source), "SC04", "PROBE_00003")
    assert result.exit_code == 0, result.output
    document = _one(result)  # the progress bar went to stderr
    assert document["strategy"] == "multipart" and document["diagnosis"] == "healthy upload"
    assert document["size_bytes"] == 600_000 and document["file"] == "probe_v005.mov"
    [uploaded] = all_files(pipeline.project())
    assert uploaded.name == "probe_v005.mov"


def test_report_json_holds_the_figures_and_the_files_written(cli, tmp_path):
    out = tmp_path / "reports"
    result = cli("report", "--json", "--since", _since_now(), "--out", str(out))
    assert result.exit_code == 0, result.output
    document = _one(result)
    assert {"since", "summary", "recommendations", "csv", "chart"} <= set(document)
    assert Path(document["chart"]).parent == out and Path(document["chart"]).is_file()
    assert Path(document["csv"]).is_file()


def test_rerun_json_one_object_per_file_with_and_without_dry_run(cli, pipeline, postflow_env):
    postflow_env(task_retries=0)
    failed = make_file(pipeline.by_shot, "SC08_JSON_00001_V001.mov", 90_000, seed=4)
    pipeline.sandbox.inject_status(403, count=1, path=r".*/files/local_upload$")
    assert ingest_file(str(failed), return_state=True).is_failed()
    pipeline.sandbox.clear_faults()

    preview = cli("rerun", "--json", "--dry-run", "--since", "1h", "--scene", "SC08")
    assert preview.exit_code == 0, preview.output
    assert [json.loads(line) for line in preview.stdout.splitlines()] == [
        {"path": str(failed), "scene": "SC08", "shot": "JSON_00001", "action": "would rerun"}
    ]
    done = cli("rerun", "--json", "--since", "1h", "--scene", "SC08")
    assert done.exit_code == 0, done.output
    assert [json.loads(line)["action"] for line in done.stdout.splitlines()] == ["rerun: Completed"]
    nothing = cli("rerun", "--json", "--since", "1h", "--scene", "SC08")
    assert nothing.exit_code == 0 and nothing.stdout == ""


def test_automations_apply_json_names_the_automations_applied(cli, postflow_env):
    from prefect.client.orchestration import get_client

    postflow_env(installation="postflow-json-test")
    result = cli("automations", "apply", "--json")
    try:
        assert result.exit_code == 0, result.output
        document = _one(result)
        assert document["installation"] == "postflow-json-test"
        assert document["applied"]
        assert all(name.startswith("postflow-json-test-") for name in document["applied"])
    finally:
        with get_client(sync_client=True) as client:
            for automation in client.read_automations():
                if automation.name.startswith("postflow-json-test-"):
                    client.delete_automation(automation.id)
