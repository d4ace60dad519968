"""An MQTT broker from the ``iotcore`` wheel (rumqttd) in a child process.

Layer: process management. Only the MQTT 3.1.1 listener is used: the design
notes that rumqttd's MQTT 5 listener is not reliable, and 3.1.1 is our baseline.
The child exits by itself if this process dies (iotcore closes its stdin pipe),
so a killed demo leaves no broker behind.
"""

from __future__ import annotations

import logging
import socket
from types import TracebackType
from typing import Self

from iotcore import Broker

log = logging.getLogger(__name__)

# rumqttd's default is 20 KiB and it drops a client that publishes more; a gateway
# catching up after an outage sends batches up to wire.MAX_BATCH_BYTES (512 KiB),
# which the JSON envelope's escaping can grow further.
MAX_PAYLOAD_BYTES = 1024 * 1024


class EmbeddedBroker:
    """A broker listening on ``host:port`` (port 0 picks a free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._broker: Broker | None = None

    @property
    def url(self) -> str:
        """``mqtt://host:port`` of this broker."""
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> Self:
        """Start the broker and wait until it accepts connections.

        Raises:
            OSError: the port is taken.
        """
        broker = Broker(port=self.port, listen=self.host, max_payload_size=MAX_PAYLOAD_BYTES)
        broker.start()
        self._broker = broker
        log.info("embedded MQTT broker on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop the broker and release the port. Safe to call twice."""
        broker, self._broker = self._broker, None
        if broker is not None:
            broker.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
