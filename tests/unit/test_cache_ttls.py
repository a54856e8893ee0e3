"""Cache TTLs from settings (the tuning block's defaults): naming rules and the project client."""

from __future__ import annotations

import os
import shutil

import pytest

from blocks import frameio_project
from blocks.frameio_project import open_project
from config.settings import PostflowSettings
from tasks import naming
from tasks.naming import DEFAULT_NOMENCLATURE_PATH, load_nomenclature


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(naming.time, "monotonic", fake)
    monkeypatch.setattr(frameio_project.time, "monotonic", fake)
    return fake


@pytest.fixture
def rules(tmp_path):
    path = tmp_path / "nomenclature.toml"
    shutil.copy(DEFAULT_NOMENCLATURE_PATH, path)
    return path


def test_rules_are_reused_within_the_ttl_and_read_again_after(clock, rules):
    first = load_nomenclature(rules, ttl_seconds=7200)
    clock.now += 7100
    assert load_nomenclature(rules, ttl_seconds=7200) is first
    clock.now += 200
    assert load_nomenclature(rules, ttl_seconds=7200) is not first


def test_an_edited_rules_file_is_read_again_at_once(clock, rules):
    first = load_nomenclature(rules, ttl_seconds=7200)
    stat = rules.stat()
    os.utime(rules, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_nomenclature(rules, ttl_seconds=7200) is not first


@pytest.fixture
def project_settings(monkeypatch):
    frameio_project._projects.clear()
    for name, value in {
        "FRAMEIO_ACCOUNT_ID": "acc", "FRAMEIO_PROJECT_ID": "proj", "FRAMEIO_CLIENT_ID": "cid",
        "FRAMEIO_CLIENT_SECRET": "not-a-real-secret",
        "FRAMEIO_CREDENTIALS_BLOCK": "postflow-test-absent-block",
    }.items():  # fmt: skip
        monkeypatch.setenv(f"POSTFLOW_{name}", value)
    monkeypatch.setattr(frameio_project, "load_block", lambda *_: None, raising=False)
    yield PostflowSettings(projects_cache_ttl_seconds=1800)
    frameio_project._projects.clear()


def test_the_project_client_is_reused_within_the_ttl_and_made_afresh_after(clock, project_settings):
    first = open_project(project_settings)
    clock.now += 1700
    assert open_project(project_settings) is first
    clock.now += 200
    assert open_project(project_settings) is not first
