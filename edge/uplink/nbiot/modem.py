"""``Bc95Modem``: drives a Quectel BC95/BC28-class NB-IoT module over a serial port.

Layer: device driver (blocking pyserial I/O; the sender calls it from a worker
thread). It knows the module's AT dialogue (see ``simulators/modem.py`` for the
facts it follows): attach and registration, signal quality, PSM/eDRX off while
sending, UDP sockets with hex payloads, unsolicited ``+NSONMI`` for data that
arrives. Every failure becomes a :class:`ModemError` naming the command, never
its payload. The results of the module's MQTT commands arrive as unsolicited
codes and wait in a queue for :meth:`Bc95Modem.wait_urc` (the MQTT client over
them is :mod:`edge.uplink.nbiot.module_mqtt`).
"""

from __future__ import annotations

import time
from collections import deque

import serial

from edge.uplink.nbiot.at import AtLineReader, Kind, Line, nsonmi, nsorf
from edge.uplink.nbiot.errors import ModemError, NotAttachedError

COMMAND_TIMEOUT_S = 5.0
ATTACH_POLL_S = 0.2
MAX_DATAGRAM = 1358
CTRL_Z = b"\x1a"


class Bc95Modem:
    """One module on one serial port (9600 8N1, the BC95's default).

    Args:
        port: the serial device, e.g. ``/dev/ttyUSB0`` (or a simulator's pty).
        command_timeout_s: how long a command may take before the module counts as hung.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
        apn: str | None = None,
        bands: tuple[int, ...] = (),
    ) -> None:
        self.apn, self.bands = apn, bands
        try:
            self._serial = serial.Serial(port, baudrate, timeout=0.05)
        except serial.SerialException as exc:
            raise ModemError(f"cannot open {port}: {exc}") from exc
        self._reader = AtLineReader()
        self._timeout_s = command_timeout_s
        self._arrived: deque[tuple[int, int]] = deque()
        self._mqtt_urcs: deque[str] = deque()

    def close(self) -> None:
        """Close the serial port."""
        self._serial.close()

    def command(self, command: str, timeout_s: float | None = None) -> list[str]:
        """Send ``command``; return its answer lines once ``OK`` comes.

        Raises:
            ModemError: ``ERROR``/``+CME ERROR`` (with ``cme``), or no final result in time.
        """
        name = command.split("=", 1)[0]
        try:
            self._serial.write(command.encode("ascii") + b"\r")
        except serial.SerialException as exc:
            raise ModemError(f"{name}: serial port failed: {exc}", name) from exc
        answers: list[str] = []
        deadline = time.monotonic() + (timeout_s or self._timeout_s)
        while time.monotonic() < deadline:
            for line in self._read_lines():
                if line.kind is Kind.OK:
                    return answers
                if line.kind is Kind.ERROR:
                    raise ModemError(f"{name}: {line.text}", name, line.cme)
                answers.append(line.text)
        raise ModemError(f"{name}: no answer within {timeout_s or self._timeout_s} s", name)

    def configure(self) -> None:
        """Echo off, no automatic platform registration, PSM and eDRX off while we talk.

        With an APN or bands: the radio off (``AT+CFUN=0``, which the module needs for
        them), ``AT+NBAND=<b>[,<b>...]`` and ``AT+CGDCONT=1,"IP","<apn>"``; :meth:`attach`
        switches the radio on again.
        """
        for command in ("ATE0", "AT+CEREG=0", "AT+CPSMS=0", "AT+CEDRXS=0,5", "AT+NSONMI=1"):
            self.command(command)
        if self.apn is None and not self.bands:
            return
        self.command("AT+CFUN=0", timeout_s=10)
        if self.bands:
            self.command("AT+NBAND=" + ",".join(str(band) for band in self.bands))
        if self.apn is not None:
            self.command(f'AT+CGDCONT=1,"IP","{self.apn}"')

    def attach(self, timeout_s: float = 60.0) -> None:
        """Switch the radio on, ask to attach, and wait for registration.

        Raises:
            NotAttachedError: not registered within ``timeout_s``.
        """
        self.command("AT+CFUN=1", timeout_s=10)
        self.command("AT+CGATT=1")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.attached():
                return
            time.sleep(ATTACH_POLL_S)  # the module has no URC for this unless CEREG=1
        raise NotAttachedError(f"not registered within {timeout_s} s", "AT+CGATT?")

    def attached(self) -> bool:
        """Whether the module is attached (``+CGATT:1``)."""
        return "+CGATT:1" in self.command("AT+CGATT?")

    def signal_dbm(self) -> int | None:
        """Received signal strength from ``+CSQ`` in dBm (-113 + 2n), None when unknown."""
        for line in self.command("AT+CSQ"):
            if line.startswith("+CSQ:"):
                rssi = int(line[5:].split(",")[0])
                return None if rssi == 99 else -113 + 2 * rssi
        return None

    def reboot(self) -> None:
        """``AT+NRB``: the module restarts; sockets and registration are gone."""
        self.command("AT+NRB", timeout_s=15)
        self._arrived.clear()
        self._mqtt_urcs.clear()

    def open_udp(self) -> int:
        """A UDP socket on the module; returns its number."""
        for line in self.command("AT+NSOCR=DGRAM,17,0,1"):
            if line.isdigit():
                return int(line)
        raise ModemError("NSOCR: no socket number in the answer", "AT+NSOCR")

    def close_socket(self, number: int) -> None:
        """Close a socket of the module."""
        self.command(f"AT+NSOCL={number}")

    def send_udp(self, number: int, host: str, port: int, data: bytes) -> None:
        """Send one datagram (hex on the serial line)."""
        if len(data) > MAX_DATAGRAM:
            raise ModemError(f"datagram of {len(data)} bytes, at most {MAX_DATAGRAM}", "NSOST")
        self.command(f"AT+NSOST={number},{host},{port},{len(data)},{data.hex().upper()}")

    def receive(self, number: int, timeout_s: float) -> bytes | None:
        """The next datagram arriving on socket ``number`` within ``timeout_s``, or None."""
        deadline = time.monotonic() + timeout_s
        while True:
            while self._arrived:
                socket_number, length = self._arrived.popleft()
                if socket_number == number:
                    return self._read_datagram(number, length)
            if time.monotonic() >= deadline:
                return None
            self._read_lines()

    def _read_datagram(self, number: int, length: int) -> bytes | None:
        for line in self.command(f"AT+NSORF={number},{length}"):
            try:
                return nsorf(line)[2]
            except ValueError:
                continue
        return None

    def command_with_data(self, command: str, data: bytes, timeout_s: float | None = None) -> None:
        """Send ``command``, wait for its ``>`` prompt, send ``data`` ended by Ctrl-Z, wait for OK.

        Raises:
            ModemError: the module refused the command or the data, or did not answer in time.
        """
        name = command.split("=", 1)[0]
        wait_s = timeout_s or self._timeout_s
        self._write(command.encode("ascii") + b"\r", name)
        self._await(name, wait_s, Kind.PROMPT)
        self._write(data + CTRL_Z, name)
        self._await(name, wait_s, Kind.OK)

    def wait_urc(self, prefixes: tuple[str, ...], timeout_s: float) -> str | None:
        """The oldest queued MQTT result code starting with one of ``prefixes``, or None in time.

        Codes of other prefixes stay queued for their own reader.
        """
        deadline = time.monotonic() + timeout_s
        read = False
        while True:
            for text in self._mqtt_urcs:
                if text.startswith(prefixes):
                    self._mqtt_urcs.remove(text)
                    return text
            if read and time.monotonic() >= deadline:
                return None
            self._read_lines()  # at least once: what the port holds already counts
            read = True

    def discard_urcs(self) -> None:
        """Forget queued MQTT result codes (of a session that is over)."""
        self._mqtt_urcs.clear()

    def _write(self, data: bytes, name: str) -> None:
        try:
            self._serial.write(data)
        except serial.SerialException as exc:
            raise ModemError(f"{name}: serial port failed: {exc}", name) from exc

    def _await(self, name: str, timeout_s: float, kind: Kind) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self._read_lines():
                if line.kind is kind:
                    return
                if line.kind is Kind.ERROR:
                    raise ModemError(f"{name}: {line.text}", name, line.cme)
        raise ModemError(f"{name}: no {kind.value} within {timeout_s} s", name)

    def _read_lines(self) -> list[Line]:
        try:
            data = self._serial.read(512)
        except serial.SerialException as exc:
            raise ModemError(f"serial port failed: {exc}") from exc
        lines = []
        for line in self._reader.feed(data):
            if line.kind is Kind.URC and line.text.startswith("+NSONMI:"):
                self._arrived.append(nsonmi(line.text))
            elif line.kind is Kind.URC and line.text.startswith("+QMT"):
                self._mqtt_urcs.append(line.text)
            elif line.kind is not Kind.URC:
                lines.append(line)
        return lines
