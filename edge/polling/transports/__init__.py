"""How bytes reach a bus: serial ports and TCP connections, nothing else.

Layer: asyncio byte links. A link opens, writes, and hands over what arrived;
it knows nothing of Modbus (framing is :mod:`edge.polling.modbus_frames`,
transactions and bus timing :mod:`edge.polling.modbus_master`).

    tcp           Modbus TCP, and RTU over TCP (RS-485-to-Ethernet converters)
    serial_port   an RS-485/RS-232 serial port (or a pseudo-terminal), via pyserial
"""

from edge.polling.transports.base import Inbox, Link
from edge.polling.transports.serial_port import SerialLink
from edge.polling.transports.tcp import TcpLink

__all__ = ["Inbox", "Link", "SerialLink", "TcpLink"]
