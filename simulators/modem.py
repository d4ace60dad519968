"""A Quectel BC95/BC28-class NB-IoT module on a pseudo-terminal (Huawei chipset AT set).

Layer: simulator (a thread serving a pty, real UDP sockets on loopback). The
edge's NB-IoT driver opens :attr:`ModemSimulator.port` with pyserial exactly as
it opens ``/dev/ttyUSB0`` on a gateway; what the module would send over the
radio goes to real UDP endpoints on this machine.

The command set and its answers follow the BC28/BC95 drivers of RT-Thread's
``at_device`` package and Quectel's application notes as summarised in the
project's domain facts (§6.1), including their quirks:

- responses carry no space after the colon (``+CGATT:1``, ``+CSQ:18,99``);
- ``AT+NSOCR=DGRAM,17,<port>,1`` answers the socket number on its own line;
- ``AT+NSOST=<s>,<ip>,<port>,<len>,<hex>`` answers ``<s>,<len>``; payloads are hex;
- a datagram that arrives raises the URC ``+NSONMI:<s>,<len>`` and is read with
  ``AT+NSORF=<s>,<max>`` → ``<s>,<ip>,<port>,<len>,<hex>,<remaining>``;
- ``+CEREG:<n>,<stat>`` with stat 2 (searching) until registration completes
  after ``registration_delay_s``, then 1 (home); ``+CGATT:1`` once attached;
- errors are ``ERROR`` for an unknown command, or ``+CME ERROR:<n>`` with the
  3GPP TS 27.007 codes (3 operation not allowed, 4 operation not supported,
  50 incorrect parameters); the module-specific socket codes of the BC95 manual
  are not reproduced [unverified here].

Faults to inject, as a real radio has them: :meth:`drop_network` (the cell is
lost: sends fail, ``+CEREG:0`` is reported if asked with ``AT+CEREG=1``),
:meth:`restore_network` (re-registers after the delay), ``lose_datagrams``
(accepted by the module, never delivered), ``lose_downlinks`` (datagrams to the
module lost on the way), ``outage_on_next_send_s`` (the next send is accepted,
then the cell is lost for that long and the datagram with it), ``fail_commands`` (the next commands
answer ``ERROR``), and ``AT+NRB`` reboots (sockets gone, registration again).

The module's MQTT client (Quectel's ``AT+QMT...`` commands, forwarded to a real
broker) is :mod:`simulators.modem_mqtt`, reachable as :attr:`ModemSimulator.mqtt`
for its faults; losing the cell ends its link with ``+QMTSTAT: 0,2``. Bands and
APN (``AT+NBAND``, ``AT+CGDCONT``) are :attr:`ModemSimulator.radio`
(:mod:`simulators.modem_radio`): the module registers only when it scans the
cell's band (``cell_band``) and, if the network requires one, uses its APN.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
import tty
from dataclasses import dataclass

from simulators.modem_mqtt import STAT_PING_TIMEOUT, CmeError, ModuleMqtt
from simulators.modem_radio import RadioSettings

IMEI = "868334033100031"
IMSI = "460111176332415"
CME_NOT_ALLOWED = 3
CME_NOT_SUPPORTED = 4
CME_BAD_PARAMETER = 50
MAX_DATAGRAM = 1358  # BC28/BC95 per-send maximum
_OK = "OK"


@dataclass
class _Socket:
    sock: socket.socket
    inbox: list[tuple[str, int, bytes]]


class ModemSimulator:
    """An NB-IoT module answering AT commands on a pty; see the module docstring.

    Args:
        registration_delay_s: time from attach request (or network return) to
            registration, as a real cell takes several seconds.
        rssi: the ``+CSQ`` value (0-31; 99 unknown).
    """

    def __init__(
        self,
        *,
        registration_delay_s: float = 0.5,
        rssi: int = 18,
        cell_band: int = 8,
        required_apn: str | None = None,
    ) -> None:
        self.radio = RadioSettings(cell_band=cell_band, required_apn=required_apn)
        self.registration_delay_s = registration_delay_s
        self.rssi = rssi
        self.lose_datagrams = 0
        self.lose_downlinks = 0
        self.outage_on_next_send_s: float | None = None
        self._network_back_at: float | None = None
        self.fail_commands = 0
        self.datagrams_sent = 0
        self._lock = threading.Lock()
        self._echo = True
        self._cfun = 1
        self._attach_wanted = False
        self._network_up = True
        self._registered_at: float | None = None
        self._cereg_urc = 0
        self._sockets: dict[int, _Socket] = {}
        self._emit_lock = threading.Lock()
        self.mqtt = ModuleMqtt(self._emit, lambda: self.registered)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="modem-sim", daemon=True)

    def start(self) -> ModemSimulator:
        """Start answering on :attr:`port`."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop, close the pty and every socket."""
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        self.mqtt.reset()
        for entry in self._sockets.values():
            entry.sock.close()
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> ModemSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drop_network(self, for_s: float | None = None) -> None:
        """The cell is lost: deregistered, sends fail until restored (after ``for_s``, if given)."""
        with self._lock:
            self._network_up = False
            self._registered_at = None
            self._network_back_at = None if for_s is None else time.monotonic() + for_s
        if self._cereg_urc:
            self._emit("+CEREG:0")
        self.mqtt.drop_link(STAT_PING_TIMEOUT)

    def restore_network(self) -> None:
        """The cell comes back; the module re-registers after the delay if attach is wanted."""
        with self._lock:
            self._network_up = True
            if self._attach_wanted:
                self._registered_at = time.monotonic() + self.registration_delay_s

    @property
    def registered(self) -> bool:
        """Whether the module is registered and attached right now."""
        back = self._network_back_at
        if back is not None and time.monotonic() >= back:
            self._network_back_at = None
            self.restore_network()
        at = self._registered_at
        in_reach = self._network_up and self.radio.can_register
        return in_reach and at is not None and time.monotonic() >= at

    # -- serving ---------------------------------------------------------------------------

    def _serve(self) -> None:
        buffer = b""
        while not self._stopping:
            sockets = {entry.sock.fileno(): entry.sock for entry in self._sockets.values()}
            readable = [self._master, self._wake_r, *sockets]
            ready, _, _ = select.select(readable, [], [], 0.2)
            for fd in ready:
                if fd == self._master:
                    buffer = self._on_serial(buffer)
                elif fd in sockets:
                    self._on_datagram(sockets[fd])

    def _on_serial(self, buffer: bytes) -> bytes:
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return buffer
        if self._echo:
            os.write(self._master, data)
        buffer += data
        while True:
            if self.mqtt.awaiting_payload:
                ends = [i for i in (buffer.find(b"\x1a"), buffer.find(b"\x1b")) if i >= 0]
                if not ends:
                    return buffer
                end = min(ends)
                payload, cancelled, buffer = buffer[:end], buffer[end] == 0x1B, buffer[end + 1 :]
                self._publish_payload(payload, cancelled)
                continue
            if b"\r" not in buffer:
                return buffer
            line, _, buffer = buffer.partition(b"\r")
            command = line.strip(b"\n ").decode("ascii", "replace")
            if command:
                self._answer(command)

    def _publish_payload(self, payload: bytes, cancelled: bool) -> None:
        if cancelled:
            self.mqtt.cancel_payload()
            return
        for line in self.mqtt.payload(payload):
            self._emit(line)
        self.mqtt.run_deferred()

    def _on_datagram(self, sock: socket.socket) -> None:
        data, (host, port) = sock.recvfrom(MAX_DATAGRAM)
        for number, entry in self._sockets.items():
            if entry.sock is sock:
                if not self.registered:
                    return  # out of coverage: the datagram never reaches the module
                if self.lose_downlinks > 0:
                    self.lose_downlinks -= 1
                    return
                entry.inbox.append((host, port, data))
                self._emit(f"+NSONMI:{number},{len(data)}")

    def _emit(self, line: str) -> None:
        self._write(f"\r\n{line}\r\n".encode())

    def _write(self, data: bytes) -> None:
        with self._emit_lock, contextlib.suppress(OSError):  # paho's thread emits too
            os.write(self._master, data)

    def _answer(self, command: str) -> None:
        if self.fail_commands > 0:
            self.fail_commands -= 1
            self._emit("ERROR")
            return
        try:
            lines = self._execute(command)
        except CmeError as exc:
            self._emit(f"+CME ERROR:{exc.code}")
            return
        except _PlainError:
            self._emit("ERROR")
            return
        for line in lines:
            self._emit(line)
        if self.mqtt.awaiting_payload:
            self._write(b"\r\n> ")  # the prompt ends no line
        self.mqtt.run_deferred()

    def _execute(self, command: str) -> list[str]:  # noqa: PLR0911, PLR0912 - one branch per command
        upper = command.upper()
        if not upper.startswith("AT"):
            raise _PlainError
        name, _, args = upper[2:].partition("=")
        params = command[2:].partition("=")[2]
        if name in ("", "E0", "E1"):
            self._echo = name != "E0"
            return [_OK]
        if name == "I":
            return ["Quectel", "BC95-B8 (simulated)", "Revision:V150R100C10B200SP1", _OK]
        if name == "+CGSN" and args == "1":
            return [f"+CGSN:{IMEI}", _OK]
        if name == "+CIMI":
            return [IMSI, _OK]
        if name in ("+NCONFIG", "+QREGSWT", "+CPSMS", "+CEDRXS", "+NSONMI"):
            return [_OK]
        if name in ("+NBAND", "+NBAND?", "+CGDCONT", "+CGDCONT?"):
            return self._radio_setting(name, params)
        if name == "+CFUN":
            return self._cfun_command(args)
        if name == "+CFUN?":
            return [f"+CFUN:{self._cfun}", _OK]
        if name == "+CGATT":
            return self._attach(args)
        if name == "+CGATT?":
            return [f"+CGATT:{int(self.registered)}", _OK]
        if name == "+CEREG":
            self._cereg_urc = int(args or "0")
            return [_OK]
        if name == "+CEREG?":
            stat = 1 if self.registered else (2 if self._attach_wanted else 0)
            return [f"+CEREG:{self._cereg_urc},{stat}", _OK]
        if name == "+CSQ":
            return [f"+CSQ:{self.rssi if self.registered else 99},99", _OK]
        if name == "+CGPADDR":
            return ["+CGPADDR:0,10.169.30.7" if self.registered else "+CGPADDR:0", _OK]
        if name == "+NRB":
            self._reboot()
            return ["REBOOTING", "Neul", _OK]
        if name == "+NSOCR":
            return self._open_socket(params)
        if name == "+NSOST":
            return self._send(params)
        if name == "+NSORF":
            return self._read(params)
        if name == "+NSOCL":
            return self._close_socket(params)
        if name.startswith("+QMT"):
            return self.mqtt.execute(name, params)
        raise _PlainError

    def _radio_setting(self, name: str, params: str) -> list[str]:
        radio_on = self._cfun == 1
        if name == "+NBAND":
            return self.radio.nband(params, radio_on)
        if name == "+CGDCONT":
            return self.radio.cgdcont(params, radio_on)
        return self.radio.read_nband() if name == "+NBAND?" else self.radio.read_cgdcont()

    def _cfun_command(self, args: str) -> list[str]:
        if args not in ("0", "1"):
            raise CmeError(CME_BAD_PARAMETER)
        self._cfun = int(args)
        if self._cfun == 0:
            self._registered_at = None
        elif self._attach_wanted and self._network_up:
            self._registered_at = time.monotonic() + self.registration_delay_s
        return [_OK]

    def _attach(self, args: str) -> list[str]:
        if args not in ("0", "1"):
            raise CmeError(CME_BAD_PARAMETER)
        if self._cfun == 0:
            raise CmeError(CME_NOT_ALLOWED)
        with self._lock:
            self._attach_wanted = args == "1"
            if not self._attach_wanted:
                self._registered_at = None
            elif self._registered_at is None and self._network_up:
                self._registered_at = time.monotonic() + self.registration_delay_s
        return [_OK]

    def _reboot(self) -> None:
        for entry in self._sockets.values():
            entry.sock.close()
        self._sockets.clear()
        self.mqtt.reset()
        self._echo, self._cfun, self._cereg_urc = True, 1, 0
        self._attach_wanted, self._registered_at = False, None

    def _open_socket(self, params: str) -> list[str]:
        fields = params.split(",")
        if len(fields) < 3 or fields[0].upper() != "DGRAM" or fields[1] != "17":
            raise CmeError(CME_NOT_SUPPORTED)
        free = [n for n in range(7) if n not in self._sockets]  # the module has 7 sockets
        if not free:
            raise CmeError(CME_NOT_ALLOWED)
        number = free[0]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", int(fields[2]) if fields[2].isdigit() else 0))
        self._sockets[number] = _Socket(sock, [])
        return [str(number), _OK]

    def _send(self, params: str) -> list[str]:
        fields = params.split(",")
        if len(fields) != 5 or not fields[0].isdigit() or not fields[3].isdigit():
            raise CmeError(CME_BAD_PARAMETER)
        entry = self._sockets.get(int(fields[0]))
        try:
            data = bytes.fromhex(fields[4])
        except ValueError:
            raise CmeError(CME_BAD_PARAMETER) from None
        if entry is None or len(data) != int(fields[3]) or len(data) > MAX_DATAGRAM:
            raise CmeError(CME_BAD_PARAMETER)
        if not self.registered:
            raise CmeError(CME_NOT_ALLOWED)
        if self.outage_on_next_send_s is not None:  # the cell goes mid-send: lost, detached
            self.drop_network(for_s=self.outage_on_next_send_s)
            self.outage_on_next_send_s = None
        elif self.lose_datagrams > 0:
            self.lose_datagrams -= 1  # accepted, then lost over the radio
        else:
            entry.sock.sendto(data, (fields[1], int(fields[2])))
            self.datagrams_sent += 1
        return [f"{fields[0]},{len(data)}", _OK]

    def _read(self, params: str) -> list[str]:
        fields = params.split(",")
        if len(fields) != 2 or not all(f.isdigit() for f in fields):
            raise CmeError(CME_BAD_PARAMETER)
        entry = self._sockets.get(int(fields[0]))
        if entry is None:
            raise CmeError(CME_BAD_PARAMETER)
        if not entry.inbox:
            return [_OK]
        host, port, data = entry.inbox.pop(0)
        chunk = data[: int(fields[1])]
        left = len(data) - len(chunk)
        return [f"{fields[0]},{host},{port},{len(chunk)},{chunk.hex().upper()},{left}", _OK]

    def _close_socket(self, params: str) -> list[str]:
        entry = self._sockets.pop(int(params), None) if params.isdigit() else None
        if entry is None:
            raise CmeError(CME_BAD_PARAMETER)
        entry.sock.close()
        return [_OK]


class _PlainError(Exception):
    pass
