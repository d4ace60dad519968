"""``serve`` with SHANSHUI_NBIOT_UDP_LISTEN / _COAP_LISTEN: a signed compact frame is stored."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiocoap
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud.api import create_app
from cloud.embedded.broker import free_port
from cloud.errors import ConfigError
from cloud.ingest.listeners import ListenerSet
from cloud.ingest.nbiot_channels import load_channel_tables
from cloud.settings import Settings
from cloud.storage import Storage
from cloud.storage.nbiot_channels import set_channels
from tests.cloud.api.conftest import bearer, issue_key
from tests.cloud.helpers import all_readings
from tests.fix_broker import BrokerAddress
from wire import Batch, Reading
from wire.compact import Channel, decode_compact_ack, encode_compact
from wire.compact_status import CompactStatus, encode_compact_status

GATEWAY = "nb-soil"
TABLE = (Channel("aq1", "pm2_5", 0), Channel("aq1", "air_temperature", 1))

CHANNELS = f"""\
gateways:
  - gateway: {GATEWAY}
    channels:
      - {{device: aq1, quantity: pm2_5, decimals: 0}}
      - {{device: aq1, quantity: air_temperature, decimals: 1}}
"""


def write_channels(folder: Path, text: str = CHANNELS) -> Path:
    path = folder / "channels.yaml"
    path.write_text(text)
    return path


def _frame(secret: bytes, seq: int) -> bytes:
    now_ms = int(time.time() * 1000) - 60_000
    readings = (
        Reading("aq1", "pm2_5", now_ms, 35.0),
        Reading("aq1", "air_temperature", now_ms, 21.4),
    )
    return encode_compact(Batch(GATEWAY, seq, readings), TABLE, secret)


async def _register(database_url: str) -> bytes:
    async with Storage(database_url) as storage:
        secret = await storage.register_gateway(GATEWAY)
        await set_channels(storage, GATEWAY, TABLE, actor="test")
    return secret


async def _stored(database_url: str) -> list[float]:
    async with Storage(database_url) as storage:
        series = await all_readings(storage, GATEWAY, "aq1", "pm2_5")
    return [r.value for r in series.readings]


def test_serve_with_the_nbiot_listeners_stores_udp_and_coap_frames(
    migrated_database_url: str, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    secret = asyncio.run(_register(migrated_database_url))
    coap_port = free_port()  # a port free for TCP a moment ago is, in practice, free for UDP too
    settings = Settings(
        database_url=SecretStr(migrated_database_url),
        mqtt_url=SecretStr(mqtt_broker.url),
        topic_root=topic_root,
        nbiot_udp_listen="127.0.0.1:0",
        nbiot_coap_listen=f"127.0.0.1:{coap_port}",
    )
    app = create_app(settings, ingest=True)
    listeners = app.state.listeners
    assert isinstance(listeners, ListenerSet)
    assert listeners.hj212 is None
    with TestClient(app) as client:
        assert listeners.nbiot_udp is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device:
            device.settimeout(10)
            device.sendto(_frame(secret, 1), ("127.0.0.1", listeners.nbiot_udp.port))
            reply, _ = device.recvfrom(2048)
        ack = decode_compact_ack(reply, secret)
        assert (ack.gateway_id, ack.seq, ack.refused) == (GATEWAY, 1, False)

        async def post(frame: bytes) -> tuple[aiocoap.numbers.codes.Code, bytes]:
            context = await aiocoap.Context.create_client_context()
            try:
                request = aiocoap.Message(
                    code=aiocoap.POST, uri=f"coap://127.0.0.1:{coap_port}/c", payload=frame
                )
                response = await asyncio.wait_for(context.request(request).response, 10)
            finally:
                await context.shutdown()
            return response.code, bytes(response.payload)

        assert client.portal is not None
        code, payload = client.portal.call(post, _frame(secret, 2))
        assert code == aiocoap.CHANGED
        ack = decode_compact_ack(payload, secret)
        assert (ack.gateway_id, ack.seq, ack.refused) == (GATEWAY, 2, False)
        # a status frame is recorded as the gateway's presence: 2.04, nothing to acknowledge
        status = CompactStatus(GATEWAY, int(time.time() * 1000), devices={"aq1": "ok"})
        code, payload = client.portal.call(post, encode_compact_status(status, TABLE, secret))
        assert (code, payload) == (aiocoap.CHANGED, b"")
        listed = client.get("/api/v1/gateways", headers=bearer(issue_key(migrated_database_url)))
        (gateway,) = [g for g in listed.json() if g["id"] == GATEWAY]
        assert gateway["presence"] == "online"
    assert asyncio.run(_stored(migrated_database_url)) == [35.0, 35.0]


def test_the_nbiot_listeners_are_off_by_default_and_the_old_file_is_refused(
    tmp_path: Path,
) -> None:
    settings = Settings()
    assert settings.nbiot_udp_address() is None
    assert settings.nbiot_coap_address() is None
    old = Settings(nbiot_udp_listen="127.0.0.1:5683", nbiot_channels_file=write_channels(tmp_path))
    with pytest.raises(ConfigError, match="shanshui cloud nbiot channels import"):
        ListenerSet(old, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="host:port"):
        Settings(nbiot_udp_listen="5683")


def test_a_broken_channels_file_names_line_and_key(tmp_path: Path) -> None:
    text = CHANNELS.replace("decimals: 1", "decimals: 12")
    with pytest.raises(ConfigError) as caught:
        load_channel_tables(write_channels(tmp_path, text))
    assert str(caught.value).startswith("channels.yaml:5: gateways[0].channels[1].decimals: ")
    text = CHANNELS.replace("air_temperature", "pm2_5")
    with pytest.raises(ConfigError) as caught:
        load_channel_tables(write_channels(tmp_path, text))
    assert str(caught.value).splitlines()[0] == (
        "channels.yaml:5: gateways[0].channels[1]: same device and quantity as channels[0]"
    )
    assert load_channel_tables(write_channels(tmp_path)) == {GATEWAY: TABLE}
