"""Every Modbus profile of the library, served by the RTU simulator on a pty, read by the poller.

The agent's real serial path (pyserial on the pty's slave side, RTU framing,
bus timing) against the simulator's wire model, per model: every reading equals
what the simulator served within half a step of the point's resolution
(canonical unit), flagged normal.
"""

from __future__ import annotations

import math

import pytest

from device_profiles import builtin_profile, profile_names
from edge.bus_config import ModbusRtuBus
from edge.polling import BusPoller
from simulators.modbus_rtu import RtuBus
from tests.edge.polling.support import discard, run, tolerance
from wire import Quality

MODBUS_MODELS = [m for m in profile_names() if builtin_profile(m).protocol == "modbus"]
NOW_S = 1_764_489_600.0
SLAVE = 9


@pytest.mark.parametrize("model", MODBUS_MODELS)
def test_poller_reads_over_rtu_what_the_simulator_serves(model: str) -> None:
    profile = builtin_profile(model)

    async def scenario() -> None:
        async with RtuBus({SLAVE: profile}, update_interval_s=None, clock_s=lambda: NOW_S) as bus:
            served = bus.image(SLAVE).served()
            config = ModbusRtuBus.model_validate(
                {
                    "name": "lib",
                    "type": "modbus_rtu",
                    "port": bus.port,
                    "baudrate": 19200,
                    "timeout_s": 0.5,
                    "devices": [{"id": "dev", "model": model, "slave": SLAVE}],
                }
            )
            poller = BusPoller(config, discard)
            try:
                readings = await poller.poll()
            finally:
                poller.close()
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
