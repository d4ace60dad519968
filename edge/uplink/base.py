"""The uplink surface: how the agent hands batches to a transport, and learns they are settled.

Layer: abstract interface only; no I/O here. Each transport (``mqtt.py`` now;
HTTPS, NB-IoT and HJ 212 later, ``fake.py`` for tests and benchmarks)
implements :class:`Uplink` and converts its library's exceptions into the
:class:`~edge.errors.UplinkError` family at its boundary.

The delivery contract, the same for every transport:

- :meth:`Uplink.send` takes one stored, *unsigned* batch body, signs it with
  the gateway's current secret and hands it over; it returns at once.
- A batch is settled only when the cloud says it is committed to the database
  (or deliberately refused): ``on_settled(ack)`` with a verified
  :class:`wire.ack.Ack`. Over MQTT that is the signed ``down/ack`` the ingest
  worker publishes after its commit; over HTTP it will be the 2xx sent after
  the commit; over NB-IoT the acknowledgement datagram. Transport-level
  receipts (an MQTT PUBACK) only free the transport's window (:meth:`Uplink.room`):
  a broker that crashes, or a shared subscription nobody holds yet, loses what
  it acknowledged.
- The agent re-sends what stays unsettled after a timeout and after every
  reconnect; the cloud stores a batch once per (gateway, seq), and a seq may be
  settled twice, so settling must be idempotent.
- :meth:`Uplink.open` starts connecting in the background and returns at once;
  link changes arrive as ``on_state(connected)``, which is also called, with
  the state unchanged, when a transport receipt frees room in the window.
- Presence, where the transport has it: on every connect the uplink publishes
  what the ``status`` callable given to :meth:`Uplink.open` returns, before
  ``on_state(True)``; :meth:`Uplink.publish_status` replaces it while connected.

Callbacks run in the event loop that called :meth:`Uplink.open`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from edge.errors import NotConnectedError, PublishError, UplinkError
from wire.ack import Ack

SettledCallback = Callable[[Ack], None]
StateCallback = Callable[[bool], None]
StatusSource = Callable[[], bytes]
SecretSource = Callable[[], bytes]


class RetiredSecret:
    """The secret before a rotation: it verifies acks until the cloud shows it has the new one.

    Batches signed with the old secret just before a rotation are acked with the
    old secret (the cloud acks with the secret that verified them); an ack that
    verifies under the *current* secret proves the cloud has it, and
    :meth:`confirm` forgets the old one (and calls ``on_confirmed``, once).
    Never logged: ``repr`` shows no key.
    """

    def __init__(self) -> None:
        """No retired secret until a rotation sets :attr:`value`."""
        self.value: bytes | None = None
        self.on_confirmed: Callable[[], None] | None = None

    def __repr__(self) -> str:
        """Whether a secret is kept, never the secret."""
        return f"RetiredSecret(kept={self.value is not None})"

    def confirm(self) -> None:
        """An ack verified under the current secret: the old one is no longer needed."""
        if self.value is None:
            return
        self.value = None
        if self.on_confirmed is not None:
            self.on_confirmed()


__all__ = [
    "NotConnectedError",
    "PublishError",
    "RetiredSecret",
    "SecretSource",
    "SettledCallback",
    "StateCallback",
    "StatusSource",
    "Uplink",
    "UplinkError",
]


class Uplink(abc.ABC):
    """Delivers batches; the cloud's settlements come back through ``on_settled``."""

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """Whether :meth:`send` can hand batches over right now."""

    @abc.abstractmethod
    def room(self) -> int:
        """How many more batches the transport takes now (its in-flight window)."""

    @property
    def forged(self) -> int:
        """Acknowledgements refused because they did not verify (forged or stale)."""
        return 0

    @abc.abstractmethod
    async def open(
        self,
        on_settled: SettledCallback,
        on_state: StateCallback,
        status: StatusSource | None = None,
    ) -> None:
        """Start connecting (in the background) and report through the callbacks.

        ``status`` builds the online presence message published on every connect
        (called in the event loop); without it the transport publishes a bare one.

        Raises:
            UplinkError: the transport cannot even be set up (bad address, ...).
        """

    @abc.abstractmethod
    def send(self, seq: int, body: bytes) -> int:
        """Sign batch ``seq`` (its encoded ``body``) and hand it over; return bytes sent.

        Raises:
            NotConnectedError: not connected; the outbox keeps the batch.
            PublishError: the transport refused the message.
        """

    def publish_status(self, payload: bytes) -> bool:
        """Replace the presence message with ``payload`` now, if connected.

        Fire and forget: nothing is queued while disconnected (the next connect
        publishes a fresh one). Returns whether it was handed over; a transport
        without presence (this default) returns False.

        Raises:
            PublishError: the transport refused the message.
        """
        return False

    @abc.abstractmethod
    async def close(self, timeout_s: float) -> None:
        """Say goodbye (within ``timeout_s``) and disconnect; idempotent."""
