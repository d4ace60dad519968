"""The MQTT client inside the simulated BC28-class module: Quectel's QMT commands over paho-mqtt.

Layer: simulator (the modem simulator's thread answers the commands; paho's
network thread talks to a real broker on loopback). What a real module would
send over the radio to the broker goes to that broker as MQTT 3.1.1.

Answers, as the Quectel BC35-G/BC28 MQTT application note has them (and public
drivers such as luhuadong/rtt-bc28-mqtt expect): every command answers ``OK`` at
once and its result follows as an unsolicited code, after the broker answered:

- ``AT+QMTCFG="version"|"keepalive",0,<n>`` → ``OK``;
- ``AT+QMTOPEN=0,"<host>",<port>`` → ``+QMTOPEN: 0,<result>`` (0 opened, -1 could not
  open, 2 identifier in use, 3 PDP context not activated: not registered);
- ``AT+QMTCONN=0,"<id>"[,"<user>","<pass>"]`` → ``+QMTCONN: 0,0,<CONNACK code>``, or
  ``+QMTCONN: 0,2`` when the CONNECT could not be sent;
- ``AT+QMTSUB=0,<msgid>,"<topic>",<qos>`` → ``+QMTSUB: 0,<msgid>,0,<granted qos>``;
- ``AT+QMTPUB=0,<msgid>,<qos>,<retain>,"<topic>"`` → the prompt ``>``; the payload ends
  at Ctrl-Z (ESC cancels) → ``OK``, then ``+QMTPUB: 0,<msgid>,0`` once published
  (QoS 1: once the broker's PUBACK came);
- ``AT+QMTDISC=0`` → ``+QMTDISC: 0,0``; ``AT+QMTCLOSE=0`` → ``+QMTCLOSE: 0,0``;
- a message on a subscribed topic → ``+QMTRECV: 0,<msgid>,"<topic>","<payload>"``;
- the link ends → ``+QMTSTAT: 0,<code>`` (1 closed by the server, 2 PINGREQ timeout).

Only client index 0 exists here. Faults: :meth:`ModuleMqtt.drop_link` (the link
ends now: ``+QMTSTAT: 0,1``) and ``drop_on_next_publish`` (the publish reaches the
broker, then the link ends before its result is reported and before anything
more arrives: the device cannot know whether its message got through).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

OK = "OK"
CME_NOT_ALLOWED = 3
CME_BAD_PARAMETER = 50
STAT_CLOSED = 1
STAT_PING_TIMEOUT = 2
_OPEN_FAILED, _OPEN_IN_USE, _OPEN_NO_PDP = -1, 2, 3


class CmeError(Exception):
    """A command refused with ``+CME ERROR:<code>``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def split_params(params: str) -> list[str]:
    """Comma-separated parameters, quotes removed (quoted ones may hold commas)."""
    fields, current, quoted = [], "", False
    for char in params:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            fields.append(current)
            current = ""
        else:
            current += char
    fields.append(current)
    return fields


class ModuleMqtt:
    """The QMT commands of the simulator; see the module docstring.

    Args:
        emit: writes one line to the serial port (thread-safe).
        registered: whether the module is registered on the network now.
    """

    def __init__(self, emit: Callable[[str], None], registered: Callable[[], bool]) -> None:
        self._emit = emit
        self._registered = registered
        self._lock = threading.RLock()  # paho may call back inside publish()
        self._keepalive_s = 120
        self._opened: tuple[str, int] | None = None
        self._client: mqtt.Client | None = None
        self._link_up = False
        self._pending_pub: tuple[int, int, int, str] | None = None
        self._mids: dict[int, int] = {}  # paho's message id -> the AT msgid
        self._deferred: list[Callable[[], None]] = []
        self._dropping: set[int] = set()
        self.drop_on_next_publish = False
        self.published = 0  # messages the broker acknowledged (or took, at QoS 0)

    @property
    def awaiting_payload(self) -> bool:
        """Whether a QMTPUB prompt waits for its payload."""
        return self._pending_pub is not None

    def execute(self, name: str, params: str) -> list[str]:
        """Answer one ``AT+QMT...`` command (``name`` upper-case, without ``AT``).

        Raises:
            CmeError: bad parameters or a command not allowed now.
        """
        fields = split_params(params)
        client_field = 1 if name == "+QMTCFG" else 0  # AT+QMTCFG="<what>",<client>,...
        if len(fields) <= client_field or fields[client_field] != "0":
            raise CmeError(CME_BAD_PARAMETER)
        handlers: dict[str, Callable[[list[str]], list[str]]] = {
            "+QMTCFG": self._configure,
            "+QMTOPEN": self._open,
            "+QMTCONN": self._connect,
            "+QMTSUB": self._subscribe,
            "+QMTPUB": self._publish_prompt,
            "+QMTDISC": self._disconnect,
            "+QMTCLOSE": self._close,
        }
        handler = handlers.get(name)
        if handler is None:
            raise CmeError(CME_BAD_PARAMETER)
        return handler(fields)

    def run_deferred(self) -> None:
        """Emit the results due after the ``OK`` just written."""
        deferred, self._deferred = self._deferred, []
        for action in deferred:
            action()

    def payload(self, data: bytes) -> list[str]:
        """The payload typed after the prompt (without its Ctrl-Z): publish it."""
        pending, self._pending_pub = self._pending_pub, None
        client = self._client
        if pending is None or client is None or not self._link_up:
            return ["ERROR"]
        msgid, qos, retain, topic = pending
        dropping = self.drop_on_next_publish
        self.drop_on_next_publish = False
        if dropping:
            self._link_up = False  # from now on nothing reaches the module
        with self._lock:  # on_publish may come before publish() returns
            info = client.publish(topic, data, qos=qos, retain=bool(retain))
            self._mids[info.mid] = msgid
            if dropping:
                self._dropping.add(info.mid)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._deferred.append(lambda: self._emit(f"+QMTPUB: 0,{msgid},2"))
        return [OK]

    def cancel_payload(self) -> None:
        """ESC after the prompt: nothing is published."""
        self._pending_pub = None

    def drop_link(self, code: int = STAT_CLOSED) -> None:
        """The MQTT link ends now (radio or broker): ``+QMTSTAT: 0,<code>``."""
        if self._client is None:
            return
        self._link_up = False
        self._detach()
        self._opened = None  # the network connection went with it: QMTOPEN again
        self._emit(f"+QMTSTAT: 0,{code}")

    def reset(self) -> None:
        """The module restarts: every session is gone, silently."""
        self._link_up = False
        self._pending_pub = None
        self._detach()
        self._opened = None

    # -- commands ------------------------------------------------------------------------

    def _configure(self, fields: list[str]) -> list[str]:
        return [OK]  # version and keepalive are taken; the rest are not simulated

    def _open(self, fields: list[str]) -> list[str]:
        if len(fields) != 3 or not fields[2].isdigit():
            raise CmeError(CME_BAD_PARAMETER)
        address = (fields[1], int(fields[2]))
        self._deferred.append(lambda: self._emit(f"+QMTOPEN: 0,{self._try_open(address)}"))
        return [OK]

    def _try_open(self, address: tuple[str, int]) -> int:
        if self._opened is not None:
            return _OPEN_IN_USE
        if not self._registered():
            return _OPEN_NO_PDP
        try:
            with socket.create_connection(address, timeout=2):
                pass  # the network path is open; the session is the CONNECT's
        except OSError:
            return _OPEN_FAILED
        self._opened = address
        return 0

    def _connect(self, fields: list[str]) -> list[str]:
        if self._opened is None or self._client is not None or len(fields) not in (2, 4):
            raise CmeError(CME_NOT_ALLOWED)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=fields[1],
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        if len(fields) == 4:
            client.username_pw_set(fields[2], fields[3])
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client
        host, port = self._opened
        self._deferred.append(lambda: self._start(client, host, port))
        return [OK]

    def _start(self, client: mqtt.Client, host: str, port: int) -> None:
        client.connect_async(host, port, self._keepalive_s)
        client.loop_start()

    def _subscribe(self, fields: list[str]) -> list[str]:
        client = self._client
        if client is None or not self._link_up or len(fields) != 4 or not fields[1].isdigit():
            raise CmeError(CME_NOT_ALLOWED)
        with self._lock:
            result, mid = client.subscribe(fields[2], qos=int(fields[3]))
            if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
                raise CmeError(CME_NOT_ALLOWED)
            self._mids[mid] = int(fields[1])
        return [OK]

    def _publish_prompt(self, fields: list[str]) -> list[str]:
        if self._client is None or not self._link_up:
            raise CmeError(CME_NOT_ALLOWED)
        if len(fields) != 5 or not all(f.isdigit() for f in fields[1:4]):
            raise CmeError(CME_BAD_PARAMETER)
        self._pending_pub = (int(fields[1]), int(fields[2]), int(fields[3]), fields[4])
        return []  # the caller writes the prompt

    def _disconnect(self, fields: list[str]) -> list[str]:
        if self._client is None:
            raise CmeError(CME_NOT_ALLOWED)
        self._link_up = False
        self._detach()
        self._opened = None
        self._deferred.append(lambda: self._emit("+QMTDISC: 0,0"))
        return [OK]

    def _close(self, fields: list[str]) -> list[str]:
        if self._opened is None and self._client is None:
            raise CmeError(CME_NOT_ALLOWED)
        self._link_up = False
        self._detach()
        self._opened = None
        self._deferred.append(lambda: self._emit("+QMTCLOSE: 0,0"))
        return [OK]

    def _detach(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.on_disconnect = None
            # from paho's own thread loop_stop must not join itself: stop from another
            threading.Thread(target=_stop_client, args=(client,), daemon=True).start()

    # -- paho's network thread -----------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if client is not self._client:
            return
        self._link_up = not reason_code.is_failure
        self._emit(f"+QMTCONN: 0,0,{_connack_311(reason_code)}")
        if reason_code.is_failure:
            self._detach()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if client is self._client:
            self._emit("+QMTCONN: 0,2")
            self._detach()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if client is self._client:  # not asked for: the broker or the network ended it
            self.drop_link(STAT_CLOSED)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        with self._lock:
            msgid = self._mids.pop(mid, 0)
        granted = reason_codes[0].value if reason_codes else 128
        if client is self._client and self._link_up:
            self._emit(f"+QMTSUB: 0,{msgid},0,{granted}")

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            msgid = self._mids.pop(mid, 0)
            dropping = mid in self._dropping
            self._dropping.discard(mid)
        self.published += 1
        if dropping:  # the broker has it; the radio link ends before the module hears
            self.drop_link(STAT_CLOSED)
        elif client is self._client and self._link_up:
            self._emit(f"+QMTPUB: 0,{msgid},0")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if client is not self._client or not self._link_up:
            return  # lost on the way down
        text = bytes(msg.payload).decode("ascii", "replace")
        self._emit(f'+QMTRECV: 0,{msg.mid if msg.qos else 0},"{msg.topic}","{text}"')


# paho reports a 3.1.1 CONNACK code as an MQTT 5 reason code; back to the 3.1.1 code
_CONNACK_311 = {0: 0, 0x84: 1, 0x85: 2, 0x88: 3, 0x86: 4, 0x87: 5}


def _connack_311(reason_code: ReasonCode) -> int:
    """The MQTT 3.1.1 CONNACK code (5, not authorised, for anything unknown)."""
    return _CONNACK_311.get(reason_code.value, 5)


def _stop_client(client: mqtt.Client) -> None:
    with contextlib.suppress(Exception):
        client.disconnect()
    with contextlib.suppress(Exception):
        client.loop_stop()
