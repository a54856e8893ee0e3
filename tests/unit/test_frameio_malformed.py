"""A Frame.io answer of the wrong shape is a typed, transient error at the edge, not a TypeError."""

from __future__ import annotations

import httpx
import pytest
from frameio import Frameio

from blocks.frameio import frameio_errors
from core.errors import FrameioServerError, is_transient


@pytest.mark.parametrize("body", [{"data": []}, {"data": "text"}, [1, 2], "text"])
def test_an_answer_of_the_wrong_shape_is_a_transient_frameio_error(body):
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, json=body))
    client = Frameio(
        base_url="http://frameio.test", token="t", httpx_client=httpx.Client(transport=transport)
    )
    with (
        pytest.raises(FrameioServerError, match="malformed response") as caught,
        frameio_errors("projects.show"),
    ):
        client.projects.show("account", "project")
    assert is_transient(caught.value)
    assert "projects.show" in str(caught.value)
