"""`postflow.sandbox.stacks.reordered`: the reorder rule, without a server."""

from __future__ import annotations

import pytest

from postflow.sandbox.stacks import ReorderParams, ReorderRefused, reordered

STACK = ["v1", "v2", "v3", "v4"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"move_to": "top"}, ["v1", "v3", "v4", "v2"]),
        ({"move_to": "bottom"}, ["v2", "v1", "v3", "v4"]),
        ({"move_above_file_id": "v3"}, ["v1", "v3", "v2", "v4"]),
        ({"move_below_file_id": "v4"}, ["v1", "v3", "v2", "v4"]),
        ({"move_below_file_id": "v1"}, ["v2", "v1", "v3", "v4"]),
    ],
)
def test_target_lands_where_asked(where: dict[str, str], expected: list[str]) -> None:
    assert reordered(STACK, ReorderParams(target_file_id="v2", **where)) == expected


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        (ReorderParams(target_file_id="v9", move_to="top"), "/data/target_file_id"),
        (ReorderParams(target_file_id="v2", move_above_file_id="v2"), "/data/move_above_file_id"),
        (ReorderParams(target_file_id="v2", move_below_file_id="v9"), "/data/move_below_file_id"),
        (ReorderParams(target_file_id="v2"), "/data"),
    ],
)
def test_impossible_reorder_is_refused(params: ReorderParams, pointer: str) -> None:
    with pytest.raises(ReorderRefused) as refused:
        reordered(STACK, params)
    assert refused.value.pointer == pointer
