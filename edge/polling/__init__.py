"""Pollers: one asyncio task per bus, reading devices on their schedules."""

from collections.abc import Callable, Mapping

from device_profiles import Profile
from edge.bus_config import AsciiBus, BusConfig
from edge.polling.ascii_poller import AsciiPoller
from edge.polling.health import DeviceHealth, ReadingSink
from edge.polling.poller import BusPoller, ModbusTcpPoller
from edge.polling.schedule import Schedule

__all__ = [
    "AsciiPoller",
    "BusPoller",
    "DeviceHealth",
    "ModbusTcpPoller",
    "Schedule",
    "poller_for",
]


def poller_for(
    bus: BusConfig,
    sink: ReadingSink,
    *,
    profiles: Mapping[str, Profile] | None = None,
    on_change: Callable[[], None] | None = None,
) -> BusPoller | AsciiPoller:
    """The poller for ``bus``: Modbus (TCP, RTU, RTU over TCP) or ASCII."""
    if isinstance(bus, AsciiBus):
        return AsciiPoller(bus, sink, profiles=profiles, on_change=on_change)
    return BusPoller(bus, sink, profiles=profiles, on_change=on_change)
