"""Admin commands through typer's CliRunner against the sandbox and the Prefect test server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from flows.ingest import ingest_file
from postflow.cli import admin, upload_check
from postflow.cli import cache as cache_cli
from postflow.cli.main import app
from tests.integration.helpers import all_files, make_file
from tests.integration.remote_helpers import install_fake_cloudflared

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Rich wraps at 80 columns off a terminal; keep check names on one line."""
    for module in (admin, cache_cli, upload_check):
        monkeypatch.setattr(module, "console", Console(width=200))


@pytest.fixture
def cli(pipeline):
    """``cli("health")`` -> the CliRunner result, with the pipeline's settings."""
    return lambda *args: runner.invoke(app, list(args))


def _since_now() -> str:
    return (datetime.now(UTC) - timedelta(seconds=1)).isoformat()


def test_health_is_healthy_against_the_sandbox(cli):
    result = cli("health")
    assert result.exit_code == 0, result.output
    assert "Healthy" in result.output
    assert "Frame.io reachable, token valid" in result.output
    assert "Score: " in result.output


def test_health_fails_and_names_frameio_when_the_sandbox_is_down(cli, pipeline):
    pipeline.sandbox.stop()
    result = cli("health")
    assert result.exit_code == 1
    [verdict] = [line for line in result.output.splitlines() if line.startswith("Unhealthy:")]
    assert "Frame.io reachable, token valid" in verdict
    assert "Prefect API" not in verdict and "Watch folder" not in verdict


def test_health_fails_when_the_watch_folder_is_missing(cli, postflow_env, tmp_path):
    postflow_env(watch_path=tmp_path / "nowhere")
    result = cli("health")
    assert result.exit_code == 1
    assert "Unhealthy: Watch folder readable" in result.output


def test_validate_checks_every_rule_and_the_blocks(cli):
    result = cli("validate")
    assert result.exit_code == 0, result.output
    for rule in ("scene_code_shot", "scene_title_shot", "project_sequence_shot"):
        assert f"rule {rule}" in result.output
    assert "SC01_UNDLM_00412_V002.mov → SCENES/SC01/UNDLM_00412" in result.output


def test_validate_fails_on_a_rule_without_example(cli, postflow_env, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rules]]\nname = "bare"\npattern = \'(?P<scene>SC\\d+)_(?P<shot>\\w+?)'
        "_V(?P<version>\\d+)'\n"
    )
    postflow_env(nomenclature_path=rules)
    result = cli("validate")
    assert result.exit_code == 1
    assert "no example" in result.output


def test_status_counts_files_by_their_latest_run(cli, pipeline, postflow_env):
    since = _since_now()
    postflow_env(task_retries=0)
    ingest_file(str(make_file(pipeline.by_shot, "SC01_UNDLM_00412_V001.mov", 50_000)))
    pipeline.sandbox.inject_status(403, count=1, path=r".*/files/local_upload$")
    bad = make_file(pipeline.by_shot, "SC01_UNDLM_00412_V002.mov", 50_000)
    assert ingest_file(str(bad), return_state=True).is_failed()
    result = cli("status", "--since", since)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "│" in line]
    counts = rows[-1].split("│")[1:-1]
    assert [int(c) for c in counts] == [0, 0, 1, 1, 0]  # pending running failed done cancelled
    assert "Frame.io circuit: closed; retry queue: 0 waiting" in result.output


def test_structure_prints_scenes_shots_and_versions(cli, pipeline):
    for version in (1, 2):
        name = f"SC02_TREE_00001_V00{version}.mov"
        ingest_file(str(make_file(pipeline.by_shot, name, 30_000)))
    result = cli("structure", "--depth", "5")
    assert result.exit_code == 0, result.output
    for text in (
        "SCENES/",
        "SC02/",
        "TREE_00001/",
        "(version stack)",
        "SC02_TREE_00001_V001.mov",
        "SC02_TREE_00001_V002.mov",
    ):
        assert text in result.output


def _table_rows(output: str) -> dict[str, str]:
    """``{label: value}`` of a two-column rich table without header."""
    return {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in output.splitlines()
        if line.count("│") == 3
    }


def test_cache_stats_and_selective_clear(cli, pipeline, postflow_env, tmp_path):
    postflow_env(structure_cache_ttl_seconds=3600, structure_cache_dir=tmp_path / "cache")
    record = ingest_file(str(make_file(pipeline.by_shot, "SC03_CACHE_00001_V001.mov", 30_000)))
    stats = cli("cache", "stats", "--since", _since_now())
    assert stats.exit_code == 0, stats.output
    rows = _table_rows(stats.output)
    assert (rows["entries"], rows["expired"]) == ("3", "0")  # SCENES, SC03, CACHE_00001
    refused = runner.invoke(app, ["cache", "clear"], input="n\n")
    assert refused.exit_code == 1 and "Delete 3 of 3" in refused.output
    cleared = cli("cache", "clear", "--pattern", record["folder_id"], "--yes")
    assert "Removed 1 of 3" in cleared.output
    assert "Removed 2 of 2" in runner.invoke(app, ["cache", "clear"], input="y\n").output


def _plant_foreign_record() -> Path:
    """Run an unrelated flow whose cached task persists a JSON result (the shape of ours)."""
    from prefect import flow, task
    from prefect.cache_policies import INPUTS

    @task(cache_policy=INPUTS, result_serializer="json", persist_result=True)
    def other_task(text: str) -> str:
        return f"not postflow's {text}"

    @flow
    def other_flow() -> str:
        return other_task("folder")

    other_flow()
    [record] = [p for p in storage_path().iterdir() if p.suffix != ".lock"]
    return record


def storage_path() -> Path:
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH

    return Path(PREFECT_RESULTS_LOCAL_STORAGE_PATH.value())


def test_cache_clear_in_the_default_storage_removes_only_our_records(
    cli, pipeline, postflow_env, tmp_path
):
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    postflow_env(structure_cache_ttl_seconds=3600)  # no structure_cache_dir: Prefect's storage
    with temporary_settings(updates={PREFECT_RESULTS_LOCAL_STORAGE_PATH: tmp_path / "storage"}):
        foreign = _plant_foreign_record()
        content = foreign.read_bytes()
        ingest_file(str(make_file(pipeline.by_shot, "SC03_OURS_00001_V001.mov", 30_000)))
        rows = _table_rows(cli("cache", "stats", "--since", _since_now()).output)
        assert (rows["entries"], rows["other files (not ours)"]) == ("3", "1")
        cleared = cli("cache", "clear", "--yes")
        assert "Removed 3 of 3" in cleared.output, cleared.output
        assert "1 other file(s) there left alone" in cleared.output
        left = [p for p in storage_path().iterdir() if p.suffix != ".lock"]
    assert left == [foreign] and foreign.read_bytes() == content


def test_test_upload_sends_one_file_and_diagnoses(cli, pipeline, tmp_path):
    source = make_file(tmp_path, "probe_v003.mov", 600_000)
    result = cli("test-upload", str(source), "SC04", "PROBE_00001")
    assert result.exit_code == 0, result.output
    assert "multipart" in result.output and "healthy upload" in result.output
    [uploaded] = all_files(pipeline.project())
    assert uploaded.name == "probe_v003.mov" and uploaded.file_size == 600_000


def test_test_upload_remote_is_pulled_through_the_tunnel(cli, pipeline, tmp_path, monkeypatch):
    install_fake_cloudflared(tmp_path, monkeypatch)
    source = make_file(tmp_path, "probe_v004.mov", 600_000)
    result = cli("test-upload", str(source), "SC04", "PROBE_00002", "--strategy", "remote")
    assert result.exit_code == 0, result.output
    assert "remote: tunnel healthy" in result.output
    [uploaded] = all_files(pipeline.project())
    assert pipeline.sandbox.stored_bytes(uploaded.id) == source.read_bytes()


def test_report_command_on_an_empty_window_says_all_good(cli, tmp_path):
    result = cli("report", "--since", _since_now(), "--out", str(tmp_path / "reports"))
    assert result.exit_code == 0, result.output
    assert "All good" in result.output
    assert len(list((tmp_path / "reports").glob("*.png"))) == 1


def test_projects_lists_what_the_credentials_see_as_text_and_json(cli, pipeline):
    import json

    result = cli("projects")
    assert result.exit_code == 0, result.output
    assert pipeline.sandbox.project_id in result.output
    assert f"POSTFLOW_FRAMEIO_PROJECT_ID={pipeline.sandbox.project_id}" in result.output
    listed = json.loads(cli("projects", "--json").stdout)
    assert [(p["account_id"], p["project_id"]) for p in listed] == [
        (pipeline.sandbox.account_id, pipeline.sandbox.project_id)
    ]
    assert listed[0]["workspace_id"] and listed[0]["project_name"]


def test_health_status_and_structure_speak_json(cli, pipeline):
    import json

    ingest_file(str(make_file(pipeline.by_shot, "SC05_JSON_00001_V001.mov", 30_000)))
    health = json.loads(cli("health", "--json").stdout)
    assert health["healthy"] is True and 0 < health["score"] <= 100
    assert {"name", "ok", "detail", "fix", "required"} <= set(health["checks"][0])
    status = json.loads(cli("status", "--json", "--since", "1h").stdout)
    assert status["counts"]["done"] >= 1 and status["circuit"]["state"] == "closed"
    tree = json.loads(cli("structure", "--json").stdout)
    assert tree["project"]["id"] == pipeline.sandbox.project_id
    names = {(item["level"], item["name"]) for item in tree["items"]}
    assert {(0, "SCENES"), (1, "SC05"), (2, "JSON_00001")} <= names


def test_ingest_reports_upload_progress_to_a_listener(pipeline, postflow_env):
    from tasks.upload.run import progress_for

    postflow_env(upload_progress_log_bytes=100_000)
    source = make_file(pipeline.by_shot, "SC06_PROG_00001_V001.mov", 700_000)
    sent: list[int] = []
    with progress_for(str(source), sent.append):
        ingest_file(str(source))
    assert sum(sent) >= 700_000 and len(sent) > 1
    result = runner.invoke(
        app, ["ingest", str(make_file(pipeline.by_shot, "SC06_PROG_00001_V002.mov", 700_000))]
    )
    assert result.exit_code == 0, result.output
