"""Publisher against a real outbox and a fake uplink whose PUBACKs the test controls."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from pydantic import SecretBytes

from edge.config import PublishSection
from edge.outbox import OutboxRunner, OutboxStore
from edge.publisher import Publisher
from edge.uplink.base import AckCallback, StateCallback, StatusSource, Uplink
from tests.edge.support import SECRET
from wire import Reading

GW = "gw-pub-01"
T0 = 1_700_000_000_000


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


def readings(count: int) -> list[Reading]:
    return [Reading("th1", "air_temperature", T0 + 1000 * i, 20.0) for i in range(count)]


def publisher_for(
    outbox: OutboxRunner, uplink: Uplink, changes: Changes, **publish: float
) -> Publisher:
    return Publisher(
        outbox,
        uplink,
        gateway_id=GW,
        secret=SecretBytes(SECRET),
        publish=PublishSection.model_validate(publish),
        on_change=changes,
    )


class Changes:
    """An event for "something happened", so tests wait on conditions, never sleep."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __call__(self) -> None:
        self._event.set()

    async def until(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self._event.clear()
                await self._event.wait()


class FakeUplink(Uplink):
    """Records what is sent; :meth:`puback` confirms a seq as paho's network thread would."""

    def __init__(self, changes: Changes) -> None:
        self.sent: list[int] = []
        self._changes = changes
        self._in_flight: set[int] = set()
        self._on_ack: AckCallback = lambda _seq: None

    @property
    def connected(self) -> bool:
        return True

    @property
    def in_flight(self) -> frozenset[int]:
        return frozenset(self._in_flight)

    @property
    def max_in_flight(self) -> int:
        return 20

    async def open(
        self, on_ack: AckCallback, on_state: StateCallback, status: StatusSource | None = None
    ) -> None:
        self._on_ack = on_ack

    def send(self, seq: int, _payload: bytes) -> None:
        self.sent.append(seq)
        self._in_flight.add(seq)
        self._changes()

    def puback(self, seq: int) -> None:
        self._in_flight.discard(seq)
        self._on_ack(seq)

    async def close(self, timeout_s: float) -> None:
        return None


class SlowAckOutbox(OutboxRunner):
    """Runs ``during_ack`` once while an ack is being written (a PUBACK arrives meanwhile)."""

    during_ack: Callable[[], None] | None = None

    async def ack_many(self, seqs: Sequence[int]) -> int:
        hook, self.during_ack = self.during_ack, None
        if hook is not None:
            hook()
        return await super().ack_many(seqs)


def test_a_batch_acked_during_a_step_is_not_sent_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        changes = Changes()
        outbox = SlowAckOutbox(tmp_path)
        uplink = FakeUplink(changes)
        publisher = publisher_for(outbox, uplink, changes, max_batch_readings=1, max_delay_s=60)
        await outbox.open()
        try:
            await publisher.load()
            await uplink.open(publisher.on_ack, publisher.on_state)
            task = asyncio.create_task(publisher.run())
            await publisher.store(readings(2))  # two batches of one reading
            await changes.until(lambda: len(uplink.sent) == 2)
            first, second = uplink.sent
            # the PUBACK of the second batch arrives while the first one's ack is written
            outbox.during_ack = lambda: uplink.puback(second)
            uplink.puback(first)
            await changes.until(lambda: not publisher.view.unacked)
            publisher.request_stop(flush_timeout_s=5)
            await task
            assert uplink.sent == [first, second]  # confirmed batches are not re-sent
            assert publisher.view.acked_batches == 2
        finally:
            await outbox.close()

    run(scenario)


def test_loading_a_deep_outbox_does_not_read_its_payloads(tmp_path: Path) -> None:
    """After a long outage the outbox holds many batches; a restart must not load them all.

    A Pi agent runs under MemoryMax=128M: reading every payload at start-up would be
    killed for memory, restarted, killed again, and never drain the outbox.
    """
    store = OutboxStore.open(tmp_path, first_seq=1)
    try:
        store.enqueue(readings(40_000))
        while store.seal(GW, SECRET, max_readings=400, max_payload_bytes=64 * 1024):
            pass
        stored = store.counts().unacked_batches
    finally:
        store.close()

    async def scenario() -> None:
        changes = Changes()
        outbox = OutboxRunner(tmp_path)
        publisher = publisher_for(outbox, FakeUplink(changes), changes)
        await outbox.open()
        try:
            tracemalloc.start()
            try:
                await publisher.load()
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        finally:
            await outbox.close()
        assert len(publisher.view.unacked) == stored == 100
        assert peak < 256 * 1024  # the payloads alone are about 2.5 MB

    run(scenario)
