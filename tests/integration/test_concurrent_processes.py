"""Exactly one folder per path when ingests of one new shot run in separate processes.

Several processes may ingest at once (`postflow ingest`, two `up`s, process workers). Here six
processes, with the default
settings (file lock manager), import everything, wait at a barrier, and start ingesting at
the same instant against a sandbox slowed to 0.3 s per call: without a lock that holds
across processes, each of them lists the root, sees no SCENES and creates one.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integration.helpers import all_files, make_file, tree_paths
from tests.integration.test_deployments import ROOT, _env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INGEST_AT_BARRIER = """
import sys
from flows.ingest import ingest_file
print("ready", flush=True)
sys.stdin.readline()
sys.exit(0 if ingest_file(sys.argv[1], return_state=True).is_completed() else 1)
"""


@pytest.mark.timeout(300)
def test_six_ingest_processes_of_two_new_shots_make_one_folder_per_path(pipeline):
    paths = [
        make_file(pipeline.by_shot, f"SC31_RACE_0000{shot}_V00{version}.mov", 30_000, seed=n)
        for n, (shot, version) in enumerate((s, v) for s in (1, 2) for v in (1, 2, 3))
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", INGEST_AT_BARRIER, str(path)],
            cwd=ROOT,
            env=_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for path in paths
    ]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    pipeline.sandbox.set_latency(0.3)
    for process in processes:  # go
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outputs = [process.communicate(timeout=240)[0] for process in processes]
    pipeline.sandbox.set_latency(0)
    assert [p.returncode for p in processes] == [0] * 6, [o[-2000:] for o in outputs]
    tree = tree_paths(pipeline.project())
    assert [a.name for a in tree[""] if a.type == "folder"] == ["SCENES"]
    assert [a.name for a in tree["SCENES"]] == ["SC31"]
    assert sorted(a.name for a in tree["SCENES/SC31"]) == ["RACE_00001", "RACE_00002"]
    assert len(all_files(pipeline.project())) == 6
