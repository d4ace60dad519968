"""Fixtures of the API tests: keys issued straight through storage, clients that carry them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from cloud.storage import Storage
from cloud.storage.keys import NewKey, create_key

TEST_RATE_PER_S = 100_000.0
TEST_BURST = 1_000_000


def issue_key(
    database_url: str,
    role: str = "admin",
    tenant: str | None = None,
    *,
    regions: Sequence[str] = (),
    site_ids: Sequence[int] = (),
    gateway_ids: Sequence[str] = (),
    rate_per_s: float = TEST_RATE_PER_S,
    burst: int = TEST_BURST,
) -> str:
    """Issue a key in ``database_url`` and return its token."""
    new = NewKey(
        name=f"test {role}",
        role=role,  # type: ignore[arg-type]
        tenant=tenant,
        regions=regions,
        site_ids=site_ids,
        gateway_ids=gateway_ids,
        rate_per_s=rate_per_s,
        burst=burst,
    )

    async def issue() -> str:
        async with Storage(database_url, max_size=1) as storage:
            token, _ = await create_key(storage, new)
            return token

    return asyncio.run(issue())


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_token(migrated_database_url: str) -> str:
    """A platform admin key of the test's database."""
    return issue_key(migrated_database_url)
