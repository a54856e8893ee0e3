"""A real PostgreSQL for the state store's tests, and "machines" that share it.

The cluster is :func:`tests.integration.scale_out_peers.postgres_server` (trust auth on
loopback). Each test gets a schema of its own (``POSTFLOW_STATE_SCHEMA``), so tests sharing
the cluster never see each other's rows. The URL carries a password that trust auth ignores,
so a test can check that it is never shown.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.scale_out_peers import postgres_server

PASSWORD = "n0t-to-be-logged"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """``postgresql://prefect:<PASSWORD>@127.0.0.1:<port>/postgres`` of a fresh cluster."""
    with postgres_server() as asyncpg_url:
        yield asyncpg_url.replace(
            "postgresql+asyncpg://prefect@", f"postgresql://prefect:{PASSWORD}@"
        )


@pytest.fixture
def machines(postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """``use(name)``: make this process machine ``name`` (its own state dir, the one store).

    Returns the setter; the settings of a machine are ``PostflowSettings()`` after ``use``.
    """
    schema = f"t_{secrets.token_hex(4)}"
    monkeypatch.setenv("POSTFLOW_STATE_URL", postgres_url)
    monkeypatch.setenv("POSTFLOW_STATE_SCHEMA", schema)

    def use(name: str) -> Path:
        state_dir = tmp_path / f"machine-{name}"
        monkeypatch.setenv("POSTFLOW_STATE_DIR", str(state_dir))
        return state_dir

    return use
