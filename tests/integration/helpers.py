"""Small helpers shared by the integration tests."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from blocks.frameio_project import FrameioProject
from postflow.demo.media import GOOD_FILES


def make_file(folder: Path, name: str, size: int, seed: int = 0) -> Path:
    """Write ``size`` pseudo-random bytes (deterministic per seed) to ``folder/name``."""
    path = folder / name
    block = hashlib.sha256(f"{name}:{seed}".encode()).digest() * 4096  # 128 KiB pattern
    with path.open("wb") as handle:
        remaining = size
        while remaining:
            chunk = block[: min(len(block), remaining)]
            handle.write(chunk)
            remaining -= len(chunk)
    return path


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def tree_paths(project: FrameioProject) -> dict[str, list]:
    """Map 'SCENES/SC01/SHOT' -> list of assets directly under it (files, stacks, folders);
    version stacks are keyed as '<folder path>/<stack name>#stack'."""
    out: dict[str, list] = {}
    stack: list[str] = []
    for depth, asset in project.walk():
        del stack[depth:]
        parent = "/".join(stack)
        out.setdefault(parent, []).append(asset)
        if asset.type == "folder":
            stack.append(asset.name)
        elif asset.type == "version_stack":
            stack.append(f"{asset.name}#stack")
    return out


def all_files(project: FrameioProject) -> list:
    return [asset for _, asset in project.walk() if asset.type == "file"]


def assert_served_demo_landed(out: str) -> None:
    """What every `postflow demo` run through `postflow up` prints when it went well: no
    fallback to in-process mode, and every good render in the printed Frame.io tree."""
    assert "FALLBACK" not in out and "In-process mode" not in out, out[-6000:]
    assert "is running (deployment mode)" in out, out[-3000:]
    assert "all good files ingested: 4/4 in Frame.io, 1 unreadable name reported" in out
    tree = out[out.index("Frame.io tree") :]
    for name in GOOD_FILES:
        assert name in tree, tree[:3000]
    discord = out[out.index("Discord messages received") :]  # the review loop's round
    assert "uploaded · playable" in discord and "💬 Comment —" in discord, discord[:3000]
    assert "Review status: Approved —" in discord, discord[:3000]


def crashed_ingest_run(name: str) -> str:
    """A real ``ingest-file`` flow run that goes Running, then Crashed (as when its process
    dies and its runner reports it), so the automation's template has a flow run to show."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed, Running

    from flows.ingest import ingest_file

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(ingest_file, name=name, parameters={"path": f"/x/{name}"})
        client.set_flow_run_state(run.id, Running(), force=True)
        client.set_flow_run_state(run.id, Crashed(message="process died"), force=True)
    return str(run.id)


def prefect_cli(
    *args: str, env: Mapping[str, str], timeout_seconds: float = 300
) -> subprocess.CompletedProcess:
    """``python -m prefect <args>`` from the repository root with ``env``; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        env=dict(env),
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
    )
