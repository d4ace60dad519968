"""The publisher: seals pending readings into batches, feeds the uplink, applies settlements.

Layer: asyncio orchestration between the outbox and an uplink; no SQL, no
crypto beyond comparing a refusal's tag, no protocol code. It is the pollers'
sink (:meth:`Publisher.store`), the uplink's settlement and state callbacks,
and one loop task (:meth:`Publisher.run`).

Sealing: a batch is sealed as soon as ``max_batch_readings`` are pending, or
when the oldest pending reading has waited ``max_delay_s``.

Sending, bounded in memory however deep the outbox is: :mod:`edge.send_window`
(the window of unsettled batches, the pass over the backlog, re-sends, the
bandwidth cap). Capacity (thinning a full outbox): :mod:`edge.outbox.capacity`.

Settling: a batch leaves the outbox only when the cloud's verified ack says it
is committed; a refused batch moves to the quarantine table, except a
``bad_signature`` refusal of a copy signed with another secret than the current
one (the secret was rotated while it waited): that batch is re-signed and sent
again, once. A batch no ack ever names (the cloud cannot read its seq, so it
dead-letters it without one) would otherwise be re-sent forever. A batch earns
a strike when it is overdue although a batch sent *after* its last send has
been committed; after ``quarantine_after_sends`` strikes it is quarantined as
``never_acknowledged``. Sends during an outage earn no strike (no batch is
committed then), nor do acks that arrive out of order once: only a batch the
cloud keeps passing over, send after send, is given up. Strikes are kept in the
outbox (``batches.strikes``, written only when one is earned), so they add up
across restarts: a gateway that restarts often still gives such a batch up. A
batch put back by ``shanshui edge outbox resend`` starts again from none.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress

from edge.config import OutboxSection, PublishSection
from edge.errors import OutboxError, UplinkError
from edge.outbox import OutboxRunner
from edge.outbox.arrivals import Arrivals
from edge.outbox.capacity import Capacity, OutboxView
from edge.send_window import SendWindow
from edge.uplink.base import SecretSource, Uplink
from wire import Reading
from wire.ack import Ack, refusal_tag

log = logging.getLogger(__name__)

BAD_SIGNATURE = "bad_signature"
NEVER_ACKNOWLEDGED = "never_acknowledged"
_RECENT = 4096  # settled seqs remembered for is_settled()


class Publisher:
    """Seals, sends, settles; one instance per agent."""

    def __init__(
        self,
        outbox: OutboxRunner,
        uplink: Uplink,
        *,
        gateway_id: str,
        secret: SecretSource,
        publish: PublishSection,
        on_change: Callable[[], None],
        limits: OutboxSection | None = None,
    ) -> None:
        """Wire the publisher; call :meth:`load` before :meth:`run`."""
        self._newest_next = False
        self._outbox = outbox
        self._uplink = uplink
        self._gateway_id = gateway_id
        self._secret = secret
        self._settings = publish
        self._on_change = on_change
        self.view = OutboxView()
        self._capacity = Capacity(
            outbox, self.view, limits or OutboxSection(), publish.max_batch_readings, self._thinned
        )
        self._arrivals = Arrivals()
        self._settled: list[Ack] = []
        self._wake = asyncio.Event()
        self._stop_deadline: float | None = None
        self._healthy = True
        self._link_up = False
        self._window = SendWindow(outbox, uplink, publish, self.view)
        self._resigned: set[int] = set()
        self._recent: deque[int] = deque(maxlen=_RECENT)
        self._recent_set: set[int] = set()
        self._acked_sent_at = -math.inf  # the latest send time of a batch an ack committed

    async def load(self) -> None:
        """Read the outbox's counts (not its batches: a deep outbox may not fit in memory)."""
        counts = await self._outbox.counts()
        self.view.pending_readings = counts.pending_readings
        self.view.next_seq = counts.next_seq
        self.view.unacked_batches = counts.unacked_batches
        self.view.quarantined_batches = counts.quarantined_batches
        self.view.thinned_readings = counts.thinned_readings
        if counts.pending_readings:
            self._arrivals.add(counts.pending_readings)

    async def store(self, readings: Sequence[Reading]) -> None:
        """Sink of the pollers: one outbox transaction for one poll cycle."""
        stored = await self._outbox.enqueue(readings)
        await self._capacity.keep_within_limits()
        if stored:
            was_empty = not self.view.pending_readings
            self._arrivals.add(stored)
            self.view.pending_readings += stored
            if was_empty or self.view.pending_readings >= self._settings.max_batch_readings:
                self._wake.set()  # a new seal deadline, or a full batch
            self._on_change()

    def on_settled(self, ack: Ack) -> None:
        """Uplink callback: the cloud settled these batches (verified by the uplink)."""
        self._settled.append(ack)
        self._wake.set()

    def on_state(self, connected: bool) -> None:
        """Uplink callback: the link came up or went down, or its window has room."""
        if connected and not self._link_up:
            self._window.new_pass()
        self._link_up = connected
        self._wake.set()
        self._on_change()

    @property
    def unsettled(self) -> int:
        """Batches sent and not settled yet (at most ``max_unconfirmed_batches``)."""
        return len(self._window.unsettled)

    def is_settled(self, seq: int) -> bool:
        """Whether batch ``seq`` was settled by the cloud during this run (recent ones)."""
        return seq in self._recent_set

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
                    await self._apply_settled()  # acks that arrived during the last step
                return
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._wait_s())
            self._wake.clear()

    async def _step(self) -> None:
        await self._apply_settled()
        await self._seal_due()
        await self._send()

    # --- settling -------------------------------------------------------------

    async def _apply_settled(self) -> None:
        while self._settled:
            ack = self._settled[0]
            if ack.committed:
                deleted = await self._outbox.ack_many(ack.committed)
                self.view.unacked_batches = max(0, self.view.unacked_batches - deleted)
                self.view.acked_batches += deleted
                self.view.last_acked_seq = ack.committed[-1]
                for seq in ack.committed:  # before _forget drops their send times
                    sent_at = self._window.unsettled.get(seq)
                    if sent_at is not None and sent_at > self._acked_sent_at:
                        self._acked_sent_at = sent_at
            for refusal in ack.refused:
                await self._refused(refusal.seq, refusal.reason, refusal.tag)
            self._settled.pop(0)
            for seq in ack.seqs:
                self._forget(seq)
            self._on_change()

    async def _refused(self, seq: int, reason: str, tag: bytes) -> None:
        found = await self._outbox.payloads([seq])
        if not found:
            return  # settled before
        body = found[0][1]
        if (
            reason == BAD_SIGNATURE
            and tag != refusal_tag(body, self._secret())
            and seq not in self._resigned
        ):
            log.info("batch %d was signed with an older secret; re-signing and re-sending", seq)
            self._resigned.add(seq)
            self._window.send_again_signed_anew(seq)
            self.view.resent_batches += 1
            return
        if await self._outbox.quarantine(seq, reason):
            log.warning("cloud refused batch %d (%s): quarantined", seq, reason)
            self._quarantined()
        self._forget(seq)

    def _quarantined(self) -> None:
        self.view.unacked_batches = max(0, self.view.unacked_batches - 1)
        self.view.quarantined_batches += 1
        self._on_change()

    async def _never_acknowledged(self, seq: int, sent_at: float) -> bool:
        """Whether overdue ``seq`` is owed an ack that never comes (see the module docstring)."""
        if self._acked_sent_at <= sent_at:
            return False  # nothing sent after it was committed: an outage, or a slow cloud
        strikes = await self._outbox.strike(seq)
        return strikes >= self._settings.quarantine_after_sends

    async def _give_up(self, seqs: list[int]) -> None:
        for seq in seqs:
            count = self._window.sends.get(seq, 0)
            if await self._outbox.quarantine(seq, NEVER_ACKNOWLEDGED):
                log.warning(
                    "batch %d sent %d times, never acknowledged while newer ones were: "
                    "quarantined (see `shanshui edge outbox list`)",
                    seq,
                    count,
                )
                self._quarantined()
            self._forget(seq)

    def _forget(self, seq: int) -> None:
        """``seq`` is settled: free its slot and remember it for :meth:`is_settled`."""
        self._window.settled(seq)
        if seq in self._window.resign:
            return  # refused as bad_signature: about to be sent again
        self._resigned.discard(seq)
        if seq not in self._recent_set:
            if len(self._recent) == self._recent.maxlen:
                self._recent_set.discard(self._recent[0])
            self._recent.append(seq)
            self._recent_set.add(seq)

    # --- capacity ---------------------------------------------------------------

    def _thinned(self) -> None:
        """The capacity policy folded readings: the seal deadline restarts from now."""
        self._arrivals.reset(self.view.pending_readings)
        self._on_change()

    # --- sealing --------------------------------------------------------------

    def _can_seal(self) -> bool:
        """Sealed batches are bounded; beyond, readings wait unsealed (and can be thinned)."""
        return self.view.unacked_batches < self._settings.max_sealed_batches

    async def _seal_due(self) -> None:
        limit = self._settings.max_batch_readings
        while self._can_seal() and (
            self.view.pending_readings >= limit
            or (
                self.view.pending_readings
                and (
                    self._stopping() or self._arrivals.oldest_wait_s() >= self._settings.max_delay_s
                )
            )
        ):
            # a backlog waits unsealed: every other batch takes the newest readings,
            # so live data goes out while the backlog drains oldest first
            newest = self._newest_next and self.view.pending_readings > 2 * limit
            self._newest_next = not self._newest_next
            sealed = await self._outbox.seal(
                self._gateway_id, limit, self._settings.max_payload_bytes, newest
            )
            if sealed is None:
                self.view.pending_readings = 0
                self._arrivals.reset()
                break
            self._arrivals.consume(sealed.readings)
            self.view.pending_readings -= sealed.readings
            self.view.unacked_batches += 1
            self.view.next_seq = sealed.seq + 1
            self.view.last_sealed_seq = sealed.seq
            self._window.sealed(sealed.seq)
            self._on_change()

    # --- sending --------------------------------------------------------------

    async def _send(self) -> None:
        if not self._uplink.connected:
            return
        window = self._window
        overdue = window.overdue()
        lost = [
            seq for seq in overdue if await self._never_acknowledged(seq, window.unsettled[seq])
        ]
        if lost:
            await self._give_up(lost)
            overdue = [seq for seq in overdue if seq not in lost]
        await window.send(overdue)

    # --- timing ---------------------------------------------------------------

    def _stopping(self) -> bool:
        return self._stop_deadline is not None

    def _flushed(self) -> bool:
        if self._stop_deadline is None:
            return False
        if time.monotonic() >= self._stop_deadline:
            return True
        if self.view.pending_readings and self._healthy and self._can_seal():
            return False  # seal the rest first
        if not self._uplink.connected:
            return True  # nothing more can be delivered; the outbox keeps it
        return self._window.idle

    def _wait_s(self) -> float | None:
        now = time.monotonic()
        if not self._healthy:
            retry_s = self._settings.max_delay_s  # retry a failing outbox or uplink later
            if self._stop_deadline is None:
                return retry_s
            return max(0.0, min(retry_s, self._stop_deadline - now))
        waits: list[float] = []
        if self.view.pending_readings and self._can_seal():
            due_s = self._settings.max_delay_s - self._arrivals.oldest_wait_s()
            waits.append(0.0 if self._stopping() else due_s)
        if self._stop_deadline is not None:
            waits.append(self._stop_deadline - now)
        sending_s = self._window.wait_s(now)
        if sending_s is not None:
            waits.append(sending_s)
        return max(0.0, min(waits)) if waits else None

    def _report(self, error: Exception | None) -> None:
        if error is not None and self._healthy:
            log.error("publisher: %s", error)
        elif error is None and not self._healthy:
            log.info("publisher: working again")
        self._healthy = error is None
