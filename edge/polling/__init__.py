"""Pollers: one asyncio task per bus, reading devices on their schedules."""

from edge.polling.poller import BusPoller, DeviceHealth, ModbusTcpPoller
from edge.polling.schedule import Schedule

__all__ = ["BusPoller", "DeviceHealth", "ModbusTcpPoller", "Schedule"]
