"""The publisher: seals pending readings into batches, feeds the uplink, applies settlements.

Layer: asyncio orchestration between the outbox and an uplink; no SQL, no
crypto beyond comparing a refusal's tag, no protocol code. It is the pollers'
sink (:meth:`Publisher.store`), the uplink's settlement and state callbacks,
and one loop task (:meth:`Publisher.run`).

Sealing: a batch is sealed as soon as ``max_batch_readings`` are pending, or
when the oldest pending reading has waited ``max_delay_s``.

Sending, bounded in memory however deep the outbox is: at most
``max_unconfirmed_batches`` batches are sent and not yet settled
(:attr:`Publisher._unsettled`, seq -> when sent). A pass walks the outbox
oldest-first with a cursor over the primary key (``batches_after``), so
catching up never sorts or lists the whole backlog; batches sealed during the
pass go out first ("live"), so dashboards stay fresh while a backlog drains.
Every reconnect starts a new pass (everything unsettled is sent again), and a
batch unsettled for ``ack_timeout_s`` is sent again. ``max_bytes_per_s`` caps
the bandwidth (a token bucket) for metered links.

Settling: a batch leaves the outbox only when the cloud's verified ack says it
is committed; a refused batch moves to the quarantine table, except a
``bad_signature`` refusal of a copy signed with another secret than the current
one (the secret was rotated while it waited): that batch is re-signed and sent
again, once. A batch no ack ever names (the cloud cannot read its seq, so it
dead-letters it without one) would otherwise be re-sent forever: once it has
been sent ``quarantine_after_sends`` times in this run and acks for newer
batches arrived after its last send, it is quarantined as ``never_acknowledged``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass

from edge.config import OutboxSection, PublishSection
from edge.errors import NotConnectedError, OutboxError, UplinkError
from edge.outbox import OutboxRunner
from edge.uplink.base import SecretSource, Uplink
from wire import Reading
from wire.ack import Ack, refusal_tag

log = logging.getLogger(__name__)

BAD_SIGNATURE = "bad_signature"
NEVER_ACKNOWLEDGED = "never_acknowledged"
_RECENT = 4096  # settled seqs remembered for is_settled()
_MAX_LIVE = 1024  # live seqs remembered ahead of the cursor; beyond, the pass finds them


@dataclass
class OutboxView:
    """What the publisher knows about the outbox, kept in memory for health reports."""

    pending_readings: int = 0
    unacked_batches: int = 0
    next_seq: int = 1
    last_sealed_seq: int | None = None
    last_acked_seq: int | None = None
    acked_batches: int = 0
    quarantined_batches: int = 0
    resent_batches: int = 0
    thinned_readings: int = 0


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
        self._limits = limits or OutboxSection()
        self._full = False
        self._newest_next = False
        self._outbox = outbox
        self._uplink = uplink
        self._gateway_id = gateway_id
        self._secret = secret
        self._settings = publish
        self._on_change = on_change
        self.view = OutboxView()
        self._arrivals: deque[list[float | int]] = deque()  # [monotonic time, readings left]
        self._settled: list[Ack] = []
        self._wake = asyncio.Event()
        self._stop_deadline: float | None = None
        self._healthy = True
        self._link_up = False
        self._unsettled: dict[int, float] = {}  # seq -> monotonic time sent
        self._cursor = -1  # the pass has sent every unsettled seq <= cursor
        self._pass_done_at: float | None = None
        self._live: deque[int] = deque()  # sealed during the pass, not sent yet
        self._ahead: set[int] = set()  # sent live, above the cursor
        self._resign: deque[int] = deque()  # refused as bad_signature of an old secret
        self._resigned: set[int] = set()
        self._recent: deque[int] = deque(maxlen=_RECENT)
        self._recent_set: set[int] = set()
        self._tokens = float(max(publish.max_bytes_per_s or 0, publish.max_payload_bytes))
        self._tokens_at = time.monotonic()
        self._unsent: set[int] = set()
        self._sends: dict[int, int] = {}  # seq -> times sent in this run, until settled
        self._newest_committed = -1  # the highest seq an ack committed, and when
        self._committed_at = -math.inf

    async def load(self) -> None:
        """Read the outbox's counts (not its batches: a deep outbox may not fit in memory)."""
        counts = await self._outbox.counts()
        self.view.pending_readings = counts.pending_readings
        self.view.next_seq = counts.next_seq
        self.view.unacked_batches = counts.unacked_batches
        self.view.quarantined_batches = counts.quarantined_batches
        self.view.thinned_readings = counts.thinned_readings
        if counts.pending_readings:
            self._arrivals.append([time.monotonic(), counts.pending_readings])

    async def store(self, readings: Sequence[Reading]) -> None:
        """Sink of the pollers: one outbox transaction for one poll cycle."""
        stored = await self._outbox.enqueue(readings)
        await self._keep_within_limits()
        if stored:
            was_empty = not self.view.pending_readings
            self._arrivals.append([time.monotonic(), stored])
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
            self._new_pass()
        self._link_up = connected
        self._wake.set()
        self._on_change()

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
                self._newest_committed = max(self._newest_committed, *ack.committed)
                self._committed_at = time.monotonic()
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
            self._unsettled.pop(seq, None)
            self._resign.append(seq)
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

    def _never_acknowledged(self, seq: int, sent_at: float) -> bool:
        """Whether ``seq`` is owed an ack that will never come (see the module docstring)."""
        return (
            self._sends.get(seq, 0) >= self._settings.quarantine_after_sends
            and self._newest_committed > seq
            and self._committed_at > sent_at
        )

    async def _give_up(self, seqs: list[int]) -> None:
        for seq in seqs:
            count = self._sends.get(seq, 0)
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
        self._unsettled.pop(seq, None)
        self._sends.pop(seq, None)
        self._ahead.discard(seq)
        if seq in self._resign:
            return  # refused as bad_signature: about to be sent again
        self._resigned.discard(seq)
        if seq not in self._recent_set:
            if len(self._recent) == self._recent.maxlen:
                self._recent_set.discard(self._recent[0])
            self._recent.append(seq)
            self._recent_set.add(seq)

    # --- capacity -------------------------------------------------------------

    async def _keep_within_limits(self) -> None:
        """Thin the oldest waiting readings while the outbox is full (see OutboxSection)."""
        window_min = self._limits.thin_window_min
        while (why := await self._over_limit()) is not None:
            if not self._full:
                log.warning("outbox full (%s): thinning the oldest readings to means", why)
                self._full = True
            folded = await self._outbox.thin(0.5, window_min)
            self.view.thinned_readings += folded
            if folded:
                self.view.pending_readings = (await self._outbox.counts()).pending_readings
                self._arrivals.clear()
                self._arrivals.append([time.monotonic(), self.view.pending_readings])
                self._on_change()
            elif window_min >= 1440:
                log.error("outbox full (%s) and nothing left to thin", why)
                return
            else:
                window_min = min(1440, window_min * 2)
        if self._full:
            log.info("outbox has room again")
            self._full = False

    async def _over_limit(self) -> str | None:
        limits = self._limits
        # sealed batches count at their most: they are few (max_sealed_batches)
        sealed = self.view.unacked_batches * self._settings.max_batch_readings
        if self.view.pending_readings + sealed > limits.max_readings:
            return f"{self.view.pending_readings + sealed} readings waiting"
        used = await self._outbox.size_bytes()
        if used > limits.max_bytes:
            return f"{used} bytes used"
        try:
            free = shutil.disk_usage(self._outbox.data_dir).free
        except OSError:
            return None
        if free < limits.min_free_disk_bytes and self.view.pending_readings > 1:
            return f"{free} bytes free on disk"
        return None

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
                and (self._stopping() or self._oldest_wait_s() >= self._settings.max_delay_s)
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
                self._arrivals.clear()
                break
            self._consume_arrivals(sealed.readings)
            self.view.pending_readings -= sealed.readings
            self.view.unacked_batches += 1
            self.view.next_seq = sealed.seq + 1
            self.view.last_sealed_seq = sealed.seq
            self._live.append(sealed.seq)
            if len(self._live) > _MAX_LIVE:
                self._live.popleft()  # still above the cursor: the pass will find it
            self._on_change()

    # --- sending --------------------------------------------------------------

    def _new_pass(self) -> None:
        """Send everything unsettled again, oldest first (after a reconnect)."""
        self._cursor = -1
        self._pass_done_at = None
        self._unsettled.clear()
        self._ahead.clear()
        self._live.clear()

    def _room(self) -> int:
        if not self._uplink.connected:
            return 0
        unsettled_room = self._settings.max_unconfirmed_batches - len(self._unsettled)
        return max(0, min(self._uplink.room(), unsettled_room))

    async def _send(self) -> None:
        if not self._uplink.connected:
            return
        now = time.monotonic()
        timeout_s = self._settings.ack_timeout_s
        overdue = [seq for seq, sent in self._unsettled.items() if now - sent >= timeout_s]
        lost = [seq for seq in overdue if self._never_acknowledged(seq, self._unsettled[seq])]
        if lost:
            await self._give_up(lost)
            overdue = [seq for seq in overdue if seq not in lost]
        sent = await self._send_seqs(overdue[: max(0, self._uplink.room())], again=True)
        self.view.resent_batches += len(sent)
        while self._resign and self._room() > 0:
            seq = self._resign.popleft()
            if not await self._send_seqs([seq]) and seq in self._unsent:
                self._resign.appendleft(seq)
                break
        live_room = max(1, self._room() // 2)  # the other half drains the backlog
        while self._live and self._room() > 0 and live_room > 0:
            live_room -= 1
            seq = self._live.popleft()
            if await self._send_seqs([seq]):
                self._ahead.add(seq)
            elif seq in self._unsent:
                self._live.appendleft(seq)
                break
        await self._send_backlog()

    async def _send_backlog(self) -> None:
        while (room := self._room()) > 0 and self._bandwidth_left():
            rows = await self._outbox.batches_after(self._cursor, room)
            if not rows:
                self._maybe_restart_pass()
                return
            for seq, body in rows:
                if seq in self._ahead:
                    self._ahead.discard(seq)
                elif seq not in self._unsettled and not self._hand_over(seq, body):
                    return
                self._cursor = seq

    def _maybe_restart_pass(self) -> None:
        """The pass reached the end: start another when nothing is owed but batches remain.

        Batches put back by ``shanshui edge outbox resend`` lie below the cursor.
        """
        now = time.monotonic()
        if self._pass_done_at is None:
            self._pass_done_at = now
        elif (
            not self._unsettled
            and self.view.unacked_batches > 0
            and now - self._pass_done_at >= self._settings.ack_timeout_s
        ):
            self._cursor = -1
            self._pass_done_at = None

    async def _send_seqs(self, seqs: list[int], *, again: bool = False) -> list[int]:
        """Send these batches (those still in the outbox); return the seqs sent.

        Seqs that could not go now (link, bandwidth) are left in :attr:`_unsent`.
        """
        self._unsent = set()
        if not seqs:
            return []
        sent = []
        rows = await self._outbox.payloads(seqs)
        for index, (seq, body) in enumerate(rows):
            if not again and seq in self._unsettled:
                continue
            if not self._hand_over(seq, body):
                self._unsent = {s for s, _ in rows[index:]}
                break
            sent.append(seq)
        return sent

    def _hand_over(self, seq: int, body: bytes) -> bool:
        """Send one batch; False (nothing changed) when the link or the bandwidth says wait."""
        if not self._bandwidth_left():
            return False
        try:
            sent_bytes = self._uplink.send(seq, body)
        except NotConnectedError:
            return False  # on_state will wake us when it is back
        self._unsettled[seq] = time.monotonic()
        self._sends[seq] = self._sends.get(seq, 0) + 1
        self._tokens -= sent_bytes
        return True

    def _bandwidth_left(self) -> bool:
        cap = self._settings.max_bytes_per_s
        if cap is None:
            return True
        now = time.monotonic()
        burst = float(max(cap, self._settings.max_payload_bytes))
        self._tokens = min(burst, self._tokens + (now - self._tokens_at) * cap)
        self._tokens_at = now
        return self._tokens > 0

    # --- timing ---------------------------------------------------------------

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
        if self.view.pending_readings and self._healthy and self._can_seal():
            return False  # seal the rest first
        if not self._uplink.connected:
            return True  # nothing more can be delivered; the outbox keeps it
        return not self._unsettled and not self._live and not self._resign

    def _wait_s(self) -> float | None:
        now = time.monotonic()
        if not self._healthy:
            retry_s = self._settings.max_delay_s  # retry a failing outbox or uplink later
            if self._stop_deadline is None:
                return retry_s
            return max(0.0, min(retry_s, self._stop_deadline - now))
        waits: list[float] = []
        if self.view.pending_readings and self._can_seal():
            due_s = self._settings.max_delay_s - self._oldest_wait_s()
            waits.append(0.0 if self._stopping() else due_s)
        if self._stop_deadline is not None:
            waits.append(self._stop_deadline - now)
        if self._unsettled:
            oldest = min(self._unsettled.values())
            waits.append(oldest + self._settings.ack_timeout_s - now)
        elif self.view.unacked_batches and self._pass_done_at is not None:
            waits.append(self._pass_done_at + self._settings.ack_timeout_s - now)
        cap = self._settings.max_bytes_per_s
        if cap is not None and self._tokens <= 0:
            waits.append(-self._tokens / cap + 0.01)
        return max(0.0, min(waits)) if waits else None

    def _report(self, error: Exception | None) -> None:
        if error is not None and self._healthy:
            log.error("publisher: %s", error)
        elif error is None and not self._healthy:
            log.info("publisher: working again")
        self._healthy = error is None
