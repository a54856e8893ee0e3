"""The weekly report on a real Prefect history: ingests against the sandbox, some failing by
injected faults, then the report flow reading them back from the Prefect API."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from matplotlib import image

from flows.ingest import ingest_file
from flows.report import weekly_optimisation_report
from tasks.observe.telemetry import read_ingest_history, waiting_ingest_runs
from tests.integration.helpers import make_file
from tests.integration.readback import save_discord_block

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GOOD, AUTH_FAILURES, BAD_NAMES = 17, 2, 1  # 3 failures of 20 -> 15 %
SHOTS = ("ALPHA_00001", "BRAVO_00001", "CHARLIE_00001", "DELTA_00001")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _forget_waiting_runs_of_earlier_tests() -> None:
    """The report counts every ingest run still waiting, whenever it was made; a deployment
    test earlier on this test server (its own, not a user's) can leave one Scheduled. Seen in
    a CI-like run: 21 runs counted for the 20 seeded."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for run in waiting_ingest_runs():
            client.delete_flow_run(run.id)


def _wait_for_history(since: datetime, runs: int, events: int, structure: int) -> None:
    """Task runs and events reach the Prefect DB asynchronously: wait until all are there
    (a bounded wait for data to arrive, not a timing assertion)."""
    deadline = time.monotonic() + 30
    while True:
        history = read_ingest_history(since, datetime.now(UTC))
        finished = [t for t in history.task_runs if t["state_name"] in ("Completed", "Cached")]
        seen = (
            len(history.runs),
            len(history.events),
            sum(t["task"] == "ensure-folder" for t in finished),
        )
        if seen >= (runs, events, structure) or time.monotonic() > deadline:
            assert seen == (runs, events, structure)
            return
        time.sleep(0.3)


def _seed(sandbox, by_shot: Path, set_env) -> None:
    """20 real ingests: 2 refused by Frame.io (403), 17 land (one 503 on the first folder
    creation, two 429s on upload creation), 1 unreadable name."""
    # Structure cache on; per-file Discord embeds off while seeding (no such Discord block: the
    # report's message is tested).
    set_env(structure_cache_ttl_seconds=3600, task_retries=1)
    sandbox.inject_status(503, count=1, path=r".*/folders/.*/folders$", method="POST")
    for i in range(AUTH_FAILURES):
        sandbox.inject_status(403, count=1, path=r".*/files/local_upload$")
        path = make_file(by_shot, f"SC09_{SHOTS[i]}_V{i + 1:03d}.mov", 60_000, seed=i)
        assert ingest_file(str(path), return_state=True).is_failed()
    sandbox.inject_status(429, count=2, path=r".*/files/local_upload$", retry_after_seconds=0)
    for i in range(GOOD):
        name = f"SC09_{SHOTS[i % len(SHOTS)]}_V{10 + i:03d}.mov"
        assert ingest_file(str(make_file(by_shot, name, 300_000, seed=i)))["file_id"]
    bad = make_file(by_shot, "RANDOM_RENDER_FINAL.mov", 10_000)
    assert ingest_file(str(bad), return_state=True).is_failed()


@pytest.fixture(scope="module")
def report(prefect_harness, tmp_path_factory):
    """Seed a history once for the module, then run the report over exactly that window;
    returns a namespace with ``result``, ``discord`` and ``out_dir``."""
    from core.runtime import current_runtime
    from postflow.sandbox.discord_receiver import DiscordReceiver
    from postflow.sandbox.server import SandboxServer

    tmp = tmp_path_factory.mktemp("report")
    (tmp / "BY_SHOT").mkdir()
    with (
        SandboxServer(tmp / "sandbox", target_part_bytes=256 * 1024) as sandbox,
        DiscordReceiver() as discord,
        pytest.MonkeyPatch.context() as patch,
    ):

        def set_env(**values: object) -> None:
            for name, value in values.items():
                patch.setenv(f"POSTFLOW_{name.upper()}", str(value))

        set_env(
            state_dir=tmp / "state",
            watch_path=tmp / "BY_SHOT",
            frameio_api_base_url=sandbox.url,
            frameio_ims_base_url=sandbox.url,
            frameio_account_id=sandbox.account_id,
            frameio_project_id=sandbox.project_id,
            frameio_client_id=sandbox.client_id,
            frameio_client_secret=sandbox.client_secret,
            frameio_credentials_block="postflow-test-absent-block",
            discord_block="postflow-test-absent-discord",
            tuning_block="postflow-test-absent-tuning",
            task_retry_backoff_seconds=0.2,
        )
        current_runtime().forget("project")
        _forget_waiting_runs_of_earlier_tests()
        since = datetime.now(UTC) - timedelta(seconds=1)
        _seed(sandbox, tmp / "BY_SHOT", set_env)
        # 20 runs, 20 upload events; 19 runs reached the structure step x 3 levels
        _wait_for_history(since, runs=20, events=20, structure=57)
        set_env(discord_block=save_discord_block(discord.webhook_url))
        out_dir = tmp / "reports"
        result = weekly_optimisation_report(since=since.isoformat(), out_dir=str(out_dir))
        yield SimpleNamespace(result=result, discord=discord, out_dir=out_dir)
    current_runtime().forget("project")


def test_report_figures_match_the_injected_history(report):
    result = report.result
    s = result["summary"]
    assert (s["runs_finished"], s["files_ingested"], s["failed"]) == (20, 17, 3)
    assert s["error_rate"] == pytest.approx(0.15)
    assert s["unparseable_names"] == 1
    assert s["rate_limited_429"] == 2
    assert s["task_retries"] == 1  # the 503 on the first folder creation
    # 57 look-ups: SCENES, SC09 and 4 shot folders executed once each, the rest cached
    assert s["cache_hit_rate"] == pytest.approx(51 / 57)
    assert s["megabytes_per_second_p95"] >= s["megabytes_per_second_median"] > 0
    assert s["rss_mb_max"] > 0


def test_error_rate_recommendation_fires_and_cache_is_fine(report):
    result = report.result
    messages = result["recommendations"]
    assert any(m.startswith("Ingest error rate 15.0%") for m in messages)
    assert not any("cache hit rate" in m for m in messages)
    assert not any(m.startswith("All good") for m in messages)


def test_csv_has_one_row_per_ingest_run(report):
    result, out_dir = report.result, report.out_dir
    rows = list(csv.DictReader(io.StringIO(Path(result["csv"]).read_text())))
    assert Path(result["csv"]).parent == out_dir
    assert len(rows) == 20
    assert sorted(r["error_type"] for r in rows if r["error_type"]) == [
        "FrameioAuthError",
        "FrameioAuthError",
        "NamingError",
    ]
    assert sum(r["strategy"] == "multipart" for r in rows) == 17


def test_chart_is_a_valid_png(report):
    result = report.result
    data = Path(result["chart"]).read_bytes()
    assert data.startswith(PNG_MAGIC)
    pixels = image.imread(result["chart"])
    assert pixels.shape[:2] == (500, 1000)  # 10 x 5 inches at 100 dpi


def test_discord_gets_the_summary_with_the_chart_attached(report):
    result = report.result
    [message] = report.discord.wait_for(1, timeout_seconds=10)
    embed = message["payload"]["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    chart = Path(result["chart"])
    assert result["discord_sent"] is True
    assert embed["title"].startswith("Weekly optimisation report")
    assert fields["Error rate"] == "15.0 %" and fields["Files ingested"] == "17"
    assert embed["image"]["url"] == f"attachment://{chart.name}"
    assert message["files"] == {chart.name: chart.read_bytes()}
