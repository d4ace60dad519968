"""The one error family of the edge agent.

Layer: plain exception classes; no I/O, no third-party imports. Library errors
(pymodbus, paho-mqtt, sqlite3, pydantic) are converted into these at the module
that talks to the library, and chained with ``raise ... from exc``.

    EdgeError                       anything the edge agent reports
    ├── ConfigError                 gateway.yaml, a secret or a password file cannot be used
    ├── OutboxError                 the SQLite outbox cannot be opened or written
    ├── DeviceReadError             one device could not be read (timeout, Modbus exception,
    │                               broken link, undecodable registers)
    └── UplinkError                 the uplink (MQTT, ...) refused or could not take a batch
        ├── NotConnectedError       no connection to the broker right now
        └── PublishError            the client library refused the message

Messages are for people (a technician at a terminal); facts are attributes.
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base class of every error the edge agent raises on purpose."""


class ConfigError(EdgeError):
    """The gateway configuration cannot be used; ``str()`` names file, line and key."""


class OutboxError(EdgeError):
    """The outbox database cannot be opened, read or written."""


class DeviceReadError(EdgeError):
    """One poll of one device failed.

    Attributes:
        device_id: the device id from gateway.yaml.
        exception_code: the Modbus exception code, when the device answered with one.
    """

    def __init__(self, device_id: str, message: str, exception_code: int | None = None) -> None:
        super().__init__(message)
        self.device_id = device_id
        self.exception_code = exception_code


class UplinkError(EdgeError):
    """The uplink could not take or deliver a batch."""


class NotConnectedError(UplinkError):
    """The uplink has no connection right now; the outbox keeps the batch."""


class PublishError(UplinkError):
    """The client library refused the message (queue full, payload too large, ...)."""
