"""The agent's uplink interface over the simulated BC95: settled by the cloud's signed ack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest

from edge.uplink.nbiot.modem import Bc95Modem
from edge.uplink.nbiot.sender import NbiotSender
from edge.uplink.nbiot.uplink import NbiotUplink
from simulators.modem import ModemSimulator
from wire import Batch, Reading, encode_batch
from wire.ack import Ack
from wire.compact import (
    Channel,
    CompactAck,
    decode_compact,
    encode_compact_ack,
)
from wire.compact_status import CompactStatus, decode_compact_status, is_status_frame

pytestmark = pytest.mark.anyio

SECRET = bytes(range(32))
TABLE = (Channel("th1", "air_temperature", 1), Channel("th1", "relative_humidity", 1))
T0 = 1_790_000_000_000


class _Cloud(asyncio.DatagramProtocol):
    """A stand-in for the cloud's listener: verifies the frame, answers with the ack."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.refuse = False
        self.frames = 0
        self.statuses: asyncio.Queue[CompactStatus] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if is_status_frame(data):  # recorded, never acknowledged
            self.statuses.put_nowait(decode_compact_status(data, TABLE, SECRET))
            return
        batch = decode_compact(data, TABLE, SECRET)
        self.frames += 1
        ack = CompactAck(batch.gateway_id, batch.seq, refused=self.refuse)
        assert self.transport is not None
        self.transport.sendto(encode_compact_ack(ack, SECRET), addr)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def modem_sim() -> Iterator[ModemSimulator]:
    with ModemSimulator(registration_delay_s=0.1) as sim:
        yield sim


@pytest.fixture
async def cloud() -> AsyncIterator[tuple[_Cloud, int]]:
    protocol = _Cloud()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: protocol, local_addr=("127.0.0.1", 0)
    )
    protocol.transport = transport
    yield protocol, transport.get_extra_info("sockname")[1]
    transport.close()


def _uplink(modem_sim: ModemSimulator, port: int) -> NbiotUplink:
    """The uplink over the simulated module, to the stand-in cloud on ``port``."""
    modem = Bc95Modem(modem_sim.port)
    sender = NbiotSender(modem, "127.0.0.1", port, b"x" * 32, TABLE, ack_timeout_s=1.0)
    return NbiotUplink(sender, modem, "gw-nb", lambda: SECRET, retry_attach_s=0.1)


def _body(seq: int) -> bytes:
    readings = (
        Reading("th1", "air_temperature", T0 + seq * 1000, 21.5),
        Reading("th1", "relative_humidity", T0 + seq * 1000, 55.0),
    )
    return encode_batch(Batch("gw-nb", seq, readings))


async def test_batches_are_settled_by_the_clouds_acknowledgement(
    modem_sim: ModemSimulator, cloud: tuple[_Cloud, int]
) -> None:
    protocol, port = cloud
    uplink = _uplink(modem_sim, port)
    settled: asyncio.Queue[Ack] = asyncio.Queue()
    states: asyncio.Queue[bool] = asyncio.Queue()
    await uplink.open(settled.put_nowait, states.put_nowait)
    try:
        assert await asyncio.wait_for(states.get(), 10) is True
        # read on attach; the simulated BC95 answers AT+CSQ, not AT+CESQ (no RSRP)
        assert uplink.signal() == {"csq": 18, "rssi_dbm": -113 + 2 * 18}
        assert uplink.room() == 1
        uplink.send(1, _body(1))
        assert uplink.room() == 0
        ack = await asyncio.wait_for(settled.get(), 10)
        assert (ack.gateway_id, ack.committed) == ("gw-nb", (1,))
        protocol.refuse = True
        await asyncio.wait_for(states.get(), 10)
        uplink.send(2, _body(2))
        refused = await asyncio.wait_for(settled.get(), 10)
        assert [r.seq for r in refused.refused] == [2]
        assert protocol.frames == 2
    finally:
        await uplink.close(5)


def _status(time_ms: int, th1: str = "ok") -> bytes:
    body = {
        "state": "online",
        "gw": "gw-nb",
        "time_ms": time_ms,
        "devices": {"th1": {"state": th1, "error": "no response (timeout)"}},
        "outbox": {"pending_readings": 2, "unacked_batches": 1, "oldest_unsent_age_s": 9},
        "uptime_s": 30,
        "clock_synced": True,
        "forged_acks": 0,
        "signal": {"csq": 18, "rssi_dbm": -77},
        "config_version": "v3",
    }
    return json.dumps(body).encode()


async def test_statuses_go_as_compact_frames_on_attach_and_on_a_change(
    modem_sim: ModemSimulator, cloud: tuple[_Cloud, int]
) -> None:
    protocol, port = cloud
    uplink = _uplink(modem_sim, port)
    states: asyncio.Queue[bool] = asyncio.Queue()
    await uplink.open(lambda _ack: None, states.put_nowait, lambda: _status(T0))
    try:
        assert await asyncio.wait_for(states.get(), 10) is True
        first = await asyncio.wait_for(protocol.statuses.get(), 10)  # sent on attach
        assert first.devices == {"th1": "ok"}
        assert (first.time_ms, first.counters["pending_readings"]) == (T0, 2)
        assert (first.oldest_unsent_age_s, first.signal) == (9, {"csq": 18, "rssi_dbm": -77})
        assert not uplink.publish_status(_status(T0 + 60_000))  # nothing changed: not yet
        assert uplink.publish_status(_status(T0 + 61_000, th1="degraded"))  # at once
        changed = await asyncio.wait_for(protocol.statuses.get(), 10)
        assert (changed.time_ms, changed.devices) == (T0 + 61_000, {"th1": "degraded"})
        # a batch still goes and is settled between statuses
        uplink.send(1, _body(1))
        await asyncio.wait_for(states.get(), 10)
        assert protocol.frames == 1
        assert uplink.statuses_sent == 2
    finally:
        await uplink.close(5)
