"""Storage against a real, migrated PostgreSQL: registry, idempotent ingest, queries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cloud.errors import (
    GatewayExistsError,
    InvalidIdentifierError,
    SeqReusedError,
    SeriesNotFoundError,
    StorageUnavailableError,
    UnknownGatewayError,
    UnknownQuantityError,
)
from cloud.storage import Storage, to_time_ms
from cloud.storage.dead_letters import MAX_DEAD_LETTER_PAYLOAD
from tests.cloud.helpers import all_readings, make_batch, now_ms
from wire import Batch, Quality, Reading

pytestmark = pytest.mark.anyio

T0 = 1_780_000_000_000  # 2026-05-28T20:26:40Z


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        yield opened


async def test_register_gateway_returns_a_32_byte_secret_once(storage: Storage) -> None:
    secret = await storage.register_gateway("gw-1", site="Lake station")
    assert len(secret) == 32
    assert await storage.gateway_secret("gw-1") == secret
    with pytest.raises(GatewayExistsError):
        await storage.register_gateway("gw-1")
    assert await storage.gateway_secret("gw-1") == secret


async def _wait_until_a_session_waits_for_a_lock(conninfo: str) -> None:
    """Return once some session of this database is blocked on a lock."""
    query = (
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock')"
    )
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        async with asyncio.timeout(10):
            # PostgreSQL signals no event when a session starts waiting: poll its view
            while not (await (await conn.execute(query)).fetchone() or (False,))[0]:  # noqa: ASYNC110
                await asyncio.sleep(0.01)


async def test_registrations_racing_for_a_new_tenant_both_succeed(
    storage: Storage, migrated_database_url: str
) -> None:
    # Another registration has inserted tenant "t-new" and not committed yet.
    async with await psycopg.AsyncConnection.connect(migrated_database_url) as other:
        await other.execute("INSERT INTO tenants (name) VALUES ('t-new')")
        ours = asyncio.create_task(storage.register_gateway("gw-2", tenant="t-new"))
        await _wait_until_a_session_waits_for_a_lock(migrated_database_url)
        await other.commit()
    # Ours waited for that commit; it must use the tenant, not fail to find it.
    assert len(await ours) == 32
    assert await storage.gateway_secret("gw-2") is not None


async def test_register_refuses_ids_outside_the_wire_rules(storage: Storage) -> None:
    with pytest.raises(InvalidIdentifierError):
        await storage.register_gateway("gw 1")
    with pytest.raises(InvalidIdentifierError):
        await storage.register_gateway("gw-1", tenant="no spaces")


async def test_disabled_or_unknown_gateway_has_no_secret(storage: Storage) -> None:
    await storage.register_gateway("gw-1")
    await storage.set_gateway_disabled("gw-1")
    assert await storage.gateway_secret("gw-1") is None
    assert await storage.gateway_secret("gw-unknown") is None
    with pytest.raises(UnknownGatewayError):
        await storage.set_gateway_disabled("gw-unknown")


async def test_a_replayed_batch_is_stored_once(storage: Storage) -> None:
    await storage.register_gateway("gw-1")
    batch = make_batch("gw-1", 7, [20.0, 20.5, 21.0], start_ms=T0)

    first = await storage.store_batch(batch, "test")
    replay = await storage.store_batch(batch, "test")

    assert (first.stored, first.duplicate) == (3, False)
    assert (replay.stored, replay.duplicate) == (0, True)
    series = await all_readings(storage, "gw-1")
    assert [r.value for r in series.readings] == [20.0, 20.5, 21.0]


async def test_a_reused_seq_with_other_readings_is_refused_not_dropped(storage: Storage) -> None:
    """A gateway that lost its outbox and counts again must not be taken for a replay."""
    await storage.register_gateway("gw-1")
    await storage.store_batch(make_batch("gw-1", 7, [20.0], start_ms=T0), "test")

    with pytest.raises(SeqReusedError) as info:
        await storage.store_batch(make_batch("gw-1", 7, [30.0], start_ms=T0 + 60_000), "test")

    assert (info.value.gateway_id, info.value.seq) == ("gw-1", 7)
    series = await all_readings(storage, "gw-1")
    assert [r.value for r in series.readings] == [20.0]


async def test_workers_racing_on_a_new_series_store_each_reading_once(
    storage: Storage, migrated_database_url: str
) -> None:
    """Shared-subscription workers (one pool each) get batches of one new series at once."""
    await storage.register_gateway("gw-1")
    # seqs 1-6 overlap pairwise in time; seq 6 also arrives twice (a redelivery)
    batches = [make_batch("gw-1", seq, [1.0, 2.0], start_ms=T0 + seq * 1000) for seq in range(1, 7)]
    batches.append(batches[-1])
    workers = [Storage(migrated_database_url, max_size=1) for _ in batches]
    for worker in workers:
        await worker.open()
    try:
        results = await asyncio.gather(
            *(worker.store_batch(b, "t") for worker, b in zip(workers, batches, strict=True))
        )
    finally:
        for worker in workers:
            await worker.close()
    assert sum(r.duplicate for r in results) == 1
    assert sum(r.stored for r in results) == 7
    series = await all_readings(storage, "gw-1")
    assert [r.time_ms for r in series.readings] == [T0 + i * 1000 for i in range(1, 8)]


async def test_readings_already_stored_are_not_duplicated_by_a_new_batch(
    storage: Storage,
) -> None:
    await storage.register_gateway("gw-1")
    await storage.store_batch(make_batch("gw-1", 1, [1.0, 2.0], start_ms=T0), "test")
    # seq 2 repeats the second reading and adds a third: only the new one is written
    result = await storage.store_batch(
        make_batch("gw-1", 2, [2.0, 3.0], start_ms=T0 + 1000), "test"
    )
    assert (result.stored, result.duplicate) == (1, False)
    series = await all_readings(storage, "gw-1")
    assert [r.time_ms for r in series.readings] == [T0, T0 + 1000, T0 + 2000]


async def test_unknown_quantity_stores_nothing(storage: Storage) -> None:
    await storage.register_gateway("gw-1")
    batch = Batch(
        "gw-1",
        1,
        (
            Reading("th1", "air_temperature", T0, 20.0),
            Reading("th1", "flux_capacitance", T0, 1.21),
        ),
    )
    with pytest.raises(UnknownQuantityError) as caught:
        await storage.store_batch(batch, "test")
    assert caught.value.quantity == "flux_capacitance"
    with pytest.raises(SeriesNotFoundError):
        await all_readings(storage, "gw-1")
    # the seq was not consumed: a corrected batch under it is accepted
    fixed = await storage.store_batch(make_batch("gw-1", 1, [20.0], start_ms=T0), "test")
    assert fixed.stored == 1


async def test_batch_from_an_unregistered_gateway_is_refused(storage: Storage) -> None:
    with pytest.raises(UnknownGatewayError):
        await storage.store_batch(make_batch("gw-ghost", 1, start_ms=T0), "test")


async def test_empty_batch_is_recorded_and_deduplicated(storage: Storage) -> None:
    await storage.register_gateway("gw-1")
    empty = Batch("gw-1", 5, ())
    assert (await storage.store_batch(empty, "t")).duplicate is False
    assert (await storage.store_batch(empty, "t")).duplicate is True


async def test_readings_window_is_half_open_ordered_and_limited(storage: Storage) -> None:
    await storage.register_gateway("gw-1")
    await storage.store_batch(make_batch("gw-1", 1, [float(i) for i in range(10)], start_ms=T0), "")
    start = datetime.fromtimestamp((T0 + 2000) / 1000, UTC)
    end = datetime.fromtimestamp((T0 + 6000) / 1000, UTC)

    series = await storage.readings("gw-1", "th1", "air_temperature", start=start, end=end)
    limited = await storage.readings(
        "gw-1", "th1", "air_temperature", start=start, end=end, limit=2
    )

    assert series.unit == "°C"
    assert [r.value for r in series.readings] == [2.0, 3.0, 4.0, 5.0]
    assert [r.value for r in limited.readings] == [2.0, 3.0]
    assert series.readings[0].time == start
    assert series.readings[0].time.tzinfo == UTC


async def test_times_keep_millisecond_precision(storage: Storage) -> None:
    await storage.register_gateway("gw-1")
    odd = T0 + 123
    await storage.store_batch(make_batch("gw-1", 1, [1.0], start_ms=odd), "")
    series = await all_readings(storage, "gw-1")
    assert series.readings[0].time_ms == odd
    assert to_time_ms(series.readings[0].time) == odd


async def test_unknown_series_is_not_found(storage: Storage) -> None:
    await storage.register_gateway("gw-1")
    await storage.store_batch(make_batch("gw-1", 1, start_ms=T0), "")
    with pytest.raises(SeriesNotFoundError):
        await all_readings(storage, "gw-1", quantity="relative_humidity")
    with pytest.raises(SeriesNotFoundError):
        await all_readings(storage, "gw-1", device="th9")


async def test_latest_gives_the_newest_reading_of_each_series(storage: Storage) -> None:
    await storage.register_gateway("gw-1")
    await storage.register_gateway("gw-2")
    now = now_ms()
    await storage.store_batch(make_batch("gw-1", 1, [20.0, 21.0], start_ms=now), "")
    await storage.store_batch(
        make_batch("gw-1", 2, [55.0], quantity="relative_humidity", start_ms=now), ""
    )
    await storage.store_batch(
        make_batch("gw-1", 3, [35.0], device="aq1", quantity="pm2_5", start_ms=now), ""
    )
    await storage.store_batch(make_batch("gw-2", 1, [99.0], start_ms=now + 5000), "")

    latest = await storage.latest("gw-1")

    assert [(x.device, x.quantity, x.unit, x.reading.value) for x in latest] == [
        ("aq1", "pm2_5", "µg/m³", 35.0),
        ("th1", "air_temperature", "°C", 21.0),
        ("th1", "relative_humidity", "%RH", 55.0),
    ]
    assert latest[1].reading.time_ms == now + 1000
    assert await storage.latest("gw-2") != []


async def test_latest_of_a_gateway_without_readings_or_unknown(storage: Storage) -> None:
    await storage.register_gateway("gw-1")
    assert await storage.latest("gw-1") == []
    with pytest.raises(UnknownGatewayError):
        await storage.latest("gw-ghost")


async def test_quality_flags_are_kept(storage: Storage) -> None:
    await storage.register_gateway("gw-1")
    batch = make_batch("gw-1", 1, [1.0], start_ms=T0, quality=Quality.CALIBRATION)
    await storage.store_batch(batch, "")
    series = await all_readings(storage, "gw-1")
    assert series.readings[0].quality == "C"


async def test_dead_letters_newest_first_with_bounded_payload(storage: Storage) -> None:
    await storage.dead_letter("topic/a", "malformed", "not JSON", b"\xff", gateway_id="gw-x")
    huge = b"x" * (MAX_DEAD_LETTER_PAYLOAD + 10)
    await storage.dead_letter("topic/b", "unsigned", "no signature", huge)

    newest, oldest = await storage.list_dead_letters(limit=10)

    assert (newest.reason, newest.gateway_id, newest.source) == ("unsigned", None, "topic/b")
    assert len(newest.payload) == MAX_DEAD_LETTER_PAYLOAD
    assert newest.payload_size == len(huge)
    assert (oldest.reason, oldest.gateway_id, oldest.payload) == ("malformed", "gw-x", b"\xff")
    assert len(await storage.list_dead_letters(limit=1)) == 1


async def test_ping_and_unreachable_database(migrated_database_url: str) -> None:
    async with Storage(migrated_database_url) as storage:
        assert await storage.ping()
    closed = Storage(migrated_database_url)
    assert not await closed.ping()
    with pytest.raises(StorageUnavailableError):
        await closed.latest("gw-1")


async def test_open_fails_cleanly_when_the_server_is_absent(tmp_path: object) -> None:
    conninfo = f"host={tmp_path} dbname=nothing password=hunter2-secret connect_timeout=1"
    storage = Storage(conninfo, timeout_s=1)
    with pytest.raises(StorageUnavailableError) as failed:
        await storage.open()
    assert not storage.is_open
    # neither the object nor its error may carry the password to a log
    assert "hunter2-secret" not in repr(storage)
    assert "hunter2-secret" not in str(failed.value)


def test_window_helpers_are_consistent() -> None:
    moment = datetime(2026, 5, 1, 8, 0, 0, 123000, tzinfo=UTC)
    assert to_time_ms(moment) == int(moment.timestamp() * 1000)
    assert to_time_ms(moment + timedelta(microseconds=999)) == to_time_ms(moment)


async def test_a_series_deleted_behind_the_cache_is_recreated_on_retry(
    storage: Storage, migrated_database_url: str
) -> None:
    await storage.register_gateway("gw-1")
    await storage.store_batch(make_batch("gw-1", 1, [1.0], start_ms=T0), "t")
    async with await psycopg.AsyncConnection.connect(migrated_database_url) as conn:
        await conn.execute("DELETE FROM devices WHERE gateway_id = 'gw-1'")  # series cascade
        await conn.commit()
    late = make_batch("gw-1", 2, [2.0], start_ms=T0 + 1000)
    with pytest.raises(StorageUnavailableError):  # the pipeline retries these
        await storage.store_batch(late, "t")
    assert (await storage.store_batch(late, "t")).stored == 1
    assert [r.value for r in (await all_readings(storage, "gw-1")).readings] == [2.0]


async def test_listing_gateways_reads_their_newest_batch_from_an_index(
    storage: Storage, migrated_database_url: str
) -> None:
    from cloud.storage.registry import _LIST_GATEWAYS  # noqa: PLC0415 - the query under test

    for gw in ("gw-1", "gw-2"):
        await storage.register_gateway(gw)
        for seq in range(1, 4):
            await storage.store_batch(make_batch(gw, seq, start_ms=T0 + seq * 1000), "t")
    async with await psycopg.AsyncConnection.connect(migrated_database_url) as conn:
        await conn.execute("SET enable_seqscan = off")  # tiny tables: ask for the plan at scale
        cursor = await conn.execute("EXPLAIN " + _LIST_GATEWAYS)
        plan = "\n".join(row[0] for row in await cursor.fetchall())
    assert "ingested_batches_gateway_received_idx" in plan
    listed = await storage.list_gateways()
    assert [g.last_batch_at is not None for g in listed] == [True, True]
