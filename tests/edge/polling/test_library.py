"""Every Modbus profile of the library, served by the real TCP simulator and read by the poller.

For each model: a SimulatedStation serves it over Modbus TCP on loopback, the
edge's ModbusTcpPoller reads it through its real decode path (plan_reads,
pymodbus, decode_block, unit conversion, plausibility), and every reading
equals what the simulator served within the point's resolution (converted into
the canonical unit), flagged normal. Then the simulator's fault hooks: a stuck
value, an out-of-range value (flagged T) and a sentinel (flagged D).
"""

from __future__ import annotations

import math

import pytest

from device_profiles import Profile, builtin_profile, load_quantities, profile_names
from device_profiles.measure import to_canonical
from edge.config import ModbusTcpBus
from edge.polling import ModbusTcpPoller
from simulators.modbus_tcp import SimulatedStation
from simulators.signals import physical
from tests.edge.polling.support import discard, run, tolerance
from wire import Quality, Reading

MODBUS_MODELS = [m for m in profile_names() if builtin_profile(m).protocol == "modbus"]
NOW_S = 1_764_489_600.0  # 2025-11-30 08:00 local (UTC+8)
SLAVE = 7


def bus_for(port: int, model: str, calibration: dict[str, float] | None = None) -> ModbusTcpBus:
    device: dict[str, object] = {"id": "dev", "model": model, "slave": SLAVE}
    if calibration is not None:
        device["calibration"] = calibration
    return ModbusTcpBus.model_validate(
        {
            "name": "lib",
            "type": "modbus_tcp",
            "host": "127.0.0.1",
            "port": port,
            "timeout_s": 1.0,
            "devices": [device],
        }
    )


async def poll_once(
    station: SimulatedStation, model: str, calibration: dict[str, float] | None = None
) -> list[Reading]:
    poller = ModbusTcpPoller(bus_for(station.port, model, calibration), discard)
    try:
        return await poller.poll()
    finally:
        poller.close()


@pytest.mark.parametrize("model", MODBUS_MODELS)
def test_poller_reads_what_the_simulator_serves(model: str) -> None:
    profile = builtin_profile(model)

    async def scenario() -> None:
        station = SimulatedStation(
            {SLAVE: profile},
            update_interval_s=None,
            generator=physical(seed=5),
            clock_s=lambda: NOW_S,
        )
        async with station:
            served = station.served(SLAVE)
            readings = await poll_once(station, model)
        assert len(served) == len(profile.points)
        by_quantity = {r.quantity: r for r in readings}
        assert len(by_quantity) == len(profile.points)
        for point in profile.points:
            reading = by_quantity[point.quantity]
            assert math.isclose(
                reading.value,
                served[point.name],
                abs_tol=tolerance(profile, point.name, reading.value),
            ), point.name
            assert reading.quality is Quality.NORMAL, (point.name, reading.value)

    run(scenario)


@pytest.mark.parametrize("model", MODBUS_MODELS)
def test_a_value_set_in_canonical_units_is_read_within_resolution(model: str) -> None:
    """Ask for a value in the canonical unit; the poller reads it within half a raw step."""
    profile = builtin_profile(model)
    quantities = load_quantities()
    wanted = {}
    for point in profile.points:
        quantity = quantities[point.quantity]
        low, high = quantity.min, quantity.max
        if point.valid is not None:
            ends = sorted(
                to_canonical(point, quantity, v) for v in (point.valid.min, point.valid.max)
            )
            low, high = max(low, ends[0]), min(high, ends[1])
        middle = low + 0.37 * (high - low)
        wanted[point.quantity] = float(round(middle)) if point.enum else middle

    async def scenario() -> None:
        async with SimulatedStation({SLAVE: profile}, update_interval_s=None) as station:
            for point in profile.points:
                station.set_value(SLAVE, point.name, wanted[point.quantity])
            readings = await poll_once(station, model)
        assert {r.quantity for r in readings} == set(wanted)
        for reading in readings:
            name = next(p.name for p in profile.points if p.quantity == reading.quantity)
            wanted_value = wanted[reading.quantity]
            assert abs(reading.value - wanted_value) <= tolerance(profile, name, wanted_value)

    run(scenario)


def test_stuck_out_of_range_and_sentinel_faults_reach_the_flags() -> None:
    profile = builtin_profile("jxbs-3001-npk")  # temperature has the sentinel 0x7FFF

    async def scenario() -> None:
        clock = [NOW_S]
        station = SimulatedStation(
            {SLAVE: profile}, update_interval_s=None, clock_s=lambda: clock[0]
        )
        async with station:
            station.inject(SLAVE, "moisture", "stuck")
            stuck = station.served(SLAVE)["moisture"]
            station.inject(SLAVE, "ph", "out_of_range")
            station.inject(SLAVE, "temperature", "sentinel")
            clock[0] += 3 * 86_400  # days later the soil has dried, but the probe is stuck
            station.update()
            readings = {r.quantity: r for r in await poll_once(station, profile.model)}
        assert readings["soil_moisture"].value == stuck
        assert readings["soil_moisture"].quality is Quality.NORMAL
        assert readings["soil_ph"].quality is Quality.OVER_RANGE
        assert readings["soil_ph"].value > 9  # the sensor's measuring range is 3..9
        assert readings["soil_temperature"].quality is Quality.FAULT
        assert readings["soil_temperature"].value == 3276.7

    run(scenario)


def test_device_calibration_is_applied_in_the_decode_path() -> None:
    profile = builtin_profile("sensecap-orch-s4")

    async def scenario() -> None:
        async with SimulatedStation({SLAVE: profile}, update_interval_s=None) as station:
            station.set_value(SLAVE, "pressure", 100.0)  # kPa: the sensor serves 100000 Pa
            station.set_value(SLAVE, "temperature", 20.0)
            readings = await poll_once(
                station, profile.model, calibration={"factor": 1.0, "offset": 0.25}
            )
        values = {r.quantity: r.value for r in readings}
        assert values["air_pressure"] == pytest.approx(100.25)
        assert values["air_temperature"] == pytest.approx(20.25)

    run(scenario)


def test_every_function_code_is_read_from_its_own_table() -> None:
    """Coils, discrete inputs, holding and input registers, some at the same address."""
    profile = Profile.model_validate(
        {
            "model": "four-tables",
            "manufacturer": "test",
            "description": "test",
            "source": "test",
            "points": [
                {
                    "name": "t",
                    "quantity": "air_temperature",
                    "address": 0,
                    "data_type": "int16",
                    "scale": 0.1,
                },
                {
                    "name": "rh",
                    "quantity": "relative_humidity",
                    "address": 0,
                    "data_type": "uint16",
                    "function_code": 4,
                    "scale": 0.1,
                },
                {
                    "name": "wet",
                    "quantity": "rain_tips",
                    "address": 3,
                    "data_type": "bool",
                    "function_code": 2,
                },
                {
                    "name": "sector",
                    "quantity": "wind_direction_sector",
                    "address": 9,
                    "data_type": "bool",
                    "function_code": 1,
                },
            ],
        }
    )

    async def scenario() -> None:
        async with SimulatedStation({SLAVE: profile}, update_interval_s=None) as station:
            station.set_value(SLAVE, "t", 21.5)
            station.set_value(SLAVE, "rh", 63.2)
            station.set_value(SLAVE, "wet", 1)
            station.set_value(SLAVE, "sector", 0)
            poller = ModbusTcpPoller(
                bus_for(station.port, "jxct-th-rs485"), discard, profiles={"dev": profile}
            )
            try:
                readings = await poller.poll()
            finally:
                poller.close()
        assert {r.quantity: r.value for r in readings} == {
            "air_temperature": 21.5,
            "relative_humidity": 63.2,
            "rain_tips": 1.0,
            "wind_direction_sector": 0.0,
        }

    run(scenario)
