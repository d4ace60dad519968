"""Gateway as a data logger: edge Hj212Sender -> HJ 212 TCP server -> PostgreSQL, exactly once.

The cloud's own HJ 212 server stands for the authority's platform.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from cloud.ingest.hj212_readings import Station
from cloud.ingest.hj212_server import Hj212Server
from cloud.ingest.pipeline import IngestPipeline
from cloud.storage import Storage
from edge.errors import UplinkError
from edge.uplink.hj212 import Hj212Sender
from tests.cloud.helpers import all_readings
from wire import Batch, Quality, Reading
from wire.hj212 import Edition, PeerCipher

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

MN = "010000A8900016F000169DC0"
KEY = PeerCipher(bytes(range(16)))
T0 = 1_780_286_400_000  # 2026-06-01T04:00:00Z, 12:00 in Beijing


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        await opened.register_gateway("platform-copy")
        yield opened


@pytest.fixture
async def server(storage: Storage) -> AsyncIterator[Hj212Server]:
    station = Station(MN, "123456", "platform-copy", Edition.HJ212_2025, KEY)
    running = Hj212Server(IngestPipeline(storage), {MN: station})
    await running.start()
    yield running
    await running.stop()


def _batch(seq: int) -> Batch:
    time_ms = T0 + seq * 60_000
    return Batch(
        "gw-1",
        seq,
        (
            Reading("aq1", "pm2_5", time_ms, 35.0 + seq),
            Reading("aq1", "so2", time_ms, 8.5, Quality.CALIBRATION),
            Reading("aq1", "pm10", time_ms, 61.25),
        ),
    )


async def test_batches_reach_the_platform_and_resends_are_stored_once(
    server: Hj212Server, storage: Storage
) -> None:
    sender = Hj212Sender(
        "127.0.0.1", server.port, mn=MN, password="123456", edition=Edition.HJ212_2025,
        cipher=KEY, answer_timeout_s=2.0,
    )  # fmt: skip
    try:
        await sender.deliver(_batch(1))
        await sender.close()  # the link drops between batches
        await sender.deliver(_batch(2))
        await sender.deliver(_batch(1))  # the outbox re-sends an old batch
        assert sender.sends == 3
    finally:
        await sender.close()
    pm25 = await all_readings(storage, "platform-copy", MN, "pm2_5")
    assert [(r.time_ms, r.value) for r in pm25.readings] == [
        (T0 + 60_000, 36.0),
        (T0 + 120_000, 37.0),
    ]
    so2 = await all_readings(storage, "platform-copy", MN, "so2")
    assert {r.quality for r in so2.readings} == {Quality.CALIBRATION}


async def test_a_wrong_password_is_reported_not_retried_forever(server: Hj212Server) -> None:
    sender = Hj212Sender(
        "127.0.0.1", server.port, mn=MN, password="000000", edition=Edition.HJ212_2025,
        cipher=KEY, answer_timeout_s=2.0,
    )  # fmt: skip
    try:
        with pytest.raises(UplinkError, match="QnRtn=3"):
            await sender.deliver(_batch(1))
    finally:
        await sender.close()


async def test_two_batches_of_one_instant_get_two_qns_and_are_both_stored(
    server: Hj212Server, storage: Storage
) -> None:
    sender = Hj212Sender(
        "127.0.0.1", server.port, mn=MN, password="123456", edition=Edition.HJ212_2025,
        cipher=KEY, answer_timeout_s=2.0,
    )  # fmt: skip
    first = Batch("gw-1", 7, (Reading("aq1", "pm2_5", T0, 35.0),))
    second = Batch("gw-1", 8, (Reading("aq1", "pm10", T0, 61.0),))  # the same instant
    qns = [sender.packets(batch)[0].qn for batch in (first, second)]
    assert qns == ["20260601120000000", "20260601120000001"]
    try:
        await sender.deliver(first)
        await sender.deliver(second)
    finally:
        await sender.close()
    pm10 = await all_readings(storage, "platform-copy", MN, "pm10")
    assert [(r.time_ms, r.value) for r in pm10.readings] == [(T0, 61.0)]
    assert await storage.list_dead_letters() == []


def test_one_packet_per_instant_in_local_time() -> None:
    sender = Hj212Sender("127.0.0.1", 1, mn=MN, password="123456")
    (packet,) = sender.packets(_batch(1))
    assert packet.qn == "20260601120100000"
    assert packet.cp == (
        "DataTime=20260601120100;a34004-Rtd=36,a34004-Flag=N;"
        "a21026-Rtd=8.5,a21026-Flag=C;a34002-Rtd=61.25,a34002-Flag=N"
    )


async def test_the_agents_uplink_interface_settles_on_9014_and_refuses_on_9011(
    server: Hj212Server, storage: Storage
) -> None:
    from edge.uplink.hj212 import Hj212Uplink  # noqa: PLC0415
    from wire import encode_batch  # noqa: PLC0415
    from wire.ack import Ack  # noqa: PLC0415

    settled: asyncio.Queue[Ack] = asyncio.Queue()
    states: asyncio.Queue[bool] = asyncio.Queue()
    for password, expect_refused in (("123456", False), ("000000", True)):
        sender = Hj212Sender(
            "127.0.0.1", server.port, mn=MN, password=password, edition=Edition.HJ212_2025,
            cipher=KEY, answer_timeout_s=2.0,
        )  # fmt: skip
        uplink = Hj212Uplink(sender, "gw-1")
        await uplink.open(settled.put_nowait, states.put_nowait)
        try:
            assert await asyncio.wait_for(states.get(), 5) is True
            uplink.send(5, encode_batch(_batch(5)))
            ack = await asyncio.wait_for(settled.get(), 10)
            assert ack.gateway_id == "gw-1"
            if expect_refused:
                assert [r.seq for r in ack.refused] == [5]
            else:
                assert ack.committed == (5,)
            await asyncio.wait_for(states.get(), 5)
        finally:
            await uplink.close(5)
    pm25 = await all_readings(storage, "platform-copy", MN, "pm2_5")
    assert [r.value for r in pm25.readings] == [40.0]


async def test_the_agent_configured_with_uplink_hj212_delivers_to_the_platform(
    server: Hj212Server, storage: Storage, tmp_path: Path
) -> None:
    """gateway.yaml ``uplink: {type: hj212}`` -> Agent -> the cloud's Hj212Server -> stored."""
    from edge.app import Agent  # noqa: PLC0415
    from edge.config import load_config  # noqa: PLC0415
    from simulators.modbus_tcp import SimulatedStation  # noqa: PLC0415
    from tests.edge.support import write_gateway  # noqa: PLC0415

    async with SimulatedStation.for_model("jxct-th-rs485", [1], update_interval_s=None) as sim:
        path = write_gateway(
            tmp_path, gateway_id="gw-hj", mqtt_port=1, topic_root="unused",
            modbus_port=sim.port, slaves={"th1": 1},
        )  # fmt: skip
        document = yaml.safe_load(path.read_text())
        document["uplink"] = {
            "type": "hj212",
            "host": "127.0.0.1",
            "port": server.port,
            "mn": MN,
            "password_file": "hj212.password",
            "edition": "2025",
            "sm4_key_file": "hj212.key",
            "answer_timeout_s": 2.0,
        }
        path.write_text(yaml.safe_dump(document))
        (tmp_path / "hj212.password").write_text("123456\n")
        (tmp_path / "hj212.key").write_text(KEY.key.hex() + "\n")
        config = load_config(path, environ={})
        async with Agent(config) as agent:
            health = await agent.wait_until(lambda h: h.last_acked_seq is not None, timeout_s=30)
        served = sim.served(1)["temperature"]
    assert health.quarantined_batches == 0
    stored = await all_readings(storage, "platform-copy", MN, "air_temperature")
    assert stored.readings
    assert {r.value for r in stored.readings} == {served}
