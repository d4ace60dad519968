"""libcoap's coap-client, a CoAP client not written here, posts a compact frame; it is stored."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from cloud.embedded.broker import free_port
from cloud.ingest.coap import CompactCoapServer
from cloud.ingest.pipeline import IngestPipeline
from cloud.storage import Storage
from tests.cloud.helpers import all_readings
from tests.e2e.test_nbiot_path import AIR, _batch
from wire.compact import decode_compact_ack, encode_compact

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

COAP_CLIENT = shutil.which("coap-client-notls") or shutil.which("coap-client")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        yield opened


@pytest.fixture
async def coap_server(storage: Storage) -> AsyncIterator[CompactCoapServer]:
    # UDP: a port free for TCP a moment ago is, in practice, free for UDP too
    server = CompactCoapServer(IngestPipeline(storage), storage, {"soil-07": AIR}, port=free_port())
    await server.start()
    yield server
    await server.stop()


async def _post(server: CompactCoapServer, frame: bytes, tmp_path: Path) -> tuple[int, bytes]:
    if COAP_CLIENT is None:
        pytest.skip("libcoap3-bin's coap-client is not installed (.ci/run installs it)")
    (tmp_path / "frame.bin").write_bytes(frame)
    out = tmp_path / "reply.bin"
    out.unlink(missing_ok=True)
    process = await asyncio.create_subprocess_exec(
        COAP_CLIENT,
        "-m", "post",
        "-f", str(tmp_path / "frame.bin"),
        "-o", str(out),
        "-B", "10",
        f"coap://127.0.0.1:{server.port}/c",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await process.communicate()
    return process.returncode or 0, (out.read_bytes() if out.exists() else b"") + stderr


async def test_coap_client_posts_a_frame_that_is_stored_and_acknowledged(
    storage: Storage, coap_server: CompactCoapServer, tmp_path: Path
) -> None:
    secret = await storage.register_gateway("soil-07")
    frame = encode_compact(_batch(7), AIR, secret)
    code, reply = await _post(coap_server, frame, tmp_path)
    assert code == 0, reply
    ack = decode_compact_ack(reply, secret)
    assert (ack.gateway_id, ack.seq, ack.refused) == ("soil-07", 7, False)
    series = await all_readings(storage, "soil-07", "aq1", "pm2_5")
    assert [r.value for r in series.readings] == [42.0]


async def test_a_forged_frame_gets_no_acknowledgement(
    storage: Storage, coap_server: CompactCoapServer, tmp_path: Path
) -> None:
    await storage.register_gateway("soil-07")
    frame = encode_compact(_batch(7), AIR, b"not-the-secret-of-soil-07")
    _, reply = await _post(coap_server, frame, tmp_path)
    assert b"4.00" in reply
    assert [d.reason for d in await storage.list_dead_letters()] == ["bad_signature"]


async def test_during_a_rotation_grace_a_frame_signed_with_the_old_secret_is_acked_with_it(
    storage: Storage, coap_server: CompactCoapServer, tmp_path: Path
) -> None:
    old = await storage.register_gateway("soil-07")
    await storage.rotate_secret("soil-07", grace=timedelta(hours=1))
    code, reply = await _post(coap_server, encode_compact(_batch(8), AIR, old), tmp_path)
    assert code == 0, reply
    ack = decode_compact_ack(reply, old)
    assert (ack.seq, ack.refused) == (8, False)
    await storage.set_gateway_revoked("soil-07")
    _, refused = await _post(coap_server, encode_compact(_batch(9), AIR, old), tmp_path)
    assert [d.reason for d in await storage.list_dead_letters()] == ["revoked"]
    assert b"4.00" in refused
