"""Reading the pipeline's run history from the Prefect API (reruns, reports, status)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterStartTime,
)

PAGE = 200  # the Prefect API's maximum `limit` for /flow_runs/filter


# Prefect types these bounds as its own DateTime; validating a plain datetime converts it (what
# passing it to the constructor does at run time, typed).
def _started_after(since: datetime) -> FlowRunFilterStartTime:
    return FlowRunFilterStartTime.model_validate({"after_": since})


def flow_runs_since(flow_name: str, since: datetime, max_runs: int = 50_000) -> list[Any]:
    """Every run of flow ``flow_name`` started after ``since``, paging through the API.

    Raises:
        prefect.exceptions.PrefectHTTPStatusError: the API refused the query.
    """
    runs: list[Any] = []
    with get_client(sync_client=True) as client:
        while len(runs) < max_runs:
            page = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                flow_run_filter=FlowRunFilter(start_time=_started_after(since)),
                limit=PAGE,
                offset=len(runs),
            )
            runs.extend(page)
            if len(page) < PAGE:
                break
    return runs
