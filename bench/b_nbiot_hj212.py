"""End-to-end latency: NB-IoT (simulated module, pty, UDP or module MQTT, DB, ack), HJ 212 (TCP)."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from cloud.embedded.broker import EmbeddedBroker
from cloud.embedded.postgres import EmbeddedPostgres
from cloud.ingest import IngestWorker
from cloud.ingest.hj212_readings import Station
from cloud.ingest.hj212_server import Hj212Server
from cloud.ingest.pipeline import IngestPipeline
from cloud.ingest.udp import CompactUdpListener
from cloud.migrate import migrate
from cloud.settings import MqttEndpoint
from cloud.storage import Storage
from cloud.storage.admin import ensure_database
from edge.uplink.nbiot.links import MqttLink, compact_ack_topic, compact_topic
from edge.uplink.nbiot.modem import Bc95Modem
from edge.uplink.nbiot.sender import NbiotSender
from simulators.hj212_logger import Hj212Logger
from simulators.modem import ModemSimulator
from wire import Batch, Reading
from wire.compact import Channel
from wire.hj212 import DataItem

ROUNDS = 50
T0 = 1_790_000_000_000
AIR = tuple(
    Channel("aq1", q, 1)
    for q in ("air_temperature", "relative_humidity", "air_pressure", "wind_speed", "pm2_5")
)
MN = "AQ0001EXAMPLE00000000001"


def _batch(seq: int, gateway: str = "bench-nb") -> Batch:
    readings = tuple(Reading(c.device, c.quantity, T0 + seq * 1000, 20.0 + seq) for c in AIR)
    return Batch(gateway, seq, readings)


async def _nbiot(storage: Storage) -> None:
    secret = await storage.register_gateway("bench-nb")
    listener = CompactUdpListener(IngestPipeline(storage), storage, {"bench-nb": AIR})
    await listener.start()
    with ModemSimulator(registration_delay_s=0.1) as sim:
        modem = Bc95Modem(sim.port)
        try:
            modem.configure()
            sender = NbiotSender(modem, "127.0.0.1", listener.port, secret, AIR)
            await asyncio.to_thread(sender.deliver, _batch(0))  # attach first
            times = []
            for seq in range(1, ROUNDS + 1):
                start = time.perf_counter()
                await asyncio.to_thread(sender.deliver, _batch(seq))
                times.append(time.perf_counter() - start)
        finally:
            modem.close()
    await listener.stop()
    print(
        f"  NB-IoT, 5 readings/frame, AT over a pty at 9600 baud (no radio delay): "
        f"median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
        f"from deliver() to the verified ack after commit ({ROUNDS} frames)"
    )


async def _nbiot_mqtt(storage: Storage) -> None:
    secret = await storage.register_gateway("bench-nbm")
    root = "shanshui/v1"
    with EmbeddedBroker(port=0) as broker, ModemSimulator(registration_delay_s=0.1) as sim:
        endpoint = MqttEndpoint("127.0.0.1", broker.port)
        async with IngestWorker(storage, endpoint, channel_tables={"bench-nbm": AIR}):
            modem = Bc95Modem(sim.port)
            try:
                modem.configure()
                link = MqttLink(
                    modem,
                    "127.0.0.1",
                    broker.port,
                    client_id="bench-nbm",
                    up_topic=compact_topic(root, "bench-nbm"),
                    down_topic=compact_ack_topic(root, "bench-nbm"),
                    attach_timeout_s=10,
                )
                sender = NbiotSender(modem, "", 0, secret, AIR, link=link)
                await asyncio.to_thread(sender.deliver, _batch(0, "bench-nbm"))
                times = []
                for seq in range(1, ROUNDS + 1):
                    start = time.perf_counter()
                    await asyncio.to_thread(sender.deliver, _batch(seq, "bench-nbm"))
                    times.append(time.perf_counter() - start)
            finally:
                modem.close()
    print(
        f"  NB-IoT over the module's MQTT (QMTPUB hex at QoS 1 -> rumqttd -> ingest worker -> "
        f"commit -> QMTRECV ack; pty, no radio delay): median {statistics.median(times) * 1000:.1f}"
        f" ms, max {max(times) * 1000:.1f} ms per frame ({ROUNDS} frames)"
    )


async def _hj212(storage: Storage) -> None:
    await storage.register_gateway("bench-hj")
    stations = {MN: Station(MN, "123456", "bench-hj")}
    server = Hj212Server(IngestPipeline(storage), stations)
    await server.start()
    items = (DataItem("a34004", (("Rtd", "35"), ("Flag", "N"))),)
    times = []
    async with Hj212Logger("127.0.0.1", server.port, mn=MN, password="123456") as logger:  # noqa: S106
        for n in range(ROUNDS):
            when = datetime(2026, 6, 1, 12, 0, 0) + timedelta(seconds=n)
            packet = logger.packet("2011", when, items, qn=f"{when:%Y%m%d%H%M%S}000")
            start = time.perf_counter()
            await logger.upload(packet)
            times.append(time.perf_counter() - start)
    await server.stop()
    print(
        f"  HJ 212 over TCP: median {statistics.median(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms from upload to the 9014 after commit ({ROUNDS} packets)"
    )


def run() -> None:
    """Start an embedded PostgreSQL in a temp dir, measure, stop it."""
    with (
        tempfile.TemporaryDirectory(prefix="shanshui-bench-") as tmp,
        EmbeddedPostgres(Path(tmp) / "pg") as server,
    ):
        url = ensure_database(server.url(), "bench")
        migrate(url)

        async def main() -> None:
            async with Storage(url, plaintext_secrets=True) as storage:
                await _nbiot(storage)
                await _nbiot_mqtt(storage)
                await _hj212(storage)

        asyncio.run(main())
