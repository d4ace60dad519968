"""Fixtures of the cloud tests: run ``async def`` tests on asyncio through anyio's plugin."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """The cloud runs on asyncio (psycopg's async pool, uvicorn), so its tests do too."""
    return "asyncio"
