"""``NbiotSender``: one batch as one compact frame over the module, until the cloud confirms it.

The frame leaves through a :class:`~edge.uplink.nbiot.links.FrameLink`: a UDP
socket of the module (the default) or the module's MQTT client.

Layer: uplink logic over the driver (blocking; an async caller runs
:meth:`NbiotSender.deliver` with ``asyncio.to_thread``). The outbox keeps a
batch until ``deliver`` returns the cloud's signed acknowledgement, which the
cloud sends only after its commit (or its deliberate refusal); so a datagram
lost on the way up, an acknowledgement lost on the way down, or a module that
drops off the network mid-send all end the same way: the frame is sent again,
and the cloud, idempotent on (gateway, seq), stores it once.

Recovery: a send that is not acknowledged in ``ack_timeout_s`` is repeated;
before each repeat the sender checks registration and re-attaches; a module
that keeps refusing commands is rebooted (``AT+NRB``) and set up again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from edge.errors import UplinkError
from edge.uplink.nbiot.errors import ModemError, MqttLinkLostError
from edge.uplink.nbiot.links import FrameLink, UdpLink
from edge.uplink.nbiot.modem import Bc95Modem
from wire import Batch, WireError
from wire.compact import Channel, CompactAck, decode_compact_ack, encode_compact
from wire.compact_status import CompactStatus, encode_compact_status

log = logging.getLogger(__name__)


class NbiotSender:
    """Delivers batches to the cloud through one module.

    Args:
        modem: the driver of the module (opened on its serial port).
        host, port: the cloud's UDP listener (when ``link`` is not given).
        secret: the gateway's secret (signs frames, verifies acknowledgements).
        channels: the gateway's channel table, as the cloud knows it.
        link: how frames leave the module; default a UDP socket to ``host:port``.
    """

    def __init__(
        self,
        modem: Bc95Modem,
        host: str,
        port: int,
        secret: bytes,
        channels: Sequence[Channel],
        *,
        ack_timeout_s: float = 10.0,
        attempts: int = 5,
        attach_timeout_s: float = 60.0,
        link: FrameLink | None = None,
    ) -> None:
        self._modem = modem
        self._link = link or UdpLink(modem, host, port, attach_timeout_s)
        self._secret = secret
        self._channels = tuple(channels)
        self._ack_timeout_s = ack_timeout_s
        self._attempts = attempts
        self.sends = 0

    def deliver(self, batch: Batch, secret: bytes | None = None) -> CompactAck:
        """Send ``batch`` until the cloud acknowledges it; return the acknowledgement.

        ``secret`` replaces the sender's own for this batch (the gateway's current one).

        Raises:
            UplinkError: no acknowledgement after every attempt (the outbox keeps the batch).
            CompactError: the batch does not fit a frame or names a point not in the table.
        """
        if secret is not None:
            self._secret = secret
        frame = encode_compact(batch, self._channels, self._secret)
        failures = 0
        for attempt in range(1, self._attempts + 1):
            try:
                self._link.send(frame)
                self.sends += 1
                ack = self._await_ack(batch)
                if ack is not None:
                    return ack
                log.info("NB-IoT seq %d: no acknowledgement in time", batch.seq)
                if not self._modem.attached():
                    self._link.reset()  # re-attach before the next attempt
            except MqttLinkLostError as exc:  # the module is fine; its session is not
                log.info("NB-IoT send of seq %d, attempt %d: %s", batch.seq, attempt, exc)
                self._link.reset()
            except ModemError as exc:
                failures += 1
                log.info("NB-IoT send of seq %d, attempt %d: %s", batch.seq, attempt, exc)
                self._recover(failures)
        raise UplinkError(f"seq {batch.seq} not acknowledged after {self._attempts} attempts")

    def send_status(self, status: CompactStatus, secret: bytes | None = None) -> None:
        """Send ``status`` as one compact status frame, once: nothing acknowledges it.

        Raises:
            ModemError: the module did not take the frame (a later status replaces it).
            CompactError: the status does not fit a frame.
        """
        if secret is not None:
            self._secret = secret
        self._link.send(encode_compact_status(status, self._channels, self._secret))
        self.sends += 1

    def attach(self) -> None:
        """Set the module up and register, so that :meth:`deliver` can start at once.

        Raises:
            ModemError: the module does not answer, or does not register in time.
        """
        self._modem.configure()
        self._link.reset()
        self._link.ready()

    def _await_ack(self, batch: Batch) -> CompactAck | None:
        while True:
            data = self._link.receive(self._ack_timeout_s)
            if data is None:
                return None
            try:
                ack = decode_compact_ack(data, self._secret)
            except WireError as exc:
                log.info("NB-IoT: ignored a datagram that is not our acknowledgement: %s", exc)
                continue
            if ack.gateway_id == batch.gateway_id and ack.seq == batch.seq:
                return ack

    def _recover(self, failures: int) -> None:
        """Re-attach on the next attempt; after repeated failures reboot the module."""
        self._link.reset()
        if failures % 2:
            return
        try:
            self._modem.reboot()
            self._modem.configure()
        except ModemError as exc:
            log.warning("NB-IoT module reboot failed: %s", exc)
