"""``NbiotUplink``: the agent's :class:`edge.uplink.base.Uplink` over an NB-IoT module.

Layer: uplink adapter (asyncio) over the blocking :class:`NbiotSender`, which
runs in a worker thread. One batch is in flight at a time (``room()`` is 1 when
idle): a module sends one datagram and waits for its acknowledgement. ``send``
decodes the stored batch body, the worker encodes it as a compact frame signed
with the gateway's current secret and delivers it; the cloud's acknowledgement
(sent after its commit) becomes ``on_settled`` with a :class:`wire.ack.Ack`.
When a batch gets no acknowledgement after every attempt, the link is reported
down, the module is set up again in the background, and the agent re-sends the
unsettled batch on reconnect, as over MQTT.

Status: the agent's status (on attach, and each one :meth:`NbiotUplink.publish_status`
is given) goes out as a compact status frame, unacknowledged, when
:class:`~edge.uplink.nbiot.status_frames.StatusPacer` lets it (a change of presence
or of a device's state at once, else every ``status_every_s``); one talker at a
time: it waits while a batch is on its way, and a newer status replaces one waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from edge.errors import UplinkError
from edge.uplink.base import (
    NotConnectedError,
    PublishError,
    SecretSource,
    SettledCallback,
    StateCallback,
    StatusSource,
    Uplink,
)
from edge.uplink.nbiot.errors import ModemError
from edge.uplink.nbiot.modem import Bc95Modem
from edge.uplink.nbiot.sender import NbiotSender
from edge.uplink.nbiot.status_frames import STATUS_EVERY_S, StatusPacer, compact_status
from wire import Batch, WireError, decode_batch
from wire.ack import Ack, Refusal, refusal_tag
from wire.compact_status import CompactStatus

log = logging.getLogger(__name__)

REFUSED = "refused_by_cloud"
RETRY_ATTACH_S = 30.0
SIGNAL_EVERY_S = 60.0  # the module is asked for its signal before a send at most this often


class NbiotUplink(Uplink):
    """See the module docstring.

    Args:
        sender: the sender over the module (its channel table, the cloud's address).
        modem: the driver under the sender (closed by :meth:`close`).
        gateway_id: this gateway.
        secret: the gateway's current secret, read at every send.
    """

    def __init__(
        self,
        sender: NbiotSender,
        modem: Bc95Modem,
        gateway_id: str,
        secret: SecretSource,
        *,
        retry_attach_s: float = RETRY_ATTACH_S,
        status_every_s: float = STATUS_EVERY_S,
    ) -> None:
        self._sender, self._modem = sender, modem
        self._retry_attach_s = retry_attach_s
        self._busy = False
        self._gateway_id, self._secret = gateway_id, secret
        self._connected = False
        self._queue: asyncio.Queue[tuple[int, bytes, Batch]] = asyncio.Queue(maxsize=1)
        self._worker: asyncio.Task[None] | None = None
        self._on_settled: SettledCallback = lambda _ack: None
        self._on_state: StateCallback = lambda _up: None
        self._signal: dict[str, int] | None = None
        self._signal_at = -SIGNAL_EVERY_S
        self._module = asyncio.Lock()  # one talker at a time: batches, signal, statuses
        self._status_source: StatusSource | None = None
        self._pacer = StatusPacer(status_every_s)
        self._status_waiting: CompactStatus | None = None
        self._status_task: asyncio.Task[None] | None = None
        self.statuses_sent = 0

    @property
    def connected(self) -> bool:
        """Whether the module is registered and the worker is idle or sending."""
        return self._connected

    def signal(self) -> Mapping[str, int] | None:
        """``csq``, ``rssi_dbm`` (and ``rsrp_dbm``) as the module last reported them."""
        return self._signal

    def room(self) -> int:
        """1 when connected and no batch is on its way, else 0."""
        return int(self._connected and self._queue.empty() and not self._busy)

    async def open(
        self,
        on_settled: SettledCallback,
        on_state: StateCallback,
        status: StatusSource | None = None,
    ) -> None:
        """Start the worker: it attaches the module, reports the link up, sends ``status``."""
        self._on_settled, self._on_state = on_settled, on_state
        self._status_source = status
        self._worker = asyncio.get_running_loop().create_task(self._run())

    def send(self, seq: int, body: bytes) -> int:
        """Queue batch ``seq`` for the module; see :class:`Uplink`."""
        if not self._connected:
            raise NotConnectedError("NB-IoT module not registered")
        try:
            batch = decode_batch(body)
        except WireError as exc:
            raise PublishError(f"batch {seq} cannot be read: {exc}") from exc
        try:
            self._queue.put_nowait((seq, body, batch))
        except asyncio.QueueFull:
            raise PublishError("NB-IoT uplink has a batch on its way already") from None
        return len(body)

    def publish_status(self, payload: bytes) -> bool:
        """Send the status ``payload`` (a JSON body) as a compact status frame, if it is due.

        Returns whether it was handed over (False: not connected, or not due yet).

        Raises:
            PublishError: the body cannot be read.
        """
        if not self._connected:
            return False
        try:
            status = compact_status(self._gateway_id, payload)
        except ValueError as exc:
            raise PublishError(f"status cannot be sent as a compact frame: {exc}") from exc
        loop = asyncio.get_running_loop()
        if not self._pacer.due(status, loop.time()):
            return False
        self._pacer.sent(status, loop.time())
        self._status_waiting = status  # a newer one replaces one still waiting
        if self._status_task is None or self._status_task.done():
            self._status_task = loop.create_task(self._send_status())
        return True

    async def close(self, timeout_s: float) -> None:
        """Stop the worker and close the serial port."""
        if self._status_task is not None:
            self._status_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._status_task
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._worker, timeout_s)
            self._worker = None
        self._modem.close()

    async def _run(self) -> None:
        while True:
            await self._attach()
            while self._connected:
                seq, body, batch = await self._queue.get()
                self._busy = True
                try:
                    async with self._module:
                        # before the send: its end wakes the agent for the next batch
                        if asyncio.get_running_loop().time() - self._signal_at >= SIGNAL_EVERY_S:
                            await self._measure_signal()
                        await self._deliver(seq, body, batch)
                finally:
                    self._busy = False

    async def _attach(self) -> None:
        while True:
            try:
                async with self._module:
                    await asyncio.to_thread(self._sender.attach)
            except UplinkError as exc:
                log.warning("NB-IoT module not ready, again in %s s: %s", self._retry_attach_s, exc)
                await asyncio.sleep(self._retry_attach_s)  # the module's own pace, not a race
                continue
            async with self._module:
                await self._measure_signal()
            self._pacer.forget()
            self._set_state(True)
            if self._status_source is not None:
                with contextlib.suppress(PublishError):
                    self.publish_status(self._status_source())
            return

    async def _measure_signal(self) -> None:
        """Ask the module for its signal (in the worker, between sends: one talker at a time)."""
        self._signal_at = asyncio.get_running_loop().time()
        try:
            self._signal = await asyncio.to_thread(self._modem.signal) or None
        except (ModemError, ValueError) as exc:
            log.info("NB-IoT signal not read: %s", exc)

    async def _deliver(self, seq: int, body: bytes, batch: Batch) -> None:
        secret = self._secret()
        try:
            ack = await asyncio.to_thread(self._sender.deliver, batch, secret)
        except UplinkError as exc:
            log.warning("NB-IoT batch %d not acknowledged: %s", seq, exc)
            self._set_state(False)  # the agent re-sends on reconnect
            return
        except WireError as exc:  # does not fit a frame: the cloud can never take it
            log.warning("NB-IoT batch %d cannot be sent as a compact frame: %s", seq, exc)
            refusal = Refusal(seq, "compact_unencodable", refusal_tag(body, secret))
            self._on_settled(Ack(self._gateway_id, refused=(refusal,)))
            return
        if ack.refused:
            refusal = Refusal(seq, REFUSED, refusal_tag(body, secret))
            self._on_settled(Ack(self._gateway_id, refused=(refusal,)))
        else:
            self._on_settled(Ack(self._gateway_id, committed=(seq,)))
        self._set_state(True)  # room again: wake the agent

    async def _send_status(self) -> None:
        while (status := self._status_waiting) is not None:
            async with self._module:
                if self._status_waiting is not status:
                    continue  # replaced while waiting: send the newer one
                self._status_waiting = None
                try:
                    await asyncio.to_thread(self._sender.send_status, status, self._secret())
                except (ModemError, WireError, ValueError) as exc:
                    log.info("NB-IoT status not sent: %s", exc)
                    self._pacer.forget()  # the next status goes out at once
                    continue
                self.statuses_sent += 1

    def _set_state(self, connected: bool) -> None:
        self._connected = connected
        self._on_state(connected)
