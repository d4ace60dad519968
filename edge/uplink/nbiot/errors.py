"""Errors of the NB-IoT uplink, in the edge's family (:class:`edge.errors.UplinkError`).

UplinkError
└── ModemError              the module answered ERROR / +CME ERROR, or not at all
    ├── NotAttachedError    the module is not registered on the network
    └── MqttLinkLostError   the module's MQTT link ended (``+QMTSTAT``)
"""

from __future__ import annotations

from edge.errors import UplinkError


class ModemError(UplinkError):
    """The module refused a command or did not answer in time.

    Attributes:
        command: the AT command (never a payload).
        cme: the ``+CME ERROR`` code, when the module gave one.
    """

    def __init__(self, message: str, command: str = "", cme: int | None = None) -> None:
        super().__init__(message)
        self.command = command
        self.cme = cme


class NotAttachedError(ModemError):
    """The module did not register on the network in time."""


class MqttLinkLostError(ModemError):
    """The module reported its MQTT link gone (``+QMTSTAT: 0,<code>``).

    Attributes:
        code: the ``+QMTSTAT`` code (1 closed by the server ... 7 link inactive).
    """

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message, "+QMTSTAT")
        self.code = code
