"""Group commit: batches in one transaction, each with its own outcome, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud.errors import SeqReusedError, UnknownGatewayError, UnknownQuantityError
from cloud.storage import Storage, StoreResult
from cloud.storage.ingest import BatchToStore
from tests.cloud.helpers import all_readings, make_batch
from wire import Batch, Quality, Reading

pytestmark = pytest.mark.anyio

T0 = 1_780_000_000_000  # 2026-05-28T20:26:40Z


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        await opened.register_gateway("gw-1")
        await opened.register_gateway("gw-2")
        yield opened


def _item(batch: Batch) -> BatchToStore:
    return BatchToStore(batch, "test")


async def test_a_group_gives_each_batch_its_own_outcome(storage: Storage) -> None:
    stored_before = make_batch("gw-1", 1, [1.0, 2.0], start_ms=T0)
    assert (await storage.store_batch(stored_before, "test")).stored == 2
    reused = make_batch("gw-1", 1, [9.0], start_ms=T0 + 60_000)  # seq 1 with other readings
    unknown = Batch("gw-1", 3, (Reading("th1", "no_such_quantity", T0, 1.0),))
    group = [
        make_batch("gw-1", 2, [3.0, 4.0], start_ms=T0 + 2000),  # new
        stored_before,  # a replay
        reused,
        unknown,
        make_batch("gw-2", 1, [5.0], start_ms=T0),  # another gateway, same seq number
        make_batch("gw-1", 4, [], start_ms=T0),  # empty: recorded, nothing to write
    ]
    results = await storage.store_batches([_item(b) for b in group])

    assert results[0] == StoreResult(stored=2, duplicate=False)
    assert results[1] == StoreResult(stored=0, duplicate=True)
    assert isinstance(results[2], SeqReusedError)
    assert isinstance(results[3], UnknownQuantityError)
    assert results[4] == StoreResult(stored=1, duplicate=False)
    assert results[5] == StoreResult(stored=0, duplicate=False)
    values = [r.value for r in (await all_readings(storage, "gw-1")).readings]
    assert values == [1.0, 2.0, 3.0, 4.0]  # nothing of the refused batches
    assert [r.value for r in (await all_readings(storage, "gw-2")).readings] == [5.0]
    # the refused seq 3 was not recorded: the gateway may send it again, fixed
    fixed = make_batch("gw-1", 3, [6.0], start_ms=T0 + 10_000)
    assert (await storage.store_batch(fixed, "test")).stored == 1


async def test_a_batch_twice_in_one_group_is_stored_once(storage: Storage) -> None:
    batch = make_batch("gw-1", 7, [1.0, 2.0, 3.0], start_ms=T0)
    other = make_batch("gw-1", 7, [8.0], start_ms=T0 + 50_000)  # seq 7 again, other readings
    results = await storage.store_batches([_item(batch), _item(batch), _item(other)])
    assert results[0] == StoreResult(stored=3, duplicate=False)
    assert results[1] == StoreResult(stored=0, duplicate=True)
    assert isinstance(results[2], SeqReusedError)
    assert len((await all_readings(storage, "gw-1")).readings) == 3


async def test_overlapping_readings_are_credited_to_the_batch_that_wrote_them(
    storage: Storage,
) -> None:
    await storage.store_batch(make_batch("gw-1", 1, [1.0, 2.0], start_ms=T0), "test")
    # seq 2 repeats both stored readings and adds one; seq 3 repeats that new one
    # and adds two; seq 4 is all new
    seq2 = make_batch("gw-1", 2, [1.0, 2.0, 3.0], start_ms=T0)
    seq3 = make_batch("gw-1", 3, [3.0, 4.0, 5.0], start_ms=T0 + 2000)
    seq4 = make_batch("gw-1", 4, [6.0], start_ms=T0 + 5000)
    results = await storage.store_batches([_item(seq2), _item(seq3), _item(seq4)])
    assert [r.stored for r in results if isinstance(r, StoreResult)] == [1, 2, 1]
    values = [r.value for r in (await all_readings(storage, "gw-1")).readings]
    assert values == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


async def test_an_unknown_gateway_in_a_group_refuses_only_its_batch(storage: Storage) -> None:
    group = [
        make_batch("gw-1", 1, [1.0], start_ms=T0),
        make_batch("gw-gone", 1, [2.0], start_ms=T0),
        make_batch("gw-2", 1, [3.0], start_ms=T0),
    ]
    results = await storage.store_batches([_item(b) for b in group])
    assert results[0] == StoreResult(stored=1, duplicate=False)
    assert isinstance(results[1], UnknownGatewayError)
    assert results[2] == StoreResult(stored=1, duplicate=False)


async def test_many_series_of_many_gateways_in_one_group(storage: Storage) -> None:
    group = [
        Batch(
            gw,
            seq,
            tuple(
                Reading(f"d{d}", q, T0 + seq * 1000, float(d), flag)
                for d in range(3)
                for q, flag in (
                    ("air_temperature", Quality.NORMAL),
                    ("relative_humidity", Quality.MAINTENANCE),
                )
            ),
        )
        for gw in ("gw-1", "gw-2")
        for seq in range(1, 6)
    ]
    results = await storage.store_batches([_item(b) for b in group])
    assert all(r == StoreResult(stored=6, duplicate=False) for r in results)
    for gw in ("gw-1", "gw-2"):
        series = await all_readings(storage, gw, device="d2", quantity="relative_humidity")
        assert [(r.value, r.quality) for r in series.readings] == [(2.0, "M")] * 5
