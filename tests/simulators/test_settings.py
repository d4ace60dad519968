"""Writable settings of simulated slaves: read back, written with FC06/FC16, or refused."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pymodbus.client import AsyncModbusTcpClient

from device_profiles import builtin_profile
from simulators.modbus_tcp import SimulatedStation


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


async def _client(station: SimulatedStation) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient(
        station.host, port=station.port, timeout=1, retries=0, reconnect_delay=0
    )
    assert await client.connect()
    return client


def test_address_and_baud_code_read_back_and_change() -> None:
    profile = builtin_profile("renke-rs-fsjt-n01")  # 0x07D0 address, 0x07D1 baud code

    async def scenario() -> None:
        async with SimulatedStation({3: profile}, update_interval_s=None) as station:
            client = await _client(station)
            try:
                read = await client.read_holding_registers(0x07D0, count=2, device_id=3)
                assert read.registers == [3, 1]  # its id, and code 1 = 4800 baud (factory)
                assert station.settings(3) == {"slave_address": 3, "baud_rate": 4800}
                wrote = await client.write_register(0x07D1, 2, device_id=3)
                assert not wrote.isError()
                wrote = await client.write_register(0x07D0, 12, device_id=3)
                assert not wrote.isError()
                assert station.settings(3) == {"slave_address": 12, "baud_rate": 9600}
                refused = await client.write_register(0x07D1, 9, device_id=3)
                assert refused.isError()
                assert refused.exception_code == 3  # illegal data value
                refused = await client.write_register(0x0000, 1, device_id=3)
                assert refused.isError()
                assert refused.exception_code == 2  # a measurement is not writable
            finally:
                client.close()
        assert station.settings(3)["baud_rate"] == 9600

    run(scenario)


def test_unlock_set_and_save_sequence_of_a_witmotion() -> None:
    profile = builtin_profile("witmotion-wt901c-485")
    setting = profile.modbus.setting("slave_address")
    assert setting is not None

    async def scenario() -> None:
        async with SimulatedStation({80: profile}, update_interval_s=None) as station:
            client = await _client(station)
            try:
                for write in setting.writes(0x51):
                    response = await client.write_register(write.address, write.value, device_id=80)
                    assert not response.isError(), write
            finally:
                client.close()
            assert station.settings(80)["slave_address"] == 0x51

    run(scenario)


def test_a_setting_written_with_fc16() -> None:
    profile = builtin_profile("dfrobot-sen0575")  # holding 0x0006: rain window, hours 1-24

    async def scenario() -> None:
        async with SimulatedStation({192: profile}, update_interval_s=None) as station:
            client = await _client(station)
            try:
                assert not (await client.write_registers(0x0006, [6], device_id=192)).isError()
                refused = await client.write_registers(0x0006, [25], device_id=192)
                assert refused.exception_code == 3
            finally:
                client.close()
            assert station.settings(192) == {"rain_window_h": 6}

    run(scenario)
