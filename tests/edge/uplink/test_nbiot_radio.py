"""APN and bands from gateway.yaml reach the (simulated) module before it attaches."""

from __future__ import annotations

import pytest

from edge.uplink.nbiot.errors import ModemError, NotAttachedError
from edge.uplink.nbiot.modem import Bc95Modem
from simulators.modem import ModemSimulator


def _attach(sim: ModemSimulator, **settings: object) -> Bc95Modem:
    modem = Bc95Modem(sim.port, command_timeout_s=5, **settings)  # type: ignore[arg-type]
    modem.configure()
    modem.attach(timeout_s=2)
    return modem


def test_the_module_scans_only_the_configured_bands() -> None:
    with ModemSimulator(registration_delay_s=0.1, cell_band=5) as sim:
        modem = Bc95Modem(sim.port, command_timeout_s=5, bands=(8,))
        try:
            modem.configure()
            assert sim.radio.bands == (8,)
            with pytest.raises(NotAttachedError):
                modem.attach(timeout_s=1)  # the cell is on band 5
        finally:
            modem.close()
        modem = _attach(sim, bands=(5, 8))
        try:
            assert modem.command("AT+NBAND?") == ["+NBAND:5,8"]
        finally:
            modem.close()


def test_the_apn_the_network_requires_is_set() -> None:
    with ModemSimulator(registration_delay_s=0.1, required_apn="ctnb") as sim:
        modem = _attach(sim, apn="ctnb")
        try:
            assert modem.command("AT+CGDCONT?") == ['+CGDCONT:1,"IP","ctnb"']
            with pytest.raises(ModemError, match=r"\+CME ERROR:3"):
                modem.command("AT+NBAND=8")  # not while the radio is on
        finally:
            modem.close()
