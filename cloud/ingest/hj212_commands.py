"""``CommandDesk``: the platform's commands to connected HJ 212 data loggers, and their answers.

Layer: ingest logic of the HJ 212 server (asyncio; no SQL). The server tells the
desk which logger is on which connection (after the logger's password checked
out) and hands it every packet that belongs to a command in progress (same MN
and QN) instead of ingesting it. :meth:`CommandDesk.run` sends a command
(:func:`wire.hj212.command_packet`, QN the platform's clock in Beijing time to the
millisecond, unique) and waits until the exchange is done: the logger's ``9012``,
or a ``9011`` that refuses.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cloud.errors import CloudError
from cloud.ingest.hj212_readings import Station
from wire import Hj212Error
from wire.hj212 import CommandExchange, Packet, PeerCipher, command_packet, encode_packet

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8))
ST_DEFAULT = "22"


class CommandError(CloudError):
    """A command could not be carried out: logger not connected, or no answer in time."""


@dataclass
class _Peer:
    station: Station
    st: str
    writer: asyncio.StreamWriter


class CommandDesk:
    """Connected loggers by MN and the commands waiting for their answers."""

    def __init__(self) -> None:
        self._peers: dict[str, _Peer] = {}
        self._pending: dict[tuple[str, str], tuple[CommandExchange, asyncio.Event]] = {}
        self._last_qn_ms = 0

    @property
    def connected(self) -> tuple[str, ...]:
        """The MNs of the loggers connected now."""
        return tuple(self._peers)

    def seen(self, station: Station, st: str, writer: asyncio.StreamWriter) -> None:
        """A packet of ``station`` checked out on the connection of ``writer``."""
        self._peers[station.mn] = _Peer(station, st, writer)

    def gone(self, writer: asyncio.StreamWriter) -> None:
        """The connection of ``writer`` closed."""
        for mn in [mn for mn, peer in self._peers.items() if peer.writer is writer]:
            del self._peers[mn]

    def route(self, packet: Packet) -> bool:
        """Take ``packet`` if it belongs to a command in progress; say whether it did."""
        entry = self._pending.get((packet.mn, packet.qn or ""))
        if entry is None:
            return False
        exchange, finished = entry
        try:
            exchange.feed(packet)
        except Hj212Error as exc:
            log.info("HJ 212 %s: unreadable answer to QN %s: %s", packet.mn, packet.qn, exc)
            return True
        if exchange.done:
            finished.set()
        return True

    async def run(
        self, mn: str, cn: str, value: str | None = None, timeout_s: float = 30.0
    ) -> CommandExchange:
        """Send command ``cn`` to logger ``mn``; return the exchange once done.

        Raises:
            CommandError: the logger is not connected, the command is malformed, or the
                exchange did not end within ``timeout_s`` (what came is in the message).
        """
        peer = self._peers.get(mn)
        if peer is None:
            raise CommandError(f"HJ 212 logger {mn} is not connected")
        station = peer.station
        try:
            command = command_packet(
                cn, st=peer.st, pw=station.password, mn=mn, qn=self._qn(),
                edition=station.edition, value=value,
            )  # fmt: skip
        except Hj212Error as exc:
            raise CommandError(str(exc)) from None
        exchange, finished = CommandExchange(command), asyncio.Event()
        key = (mn, command.qn or "")
        self._pending[key] = (exchange, finished)
        try:
            _send(peer.writer, command, station.cipher)
            await peer.writer.drain()
            async with asyncio.timeout(timeout_s):
                await finished.wait()
        except TimeoutError:
            raise CommandError(
                f"HJ 212 {mn} CN {cn}: no end of the exchange within {timeout_s:g} s "
                f"(QnRtn={exchange.qn_rtn}, ExeRtn={exchange.exe_rtn})"
            ) from None
        except ConnectionError as exc:
            raise CommandError(f"HJ 212 {mn}: connection lost: {exc}") from None
        finally:
            del self._pending[key]
        return exchange

    def _qn(self) -> str:
        now_ms = int(datetime.now(BEIJING).timestamp() * 1000)
        self._last_qn_ms = max(now_ms, self._last_qn_ms + 1)  # unique per command
        when = datetime.fromtimestamp(self._last_qn_ms / 1000, BEIJING)
        return f"{when:%Y%m%d%H%M%S}{self._last_qn_ms % 1000:03d}"


def _send(writer: asyncio.StreamWriter, packet: Packet, cipher: PeerCipher | None) -> None:
    writer.write(encode_packet(packet, cipher))
