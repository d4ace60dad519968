"""The ingest listeners besides MQTT that the settings turn on (HJ 212, NB-IoT UDP and CoAP).

Layer: wiring. Starts and stops the listeners next to the MQTT ingest worker,
on the same event loop and the same :class:`IngestPipeline`. Off by default:
``SHANSHUI_HJ212_LISTEN=host:port`` turns the HJ 212 server on,
``SHANSHUI_NBIOT_UDP_LISTEN`` and/or ``SHANSHUI_NBIOT_COAP_LISTEN`` the NB-IoT
compact-frame listeners. Stations and channel tables are read from the
database at every packet (``shanshui cloud hj212 station ...``, ``shanshui cloud
nbiot channels ...``); the files of earlier versions are imported once with
those commands, and a start with ``SHANSHUI_HJ212_STATIONS_FILE`` or
``SHANSHUI_NBIOT_CHANNELS_FILE`` still set is refused, saying so.
"""

from __future__ import annotations

import logging

from cloud.errors import ConfigError
from cloud.ingest.coap import CompactCoapServer
from cloud.ingest.hj212_command_queue import CommandQueueRunner
from cloud.ingest.hj212_server import Hj212Server
from cloud.ingest.pipeline import IngestPipeline
from cloud.ingest.registries import StoredStations, StoredTables
from cloud.ingest.udp import CompactUdpListener
from cloud.settings import Settings

log = logging.getLogger(__name__)


class ListenerSet:
    """The listeners the settings ask for; nothing runs until :meth:`start`."""

    def __init__(self, settings: Settings, pipeline: IngestPipeline) -> None:
        """Set the listeners up (nothing listens yet).

        Raises:
            ConfigError: a stations or channels file is still configured (import it).
        """
        refuse_files(settings)
        self._pipeline = pipeline
        self.hj212: Hj212Server | None = None
        self.hj212_commands: CommandQueueRunner | None = None
        self.nbiot_udp: CompactUdpListener | None = None
        self.nbiot_coap: CompactCoapServer | None = None
        storage = pipeline.storage
        address = settings.hj212_address()
        if address is not None:
            host, port = address
            self.hj212 = Hj212Server(pipeline, StoredStations(storage), host=host, port=port)
            self.hj212_commands = CommandQueueRunner(storage, self.hj212.commands)
        udp, coap = settings.nbiot_udp_address(), settings.nbiot_coap_address()
        if udp is not None:
            host, port = udp
            self.nbiot_udp = CompactUdpListener(
                pipeline, storage, StoredTables(storage), host=host, port=port
            )
        if coap is not None:
            host, port = coap
            self.nbiot_coap = CompactCoapServer(
                pipeline, storage, StoredTables(storage), host=host, port=port
            )

    async def start(self) -> None:
        """Start the listeners that are on (those started are stopped if one fails)."""
        try:
            if self.hj212 is not None:
                await self.hj212.start()
                log.info("HJ 212 listener on port %d", self.hj212.port)
            if self.hj212_commands is not None:
                self.hj212_commands.start()
            if self.nbiot_udp is not None:
                await self.nbiot_udp.start()
                log.info("NB-IoT UDP listener on port %d", self.nbiot_udp.port)
            if self.nbiot_coap is not None:
                await self.nbiot_coap.start()
                log.info("NB-IoT CoAP server on port %d", self.nbiot_coap.port)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop them."""
        if self.nbiot_coap is not None:
            await self.nbiot_coap.stop()
        if self.nbiot_udp is not None:
            await self.nbiot_udp.stop()
        if self.hj212_commands is not None:
            await self.hj212_commands.stop()
        if self.hj212 is not None:
            await self.hj212.stop()


def refuse_files(settings: Settings) -> None:
    """Refuse the stations and channels files of earlier versions: they are imported now.

    Raises:
        ConfigError: one of them is set, with the command that imports it.
    """
    if settings.hj212_stations_file is not None:
        raise ConfigError(
            "SHANSHUI_HJ212_STATIONS_FILE is no longer read: import it once with "
            f"'shanshui cloud hj212 station import {settings.hj212_stations_file}', then unset it"
        )
    if settings.nbiot_channels_file is not None:
        raise ConfigError(
            "SHANSHUI_NBIOT_CHANNELS_FILE is no longer read: import it once with "
            f"'shanshui cloud nbiot channels import {settings.nbiot_channels_file}', then unset it"
        )
