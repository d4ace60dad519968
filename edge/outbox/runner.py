"""Async facade over :class:`~edge.outbox.store.OutboxStore`, confined to one thread.

Layer: asyncio glue only. Every store call runs on one dedicated worker thread
(the store is thread-confined), so the event loop never waits on an SD-card
fsync and the store never sees two threads.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from edge.outbox.models import OutboxCounts, Sealed
from edge.outbox.store import OutboxStore
from wire import Reading

T = TypeVar("T")


class OutboxRunner:
    """The outbox, opened and used on its own worker thread."""

    def __init__(self, data_dir: Path) -> None:
        """Nothing is opened until :meth:`open`."""
        self._data_dir = data_dir
        self._executor: ThreadPoolExecutor | None = None
        self._store: OutboxStore | None = None

    async def open(self) -> None:
        """Start the worker thread and open the store on it.

        Raises:
            OutboxError: the store cannot be opened.
        """
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        try:
            self._store = await self._call(OutboxStore.open, self._data_dir)
        except BaseException:
            self._executor.shutdown(wait=True)
            self._executor = None
            raise

    async def close(self) -> None:
        """Close the store on its thread and stop the thread."""
        if self._executor is None:
            return
        if self._store is not None:
            await self._call(self._store.close)
            self._store = None
        self._executor.shutdown(wait=True)
        self._executor = None

    async def enqueue(self, readings: Sequence[Reading]) -> int:
        """See :meth:`OutboxStore.enqueue`."""
        return await self._call(self._opened().enqueue, readings)

    async def seal(
        self, gateway_id: str, max_readings: int, max_payload_bytes: int, newest: bool = False
    ) -> Sealed | None:
        """See :meth:`OutboxStore.seal`."""
        store = self._opened()
        seal = functools.partial(store.seal, newest=newest)
        return await self._call(seal, gateway_id, max_readings, max_payload_bytes)

    async def thin(self, fraction: float, window_min: int) -> int:
        """See :meth:`OutboxStore.thin`."""
        return await self._call(self._opened().thin, fraction, window_min)

    async def size_bytes(self) -> int:
        """See :meth:`OutboxStore.size_bytes`."""
        return await self._call(self._opened().size_bytes)

    async def batches_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """See :meth:`OutboxStore.batches_after`."""
        return await self._call(self._opened().batches_after, seq, limit)

    async def payloads(self, seqs: Sequence[int]) -> list[tuple[int, bytes]]:
        """See :meth:`OutboxStore.payloads`."""
        return await self._call(self._opened().payloads, seqs)

    async def ack_many(self, seqs: Sequence[int]) -> int:
        """See :meth:`OutboxStore.ack_many`."""
        return await self._call(self._opened().ack_many, seqs)

    async def strike(self, seq: int) -> int:
        """See :meth:`OutboxStore.strike`."""
        return await self._call(self._opened().strike, seq)

    async def quarantine(self, seq: int, reason: str) -> bool:
        """See :meth:`OutboxStore.quarantine`."""
        return await self._call(self._opened().quarantine, seq, reason)

    async def counts(self) -> OutboxCounts:
        """See :meth:`OutboxStore.counts`."""
        return await self._call(self._opened().counts)

    async def oldest_ms(self) -> int | None:
        """See :meth:`OutboxStore.oldest_ms`."""
        return await self._call(self._opened().oldest_ms)

    @property
    def data_dir(self) -> Path:
        """Where the outbox file lives."""
        return self._data_dir

    def _opened(self) -> OutboxStore:
        if self._store is None:
            raise RuntimeError("outbox is not open")
        return self._store

    async def _call(self, function: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            raise RuntimeError("outbox is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args))
