"""What is out and owed an ack: the send window of the publisher, and its pass over the backlog.

Layer: asyncio, between the outbox (read only: payloads, ``batches_after``) and
an uplink (``send``, ``room``); no SQL, no crypto, no settling decisions (the
publisher makes those and tells the window).

Bounded in memory however deep the outbox is: at most
``max_unconfirmed_batches`` batches are sent and not yet settled
(:attr:`SendWindow.unsettled`, seq -> when sent). A pass walks the outbox
oldest-first with a cursor over the primary key (``batches_after``), so
catching up never sorts or lists the whole backlog; batches sealed during the
pass go out first ("live"), so dashboards stay fresh while a backlog drains.
Every reconnect starts a new pass (everything unsettled is sent again), and a
batch unsettled for ``ack_timeout_s`` is sent again. ``max_bytes_per_s`` caps
the bandwidth (:class:`edge.uplink.bandwidth.Bandwidth`) for metered links.
"""

from __future__ import annotations

import time
from collections import deque

from edge.config import PublishSection
from edge.errors import NotConnectedError
from edge.outbox import OutboxRunner
from edge.outbox.capacity import OutboxView
from edge.uplink.bandwidth import Bandwidth
from edge.uplink.base import Uplink

MAX_LIVE = 1024  # live seqs remembered ahead of the cursor; beyond, the pass finds them


class SendWindow:
    """Hands batches to the uplink and remembers which are out, and how often they went."""

    def __init__(
        self, outbox: OutboxRunner, uplink: Uplink, settings: PublishSection, view: OutboxView
    ) -> None:
        """Nothing sent yet; the first pass starts at the oldest batch."""
        self._outbox = outbox
        self._uplink = uplink
        self._settings = settings
        self._view = view
        self.unsettled: dict[int, float] = {}  # seq -> monotonic time sent
        self.sends: dict[int, int] = {}  # seq -> times sent in this run, until settled
        self.live: deque[int] = deque()  # sealed during the pass, not sent yet
        self.resign: deque[int] = deque()  # refused as bad_signature of an old secret
        self._cursor = -1  # the pass has sent every unsettled seq <= cursor
        self._pass_done_at: float | None = None
        self._ahead: set[int] = set()  # sent live, above the cursor
        self._unsent: set[int] = set()
        self._bandwidth = Bandwidth(settings.max_bytes_per_s, settings.max_payload_bytes)

    @property
    def idle(self) -> bool:
        """Nothing out, nothing sealed waiting to go first, nothing to re-sign."""
        return not self.unsettled and not self.live and not self.resign

    def new_pass(self) -> None:
        """Send everything unsettled again, oldest first (after a reconnect)."""
        self._cursor = -1
        self._pass_done_at = None
        self.unsettled.clear()
        self._ahead.clear()
        self.live.clear()

    def sealed(self, seq: int) -> None:
        """Batch ``seq`` was just sealed: it goes out before the backlog."""
        self.live.append(seq)
        if len(self.live) > MAX_LIVE:
            self.live.popleft()  # still above the cursor: the pass will find it

    def settled(self, seq: int) -> None:
        """The cloud settled ``seq`` (or it was set aside): free its slot."""
        self.unsettled.pop(seq, None)
        self.sends.pop(seq, None)
        self._ahead.discard(seq)

    def send_again_signed_anew(self, seq: int) -> None:
        """``seq`` was refused for an old secret: send it once more (signed with the current)."""
        self.unsettled.pop(seq, None)
        self.resign.append(seq)

    def overdue(self) -> list[int]:
        """Seqs sent ``ack_timeout_s`` ago or more and still unsettled."""
        now, timeout_s = time.monotonic(), self._settings.ack_timeout_s
        return [seq for seq, sent in self.unsettled.items() if now - sent >= timeout_s]

    def wait_s(self, now: float) -> float | None:
        """Until the next re-send, end of a pass, or end of bandwidth debt; None: nothing due."""
        waits: list[float] = []
        if self.unsettled:
            waits.append(min(self.unsettled.values()) + self._settings.ack_timeout_s - now)
        elif self._view.unacked_batches and self._pass_done_at is not None:
            waits.append(self._pass_done_at + self._settings.ack_timeout_s - now)
        debt_s = self._bandwidth.wait_s()
        if debt_s is not None:
            waits.append(debt_s)
        return min(waits) if waits else None

    async def send(self, overdue: list[int]) -> None:
        """Re-send ``overdue``, then re-signed, live and backlog batches, as room allows."""
        if not self._uplink.connected:
            return
        sent = await self._send_seqs(overdue[: max(0, self._uplink.room())], again=True)
        self._view.resent_batches += len(sent)
        while self.resign and self._room() > 0:
            seq = self.resign.popleft()
            if not await self._send_seqs([seq]) and seq in self._unsent:
                self.resign.appendleft(seq)
                break
        live_room = max(1, self._room() // 2)  # the other half drains the backlog
        while self.live and self._room() > 0 and live_room > 0:
            live_room -= 1
            seq = self.live.popleft()
            if await self._send_seqs([seq]):
                self._ahead.add(seq)
            elif seq in self._unsent:
                self.live.appendleft(seq)
                break
        await self._send_backlog()

    def _room(self) -> int:
        if not self._uplink.connected:
            return 0
        unsettled_room = self._settings.max_unconfirmed_batches - len(self.unsettled)
        return max(0, min(self._uplink.room(), unsettled_room))

    async def _send_backlog(self) -> None:
        while (room := self._room()) > 0 and self._bandwidth.left():
            rows = await self._outbox.batches_after(self._cursor, room)
            if not rows:
                self._maybe_restart_pass()
                return
            for seq, body in rows:
                if seq in self._ahead:
                    self._ahead.discard(seq)
                elif seq not in self.unsettled and not self._hand_over(seq, body):
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
            not self.unsettled
            and self._view.unacked_batches > 0
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
            if not again and seq in self.unsettled:
                continue
            if not self._hand_over(seq, body):
                self._unsent = {s for s, _ in rows[index:]}
                break
            sent.append(seq)
        return sent

    def _hand_over(self, seq: int, body: bytes) -> bool:
        """Send one batch; False (nothing changed) when the link or the bandwidth says wait."""
        if not self._bandwidth.left():
            return False
        try:
            sent_bytes = self._uplink.send(seq, body)
        except NotConnectedError:
            return False  # on_state will wake us when it is back
        self.unsettled[seq] = time.monotonic()
        self.sends[seq] = self.sends.get(seq, 0) + 1
        self._bandwidth.charge(sent_bytes)
        return True
