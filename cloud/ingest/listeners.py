"""The ingest listeners besides MQTT that the settings turn on (HJ 212 over TCP).

Layer: wiring. Starts and stops the listeners next to the MQTT ingest worker,
on the same event loop and the same :class:`IngestPipeline`. Off by default:
``SHANSHUI_HJ212_LISTEN=host:port`` with ``SHANSHUI_HJ212_STATIONS_FILE``
turns the HJ 212 server on.
"""

from __future__ import annotations

import logging

from cloud.errors import ConfigError
from cloud.ingest.hj212_server import Hj212Server
from cloud.ingest.hj212_stations import load_stations
from cloud.ingest.pipeline import IngestPipeline
from cloud.settings import Settings

log = logging.getLogger(__name__)


class ListenerSet:
    """The listeners the settings ask for; nothing runs until :meth:`start`."""

    def __init__(self, settings: Settings, pipeline: IngestPipeline) -> None:
        """Read the stations file now, so that a broken one stops the start.

        Raises:
            ConfigError: the HJ 212 listener is on without a usable stations file.
        """
        self._pipeline = pipeline
        self.hj212: Hj212Server | None = None
        address = settings.hj212_address()
        if address is None:
            return
        if settings.hj212_stations_file is None:
            raise ConfigError("SHANSHUI_HJ212_LISTEN needs SHANSHUI_HJ212_STATIONS_FILE")
        stations = load_stations(settings.hj212_stations_file)
        host, port = address
        self.hj212 = Hj212Server(pipeline, stations, host=host, port=port)

    async def start(self) -> None:
        """Start the listeners that are on."""
        if self.hj212 is not None:
            await self.hj212.start()
            log.info("HJ 212 listener on port %d", self.hj212.port)

    async def stop(self) -> None:
        """Stop them."""
        if self.hj212 is not None:
            await self.hj212.stop()
