"""The transport-independent pipeline against a real, migrated PostgreSQL: its bookkeeping rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import psycopg
import pytest

from cloud.errors import StorageError
from cloud.ingest import IngestPipeline, IngestPolicy
from cloud.ingest.outcomes import Pruned
from cloud.ingest.pipeline import DEAD_LETTERED, DUPLICATE, STORED, StoppingError
from cloud.storage import Storage, StoreResult
from cloud.storage.ingest import BatchToStore, Refusal
from device_profiles import load_quantities
from tests.cloud.helpers import all_readings, make_batch, now_ms, telemetry_topic
from wire import Batch, Reading, sign_batch

pytestmark = pytest.mark.anyio

ROOT = "shanshui/v1"
TOPIC = telemetry_topic(ROOT, "gw-1")


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        yield opened


async def _secret(storage: Storage) -> bytes:
    return await storage.register_gateway("gw-1")


async def test_a_replay_stays_a_replay_when_the_vocabulary_changes(storage: Storage) -> None:
    secret = await _secret(storage)
    payload = sign_batch(make_batch("gw-1", 1, [20.0, 95.0], start_ms=now_ms() - 10_000), secret)
    quantities = load_quantities()
    first = await IngestPipeline(storage, quantities=quantities).handle(TOPIC, payload)
    assert first.outcome == STORED  # 95 °C was re-flagged over range (T)
    wider = dict(quantities)
    wider["air_temperature"] = quantities["air_temperature"].model_copy(update={"max": 120})
    again = await IngestPipeline(storage, quantities=wider).handle(TOPIC, payload)
    assert again.outcome == DUPLICATE  # not seq_reused: the gateway sent the same batch


async def test_two_readings_of_one_series_at_one_time_refuse_the_batch(storage: Storage) -> None:
    secret = await _secret(storage)
    t = now_ms()
    readings = (
        Reading("th1", "air_temperature", t, 20.0),
        Reading("th1", "air_temperature", t, 21.0),
    )
    payload = sign_batch(Batch("gw-1", 1, readings), secret)
    settled = await IngestPipeline(storage).handle(TOPIC, payload)
    assert settled.outcome == DEAD_LETTERED
    assert settled.rejected is not None
    assert settled.rejected.reason == "malformed"
    assert "th1/air_temperature" in settled.rejected.detail
    assert await storage.gateway_devices("gw-1") == []  # nothing stored


async def test_duplicate_json_keys_are_refused(storage: Storage) -> None:
    secret = await _secret(storage)
    envelope = sign_batch(make_batch("gw-1", 1), secret).decode()
    assert envelope.startswith("{")
    doubled = '{"gw":"gw-1",' + envelope[1:]  # the envelope's gw, twice
    settled = await IngestPipeline(storage).handle(TOPIC, doubled.encode())
    assert settled.rejected is not None
    assert (settled.rejected.reason, settled.rejected.detail) == (
        "malformed",
        "duplicate key 'gw'",
    )


async def test_readings_from_the_future_are_refused_beyond_the_margin(storage: Storage) -> None:
    secret = await _secret(storage)
    received = now_ms()
    pipeline = IngestPipeline(storage, policy=IngestPolicy(future_margin_s=60))
    soon = sign_batch(make_batch("gw-1", 1, start_ms=received + 59_000), secret)
    assert (await pipeline.handle(TOPIC, soon, received_ms=received)).outcome == STORED
    later = sign_batch(make_batch("gw-1", 2, start_ms=received + 61_000), secret)
    settled = await pipeline.handle(TOPIC, later, received_ms=received)
    assert settled.rejected is not None
    assert settled.rejected.reason == "future_time"
    [letter] = await storage.list_dead_letters()
    assert letter.reason == "future_time"


async def test_dead_letters_keep_a_capped_payload_prefix(storage: Storage) -> None:
    pipeline = IngestPipeline(storage, policy=IngestPolicy(dead_letter_payload_bytes=8))
    junk = b"not json, and rather long " * 10
    await pipeline.handle(TOPIC, junk)
    [letter] = await storage.list_dead_letters()
    assert (letter.payload, letter.payload_size) == (junk[:8], len(junk))


async def test_pruning_forgets_old_batches_and_dead_letters_only(
    storage: Storage, migrated_database_url: str
) -> None:
    secret = await _secret(storage)
    pipeline = IngestPipeline(
        storage, policy=IngestPolicy(batch_log_retention_days=30, dead_letter_retention_days=90)
    )
    start = now_ms()  # once: a second ticking between two batches would give both one time
    for seq in (1, 2):
        batch = make_batch("gw-1", seq, start_ms=start - seq * 1000)
        await pipeline.handle(TOPIC, sign_batch(batch, secret))
    await pipeline.handle(TOPIC, b"junk 1")
    await pipeline.handle(TOPIC, b"junk 2")
    async with await psycopg.AsyncConnection.connect(migrated_database_url) as conn:
        await conn.execute(
            "UPDATE ingested_batches SET received_at = now() - interval '31 days' WHERE seq = 1"
        )
        await conn.execute(
            "UPDATE dead_letters SET received_at = now() - interval '91 days'"
            " WHERE payload = 'junk 1'"
        )
        await conn.commit()
    assert await pipeline.prune() == Pruned(batches=1, dead_letters=1, readings=0)
    assert [d.payload for d in await storage.list_dead_letters()] == [b"junk 2"]
    assert await pipeline.prune() == Pruned(0, 0, 0)  # no readings retention by default
    # readings stay, and a replay of the forgotten batch writes none of them twice
    replay = make_batch(
        "gw-1", 1, start_ms=(await all_readings(storage, "gw-1")).readings[0].time_ms
    )
    await pipeline.handle(TOPIC, sign_batch(replay, secret))
    assert len((await all_readings(storage, "gw-1")).readings) == 2


class _BuggyStorage(Storage):
    """store_batch fails with an unexpected error ``failures`` times, then works."""

    def __init__(self, conninfo: str, failures: int) -> None:
        super().__init__(conninfo, max_size=2)
        self.failures = failures

    async def store_batches(self, items: Sequence[BatchToStore]) -> list[StoreResult | Refusal]:
        if self.failures > 0:
            self.failures -= 1
            raise StorageError("storing a batch: some constraint nobody expected")
        return await super().store_batches(items)


async def test_an_unexpected_store_error_is_retried_not_dead_lettered(
    migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cloud.ingest.retrying  # noqa: PLC0415 - the module whose back-off we shorten

    monkeypatch.setattr(cloud.ingest.retrying, "RETRY_FIRST_S", 0.01)
    async with _BuggyStorage(migrated_database_url, failures=2) as buggy:
        secret = await buggy.register_gateway("gw-1")
        payload = sign_batch(make_batch("gw-1", 1), secret)
        settled = await IngestPipeline(buggy).handle(TOPIC, payload)
        assert (settled.outcome, buggy.failures) == (STORED, 0)
        assert await buggy.list_dead_letters() == []


async def test_stop_ends_the_retrying_and_settles_nothing(migrated_database_url: str) -> None:
    async with _BuggyStorage(migrated_database_url, failures=10**6) as buggy:
        secret = await buggy.register_gateway("gw-1")
        pipeline = IngestPipeline(buggy)
        handling = asyncio.create_task(
            pipeline.handle(TOPIC, sign_batch(make_batch("gw-1", 1), secret))
        )
        while buggy.failures == 10**6:  # noqa: ASYNC110 - wait for the first failed attempt
            await asyncio.sleep(0.005)
        pipeline.stop()
        with pytest.raises(StoppingError):
            await handling
        assert await buggy.list_dead_letters() == []
        assert await buggy.gateway_devices("gw-1") == []


def test_policy_follows_the_settings() -> None:
    from cloud.settings import load_settings  # noqa: PLC0415

    settings = load_settings(future_margin_s=5, dead_letter_payload_bytes=100)
    policy = IngestPolicy.from_settings(settings)
    assert (policy.future_margin_s, policy.dead_letter_payload_bytes) == (5, 100)
    assert (policy.batch_log_retention_days, policy.dead_letter_retention_days) == (30, 90)


async def test_a_group_stores_its_good_batches_and_dead_letters_each_bad_one(
    storage: Storage,
) -> None:
    secret = await _secret(storage)
    t = now_ms() - 60_000
    pipeline = IngestPipeline(storage)
    assert (
        await pipeline.handle(TOPIC, sign_batch(make_batch("gw-1", 1, start_ms=t), secret))
    ).outcome == STORED
    forged = sign_batch(make_batch("gw-1", 3, start_ms=t + 3000), b"x" * 32)
    reused = sign_batch(make_batch("gw-1", 1, [99.0], start_ms=t + 9000), secret)
    twice = (
        Reading("th1", "air_temperature", t + 4000, 1.0),
        Reading("th1", "air_temperature", t + 4000, 2.0),
    )
    group = [
        (TOPIC, sign_batch(make_batch("gw-1", 2, [1.0, 2.0], start_ms=t + 1000), secret)),
        (TOPIC, forged),
        (TOPIC, sign_batch(make_batch("gw-1", 1, start_ms=t), secret)),  # a replay
        (TOPIC, reused),
        (TOPIC, b"not json"),
        (TOPIC, sign_batch(Batch("gw-1", 5, twice), secret)),
        (TOPIC, sign_batch(make_batch("gw-1", 6, [3.0], start_ms=t + 5000), secret)),
    ]
    settled = await pipeline.handle_many(group)

    assert [s.outcome for s in settled] == [
        STORED,
        DEAD_LETTERED,
        DUPLICATE,
        DEAD_LETTERED,
        DEAD_LETTERED,
        DEAD_LETTERED,
        STORED,
    ]
    reasons = [s.rejected.reason for s in settled if s.rejected is not None]
    assert reasons == ["bad_signature", "seq_reused", "malformed", "malformed"]
    assert [s.secret == secret for s in (settled[0], settled[2], settled[6])] == [True] * 3
    assert settled[0].readings_stored == 2
    assert sorted(d.reason for d in await storage.list_dead_letters()) == sorted(reasons)
    assert [r.value for r in (await all_readings(storage, "gw-1")).readings] == [
        21.5,
        1.0,
        2.0,
        3.0,
    ]
