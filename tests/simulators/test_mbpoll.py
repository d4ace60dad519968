"""mbpoll, a Modbus master not written here, reads the TCP and RTU simulators.

It must get exactly the registers the profile describes, which decode (with the
profile's codec) to the values the simulator says it serves.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from device_profiles import Profile, builtin_profile, decode_point, load_quantities, plan_reads
from device_profiles.measure import to_canonical
from simulators.modbus_rtu import RtuBus
from simulators.modbus_tcp import SimulatedStation

pytestmark = pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll not installed")

JXCT = builtin_profile("jxct-th-rs485")
_LINE = re.compile(r"^\[(\d+)\]:\s+(0x[0-9A-Fa-f]{4}|[01])$", re.MULTILINE)
# mbpoll's -t per function code: coils, discrete inputs, holding, input (hex words)
_TYPES = {1: "0", 2: "1", 3: "4:hex", 4: "3:hex"}
# one model per layout: FC04 s32 words, FC03 float32, FC04 int16 at 1, FC03 with gaps
LIBRARY = ["sensecap-one-s700", "renke-rs-ldo-n01", "xy-md02", "jxbs-3001-npk"]


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
    return {int(address): int(value, 0) for address, value in _LINE.findall(text)}


async def read_profile(profile: Profile, slave: int, *where: str) -> dict[tuple[int, int], int]:
    """(function code, address) -> register, as mbpoll reads every block of ``profile``."""
    modbus = profile.modbus
    registers: dict[tuple[int, int], int] = {}
    for block in plan_reads(profile.points, modbus.max_registers_per_read, modbus.max_gap):
        values = await mbpoll(
            *where[:-1],
            *("-a", str(slave), "-0", "-r", str(block.start), "-c", str(block.count)),
            *("-t", _TYPES[block.function_code], "-1", "-o", "2"),
            where[-1],
        )
        registers |= {(block.function_code, a): v for a, v in values.items()}
    return registers


def decoded(profile: Profile, registers: dict[tuple[int, int], int]) -> dict[str, float]:
    """Values as the profile decodes them, in the canonical unit."""
    quantities = load_quantities()
    values = {}
    for point in profile.points:
        words = [registers[point.function_code, a] for a in range(point.address, point.end)]
        own = decode_point(point, words)
        values[point.name] = to_canonical(point, quantities[point.quantity], own)
    return values


def test_mbpoll_reads_the_rtu_simulator_on_a_pty() -> None:
    async def scenario() -> None:
        async with RtuBus({3: JXCT}, update_interval_s=None) as bus:
            bus.image(3).set_value("temperature", -10.1)
            registers = await read_profile(
                JXCT, 3, "-m", "rtu", "-b", "9600", "-P", "none", bus.port
            )
            assert registers == {(3, a): v for a, v in bus.image(3).registers.items()}
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


@pytest.mark.parametrize("model", LIBRARY)
def test_mbpoll_reads_library_profiles_from_both_simulators(model: str) -> None:
    profile = builtin_profile(model)

    async def scenario() -> None:
        async with RtuBus({1: profile}, update_interval_s=None) as bus:
            rtu = await read_profile(profile, 1, "-m", "rtu", "-b", "9600", "-P", "none", bus.port)
            assert decoded(profile, rtu) == bus.image(1).served()
        async with SimulatedStation({1: profile}, update_interval_s=None) as station:
            where = ("-m", "tcp", "-p", str(station.port), "127.0.0.1")
            tcp = await read_profile(profile, 1, *where)
            assert decoded(profile, tcp) == station.served(1)

    asyncio.run(scenario())


async def _mbpoll_text(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "mbpoll", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed")
def test_mbpoll_through_a_socat_pty_pair_writes_settings_and_meets_refusals(
    tmp_path: Path,
) -> None:
    """A serial line relayed by socat, as a USB adapter and a cable would carry it.

    The RTU simulator takes a legal baud-rate code, and refuses, as the TCP one
    does, a code its profile does not know (illegal data value) and a write to a
    measurement (illegal data address); a refused write changes nothing.
    """
    profile = builtin_profile("renke-rs-fsjt-n01")  # 2000 address, 2001 baud-rate code

    async def scenario() -> None:
        async with RtuBus({3: profile}, update_interval_s=None) as bus:
            relay = tmp_path / "ttyRELAY"
            socat = await asyncio.create_subprocess_exec(
                *("socat", "-d", "-d", f"pty,raw,echo=0,link={relay}"),
                f"FILE:{bus.port},raw,echo=0,b9600",
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                assert socat.stderr is not None
                while b"starting data transfer loop" not in await socat.stderr.readline():
                    assert socat.returncode is None
                line = ("-m", "rtu", "-b", "9600", "-P", "none", "-a", "3", "-0", "-t", "4")
                code, text = await _mbpoll_text(*line, "-r", "2001", str(relay), "2")
                assert code == 0, text
                assert bus.image(3).settings()["baud_rate"] == 9600  # code 2
                code, text = await _mbpoll_text(*line, "-r", "2001", str(relay), "9")
                assert code != 0
                assert "Illegal data value" in text
                code, text = await _mbpoll_text(*line, "-r", "0", str(relay), "1")
                assert code != 0
                assert "Illegal data address" in text
                assert bus.image(3).settings() == {"slave_address": 3, "baud_rate": 9600}
                read = ("-t", "4:hex", "-r", "2000", "-c", "2", "-1", str(relay))
                assert await mbpoll(*line, *read) == {2000: 3, 2001: 2}
            finally:
                socat.terminate()
                await socat.wait()

    asyncio.run(scenario())
