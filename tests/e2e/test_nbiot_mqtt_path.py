"""Agent -> simulated BC28 (pty, QMT commands) -> real broker -> ingest worker -> PostgreSQL.

The gateway's ``uplink: {type: nbiot, transport: mqtt}`` drives the module's own
MQTT client over a real pseudo-terminal; the module simulator forwards to the
suite's real broker; the ingest worker takes the hex compact frames from
``up/compact``, commits them and acknowledges on ``down/compact-ack``. Every
reading that entered the outbox must be in the database exactly once, including
across a ``+QMTSTAT`` drop in the middle of a send (the broker got the frame,
the module never heard the result: the gateway sends it again).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cloud.ingest import IngestWorker
from cloud.settings import parse_mqtt_url
from cloud.storage import Storage
from edge.app import Agent
from edge.config import load_config
from simulators.modbus_tcp import SimulatedStation
from simulators.modem import ModemSimulator
from tests.e2e.support import assert_exactly_once, outbox_counts, stored
from tests.edge.support import journal_outbox, journaled, write_gateway
from tests.fix_broker import BrokerAddress
from wire.compact import Channel

pytestmark = pytest.mark.e2e

TIMEOUT_S = 60.0
TABLE = (Channel("th1", "relative_humidity", 1), Channel("th1", "air_temperature", 1))


@pytest.fixture
def modem_sim() -> Iterator[ModemSimulator]:
    with ModemSimulator(registration_delay_s=0.2) as sim:
        yield sim


def _nbiot_gateway(
    folder: Path,
    *,
    gateway: str,
    broker: BrokerAddress,
    topic_root: str,
    modbus_port: int,
    serial_port: str,
    secret: bytes,
) -> Path:
    path = write_gateway(
        folder,
        gateway_id=gateway,
        mqtt_port=broker.port,
        topic_root=topic_root,
        modbus_port=modbus_port,
        slaves={"th1": 1},
        interval_s=0.2,
        max_batch_readings=20,
        secret=secret,
        ack_timeout_s=5.0,
    )
    document = yaml.safe_load(path.read_text())
    document["uplink"] = {
        "type": "nbiot",
        "transport": "mqtt",
        "serial_port": serial_port,
        "host": broker.host,
        "port": broker.port,
        "topic_root": topic_root,
        "ack_timeout_s": 2.0,
        "channels": [
            {"device": c.device, "quantity": c.quantity, "decimals": c.decimals} for c in TABLE
        ],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_agent_to_database_over_the_modules_mqtt_exactly_once_through_a_qmtstat_drop(
    migrated_database_url: str,
    mqtt_broker: BrokerAddress,
    topic_root: str,
    tmp_path: Path,
    modem_sim: ModemSimulator,
) -> None:
    gateway = f"gw-nbm-{secrets.token_hex(3)}"
    endpoint = parse_mqtt_url(mqtt_broker.url)

    async def scenario() -> None:
        async with (
            Storage(migrated_database_url) as storage,
            SimulatedStation.for_model("jxct-th-rs485", [1], port=0) as station,
        ):
            secret = await storage.register_gateway(gateway)
            path = _nbiot_gateway(
                tmp_path,
                gateway=gateway,
                broker=mqtt_broker,
                topic_root=topic_root,
                modbus_port=station.port,
                serial_port=modem_sim.port,
                secret=secret,
            )
            config = load_config(path, environ={})
            journal_outbox(config.data_dir)
            worker = IngestWorker(
                storage, endpoint, topic_root=topic_root, channel_tables={gateway: TABLE}
            )
            async with worker, Agent(config) as agent:
                await agent.wait_until(lambda h: h.acked_batches >= 2, TIMEOUT_S)
                before = agent.health().acked_batches
                modem_sim.mqtt.drop_on_next_publish = True  # +QMTSTAT while a frame is out
                await worker.wait_until(lambda s: s.duplicate >= 1, TIMEOUT_S)
                await agent.wait_until(lambda h: h.acked_batches >= before + 2, TIMEOUT_S)
                assert modem_sim.mqtt.drop_on_next_publish is False  # the drop happened
                # its status went as a compact status frame: presence, health and signal
                await worker.wait_until(lambda s: s.presence_updates >= 1, TIMEOUT_S)
                await agent.stop()
                stats = worker.stats
            assert stats.dead_lettered == 0
            (listed,) = [g for g in await storage.list_gateways() if g.id == gateway]
            assert listed.presence == "online"
            assert {"signal_csq", "uptime_s", "pending_readings"} <= set(listed.status_report)
            assert (await storage.gateway_devices(gateway))[0].health in {"ok", "unknown"}
            assert outbox_counts(config.data_dir)[1] == 0  # every sealed batch settled
            held, _ = journaled(config.data_dir)
            assert_exactly_once(held, await stored(storage, gateway, ["th1"]))

    asyncio.run(scenario())
