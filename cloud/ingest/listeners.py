"""The ingest listeners besides MQTT that the settings turn on (HJ 212, NB-IoT UDP and CoAP).

Layer: wiring. Starts and stops the listeners next to the MQTT ingest worker,
on the same event loop and the same :class:`IngestPipeline`. Off by default:
``SHANSHUI_HJ212_LISTEN=host:port`` with ``SHANSHUI_HJ212_STATIONS_FILE``
turns the HJ 212 server on; ``SHANSHUI_NBIOT_UDP_LISTEN`` and/or
``SHANSHUI_NBIOT_COAP_LISTEN`` with ``SHANSHUI_NBIOT_CHANNELS_FILE`` turn the
NB-IoT compact-frame listeners on.
"""

from __future__ import annotations

import logging

from cloud.errors import ConfigError
from cloud.ingest.coap import CompactCoapServer
from cloud.ingest.hj212_server import Hj212Server
from cloud.ingest.hj212_stations import load_stations
from cloud.ingest.nbiot_channels import load_channel_tables
from cloud.ingest.pipeline import IngestPipeline
from cloud.ingest.udp import CompactUdpListener
from cloud.settings import Settings

log = logging.getLogger(__name__)


class ListenerSet:
    """The listeners the settings ask for; nothing runs until :meth:`start`."""

    def __init__(self, settings: Settings, pipeline: IngestPipeline) -> None:
        """Read the stations and channels files now, so that a broken one stops the start.

        Raises:
            ConfigError: a listener is on without a usable file it needs.
        """
        self._pipeline = pipeline
        self.hj212: Hj212Server | None = None
        self.nbiot_udp: CompactUdpListener | None = None
        self.nbiot_coap: CompactCoapServer | None = None
        address = settings.hj212_address()
        if address is not None:
            if settings.hj212_stations_file is None:
                raise ConfigError("SHANSHUI_HJ212_LISTEN needs SHANSHUI_HJ212_STATIONS_FILE")
            stations = load_stations(settings.hj212_stations_file)
            host, port = address
            self.hj212 = Hj212Server(pipeline, stations, host=host, port=port)
        udp, coap = settings.nbiot_udp_address(), settings.nbiot_coap_address()
        if udp is None and coap is None:
            return
        if settings.nbiot_channels_file is None:
            raise ConfigError(
                "SHANSHUI_NBIOT_UDP_LISTEN and SHANSHUI_NBIOT_COAP_LISTEN need "
                "SHANSHUI_NBIOT_CHANNELS_FILE"
            )
        tables = load_channel_tables(settings.nbiot_channels_file)
        if udp is not None:
            host, port = udp
            self.nbiot_udp = CompactUdpListener(
                pipeline, pipeline.storage, tables, host=host, port=port
            )
        if coap is not None:
            host, port = coap
            self.nbiot_coap = CompactCoapServer(
                pipeline, pipeline.storage, tables, host=host, port=port
            )

    async def start(self) -> None:
        """Start the listeners that are on (those started are stopped if one fails)."""
        try:
            if self.hj212 is not None:
                await self.hj212.start()
                log.info("HJ 212 listener on port %d", self.hj212.port)
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
        if self.hj212 is not None:
            await self.hj212.stop()
