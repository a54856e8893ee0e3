"""Version-stack order: the one place the sandbox decides where a version sits (see FIDELITY.md).

A stack is a list of files, bottom (oldest) to top; the top one is `head_version`. What changes it:

- `version_stacks.create(file_ids=[...])`: the list as given, left = bottom, right = top (SDK doc).
- `files.move` of a file into a stack: the file goes on top (`MOVED_IN_POSITION`); moving a file
  that is already in that stack changes nothing. Frame.io does not document the position; the
  web app puts a version dropped onto a stack on top, and so does the sandbox.
- `files.move` out of a stack / `files.delete` of a member: the file leaves, the others keep their
  order; the stack disappears with its last file (a v4 `VersionStack` always has a `head_version`).
- `PATCH .../version_stacks/{id}/versions` (reorder): `reordered()` below.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["MOVED_IN_POSITION", "ReorderParams", "ReorderRefused", "reordered"]

MOVED_IN_POSITION: Literal["top", "bottom"] = "top"


class ReorderParams(BaseModel):
    """Body `data` of the reorder call, as `VersionStackReorderParamsData` in the
    `frameio-experimental` 11.0.1 SDK (the `frameio` 4.0.0 SDK has no such model).

    Exactly one of `move_to`, `move_above_file_id` and `move_below_file_id` must be given.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    target_file_id: str
    move_to: Literal["top", "bottom"] | None = None
    move_above_file_id: str | None = None
    move_below_file_id: str | None = None


class ReorderRefused(ValueError):
    """The reorder cannot be applied (Frame.io answers 422).

    Attributes:
        pointer: JSON pointer of the offending body field.
    """

    def __init__(self, detail: str, pointer: str) -> None:
        super().__init__(detail)
        self.pointer = pointer


def reordered(bottom_to_top: list[str], params: ReorderParams) -> list[str]:
    """The stack's file IDs, bottom to top, after applying one reorder.

    Args:
        bottom_to_top: Current order, bottom (oldest) first; the last is the head.
        params: Which file to move, and where.

    Returns:
        The new order (a new list).

    Raises:
        ReorderRefused: The target or reference file is not in the stack, it is the target
            itself, or not exactly one destination is given.
    """
    given = [
        name
        for name in ("move_to", "move_above_file_id", "move_below_file_id")
        if getattr(params, name) is not None
    ]
    if len(given) != 1:
        raise ReorderRefused(
            "give exactly one of move_to, move_above_file_id, move_below_file_id", "/data"
        )
    if params.target_file_id not in bottom_to_top:
        raise ReorderRefused(
            f"file {params.target_file_id} is not in this version stack", "/data/target_file_id"
        )
    rest = [file_id for file_id in bottom_to_top if file_id != params.target_file_id]
    if params.move_to is not None:
        at = len(rest) if params.move_to == "top" else 0
    else:
        field = given[0]
        reference = getattr(params, field)
        if reference == params.target_file_id or reference not in rest:
            raise ReorderRefused(
                f"{field} must be another file of this version stack", f"/data/{field}"
            )
        at = rest.index(reference) + (1 if field == "move_above_file_id" else 0)
    return [*rest[:at], params.target_file_id, *rest[at:]]
