"""scan: three devices at different addresses and baud rates on a simulated RS-485 bus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from device_profiles import Profile, builtin_profile
from edge.polling.buses import master_for_line
from edge.polling.modbus_master import ModbusMaster
from edge.scan import FoundDevice, LineSetting, ScanError, ScanProgress, scan, set_address
from simulators.modbus_rtu import RtuBus, RtuSlave
from simulators.register_image import RegisterImage

JXCT = builtin_profile("jxct-th-rs485")
# a 4800-baud reply needs ~31 ms after its request left; the rest is slack for a loaded machine
TIMEOUT_S = 0.08


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=120))


def profile(model: str, serial_baud: int, points: list[dict[str, Any]], **modbus: Any) -> Profile:
    return Profile.model_validate(
        {
            "model": model,
            "manufacturer": "test",
            "description": "test",
            "source": "test",
            "modbus": {"serial": {"baudrate": serial_baud}, **modbus},
            "points": points,
        }
    )


# three register maps that cannot be mistaken for one another
DUST = profile(
    "test-dust",
    4800,
    [
        {"name": "pm2_5", "quantity": "pm2_5", "address": 0x12, "data_type": "uint16"},
        {"name": "pm10", "quantity": "pm10", "address": 0x13, "data_type": "uint16"},
    ],
    settings=[{"name": "slave_address", "address": 0x0100, "min": 1, "max": 247}],
)
BAROMETER = profile(
    "test-barometer",
    19200,
    [{"name": "pressure", "quantity": "air_pressure", "address": 2, "data_type": "float32"}],
    register_table="input",
)


def master_for_pty(port: str) -> Callable[[LineSetting], ModbusMaster]:
    def make(line: LineSetting) -> ModbusMaster:
        return master_for_line(
            serial_port=port,
            host="",
            tcp_port=502,
            rtu_over_tcp=False,
            baudrate=line.baudrate,
            parity=line.parity,
        )

    return make


def slave(image_id: int, model: Profile, baud: int) -> RtuSlave:
    return RtuSlave(RegisterImage(image_id, model, baudrate=baud), baudrate=baud)


def test_scan_finds_three_devices_and_names_their_profiles() -> None:
    async def scenario() -> None:
        slaves = {
            3: slave(3, JXCT, 9600),
            11: slave(11, DUST, 4800),
            19: slave(19, BAROMETER, 19200),
        }
        async with RtuBus(slaves, update_interval_s=None) as bus:
            seen: list[ScanProgress] = []
            found = await scan(
                master_for_pty(bus.port),
                [LineSetting(4800), LineSetting(9600), LineSetting(19200)],
                range(1, 21),
                [JXCT, DUST, BAROMETER],
                timeout_s=TIMEOUT_S,
                progress=seen.append,
            )
            assert found == [
                FoundDevice(LineSetting(4800), 11, ("test-dust",)),
                FoundDevice(LineSetting(9600), 3, ("jxct-th-rs485",)),
                FoundDevice(LineSetting(19200), 19, ("test-barometer",)),
            ]
            assert [p.done for p in seen] == list(range(1, 61))
            assert seen[-1].total == 60
            assert seen[-1].found == 3
            assert seen[-1].left_s == 0

    run(scenario)


def test_set_address_follows_the_profile_setting() -> None:
    async def scenario() -> None:
        async with RtuBus({17: slave(17, DUST, 9600)}, update_interval_s=None) as bus:
            master = master_for_pty(bus.port)(LineSetting(9600))
            try:
                assert await set_address(master, DUST, 17, 42, TIMEOUT_S * 3)
                found = await scan(
                    master_for_pty(bus.port),
                    [LineSetting(9600)],
                    [17, 42],
                    [DUST],
                    timeout_s=TIMEOUT_S,
                )
                assert found == [FoundDevice(LineSetting(9600), 42, ("test-dust",))]
                with pytest.raises(ScanError, match="does not say how to change the address"):
                    await set_address(master, JXCT, 42, 43, TIMEOUT_S)
                with pytest.raises(ScanError, match=r"outside 1\.\.247"):
                    await set_address(master, DUST, 42, 250, TIMEOUT_S)
            finally:
                master.close()

    run(scenario)


def test_scan_through_an_rs485_to_ethernet_converter() -> None:
    async def scenario() -> None:
        async with RtuBus({6: JXCT, 11: DUST}, update_interval_s=None) as bus:
            port = await bus.serve_tcp(baudrate=9600)

            def converter(line: LineSetting) -> ModbusMaster:
                return master_for_line(
                    serial_port=None,
                    host="127.0.0.1",
                    tcp_port=port,
                    rtu_over_tcp=True,
                    baudrate=line.baudrate,
                )

            found = await scan(
                converter, [LineSetting(9600)], range(1, 13), [JXCT, DUST], timeout_s=0.1
            )
            assert found == [
                FoundDevice(LineSetting(9600), 6, ("jxct-th-rs485",)),
                FoundDevice(LineSetting(9600), 11, ("test-dust",)),
            ]

    run(scenario)
