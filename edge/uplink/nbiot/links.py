"""How a compact frame leaves the module: a UDP socket, or the module's own MQTT client.

Layer: device driver (blocking, over :class:`Bc95Modem`). A :class:`FrameLink`
sets itself up (attach, socket or MQTT session), sends one frame and returns
what comes back; the sender (:mod:`edge.uplink.nbiot.sender`) owns the retry
policy and the acknowledgement check, the same for both links.

- :class:`UdpLink`: one datagram per frame (``AT+NSOST``, hex on the serial line),
  the acknowledgement datagram read with ``AT+NSORF``.
- :class:`MqttLink`: the frame published at QoS 1 on ``{root}/{gateway}/up/compact``
  through ``AT+QMTPUB``; the acknowledgement arrives as ``+QMTRECV`` on the
  subscribed ``{root}/{gateway}/down/compact-ack``. The module's MQTT payloads are
  text ended by Ctrl-Z, so both travel as upper-case hex (twice the bytes: a 59-byte
  frame is a 118-byte message). A ``+QMTSTAT`` ends the session; the next
  attempt opens, connects and subscribes again.
"""

from __future__ import annotations

from typing import Protocol

from edge.uplink.nbiot.modem import Bc95Modem
from edge.uplink.nbiot.module_mqtt import ModuleMqtt


def compact_topic(topic_root: str, gateway_id: str) -> str:
    """``{root}/{gateway}/up/compact``: compact frames, as hex text."""
    return f"{topic_root}/{gateway_id}/up/compact"


def compact_ack_topic(topic_root: str, gateway_id: str) -> str:
    """``{root}/{gateway}/down/compact-ack``: the cloud's compact acknowledgements, as hex text."""
    return f"{topic_root}/{gateway_id}/down/compact-ack"


class FrameLink(Protocol):
    """A way for frames to leave the module and acknowledgements to come back."""

    def ready(self) -> None:
        """Attach if needed and set the link up (idempotent while it stands)."""

    def reset(self) -> None:
        """Forget the link: the next :meth:`ready` sets it up again."""

    def send(self, frame: bytes) -> None:
        """Hand one frame to the module for sending."""

    def receive(self, timeout_s: float) -> bytes | None:
        """The next message arriving within ``timeout_s``, or None."""


class UdpLink:
    """Frames as UDP datagrams to ``host:port``."""

    def __init__(self, modem: Bc95Modem, host: str, port: int, attach_timeout_s: float) -> None:
        self._modem, self._address = modem, (host, port)
        self._attach_timeout_s = attach_timeout_s
        self._socket: int | None = None

    def ready(self) -> None:
        """Attach if needed; open the module's UDP socket."""
        if self._socket is None:
            if not self._modem.attached():
                self._modem.attach(self._attach_timeout_s)
            self._socket = self._modem.open_udp()

    def reset(self) -> None:
        """The socket is gone (reboot, lost registration)."""
        self._socket = None

    def send(self, frame: bytes) -> None:
        """``AT+NSOST`` the frame."""
        self.ready()
        assert self._socket is not None  # noqa: S101 - ready() opened it
        self._modem.send_udp(self._socket, *self._address, frame)

    def receive(self, timeout_s: float) -> bytes | None:
        """The next datagram on the socket."""
        if self._socket is None:
            return None
        return self._modem.receive(self._socket, timeout_s)


class MqttLink:
    """Frames published through the module's MQTT client (hex text; see the module docstring)."""

    def __init__(
        self,
        modem: Bc95Modem,
        host: str,
        port: int,
        *,
        client_id: str,
        up_topic: str,
        down_topic: str,
        attach_timeout_s: float,
        keepalive_s: int = 120,
    ) -> None:
        self._modem, self._address = modem, (host, port)
        self._mqtt = ModuleMqtt(modem, keepalive_s=keepalive_s)
        self._client_id, self._up, self._down = client_id, up_topic, down_topic
        self._attach_timeout_s = attach_timeout_s
        self.sessions = 0

    def ready(self) -> None:
        """Attach if needed; open, connect and subscribe to the acknowledgement topic."""
        if self._mqtt.alive():
            return
        if not self._modem.attached():
            self._modem.attach(self._attach_timeout_s)
        self._mqtt.close()  # a half-open session of an earlier attempt
        self._mqtt.open(*self._address, self._client_id)
        self._mqtt.subscribe(self._down, qos=1)
        self.sessions += 1

    def reset(self) -> None:
        """End the session (if the module still holds one)."""
        if self._mqtt.connected:
            self._mqtt.close()
        self._mqtt.connected = False

    def send(self, frame: bytes) -> None:
        """Publish the frame as hex at QoS 1."""
        self.ready()
        self._mqtt.publish(self._up, frame.hex().upper(), qos=1)

    def receive(self, timeout_s: float) -> bytes | None:
        """The next acknowledgement on the down topic (hex decoded)."""
        text = self._mqtt.receive(self._down, timeout_s)
        if text is None:
            return None
        try:
            return bytes.fromhex(text)
        except ValueError:
            return b""  # not an acknowledgement of ours: the sender skips it
