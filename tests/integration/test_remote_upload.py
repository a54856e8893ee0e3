"""Remote upload: the sandbox pulling over HTTP, and end to end through the tunnel stand-in."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import xxhash
from frameio import Frameio
from frameio.types import FileRemoteUploadResponse

from blocks.frameio_project import FrameioProject
from blocks.range_server import RangeServer
from blocks.remote_endpoint import RemoteEndpoint
from blocks.tunnel import TunnelManager
from config.settings import PostflowSettings
from core.errors import FrameioRejected
from core.runtime import use_runtime
from flows.ingest import ingest_file
from postflow.sandbox.server import SandboxServer
from tasks.structure.naming import load_nomenclature
from tasks.upload.job import UploadJob, UploadResult
from tasks.upload.run import run_upload
from tests.integration.helpers import all_files, make_file, sha256_of
from tests.integration.remote_helpers import (
    events,
    free_port,
    install_fake_cloudflared,
    route_named_tunnel,
    wait_until,
)

pytestmark = pytest.mark.integration

NAME = "SC01_UNDLM_00412_V002.mov"
SIZE = 2_000_000
CHUNK = 256 * 1024
STATUS_POLL = 0.25  # seconds; under the 5 calls/s limit of upload status
FAST = {"restart_backoff_seconds": 0.05, "health_interval_seconds": 0.05, "stop_timeout_seconds": 2}


def _project(sandbox: SandboxServer) -> FrameioProject:
    client = Frameio(base_url=sandbox.url, token=sandbox.issue_access_token())
    return FrameioProject(client, sandbox.account_id, sandbox.project_id)


def _stored_sha(sandbox: SandboxServer, file_id: str) -> str:
    return hashlib.sha256(sandbox.stored_bytes(file_id)).hexdigest()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RangeServer, Path]]:
    with RangeServer(chunk_bytes=CHUNK) as server:
        yield server, make_file(tmp_path, NAME, SIZE)


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return install_fake_cloudflared(tmp_path, monkeypatch)


@pytest.fixture
def remote(pipeline, postflow_env, served, record) -> Iterator:
    """The pipeline set to upload_strategy=remote, a shot folder, a tunnel to the server."""
    postflow_env(upload_strategy="remote")
    pipeline.sandbox.state.remote.config.chunk_bytes = CHUNK
    project = pipeline.project()
    pipeline.folder_id = project.create_folder(project.root_folder_id, "UNDLM_00412").id
    pipeline.server, pipeline.source = served
    settings = PostflowSettings()
    pipeline.settings = settings
    pipeline.nomenclature = load_nomenclature(
        settings.nomenclature_path, settings.extensions, settings.ignore_patterns
    )
    pipeline.shot = pipeline.nomenclature.parse(str(pipeline.source))
    with TunnelManager(pipeline.server.url, **FAST) as tunnel:
        pipeline.tunnel = tunnel
        yield pipeline


def _upload(env) -> UploadResult:
    job = UploadJob(str(env.source), env.shot, env.folder_id, env.nomenclature, env.settings)
    return run_upload(env.project(), job, RemoteEndpoint(env.server, env.tunnel))


# --- the sandbox as a remote-upload puller --------------------------------------------------
def test_sandbox_answers_202_with_a_created_file_and_a_status_link(sandbox, served) -> None:
    server, source = served
    url = f"{sandbox.url}/v4/accounts/{sandbox.account_id}/folders/{sandbox.root_folder_id}"
    response = httpx.post(
        f"{url}/files/remote_upload",
        json={"data": {"name": NAME, "source_url": server.share(source).local_url}},
        headers={"Authorization": f"Bearer {sandbox.issue_access_token()}"},
    )
    body = FileRemoteUploadResponse.model_validate(response.json())
    assert response.status_code == 202
    assert body.data.status == "created" and body.data.name == NAME
    assert body.links["status"] == f"/v4/accounts/{sandbox.account_id}/files/{body.data.id}/status"


def test_sandbox_pulls_in_ranged_chunks_and_stores_identical_bytes(sandbox, served) -> None:
    server, source = served
    sandbox.state.remote.config.chunk_bytes = CHUNK
    project = _project(sandbox)
    created = project.create_remote_upload(
        project.root_folder_id, NAME, server.share(source).local_url
    )
    assert wait_until(
        lambda: project.upload_status(created.id).upload_complete, interval_seconds=STATUS_POLL
    )
    assert _stored_sha(sandbox, created.id) == sha256_of(source)
    assert server.stats()["partial_responses"] == math.ceil(SIZE / CHUNK)
    assert project.show_file(created.id).file_size == SIZE


def test_sandbox_resumes_a_dropped_pull_from_where_it_stopped(
    sandbox, served, record, monkeypatch
) -> None:
    server, source = served
    monkeypatch.setenv("FAKE_CLOUDFLARED_CUT_ONCE_AFTER_BYTES", str(CHUNK + 1000))
    project = _project(sandbox)
    with TunnelManager(server.url, **FAST) as tunnel:
        url = tunnel.public_url(server.share(source).url_path)
        created = project.create_remote_upload(project.root_folder_id, NAME, url)
        assert wait_until(
            lambda: project.upload_status(created.id).upload_complete, interval_seconds=STATUS_POLL
        )
    assert [e["event"] for e in events(record)].count("cut") == 1
    assert sandbox.state.remote.counters["resumes"] == 1
    assert _stored_sha(sandbox, created.id) == sha256_of(source)


def test_sandbox_reports_upload_failed_when_the_source_is_unreachable(sandbox) -> None:
    project = _project(sandbox)
    created = project.create_remote_upload(
        project.root_folder_id, NAME, "http://127.0.0.1:9/f/gone/SC01_UNDLM_00412_V002.mov"
    )
    assert wait_until(
        lambda: project.upload_status(created.id).upload_failed, interval_seconds=STATUS_POLL
    )
    assert not project.upload_status(created.id).upload_complete
    assert "HEAD" in (sandbox.state.remote.failure_reason(created.id) or "")


def test_sandbox_rejects_a_source_url_that_is_not_http(sandbox) -> None:
    project = _project(sandbox)
    with pytest.raises(FrameioRejected) as refused:
        project.create_remote_upload(project.root_folder_id, NAME, "file:///etc/passwd")
    assert refused.value.status_code == 422
    assert sandbox.tree()["root"]["children"] == []


# --- end to end through the tunnel stand-in ------------------------------------------------
@pytest.fixture
def fresh_endpoint() -> Iterator[None]:
    """No process-wide Range server/tunnel left from an earlier test (each test's PATH and
    stand-in settings differ); stopped again afterwards so no stand-in outlives the test."""
    with use_runtime():
        yield


def _fields(message: dict) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message["payload"]["embeds"][0]["fields"]}


def test_ingest_with_remote_strategy_is_pulled_through_the_tunnel(
    pipeline, postflow_env, record, fresh_endpoint
) -> None:
    postflow_env(upload_strategy="remote")
    pipeline.sandbox.state.remote.config.chunk_bytes = CHUNK
    source = make_file(pipeline.by_shot, NAME, SIZE)
    result = ingest_file(str(source))
    assert result["strategy"] == "remote"
    assert result["strategy_reason"].startswith("remote: tunnel healthy, 2.0 MB")
    assert _stored_sha(pipeline.sandbox, result["file_id"]) == sha256_of(source)
    assert result["fingerprint"] == xxhash.xxh3_128_hexdigest(source.read_bytes())
    assert pipeline.sandbox.state.remote.counters["pulls"] >= 1
    [message] = pipeline.discord.wait_for(1, timeout_seconds=10)
    assert _fields(message)["Upload"] == "remote"
    assert _fields(message)["Why"] == result["strategy_reason"]


def test_ingest_falls_back_to_multipart_when_the_tunnel_dies(
    pipeline, postflow_env, record, fresh_endpoint, monkeypatch
) -> None:
    postflow_env(upload_strategy="auto")
    pipeline.sandbox.state.remote.config.chunk_bytes = CHUNK
    monkeypatch.setenv("FAKE_CLOUDFLARED_DIE_AFTER_BYTES", str(SIZE // 2))
    source = make_file(pipeline.by_shot, NAME, SIZE)
    result = ingest_file(str(source))
    assert result["strategy"] == "multipart"
    assert result["strategy_reason"].startswith("fallback: remote upload failed:")
    assert [e["event"] for e in events(record)].count("die") == 1
    assert [f.id for f in all_files(pipeline.project())] == [result["file_id"]]
    assert _stored_sha(pipeline.sandbox, result["file_id"]) == sha256_of(source)


def test_tunnel_dying_mid_transfer_falls_back_to_multipart_once(remote, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_CLOUDFLARED_DIE_AFTER_BYTES", str(SIZE // 2))
    remote.tunnel.stop()
    with TunnelManager(remote.server.url, **FAST) as tunnel:
        remote.tunnel = tunnel
        result = _upload(remote)
    assert result.strategy == "multipart"
    assert result.strategy_reason.startswith("fallback: remote upload failed:")
    assert [f.id for f in all_files(remote.project())] == [result.file_id]
    assert _stored_sha(remote.sandbox, result.file_id) == sha256_of(remote.source)


def test_a_second_upload_of_the_same_file_is_skipped(remote) -> None:
    first = _upload(remote)
    second = _upload(remote)
    assert (first.strategy, second.strategy) == ("remote", "skipped")
    assert second.file_id == first.file_id
    assert len(all_files(remote.project())) == 1


# --- a named tunnel routed by its ingress rule, to this process or to another ----------------
def _named_tunnel_env(pipeline, postflow_env, tmp_path, monkeypatch, rule_port: int, port: int):
    from prefect.blocks.system import Secret

    block = "postflow-test-remote-named-token"
    Secret(value="named-tunnel-token").save(block, overwrite=True)
    hostname = route_named_tunnel(tmp_path, monkeypatch, rule_port)
    postflow_env(
        upload_strategy="auto",
        tunnel_mode="named",
        tunnel_hostname=hostname,
        tunnel_token_block=block,
        range_server_port=port,
    )
    pipeline.sandbox.state.remote.config.chunk_bytes = CHUNK


def test_ingest_through_a_named_tunnel_routed_to_this_process_is_pulled(
    pipeline, postflow_env, record, tmp_path, monkeypatch
) -> None:
    port = free_port()
    _named_tunnel_env(pipeline, postflow_env, tmp_path, monkeypatch, rule_port=port, port=port)
    source = make_file(pipeline.by_shot, NAME, SIZE)
    result = ingest_file(str(source))
    assert result["strategy"] == "remote"
    assert _stored_sha(pipeline.sandbox, result["file_id"]) == sha256_of(source)
    assert pipeline.sandbox.state.remote.counters["pulls"] >= 1


def test_ingest_through_a_named_tunnel_routed_to_another_process_lands_by_multipart(
    pipeline, postflow_env, record, tmp_path, monkeypatch, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="postflow.tunnel")
    with RangeServer() as other:
        _named_tunnel_env(
            pipeline, postflow_env, tmp_path, monkeypatch, rule_port=other.port, port=free_port()
        )
        sources = [make_file(pipeline.by_shot, f"SC01_UNDLM_0041{n}_V002.mov", SIZE) for n in "23"]
        results = [ingest_file(str(source)) for source in sources]
        other_requests = other.stats()["requests"]
    off = [r.getMessage() for r in caplog.records if "remote upload off" in r.getMessage()]
    assert [r["strategy"] for r in results] == ["multipart", "multipart"]
    assert all("another process answers" in r["strategy_reason"] for r in results)
    assert len(off) == 1 and "another process answers" in off[0]
    assert other_requests == 0  # Frame.io never pulled a file from the other process
    for result, source in zip(results, sources, strict=True):
        assert _stored_sha(pipeline.sandbox, result["file_id"]) == sha256_of(source)
