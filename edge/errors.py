"""The one error family of the edge agent.

Layer: plain exception classes; no I/O, no third-party imports. Library errors
(pymodbus, paho-mqtt, sqlite3, pydantic) are converted into these at the module
that talks to the library, and chained with ``raise ... from exc``.

    EdgeError                       anything the edge agent reports
    ├── ConfigError                 gateway.yaml, a secret or a password file cannot be used
    ├── OutboxError                 the SQLite outbox cannot be opened or written
    ├── DeviceReadError             one device could not be read (timeout, Modbus exception,
    │                               broken link, undecodable registers); ``kind`` says which
    ├── BusError                    one Modbus transaction on a bus failed
    │   ├── LinkError               the serial port or TCP connection cannot be opened or broke
    │   ├── NoAnswerError           nothing arrived within the timeout
    │   ├── BadFrameError           a reply with a wrong CRC, or bytes that are no Modbus frame
    │   └── ExceptionResponseError  the device answered with a Modbus exception code
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
        kind: what went wrong, for per-device counters: ``timeout``, ``crc``,
            ``garbage``, ``exception``, ``link`` or ``decode``.
    """

    def __init__(
        self,
        device_id: str,
        message: str,
        exception_code: int | None = None,
        kind: str = "decode",
    ) -> None:
        super().__init__(message)
        self.device_id = device_id
        self.exception_code = exception_code
        self.kind = "exception" if exception_code is not None else kind


class BusError(EdgeError):
    """One Modbus transaction failed; raised by the bus master, below device level."""


class LinkError(BusError):
    """The serial port or TCP connection cannot be opened, or broke."""


class NoAnswerError(BusError):
    """Nothing arrived from the slave within the timeout."""


class BadFrameError(BusError):
    """Bytes arrived but were no usable reply.

    Attributes:
        kind: ``crc`` (a frame whose checksum is wrong) or ``garbage`` (anything else).
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class ExceptionResponseError(BusError):
    """The slave answered with a Modbus exception response.

    Attributes:
        code: the Modbus exception code (2 = illegal data address, ...).
    """

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class UplinkError(EdgeError):
    """The uplink could not take or deliver a batch."""


class NotConnectedError(UplinkError):
    """The uplink has no connection right now; the outbox keeps the batch."""


class PublishError(UplinkError):
    """The client library refused the message (queue full, payload too large, ...)."""
