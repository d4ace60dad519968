"""mbpoll, a Modbus master not written here, reads the TCP and RTU simulators.

It must get exactly the registers the profile describes, which decode (with the
profile's codec) to the values the simulator says it serves.
"""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest

from device_profiles import Profile, builtin_profile, decode_point, plan_reads
from simulators.modbus_rtu import RtuBus
from simulators.modbus_tcp import SimulatedStation

pytestmark = pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll not installed")

JXCT = builtin_profile("jxct-th-rs485")
_LINE = re.compile(r"^\[(\d+)\]:\s+0x([0-9A-Fa-f]{4})$", re.MULTILINE)


async def mbpoll(*args: str) -> dict[int, int]:
    process = await asyncio.create_subprocess_exec(
        "mbpoll",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    return {int(address): int(value, 16) for address, value in _LINE.findall(text)}


def table_type(profile: Profile) -> str:
    return "3:hex" if profile.modbus.register_table == "input" else "4:hex"


async def read_profile(profile: Profile, slave: int, *where: str) -> dict[int, int]:
    registers: dict[int, int] = {}
    for block in plan_reads(profile.points, profile.modbus.max_registers_per_read):
        registers |= await mbpoll(
            *where[:-1],
            *("-a", str(slave), "-0", "-r", str(block.start), "-c", str(block.count)),
            *("-t", table_type(profile), "-1", "-o", "2"),
            where[-1],
        )
    return registers


def decoded(profile: Profile, registers: dict[int, int]) -> dict[str, float]:
    return {
        point.name: decode_point(point, [registers[a] for a in range(point.address, point.end)])
        for point in profile.points
    }


def test_mbpoll_reads_the_rtu_simulator_on_a_pty() -> None:
    async def scenario() -> None:
        async with RtuBus({3: JXCT}, update_interval_s=None) as bus:
            bus.image(3).set_value("temperature", -10.1)
            registers = await read_profile(
                JXCT, 3, "-m", "rtu", "-b", "9600", "-P", "none", bus.port
            )
            assert registers == bus.image(3).registers
            assert decoded(JXCT, registers) == bus.image(3).served()
            assert decoded(JXCT, registers)["temperature"] == -10.1

    asyncio.run(scenario())


def test_mbpoll_reads_the_tcp_simulator() -> None:
    async def scenario() -> None:
        async with SimulatedStation({5: JXCT}, update_interval_s=None) as station:
            station.set_value(5, "humidity", 55.5)
            registers = await read_profile(
                JXCT, 5, "-m", "tcp", "-p", str(station.port), "127.0.0.1"
            )
            assert decoded(JXCT, registers) == station.served(5)
            assert decoded(JXCT, registers)["humidity"] == 55.5

    asyncio.run(scenario())
