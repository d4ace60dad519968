"""The publisher: seals pending readings into signed batches and feeds the uplink.

Layer: asyncio orchestration between the outbox and an uplink; no SQL and no
protocol code. It is the pollers' sink (:meth:`Publisher.store`), the uplink's
ack and state callbacks, and one loop task (:meth:`Publisher.run`).

Sealing: a batch is sealed as soon as ``max_batch_readings`` are pending, or
when the oldest pending reading has waited ``max_delay_s``. Sending: while the
uplink is connected, the oldest unacked batches that are not already in flight
are handed over, up to the uplink's window. A batch leaves the outbox only in
:meth:`Publisher.on_ack`'s wake, i.e. after the uplink confirmed it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from pydantic import SecretBytes

from edge.config import PublishSection
from edge.errors import NotConnectedError, OutboxError, UplinkError
from edge.outbox import OutboxRunner
from edge.uplink.base import Uplink
from wire import Reading

log = logging.getLogger(__name__)


@dataclass
class OutboxView:
    """What the publisher knows about the outbox, kept in memory for health reports."""

    pending_readings: int = 0
    unacked: set[int] = field(default_factory=set)
    next_seq: int = 1
    last_sealed_seq: int | None = None
    last_acked_seq: int | None = None
    acked_batches: int = 0


class Publisher:
    """Seals and sends; one instance per agent."""

    def __init__(
        self,
        outbox: OutboxRunner,
        uplink: Uplink,
        *,
        gateway_id: str,
        secret: SecretBytes,
        publish: PublishSection,
        on_change: Callable[[], None],
    ) -> None:
        """Wire the publisher; call :meth:`load` before :meth:`run`."""
        self._outbox = outbox
        self._uplink = uplink
        self._gateway_id = gateway_id
        self._secret = secret
        self._settings = publish
        self._on_change = on_change
        self.view = OutboxView()
        self._arrivals: deque[list[float | int]] = deque()  # [monotonic time, readings left]
        self._acks: list[int] = []
        self._wake = asyncio.Event()
        self._stop_deadline: float | None = None
        self._healthy = True

    async def load(self) -> None:
        """Read the outbox's counts and unacked seqs (left over from a previous run)."""
        counts = await self._outbox.counts()
        self.view.pending_readings = counts.pending_readings
        self.view.next_seq = counts.next_seq
        # seqs only: the payloads of a deep outbox may not fit in memory (see unacked_seqs)
        self.view.unacked = set(await self._outbox.unacked_seqs())
        if counts.pending_readings:
            self._arrivals.append([time.monotonic(), counts.pending_readings])

    async def store(self, readings: Sequence[Reading]) -> None:
        """Sink of the pollers: one outbox transaction for one poll cycle."""
        stored = await self._outbox.enqueue(readings)
        if stored:
            was_empty = not self.view.pending_readings
            self._arrivals.append([time.monotonic(), stored])
            self.view.pending_readings += stored
            if was_empty or self.view.pending_readings >= self._settings.max_batch_readings:
                self._wake.set()  # a new seal deadline, or a full batch
            self._on_change()

    def on_ack(self, seq: int) -> None:
        """Uplink callback: batch ``seq`` is confirmed."""
        self._acks.append(seq)
        self._wake.set()

    def on_state(self, _connected: bool) -> None:
        """Uplink callback: the connection came up or went down."""
        self._wake.set()
        self._on_change()

    def request_stop(self, flush_timeout_s: float) -> None:
        """Seal everything, deliver what can be delivered in ``flush_timeout_s``, then return."""
        self._stop_deadline = time.monotonic() + flush_timeout_s
        self._wake.set()

    async def run(self) -> None:
        """Loop until :meth:`request_stop` and the flush is done."""
        while True:
            try:
                await self._step()
            except (OutboxError, UplinkError) as exc:
                self._report(exc)
            else:
                self._report(None)
            if self._flushed():
                with suppress(OutboxError):
                    await self._apply_acks()  # acks that arrived during the last step
                return
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._wait_s())
            self._wake.clear()

    async def _step(self) -> None:
        await self._apply_acks()
        await self._seal_due()
        await self._send()

    async def _apply_acks(self) -> None:
        if not self._acks:
            return
        seqs, self._acks = self._acks, []
        try:
            await self._outbox.ack_many(seqs)
        except OutboxError:
            self._acks = seqs + self._acks  # keep them for the next try
            raise
        self.view.unacked.difference_update(seqs)
        self.view.last_acked_seq = seqs[-1]
        self.view.acked_batches += len(seqs)
        self._on_change()

    async def _seal_due(self) -> None:
        limit = self._settings.max_batch_readings
        while self.view.pending_readings >= limit or (
            self.view.pending_readings
            and (self._stopping() or self._oldest_wait_s() >= self._settings.max_delay_s)
        ):
            secret = self._secret.get_secret_value()
            sealed = await self._outbox.seal(
                self._gateway_id, secret, limit, self._settings.max_payload_bytes
            )
            if sealed is None:
                self.view.pending_readings = 0
                self._arrivals.clear()
                break
            self._consume_arrivals(sealed.readings)
            self.view.pending_readings -= sealed.readings
            self.view.unacked.add(sealed.seq)
            self.view.next_seq = sealed.seq + 1
            self.view.last_sealed_seq = sealed.seq
            self._on_change()

    async def _send(self) -> None:
        uplink = self._uplink
        room = uplink.max_in_flight - len(uplink.in_flight)
        if not uplink.connected or room <= 0:
            return
        # a seq in self._acks was confirmed while this step awaited the outbox: it has
        # left in_flight but not yet view.unacked, and must not be published again
        waiting = sorted(self.view.unacked - uplink.in_flight - set(self._acks))[:room]
        for seq, payload in await self._outbox.payloads(waiting):
            try:
                uplink.send(seq, payload)
            except NotConnectedError:
                return  # on_state will wake us when it is back

    def _oldest_wait_s(self) -> float:
        return time.monotonic() - float(self._arrivals[0][0]) if self._arrivals else 0.0

    def _consume_arrivals(self, count: int) -> None:
        while count > 0 and self._arrivals:
            head = self._arrivals[0]
            taken = min(count, int(head[1]))
            head[1] = int(head[1]) - taken
            count -= taken
            if head[1] == 0:
                self._arrivals.popleft()

    def _stopping(self) -> bool:
        return self._stop_deadline is not None

    def _flushed(self) -> bool:
        if self._stop_deadline is None:
            return False
        if time.monotonic() >= self._stop_deadline:
            return True
        if self.view.pending_readings and self._healthy:
            return False  # seal the rest first
        if not self._uplink.connected:
            return True  # nothing more can be delivered; the outbox keeps it
        return not self.view.unacked

    def _wait_s(self) -> float | None:
        now = time.monotonic()
        if not self._healthy:
            retry_s = self._settings.max_delay_s  # retry a failing outbox or uplink later
            if self._stop_deadline is None:
                return retry_s
            return max(0.0, min(retry_s, self._stop_deadline - now))
        waits: list[float] = []
        if self.view.pending_readings:
            due_s = self._settings.max_delay_s - self._oldest_wait_s()
            waits.append(0.0 if self._stopping() else due_s)
        if self._stop_deadline is not None:
            waits.append(self._stop_deadline - now)
        return max(0.0, min(waits)) if waits else None

    def _report(self, error: Exception | None) -> None:
        if error is not None and self._healthy:
            log.error("publisher: %s", error)
        elif error is None and not self._healthy:
            log.info("publisher: working again")
        self._healthy = error is None
