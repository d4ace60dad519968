"""An in-memory uplink for tests and benchmarks: it records, and the caller plays the cloud.

Layer: a :class:`~edge.uplink.base.Uplink` with no I/O, in the spirit of httpx's
``MockTransport``. It signs what it is given exactly as a real transport does
(so tests can verify envelopes), keeps them in :attr:`FakeUplink.sent`, and
settles nothing on its own unless ``auto_commit`` is set: the test decides
when the "cloud" commits (:meth:`FakeUplink.commit`), refuses
(:meth:`FakeUplink.refuse`), or when the link drops (:meth:`FakeUplink.set_connected`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge.errors import NotConnectedError, PublishError
from edge.uplink.base import SecretSource, SettledCallback, StateCallback, StatusSource, Uplink
from wire.ack import Ack, Refusal, refusal_tag
from wire.signing import sign_body


@dataclass(frozen=True, slots=True)
class SentBatch:
    """One hand-over: the seq, the body, and the envelope as it left (signed)."""

    seq: int
    body: bytes
    envelope: bytes


class FakeUplink(Uplink):
    """Records batches; settles them when told to (or at once with ``auto_commit``)."""

    def __init__(
        self,
        gateway_id: str,
        secret: SecretSource,
        *,
        window: int = 20,
        connected: bool = True,
        auto_commit: bool = False,
        on_send: Callable[[SentBatch], None] | None = None,
    ) -> None:
        """Nothing happens until :meth:`open`.

        Args:
            gateway_id: whose batches (the acks name it).
            secret: the current secret, read at each send.
            window: :meth:`room` while connected.
            connected: the link state after :meth:`open`.
            auto_commit: commit every batch as soon as it is sent (soon, on the loop).
            on_send: called with each hand-over (a test's hook).
        """
        self.gateway_id = gateway_id
        self.sent: list[SentBatch] = []
        self.statuses: list[bytes] = []
        self.fail_next: Exception | None = None
        self._secret = secret
        self._window = window
        self._connected = connected
        self._auto_commit = auto_commit
        self._on_send = on_send
        self._on_settled: SettledCallback = lambda _ack: None
        self._on_state: StateCallback = lambda _up: None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def connected(self) -> bool:
        """The link state the test set."""
        return self._connected

    def room(self) -> int:
        """``window`` while connected, else 0."""
        return self._window if self._connected else 0

    async def open(
        self,
        on_settled: SettledCallback,
        on_state: StateCallback,
        status: StatusSource | None = None,
    ) -> None:
        """Keep the callbacks; report the initial link state."""
        self._loop = asyncio.get_running_loop()
        self._on_settled, self._on_state = on_settled, on_state
        if self._connected:
            if status is not None:
                self.statuses.append(status())
            on_state(True)

    def send(self, seq: int, body: bytes) -> int:
        """Sign with the current secret and record; see :class:`Uplink`."""
        if not self._connected:
            raise NotConnectedError("fake uplink is disconnected")
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise PublishError(str(error))
        envelope = sign_body(self.gateway_id, body, self._secret())
        sent = SentBatch(seq, body, envelope)
        self.sent.append(sent)
        if self._on_send is not None:
            self._on_send(sent)
        if self._auto_commit and self._loop is not None:
            self._loop.call_soon(self.commit, [seq])
        return len(envelope)

    def publish_status(self, payload: bytes) -> bool:
        """Record the status if connected."""
        if not self._connected:
            return False
        self.statuses.append(payload)
        return True

    def commit(self, seqs: Sequence[int]) -> None:
        """Play the cloud: these batches are committed."""
        self._on_settled(Ack(self.gateway_id, tuple(sorted(set(seqs)))))

    def refuse(self, seq: int, reason: str, secret: bytes | None = None) -> None:
        """Play the cloud: batch ``seq`` is refused; the tag is of the copy last sent.

        ``secret``: compute the tag as if that copy had been signed with this secret.
        """
        body = next(s.body for s in reversed(self.sent) if s.seq == seq)
        tag = refusal_tag(body, self._secret() if secret is None else secret)
        self._on_settled(Ack(self.gateway_id, refused=(Refusal(seq, reason, tag),)))

    def set_connected(self, connected: bool) -> None:
        """Drop or restore the link."""
        if connected != self._connected:
            self._connected = connected
            self._on_state(connected)

    async def close(self, timeout_s: float) -> None:
        """Disconnect."""
        self._connected = False
