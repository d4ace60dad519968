"""From a ``buses:`` entry of gateway.yaml to the Modbus master that serves it.

Layer: wiring only. Chooses the byte link (serial port or TCP), the framing
(RTU or MBAP) and the line's silences for each bus type:

    modbus_tcp            TcpLink    + tcp framing, no silences
    modbus_rtu            SerialLink + rtu framing, t3.5 (or inter_frame_gap_s) + turnaround
    modbus_rtu_over_tcp   TcpLink    + rtu framing, the RS-485 side's t3.5 + turnaround
"""

from __future__ import annotations

from edge.bus_config import ModbusRtuBus, ModbusRtuOverTcpBus, ModbusTcpBus
from edge.bus_timing import Parity, char_time_s, silent_interval_s
from edge.polling.modbus_frames import FrameCodec
from edge.polling.modbus_master import LineTiming, ModbusMaster
from edge.polling.transports import SerialLink, TcpLink

AnyModbusBus = ModbusTcpBus | ModbusRtuBus | ModbusRtuOverTcpBus


def master_for(bus: AnyModbusBus) -> ModbusMaster:
    """A closed master for ``bus``; its link opens on the first transaction."""
    if isinstance(bus, ModbusTcpBus):
        link = TcpLink(bus.host, bus.port, bus.timeout_s)
        return ModbusMaster(link, FrameCodec("tcp"), LineTiming(turnaround_s=bus.turnaround_s))
    timing = LineTiming(char_s=bus.char_s, gap_s=bus.gap_s, turnaround_s=bus.turnaround_s)
    if isinstance(bus, ModbusRtuOverTcpBus):
        # the converter forwards bytes at the RS-485 side's pace: same silences as a serial port
        return ModbusMaster(TcpLink(bus.host, bus.port, bus.timeout_s), FrameCodec("rtu"), timing)
    serial = SerialLink(bus.port, bus.baudrate, bus.parity, bus.stopbits, bus.bytesize)
    return ModbusMaster(serial, FrameCodec("rtu"), timing)


def master_for_line(
    *,
    serial_port: str | None,
    host: str,
    tcp_port: int,
    rtu_over_tcp: bool,
    baudrate: int = 9600,
    parity: Parity = "N",
    stopbits: int = 1,
    timeout_s: float = 1.0,
) -> ModbusMaster:
    """A master for a technician's one-off command (``read``, ``scan``), not from gateway.yaml.

    A serial port wins over ``host``; ``rtu_over_tcp`` sends RTU frames to ``host``.
    """
    timing = LineTiming(
        char_s=char_time_s(baudrate, parity, stopbits),
        gap_s=silent_interval_s(baudrate, parity, stopbits),
    )
    if serial_port is not None:
        link = SerialLink(serial_port, baudrate, parity, stopbits)
        return ModbusMaster(link, FrameCodec("rtu"), timing)
    tcp = TcpLink(host, tcp_port, timeout_s)
    if rtu_over_tcp:
        return ModbusMaster(tcp, FrameCodec("rtu"), timing)
    return ModbusMaster(tcp, FrameCodec("tcp"))
