"""The alarm tests' database: a migrated PostgreSQL with tenant ``env``, its station
``S1`` and gateway ``gw-1`` (a module needing more defines a ``storage`` of its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud.storage import Storage
from tests.cloud.alarms.live_helpers import station


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url) as opened:
        await station(opened)
        yield opened
