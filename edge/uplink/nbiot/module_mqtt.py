"""``ModuleMqtt``: the MQTT client inside a BC28-class module, driven by Quectel's QMT commands.

Layer: device driver (blocking, over :class:`Bc95Modem`). The module runs the
MQTT 3.1.1 session itself; the host only issues commands and reads their
results, which come as unsolicited codes after ``OK``:

- ``AT+QMTCFG="version",0,4`` (3.1.1) and ``AT+QMTCFG="keepalive",0,<s>``;
- ``AT+QMTOPEN=0,"<host>",<port>`` → ``+QMTOPEN: 0,<result>`` (0 opened; -1 could not
  open, 1 wrong parameter, 2 identifier in use, 3 PDP activation failed, 4 domain name
  not resolved, 5 network error);
- ``AT+QMTCONN=0,"<client id>"`` → ``+QMTCONN: 0,<result>[,<ret_code>]`` (result 0 sent
  and acknowledged, 1 retransmitting, 2 failed; ret_code is the broker's CONNACK code);
- ``AT+QMTSUB=0,<msgid>,"<topic>",<qos>`` → ``+QMTSUB: 0,<msgid>,<result>,<granted qos>``;
- ``AT+QMTPUB=0,<msgid>,<qos>,0,"<topic>"`` → ``>``, the payload ended by Ctrl-Z →
  ``+QMTPUB: 0,<msgid>,<result>`` (0 sent and, for QoS 1, PUBACKed);
- ``+QMTRECV: 0,<msgid>,"<topic>","<payload>"`` for a message on a subscribed topic;
- ``+QMTSTAT: 0,<code>`` when the link ends (1 closed by the server, 2 PINGREQ timeout,
  3 CONNECT timeout, 4 CONNACK timeout, 5 disconnected by the client, 6 closed after an
  error, 7 link inactive): the session is gone and must be opened and connected again.

Sources: Quectel BC35-G/BC28 MQTT application note as used by luhuadong/rtt-bc28-mqtt
``src/bc28_mqtt.c``; result-code tables of Quectel's MQTT application notes as
transcribed by public drivers. Payloads on this module family are text ended by
Ctrl-Z, so binary frames travel hex-encoded (see :mod:`edge.uplink.nbiot.links`).
"""

from __future__ import annotations

import time

from edge.uplink.nbiot.at import qmt_fields
from edge.uplink.nbiot.errors import ModemError, MqttLinkLostError
from edge.uplink.nbiot.modem import Bc95Modem

CLIENT = 0  # the module's MQTT client index (the one this driver uses)
OPEN_TIMEOUT_S = 75.0  # Quectel's maximum response time for QMTOPEN
_OPEN_RESULTS = {
    -1: "could not open the network",
    1: "wrong parameter",
    2: "MQTT identifier in use",
    3: "PDP context not activated",
    4: "domain name not resolved",
    5: "network error",
}
_RESULTS = {1: "retransmitting", 2: "failed to send"}
STAT_CLOSED_BY_CLIENT = 5


class ModuleMqtt:
    """One MQTT session of the module; see the module docstring.

    Args:
        modem: the driver of the module.
        keepalive_s: MQTT keepalive the module keeps (PINGREQ).
        result_timeout_s: how long a SUB/PUB/CONN result may take.
    """

    def __init__(
        self, modem: Bc95Modem, *, keepalive_s: int = 120, result_timeout_s: float = 15.0
    ) -> None:
        self._modem = modem
        self._keepalive_s = keepalive_s
        self._timeout_s = result_timeout_s
        self._msgid = 0
        self.connected = False

    def open(self, host: str, port: int, client_id: str) -> None:
        """Configure, open the network connection to the broker, and connect as ``client_id``.

        Raises:
            ModemError: the module refused, or the broker could not be reached or refused us.
        """
        self._modem.discard_urcs()
        self._modem.command(f'AT+QMTCFG="version",{CLIENT},4')
        self._modem.command(f'AT+QMTCFG="keepalive",{CLIENT},{self._keepalive_s}')
        self._modem.command(f'AT+QMTOPEN={CLIENT},"{host}",{port}')
        fields = self._result("+QMTOPEN:", "AT+QMTOPEN", OPEN_TIMEOUT_S)
        result = int(fields[1])
        if result != 0:
            why = _OPEN_RESULTS.get(result, f"result {result}")
            raise ModemError(f"QMTOPEN {host}:{port}: {why}", "AT+QMTOPEN")
        self._modem.command(f'AT+QMTCONN={CLIENT},"{client_id}"')
        fields = self._result("+QMTCONN:", "AT+QMTCONN", self._timeout_s)
        if fields[1] != "0" or (len(fields) > 2 and fields[2] != "0"):
            code = fields[2] if len(fields) > 2 else "none"
            why = _RESULTS.get(int(fields[1]), "refused")
            raise ModemError(f"QMTCONN: {why} (CONNACK code {code})", "AT+QMTCONN")
        self.connected = True

    def subscribe(self, topic: str, qos: int = 1) -> int:
        """Subscribe to ``topic``; return the granted QoS.

        Raises:
            ModemError: refused or not answered; MqttLinkLostError: the link ended.
        """
        msgid = self._next_msgid()
        self._modem.command(f'AT+QMTSUB={CLIENT},{msgid},"{topic}",{qos}')
        fields = self._result("+QMTSUB:", "AT+QMTSUB", self._timeout_s, msgid)
        if fields[2] != "0" or len(fields) < 4 or fields[3] in ("128", ""):
            raise ModemError(f"QMTSUB {topic}: refused ({','.join(fields[2:])})", "AT+QMTSUB")
        return int(fields[3])

    def publish(self, topic: str, payload: str, qos: int = 1) -> None:
        """Publish text ``payload`` on ``topic``; return once the broker has it (QoS 1: PUBACK).

        Raises:
            ModemError: refused or not acknowledged; MqttLinkLostError: the link ended.
        """
        if "\x1a" in payload or "\x1b" in payload:
            raise ModemError("QMTPUB: payload holds Ctrl-Z or ESC", "AT+QMTPUB")
        msgid = self._next_msgid() if qos else 0
        command = f'AT+QMTPUB={CLIENT},{msgid},{qos},0,"{topic}"'
        self._modem.command_with_data(command, payload.encode("ascii"))
        fields = self._result("+QMTPUB:", "AT+QMTPUB", self._timeout_s, msgid)
        if fields[2] != "0":
            why = _RESULTS.get(int(fields[2]), f"result {fields[2]}")
            raise ModemError(f"QMTPUB: {why}", "AT+QMTPUB")

    def receive(self, topic: str, timeout_s: float) -> str | None:
        """The next payload arriving on ``topic`` within ``timeout_s``, or None.

        Raises:
            MqttLinkLostError: the link ended meanwhile.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            text = self._modem.wait_urc(("+QMTRECV:", "+QMTSTAT:"), max(left, 0.0))
            if text is None:
                return None
            fields = self._fields(text)
            if text.startswith("+QMTSTAT:"):
                self._lost(fields)
            if len(fields) >= 4 and fields[2] == topic:
                return fields[-1]

    def alive(self) -> bool:
        """Whether the session stands: False once a ``+QMTSTAT`` has come (it is consumed)."""
        if self.connected and self._modem.wait_urc(("+QMTSTAT:",), 0.0) is not None:
            self.connected = False
        return self.connected

    def close(self) -> None:
        """Disconnect and close the connection; errors are ignored (the link may be gone)."""
        self.connected = False
        for command in (f"AT+QMTDISC={CLIENT}", f"AT+QMTCLOSE={CLIENT}"):
            try:
                self._modem.command(command)
            except ModemError:
                continue
        self._modem.discard_urcs()

    def _result(
        self, prefix: str, command: str, timeout_s: float, msgid: int | None = None
    ) -> list[str]:
        """The fields of ``prefix``'s result (of message ``msgid``, when given).

        Results of other messages (late ones of an earlier attempt) are skipped.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            left = max(deadline - time.monotonic(), 0.0)
            text = self._modem.wait_urc((prefix, "+QMTSTAT:"), left)
            if text is None:
                raise ModemError(f"{command}: no {prefix} result within {timeout_s} s", command)
            fields = self._fields(text)
            if text.startswith("+QMTSTAT:"):
                self._lost(fields)
            numbers = fields[1:3]
            if len(fields) < (2 if msgid is None else 3) or not all(
                f.lstrip("-").isdigit() for f in numbers
            ):
                raise ModemError(f"{command}: unreadable result {text[:40]!r}", command)
            if msgid is None or fields[1] == str(msgid):
                return fields

    def _lost(self, fields: list[str]) -> None:
        self.connected = False
        code = int(fields[1]) if len(fields) > 1 and fields[1].lstrip("-").isdigit() else -1
        raise MqttLinkLostError(f"MQTT link lost (+QMTSTAT code {code})", code)

    @staticmethod
    def _fields(text: str) -> list[str]:
        try:
            return qmt_fields(text)
        except ValueError as exc:
            raise ModemError(str(exc)) from None

    def _next_msgid(self) -> int:
        self._msgid = self._msgid % 65535 + 1  # 1..65535: 0 is QoS 0's
        return self._msgid
