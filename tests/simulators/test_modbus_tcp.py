"""SimulatedStation: a real pymodbus TCP server serving device profiles."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from device_profiles import (
    Point,
    Profile,
    Quantity,
    RegisterError,
    builtin_profile,
    decode_point,
    encode_point,
)
from simulators.errors import SimulatorError
from simulators.modbus_tcp import SimulatedStation

JXCT = builtin_profile("jxct-th-rs485")


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


async def connect(station: SimulatedStation) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient(
        station.host, port=station.port, timeout=0.2, retries=0, reconnect_delay=0
    )
    assert await client.connect()
    return client


def input_profile() -> Profile:
    data = JXCT.model_dump()
    data["modbus"]["register_table"] = "input"
    data["points"] = [
        *({k: v for k, v in point.items() if k != "function_code"} for point in data["points"]),
        {"name": "dew_point", "quantity": "air_temperature", "address": 10, "data_type": "float32"},
    ]
    return Profile.model_validate(data)


def test_serves_the_encoded_profile_on_a_free_port() -> None:
    async def scenario() -> None:
        async with SimulatedStation.for_model(JXCT.model, [1], update_interval_s=None) as station:
            assert station.port > 0
            client = await connect(station)
            try:
                response = await client.read_holding_registers(0, count=2, device_id=1)
            finally:
                client.close()
            served = station.served(1)
            expected = [
                *encode_point(JXCT.point("humidity"), served["humidity"]),
                *encode_point(JXCT.point("temperature"), served["temperature"]),
            ]
            assert list(response.registers) == expected

    run(scenario)


def test_pinned_values_are_quantised_like_the_sensor() -> None:
    async def scenario() -> None:
        async with SimulatedStation.for_model(JXCT.model, [1], update_interval_s=None) as station:
            assert station.set_value(1, "temperature", -10.14) == -10.1
            station.update(time_s=2_000_000_000.0)  # the generator moves, pinned points do not
            assert station.served(1)["temperature"] == -10.1
            client = await connect(station)
            try:
                response = await client.read_holding_registers(1, count=1, device_id=1)
            finally:
                client.close()
            assert list(response.registers) == [0xFF9B]  # the vendor's worked example
            with pytest.raises(RegisterError):
                station.set_value(1, "humidity", -5.0)  # uint16 cannot hold it
            with pytest.raises(KeyError):
                station.set_value(1, "pressure", 1.0)

    run(scenario)


def test_values_follow_the_generator_until_pinned() -> None:
    def ramp(slave: int, point: Point, _quantity: Quantity, time_s: float) -> float:
        return slave + (time_s % 50)

    async def scenario() -> None:
        station = SimulatedStation({1: JXCT, 2: JXCT}, update_interval_s=None, generator=ramp)
        async with station:
            station.update(time_s=10.0)
            assert station.served(1) == {"humidity": 11.0, "temperature": 11.0}
            assert station.served(2) == {"humidity": 12.0, "temperature": 12.0}
            station.set_value(1, "humidity", 55.5)
            station.update(time_s=20.0)
            assert station.served(1) == {"humidity": 55.5, "temperature": 21.0}
            station.unpin(1, "humidity")
            station.update(time_s=30.0)
            assert station.served(1)["humidity"] == 31.0

    run(scenario)


def test_periodic_updates_change_the_served_values() -> None:
    async def scenario() -> None:
        calls = 0
        third_update = asyncio.Event()

        def counter(_slave: int, _point: Point, _quantity: Quantity, _time_s: float) -> float:
            nonlocal calls
            calls += 1
            if calls >= 3 * len(JXCT.points):  # construction, then two periodic updates
                third_update.set()
            return float(calls)

        station = SimulatedStation({1: JXCT}, update_interval_s=0.01, generator=counter)
        first = station.served(1)
        async with station:
            await asyncio.wait_for(third_update.wait(), timeout=5)
            assert station.served(1) != first

    run(scenario)


def test_offline_and_unknown_slaves_do_not_answer() -> None:
    async def scenario() -> None:
        async with SimulatedStation.for_model(
            JXCT.model, [1, 2], update_interval_s=None
        ) as station:
            client = await connect(station)
            try:
                station.set_offline(1, True)
                with pytest.raises(ModbusIOException, match="No response"):
                    await client.read_holding_registers(0, count=2, device_id=1)
                with pytest.raises(ModbusIOException, match="No response"):
                    await client.read_holding_registers(0, count=2, device_id=9)
                response = await client.read_holding_registers(0, count=2, device_id=2)
                assert not response.isError()
                station.set_offline(1, False)
                response = await client.read_holding_registers(0, count=2, device_id=1)
                assert not response.isError()
            finally:
                client.close()

    run(scenario)


def test_register_table_and_address_map_come_from_the_profile() -> None:
    profile = input_profile()

    async def scenario() -> None:
        async with SimulatedStation({7: profile}, update_interval_s=None) as station:
            client = await connect(station)
            try:
                holding = await client.read_holding_registers(0, count=2, device_id=7)
                assert holding.isError()
                assert holding.exception_code == 1
                gap = await client.read_input_registers(2, count=1, device_id=7)
                assert gap.isError()
                assert gap.exception_code == 2
                station.set_value(7, "dew_point", 3.25)
                response = await client.read_input_registers(10, count=2, device_id=7)
                assert decode_point(profile.point("dew_point"), response.registers) == 3.25
            finally:
                client.close()

    run(scenario)


def test_raw_registers_for_fault_injection() -> None:
    async def scenario() -> None:
        async with SimulatedStation.for_model(JXCT.model, [1], update_interval_s=None) as station:
            station.set_raw(1, "temperature", [0x7FFF])
            client = await connect(station)
            try:
                response = await client.read_holding_registers(1, count=1, device_id=1)
            finally:
                client.close()
            assert list(response.registers) == [0x7FFF]
            with pytest.raises(SimulatorError, match="needs 1 registers"):
                station.set_raw(1, "temperature", [1, 2])

    run(scenario)


def test_stop_releases_the_port() -> None:
    async def scenario() -> None:
        station = SimulatedStation.for_model(JXCT.model, [1], update_interval_s=0.5)
        await station.start()
        port = station.port
        await station.stop()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
        again = SimulatedStation.for_model(JXCT.model, [1], port=port, update_interval_s=None)
        async with again:
            assert again.port == port

    run(scenario)


def test_port_in_use_and_bad_slave_ids_are_simulator_errors() -> None:
    async def scenario() -> None:
        async with SimulatedStation.for_model(JXCT.model, [1], update_interval_s=None) as first:
            second = SimulatedStation.for_model(JXCT.model, [1], port=first.port)
            with pytest.raises(SimulatorError, match="cannot listen"):
                await second.start()
        with pytest.raises(SimulatorError, match="slave id 248"):
            SimulatedStation({248: JXCT})

    run(scenario)
