"""The uplink surface: how the agent hands signed batches to a transport.

Layer: abstract interface only; no I/O here. Each transport (``mqtt.py`` now;
NB-IoT and HTTPS later) implements :class:`Uplink` and converts its library's
exceptions into the :class:`~edge.errors.UplinkError` family at its boundary.

Contract, shaped for pipelined protocols such as MQTT QoS 1:

- :meth:`Uplink.open` starts connecting in the background and returns at once;
  connection changes arrive as ``on_state(connected)``.
- :meth:`Uplink.send` hands over one stored batch and returns at once; when the
  far side confirms it, ``on_ack(seq)`` is called. A seq may be acknowledged
  twice (after a re-send), so acks must be idempotent.
- :meth:`Uplink.close` says goodbye within ``timeout_s`` and disconnects.
- Presence, where the transport has it: on every connect the uplink publishes
  what the ``status`` callable given to :meth:`Uplink.open` returns, before
  ``on_state(True)``; :meth:`Uplink.publish_status` replaces it while connected.

Callbacks run in the event loop that called :meth:`Uplink.open`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from edge.errors import NotConnectedError, PublishError, UplinkError

AckCallback = Callable[[int], None]
StateCallback = Callable[[bool], None]
StatusSource = Callable[[], bytes]

__all__ = [
    "AckCallback",
    "NotConnectedError",
    "PublishError",
    "StateCallback",
    "StatusSource",
    "Uplink",
    "UplinkError",
]


class Uplink(abc.ABC):
    """Delivers signed batches; confirmations come back through ``on_ack``."""

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """Whether :meth:`send` can hand batches over right now."""

    @property
    @abc.abstractmethod
    def in_flight(self) -> frozenset[int]:
        """Seqs sent but not yet confirmed; the transport re-sends these itself."""

    @property
    def max_in_flight(self) -> int:
        """How many batches may await confirmation at once."""
        return 1

    @abc.abstractmethod
    async def open(
        self, on_ack: AckCallback, on_state: StateCallback, status: StatusSource | None = None
    ) -> None:
        """Start connecting (in the background) and report through the callbacks.

        ``status`` builds the online presence message published on every connect
        (called in the event loop); without it the transport publishes a bare one.

        Raises:
            UplinkError: the transport cannot even be set up (bad address, ...).
        """

    @abc.abstractmethod
    def send(self, seq: int, payload: bytes) -> None:
        """Hand over batch ``seq``; ``on_ack(seq)`` follows its confirmation.

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
