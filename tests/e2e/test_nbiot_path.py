"""Edge NB-IoT sender -> simulated BC95 on a pty -> UDP -> cloud -> PostgreSQL, exactly once.

The modem simulator is the only stand-in (a radio cannot exist here); the serial
line is a real pseudo-terminal driven with pyserial, the datagrams are real UDP
on loopback, the database is the suite's PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from cloud.ingest.pipeline import IngestPipeline
from cloud.ingest.udp import CompactUdpListener
from cloud.storage import Storage
from edge.uplink.nbiot.errors import ModemError
from edge.uplink.nbiot.modem import Bc95Modem
from edge.uplink.nbiot.sender import NbiotSender
from simulators.modem import ModemSimulator
from tests.cloud.helpers import all_readings
from wire import Batch, Reading
from wire.compact import Channel

T0 = 1_790_000_000_000
# An air station's 10 points (the vocabulary has no soil quantities yet).
AIR = tuple(
    Channel("aq1", q, d)
    for q, d in (
        ("air_temperature", 1),
        ("relative_humidity", 1),
        ("air_pressure", 1),
        ("wind_speed", 1),
        ("wind_direction", 0),
        ("pm2_5", 0),
        ("pm10", 0),
        ("so2", 0),
        ("no2", 0),
        ("co", 2),
    )
)
AIR_VALUES = (21.4, 55.2, 1012.3, 3.4, 270, 35, 60, 8, 25, 0.62)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        yield opened


@pytest.fixture
async def listener(storage: Storage) -> AsyncIterator[CompactUdpListener]:
    running = CompactUdpListener(IngestPipeline(storage), storage, {"soil-07": AIR})
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
def modem_sim() -> Iterator[ModemSimulator]:
    with ModemSimulator(registration_delay_s=0.2) as sim:
        yield sim


def _batch(seq: int) -> Batch:
    time_ms = T0 + seq * 60_000
    readings = tuple(
        Reading(c.device, c.quantity, time_ms, v + seq)
        for c, v in zip(AIR, AIR_VALUES, strict=True)
    )
    return Batch("soil-07", seq, readings)


async def test_batches_reach_the_database_once_through_outage_and_lost_acks(
    storage: Storage, listener: CompactUdpListener, modem_sim: ModemSimulator
) -> None:
    secret = await storage.register_gateway("soil-07")
    modem = Bc95Modem(modem_sim.port, command_timeout_s=5)
    try:
        modem.configure()
        sender = NbiotSender(modem, "127.0.0.1", listener.port, secret, AIR, ack_timeout_s=1.0)
        first = await asyncio.to_thread(sender.deliver, _batch(1))
        assert (first.seq, first.refused) == (1, False)
        assert sender.sends == 1

        modem_sim.outage_on_next_send_s = 0.5  # the cell goes mid-send, the frame with it
        second = await asyncio.to_thread(sender.deliver, _batch(2))
        assert second.seq == 2
        assert sender.sends == 3  # lost, then re-attached and sent again

        modem_sim.lose_downlinks = 1  # the cloud commits, its acknowledgement is lost
        third = await asyncio.to_thread(sender.deliver, _batch(3))
        assert third.seq == 3
        assert sender.sends == 5  # sent twice: the cloud saw a duplicate
    finally:
        modem.close()
    assert modem_sim.datagrams_sent == 4
    for channel, value in zip(AIR, AIR_VALUES, strict=True):
        series = await all_readings(storage, "soil-07", channel.device, channel.quantity)
        assert [r.time_ms for r in series.readings] == [T0 + s * 60_000 for s in (1, 2, 3)]
        assert [r.value for r in series.readings] == pytest.approx([value + s for s in (1, 2, 3)])


async def test_a_module_that_refuses_commands_is_rebooted_and_the_batch_still_goes(
    storage: Storage, listener: CompactUdpListener, modem_sim: ModemSimulator
) -> None:
    secret = await storage.register_gateway("soil-07")
    modem = Bc95Modem(modem_sim.port, command_timeout_s=5)
    try:
        modem.configure()
        sender = NbiotSender(modem, "127.0.0.1", listener.port, secret, AIR, ack_timeout_s=1.0)
        modem_sim.fail_commands = 2
        ack = await asyncio.to_thread(sender.deliver, _batch(1))
        assert ack.seq == 1
        with pytest.raises(ModemError, match=r"\+CME ERROR:50"):
            modem.command("AT+CFUN=7")
    finally:
        modem.close()
    series = await all_readings(storage, "soil-07", "aq1", "co")
    assert len(series.readings) == 1


async def test_a_forged_frame_is_not_acknowledged_and_kept(
    storage: Storage, listener: CompactUdpListener
) -> None:
    from wire.compact import encode_compact  # noqa: PLC0415

    await storage.register_gateway("soil-07")
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[bytes] = asyncio.Queue()

    class _Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            received.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(
        _Client, remote_addr=("127.0.0.1", listener.port)
    )
    try:
        transport.sendto(encode_compact(_batch(1), AIR, b"not-the-secret-of-soil-07"))
        for _ in range(50):  # the dead letter is the event to wait for
            letters = await storage.list_dead_letters()
            if letters:
                break
            await asyncio.sleep(0.05)
        assert [(d.reason, d.source) for d in letters] == [("bad_signature", "udp")]
        assert received.empty()
    finally:
        transport.close()
