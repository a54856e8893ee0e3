"""Which structure cache records are ours: exact installation names, never a bare prefix."""

from __future__ import annotations

import json
from pathlib import Path

from postflow.cli.cache import _cache_records
from tasks.structure.cache import is_ours, key_prefix

DIGEST = "0123456789abcdef0123456789abcdef"


def _record(folder: Path, name: str) -> Path:
    path = folder / name
    metadata = {"storage_key": str(path), "expiration": None}
    path.write_text(json.dumps({"metadata": metadata, "result": '"folder-id"'}))
    return path


def test_a_key_names_its_installation_exactly() -> None:
    assert is_ours(key_prefix("postflow") + DIGEST, "postflow")
    assert not is_ours(key_prefix("postflow-b") + DIGEST, "postflow")
    assert not is_ours(key_prefix("postflow") + DIGEST, "postflow-b")
    assert not is_ours(DIGEST, "postflow")  # another flow's, or a record of an earlier version
    assert not is_ours(key_prefix("postflow") + "not-hex", "postflow")


def test_only_our_records_are_listed_and_the_rest_counted(tmp_path: Path) -> None:
    ours = _record(tmp_path, key_prefix("postflow") + DIGEST)
    _record(tmp_path, key_prefix("postflow-b") + DIGEST)
    _record(tmp_path, DIGEST)
    records, others = _cache_records(tmp_path, "postflow")
    assert [files for files, _, _ in records] == [[ours]]
    assert others == 2
