"""AsciiPoller against a simulated ASCII sensor on a pty: streamed and requested lines, faults."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from device_profiles import Profile
from edge.bus_config import AsciiBus, AsciiDeviceConfig, ModbusRtuBus
from edge.polling import AsciiPoller, BusPoller, poller_for
from simulators.ascii_sensors import AsciiSensor
from wire import Quality, Reading

# Gill WindSonic polar continuous mode: <STX>Q,ddd,sss.ss,M,nn,<ETX>cc\r\n (XOR checksum)
WINDSONIC = Profile.model_validate(
    {
        "model": "test-windsonic",
        "manufacturer": "test",
        "description": "test",
        "source": "test",
        "protocol": "ascii",
        "ascii": {
            "start": "\x02",
            "regex": r"Q,(?P<dir>\d{3})?,(?P<speed>\d{3}\.\d{2}),M,(?P<status>\d\d),",
            "template": "Q,{direction},{speed},M,00,",
            "checksum": {"algorithm": "xor8", "start": "\x02", "end": "\x03"},
            "fields": [
                {
                    "name": "direction",
                    "quantity": "wind_direction",
                    "field": "dir",
                    "optional": True,
                    "format": "{:03.0f}",
                },
                {"name": "speed", "quantity": "wind_speed", "field": "speed", "format": "{:06.2f}"},
            ],
        },
    }
)
# a polled sensor: "R\r" asks, "$21.5,63.0*cs\r\n" answers (sum8 checksum)
POLLED = Profile.model_validate(
    {
        "model": "test-polled",
        "manufacturer": "test",
        "description": "test",
        "source": "test",
        "protocol": "ascii",
        "ascii": {
            "request": "R\r",
            "start": "$",
            "delimiter": ",",
            "checksum": {"algorithm": "sum8", "start": "$", "end": "*"},
            "fields": [
                {
                    "name": "t",
                    "quantity": "air_temperature",
                    "field": 0,
                    "invalid_text": ["----"],
                    "format": "{:.1f}",
                },
                {"name": "rh", "quantity": "relative_humidity", "field": 1, "format": "{:.1f}"},
            ],
        },
    }
)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


def ascii_bus(port: str, profile: Profile, **extra: Any) -> AsciiBus:
    # model_construct: the test profiles are not in the built-in library
    device = AsciiDeviceConfig.model_construct(
        id="s1", model=profile.model, interval_s=0.2, calibration=None
    )
    fields = {"name": "serial-1", "type": "ascii", "port": port, "timeout_s": 0.5} | extra
    return AsciiBus.model_construct(devices=(device,), backoff_max_s=60.0, **fields)


async def _nothing(_readings: list[Reading]) -> None:
    return None


def by_quantity(readings: list[Reading]) -> dict[str, float]:
    return {r.quantity: r.value for r in readings}


@pytest.mark.parametrize(("profile", "interval_s"), [(WINDSONIC, 0.05), (POLLED, None)])
def test_ascii_sensor_values_arrive_exactly(profile: Profile, interval_s: float | None) -> None:
    async def scenario() -> None:
        async with AsciiSensor(profile, interval_s=interval_s) as sensor:
            name = profile.ascii_fields[0].name
            sensor.set_value(name, 123.0 if profile is WINDSONIC else -10.5)
            poller = AsciiPoller(
                ascii_bus(sensor.port, profile), _nothing, profiles={"s1": profile}
            )
            try:
                readings = await poller.poll()
            finally:
                poller.close()
            quantities = {f.name: f.quantity for f in profile.ascii_fields}
            assert by_quantity(readings) == {quantities[n]: v for n, v in sensor.served().items()}
            assert {r.quality for r in readings} == {Quality.NORMAL}
            assert poller.health()[0].state == "ok"

    run(scenario)


def test_bad_checksum_and_silence_are_counted_and_never_fatal() -> None:
    async def scenario() -> None:
        async with AsciiSensor(POLLED) as sensor:
            poller = AsciiPoller(ascii_bus(sensor.port, POLLED), _nothing, profiles={"s1": POLLED})
            try:
                sensor.faults.bad_checksum = True
                assert await poller.poll() == []
                sensor.faults.bad_checksum = False
                sensor.faults.silent = True
                assert await poller.poll() == []
                sensor.faults.silent = False
                readings = await poller.poll()
            finally:
                poller.close()
            assert {r.quantity for r in readings} == {"air_temperature", "relative_humidity"}
            health = poller.health()[0]
            assert health.state == "ok"
            assert health.errors == {"garbage": 1, "timeout": 1}

    run(scenario)


def test_run_reads_a_streaming_sensor_on_schedule() -> None:
    async def scenario() -> None:
        async with AsciiSensor(WINDSONIC, interval_s=0.05) as sensor:
            cycles: list[list[Reading]] = []
            arrived = asyncio.Event()

            async def sink(readings: list[Reading]) -> None:
                cycles.append(readings)
                arrived.set()

            poller = AsciiPoller(
                ascii_bus(sensor.port, WINDSONIC), sink, profiles={"s1": WINDSONIC}
            )
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run(stop))
            while len(cycles) < 3:
                arrived.clear()
                await asyncio.wait_for(arrived.wait(), timeout=10)
            stop.set()
            await asyncio.wait_for(task, timeout=5)
            assert all({r.quantity for r in c} == {"wind_direction", "wind_speed"} for c in cycles)

    run(scenario)


def test_poller_for_picks_the_poller_of_each_bus_type() -> None:
    rtu = ModbusRtuBus.model_validate(
        {
            "name": "rs485-1",
            "type": "modbus_rtu",
            "port": "/dev/ttyUSB0",
            "devices": [{"id": "th1", "model": "jxct-th-rs485", "slave": 1}],
        }
    )
    serial = AsciiBus.model_validate(
        {
            "name": "serial-1",
            "type": "ascii",
            "port": "/dev/ttyUSB1",
            "devices": [{"id": "wind", "model": "gill-windsonic"}],
        }
    )
    assert isinstance(poller_for(rtu, _nothing), BusPoller)
    ascii_poller = poller_for(serial, _nothing)
    assert isinstance(ascii_poller, AsciiPoller)
    assert ascii_poller.health()[0].slave == 0
