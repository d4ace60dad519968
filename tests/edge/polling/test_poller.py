"""ModbusTcpPoller against a real pymodbus TCP server (SimulatedStation) on port 0."""

from __future__ import annotations

import asyncio
import logging

import pytest

from device_profiles import Profile
from edge.config import ModbusTcpBus
from edge.polling import ModbusTcpPoller
from simulators.modbus_tcp import SimulatedStation
from tests.edge.polling.support import JXCT, Sink, as_quantities, by_device, devices, run
from wire import Quality

NOW_S = 1_700_000_000.5


def bus_for(port: int, slaves: dict[str, int], interval_s: float = 0.05) -> ModbusTcpBus:
    return ModbusTcpBus.model_validate(
        {
            "name": "station-1",
            "type": "modbus_tcp",
            "host": "127.0.0.1",
            "port": port,
            "timeout_s": 0.2,
            "devices": devices(slaves, interval_s),
        }
    )


def states(poller: ModbusTcpPoller) -> dict[str, str]:
    return {h.device_id: h.state for h in poller.health()}


def test_poller_decodes_exactly_what_is_served() -> None:
    async def scenario() -> None:
        async with SimulatedStation.for_model(
            JXCT.model, [1, 2], update_interval_s=None
        ) as station:
            station.set_value(2, "temperature", -10.1)
            poller = ModbusTcpPoller(
                bus_for(station.port, {"th1": 1, "th2": 2}), Sink(), wall_clock_s=lambda: NOW_S
            )
            try:
                readings = await poller.poll()
            finally:
                poller.close()
            assert by_device(readings) == {
                "th1": as_quantities(station.served(1)),
                "th2": as_quantities(station.served(2)),
            }
            assert by_device(readings)["th2"]["air_temperature"] == -10.1
            assert {r.time_ms for r in readings} == {1_700_000_000_500}
            assert {r.quality for r in readings} == {Quality.NORMAL}
            assert states(poller) == {"th1": "ok", "th2": "ok"}

    run(scenario)


def test_values_outside_the_quantity_range_are_flagged() -> None:
    async def scenario() -> None:
        async with SimulatedStation.for_model(JXCT.model, [1], update_interval_s=None) as station:
            station.set_value(1, "temperature", 85.0)
            poller = ModbusTcpPoller(bus_for(station.port, {"th1": 1}), Sink())
            try:
                readings = await poller.poll()
            finally:
                poller.close()
            quality = {r.quantity: r.quality for r in readings}
            assert quality == {
                "air_temperature": Quality.OVER_RANGE,
                "relative_humidity": Quality.NORMAL,
            }

    run(scenario)


def test_offline_slave_degrades_its_device_only_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="edge.polling.poller")

    async def scenario() -> None:
        async with SimulatedStation.for_model(
            JXCT.model, [1, 2], update_interval_s=None
        ) as station:
            poller = ModbusTcpPoller(bus_for(station.port, {"th1": 1, "th2": 2}), Sink())
            try:
                station.set_offline(2, True)
                for _ in range(3):
                    readings = await poller.poll()
                    assert by_device(readings) == {"th1": as_quantities(station.served(1))}
                assert states(poller) == {"th1": "ok", "th2": "degraded"}
                th2 = poller.health()[1]
                assert th2.error == "no response (timeout)"
                station.set_offline(2, False)
                readings = await poller.poll()
                assert set(by_device(readings)) == {"th1", "th2"}
                assert states(poller) == {"th1": "ok", "th2": "ok"}
            finally:
                poller.close()

    run(scenario)
    messages = [r.getMessage() for r in caplog.records if r.name == "edge.polling.poller"]
    assert messages == [
        "device th2 (bus station-1, slave 2) degraded: no response (timeout)",
        "device th2 (bus station-1, slave 2) recovered",
    ]


def test_probe_missing_value_is_flagged_fault_and_degrades() -> None:
    data = JXCT.model_dump()
    data["points"] = [
        {**point, "invalid_raw": (0x7FFF,)} if point["name"] == "temperature" else point
        for point in data["points"]
    ]
    profile = Profile.model_validate(data)

    async def scenario() -> None:
        async with SimulatedStation({1: profile}, update_interval_s=None) as station:
            station.set_raw(1, "temperature", [0x7FFF])
            poller = ModbusTcpPoller(
                bus_for(station.port, {"th1": 1}), Sink(), profiles={"th1": profile}
            )
            try:
                readings = await poller.poll()
            finally:
                poller.close()
            temperature = [r for r in readings if r.quantity == "air_temperature"]
            assert [(r.value, r.quality) for r in temperature] == [(3276.7, Quality.FAULT)]
            health = poller.health()[0]
            assert health.state == "degraded"
            assert health.error == "temperature: probe reports no valid measurement (0x7fff)"

    run(scenario)


def test_modbus_exception_names_the_code() -> None:
    data = JXCT.model_dump()
    data["points"] = [*data["points"], {**data["points"][0], "name": "extra", "address": 40}]
    wider = Profile.model_validate(data)

    async def scenario() -> None:
        async with SimulatedStation.for_model(JXCT.model, [1], update_interval_s=None) as station:
            poller = ModbusTcpPoller(
                bus_for(station.port, {"th1": 1}), Sink(), profiles={"th1": wider}
            )
            try:
                assert await poller.poll() == []
            finally:
                poller.close()
            health = poller.health()[0]
            assert health.error == (
                "holding registers 40..40: Modbus exception 0x02 (illegal data address)"
            )

    run(scenario)


def test_dropped_link_is_reopened() -> None:
    async def scenario() -> None:
        station = SimulatedStation.for_model(JXCT.model, [1, 2], update_interval_s=None)
        await station.start()
        port = station.port
        poller = ModbusTcpPoller(bus_for(port, {"th1": 1, "th2": 2}), Sink())
        try:
            assert len(await poller.poll()) == 4
            await station.stop()
            assert await poller.poll() == []
            assert states(poller) == {"th1": "degraded", "th2": "degraded"}
            assert await poller.poll() == []  # while down: one connect attempt per cycle
            assert poller.health()[0].error == f"cannot connect to 127.0.0.1:{port}"
            station = SimulatedStation.for_model(
                JXCT.model, [1, 2], port=port, update_interval_s=None
            )
            await station.start()
            assert len(await poller.poll()) == 4
            assert states(poller) == {"th1": "ok", "th2": "ok"}
        finally:
            poller.close()
            await station.stop()

    run(scenario)


def test_run_polls_on_schedule_until_stopped() -> None:
    async def scenario() -> None:
        async with SimulatedStation.for_model(
            JXCT.model, [1, 2], update_interval_s=None
        ) as station:
            sink = Sink()
            changes = 0

            def changed() -> None:
                nonlocal changes
                changes += 1

            poller = ModbusTcpPoller(
                bus_for(station.port, {"th1": 1, "th2": 2}, interval_s=0.05),
                sink,
                on_change=changed,
            )
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run(stop))
            while len(sink.cycles) < 3:
                sink.arrived.clear()
                await asyncio.wait_for(sink.arrived.wait(), timeout=5)
            stop.set()
            await asyncio.wait_for(task, timeout=5)
            assert all(len(cycle) == 4 for cycle in sink.cycles)  # one cycle, one delivery
            assert changes >= 3
            assert poller.health()[0].readings >= 6

    run(scenario)
