"""BusPoller over Modbus RTU on a pseudo-terminal: real serial code, faults, back-off."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from device_profiles import Profile
from edge.bus_config import ModbusRtuBus, ModbusRtuOverTcpBus
from edge.polling import BusPoller
from simulators.modbus_rtu import RtuBus
from tests.edge.polling.support import JXCT, Sink, as_quantities, by_device, devices, run
from wire import Quality

BAUD = 19200


def rtu_bus(port: str, slaves: dict[str, int], **extra: Any) -> ModbusRtuBus:
    interval_s = extra.pop("interval_s", 0.3)
    return ModbusRtuBus.model_validate(
        {
            "name": "rs485-1",
            "type": "modbus_rtu",
            "port": port,
            "baudrate": BAUD,
            "timeout_s": 0.1,
            "retries": 1,
            "devices": devices(slaves, interval_s),
            **extra,
        }
    )


def test_rtu_poll_decodes_exactly_what_is_served() -> None:
    async def scenario() -> None:
        async with RtuBus({1: JXCT, 7: JXCT}, update_interval_s=None) as bus:
            bus.image(7).set_value("temperature", -10.1)
            poller = BusPoller(rtu_bus(bus.port, {"th1": 1, "th7": 7}), Sink())
            try:
                readings = await poller.poll()
            finally:
                poller.close()
            assert by_device(readings) == {
                "th1": as_quantities(bus.image(1).served()),
                "th7": as_quantities(bus.image(7).served()),
            }
            assert by_device(readings)["th7"]["air_temperature"] == -10.1
            assert {r.quality for r in readings} == {Quality.NORMAL}

    run(scenario)


@pytest.mark.parametrize(
    ("fault", "kind", "error"),
    [
        ({"exception_code": 4}, "exception", "Modbus exception 0x04 (device failure)"),
        ({"corrupt_crc": True}, "crc", "reply failed its CRC check"),
        ({"silent": True}, "timeout", "no response (timeout)"),
    ],
)
def test_faults_are_counted_by_kind_and_never_fatal(
    fault: dict[str, Any], kind: str, error: str
) -> None:
    async def scenario() -> None:
        async with RtuBus({1: JXCT, 2: JXCT}, update_interval_s=None) as bus:
            for name, value in fault.items():
                setattr(bus.faults(2), name, value)
            poller = BusPoller(rtu_bus(bus.port, {"th1": 1, "th2": 2}), Sink())
            try:
                for _ in range(2):
                    readings = await poller.poll()
                    assert set(by_device(readings)) == {"th1"}
            finally:
                poller.close()
            th1, th2 = poller.health()
            assert (th1.state, th1.errors) == ("ok", {})
            assert th2.state == "degraded"
            assert error in (th2.error or "")
            assert th2.errors[kind] == 2  # one per poll (retries are not separate failures)

    run(scenario)


def test_sentinel_and_out_of_range_values() -> None:
    data = JXCT.model_dump()
    data["points"] = [
        {**point, "invalid_raw": (0x7FFF,)} if point["name"] == "temperature" else point
        for point in data["points"]
    ]
    profile = Profile.model_validate(data)

    async def scenario() -> None:
        async with RtuBus({1: profile}, update_interval_s=None) as bus:
            bus.image(1).set_raw("temperature", [0x7FFF])
            bus.image(1).set_raw("humidity", [1500])  # 150.0 %RH: impossible
            poller = BusPoller(rtu_bus(bus.port, {"th1": 1}), Sink(), profiles={"th1": profile})
            try:
                readings = await poller.poll()
            finally:
                poller.close()
            # the sentinel is stored flagged D (fault), the impossible humidity flagged T
            assert [(r.quantity, r.value, r.quality) for r in readings] == [
                ("relative_humidity", 150.0, Quality.OVER_RANGE),
                ("air_temperature", 3276.7, Quality.FAULT),
            ]
            health = poller.health()[0]
            assert health.error == "temperature: probe reports no valid measurement (0x7fff)"
            assert health.errors == {"decode": 1}

    run(scenario)


def test_stuck_sensor_keeps_serving_the_same_value() -> None:
    async def scenario() -> None:
        async with RtuBus({1: JXCT}, update_interval_s=None) as bus:
            bus.image(1).stick()
            before = bus.image(1).served()
            bus.update(1_800_000_000.0)
            assert bus.image(1).served() == before

    run(scenario)


def test_a_device_at_other_line_settings_stays_silent() -> None:
    async def scenario() -> None:
        async with RtuBus({1: JXCT}, update_interval_s=None) as bus:
            bus.slaves[1].baudrate = 4800
            poller = BusPoller(rtu_bus(bus.port, {"th1": 1}), Sink())
            try:
                assert await poller.poll() == []
            finally:
                poller.close()
            assert poller.health()[0].errors == {"timeout": 1}

    run(scenario)


def test_silent_device_backs_off_while_the_others_keep_their_schedule(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three devices every 0.5 s; th2 goes silent, then answers again.

    Tolerance: a healthy device may start a poll late, but must never lose a
    slot of its 0.5 s grid (``missed_slots == 0``): the silent device costs at
    most timeout x (1 + retries) = 0.2 s per attempt, which leaves 0.3 s for the
    others and for a loaded machine, and back-off makes those attempts rare.
    The assertion is on the poller's schedule, not on speed.
    """
    caplog.set_level(logging.INFO, logger="edge.polling.poller")

    async def scenario() -> None:
        async with RtuBus({1: JXCT, 2: JXCT, 3: JXCT}, update_interval_s=None) as bus:
            sink = Sink()
            devices = {"th1": 1, "th2": 2, "th3": 3}
            poller = BusPoller(rtu_bus(bus.port, devices, interval_s=0.5), sink)
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run(stop))

            async def until(predicate: Callable[[], bool]) -> None:
                while not predicate():
                    sink.arrived.clear()
                    await asyncio.wait_for(sink.arrived.wait(), timeout=10)

            def health(device: str) -> Any:
                return next(h for h in poller.health() if h.device_id == device)

            await until(lambda: health("th2").state == "ok")
            bus.faults(2).silent = True
            polls_at_silence = {d: health(d).polls for d in ("th1", "th3")}
            await until(lambda: health("th2").errors.get("timeout", 0) >= 3)
            degraded = health("th2")
            bus.faults(2).silent = False
            await until(lambda: health("th2").state == "ok")
            stop.set()
            await asyncio.wait_for(task, timeout=5)

            assert degraded.state == "degraded"
            assert degraded.error == "no response (timeout)"
            for device in ("th1", "th3"):
                final = health(device)
                assert final.state == "ok"
                assert final.missed_slots == 0
                # while th2 failed 3 times with back-off (1 + 1 + 2 intervals at least),
                # the healthy ones were polled on every slot in between
                assert final.polls - polls_at_silence[device] >= 4
            assert health("th2").errors["timeout"] >= 3

    run(scenario)
    messages = [r.getMessage() for r in caplog.records if r.name == "edge.polling.poller"]
    assert messages == [
        "device th2 (bus rs485-1, slave 2) degraded: no response (timeout)",
        "device th2 (bus rs485-1, slave 2) recovered",
    ]


def test_rtu_over_tcp_through_a_converter() -> None:
    async def scenario() -> None:
        async with RtuBus({4: JXCT}, update_interval_s=None) as bus:
            port = await bus.serve_tcp(baudrate=9600)
            config = ModbusRtuOverTcpBus.model_validate(
                {
                    "name": "converter-1",
                    "type": "modbus_rtu_over_tcp",
                    "host": "127.0.0.1",
                    "port": port,
                    "baudrate": 9600,
                    "timeout_s": 0.5,
                    "devices": [{"id": "th4", "model": JXCT.model, "slave": 4}],
                }
            )
            poller = BusPoller(config, Sink())
            try:
                readings = await poller.poll()
            finally:
                poller.close()
            assert by_device(readings) == {"th4": as_quantities(bus.image(4).served())}

    run(scenario)


def test_a_late_reply_is_counted_and_dropped() -> None:
    async def scenario() -> None:
        async with RtuBus({1: JXCT, 2: JXCT}, update_interval_s=None) as bus:
            bus.faults(2).latency_s = 0.3  # answers, but after the 0.1 s timeout
            poller = BusPoller(rtu_bus(bus.port, {"th1": 1, "th2": 2}, retries=0), Sink())
            try:
                bus.replied.clear()
                assert set(by_device(await poller.poll(["th2"]))) == set()
                await asyncio.wait_for(bus.replied.wait(), timeout=5)  # th2's late answer
                readings = await poller.poll(["th1"])  # drops it before asking th1
            finally:
                poller.close()
            assert by_device(readings) == {"th1": as_quantities(bus.image(1).served())}
            th1, th2 = poller.health()
            assert th1.errors == {}
            assert th2.errors == {"timeout": 1, "late": 1}

    run(scenario)


def test_garbage_is_counted_as_garbage() -> None:
    async def scenario() -> None:
        async with RtuBus({1: JXCT}, update_interval_s=None) as bus:
            bus.faults(1).garbage = True
            poller = BusPoller(rtu_bus(bus.port, {"th1": 1}, retries=0), Sink())
            try:
                assert await poller.poll() == []
            finally:
                poller.close()
            assert poller.health()[0].errors == {"garbage": 1}

    run(scenario)
