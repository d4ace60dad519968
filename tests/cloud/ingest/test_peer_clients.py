"""The ingest worker fed by a client not written here: Mosquitto's ``mosquitto_pub``.

Whatever arrives on the ingest subscription, at any QoS, retained or not, too large
or on the wrong topic, is dead-lettered with a reason, the worker keeps going, and
the good batch that follows is stored and acknowledged (signed, on ``down/ack``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.ingest import IngestWorker
from cloud.ingest.pipeline import IngestPolicy
from cloud.settings import MqttEndpoint
from cloud.storage import Storage
from tests.cloud.helpers import all_readings, make_batch, telemetry_topic
from tests.fix_broker import BrokerAddress
from wire import sign_batch
from wire.ack import verify_ack

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        shutil.which("mosquitto_pub") is None, reason="mosquitto-clients not installed"
    ),
]

WAIT_S = 20.0
KEEP_BYTES = 4096  # dead letters keep this much of a refused payload


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        yield opened


def _pub(broker: BrokerAddress, topic: str, *args: str) -> None:
    command = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-t", topic, *args]
    subprocess.run(command, check=True, timeout=WAIT_S, capture_output=True)


def _sub_one(broker: BrokerAddress, topic: str) -> subprocess.Popen[bytes]:
    """A mosquitto_sub subscribed (SUBACK seen) to ``topic`` (QoS 1) for one message.

    Its output is line-buffered (stdbuf): it prints SUBACK to a pipe as it happens.
    """
    command = [
        "stdbuf",
        "-oL",
        "mosquitto_sub",
        "-h",
        broker.host,
        "-p",
        str(broker.port),
        "-t",
        topic,
    ]
    command += ["-q", "1", "-C", "1", "-W", str(int(WAIT_S)), "-d"]
    sub = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert sub.stdout is not None
    for line in sub.stdout:  # -d: debug lines, then each payload on a line of its own
        if b"received SUBACK" in line:
            return sub
    raise AssertionError(f"mosquitto_sub did not subscribe: {sub.communicate()}")


def _payload(output: bytes) -> bytes:
    """The one payload line among mosquitto_sub's debug lines."""
    (line,) = [line for line in output.splitlines() if line.startswith(b"{")]
    return line


async def test_what_mosquitto_pub_sends_is_dead_lettered_and_a_good_batch_still_lands(
    storage: Storage, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    secret = await storage.register_gateway("gw-1")
    topic = telemetry_topic(topic_root, "gw-1")
    huge = tmp_path / "huge.bin"
    huge.write_bytes(b"{" + b"x" * 2_000_000)
    binary = tmp_path / "binary.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    good = tmp_path / "good.json"
    good.write_bytes(sign_batch(make_batch("gw-1", 7, [20.5, 21.0]), secret))
    sent = [  # (topic, mosquitto_pub options, reason)
        (topic, ["-q", "0", "-m", "not json"], "malformed"),
        (topic, ["-q", "1", "-n"], "malformed"),  # an empty payload
        (topic, ["-q", "2", "-f", str(binary)], "malformed"),
        (topic, ["-q", "1", "-r", "-m", "[1, 2]"], "malformed"),  # retained
        (topic, ["-q", "1", "-m", '{"v":1,"gw":"gw-1"}'], "unsigned"),
        (topic, ["-q", "1", "-f", str(huge)], "malformed"),
        (f"{topic}/extra", ["-q", "1", "-m", "x"], "topic_mismatch"),
        (f"{topic_root}/gw-1/up/weird", ["-q", "2", "-m", "x"], "unsupported_topic"),
    ]
    policy = IngestPolicy(dead_letter_payload_bytes=KEEP_BYTES)
    endpoint = MqttEndpoint(mqtt_broker.host, mqtt_broker.port)
    async with IngestWorker(storage, endpoint, topic_root=topic_root, policy=policy) as worker:
        ack = _sub_one(mqtt_broker, f"{topic_root}/gw-1/down/ack")
        try:
            for message_topic, options, _ in sent:
                _pub(mqtt_broker, message_topic, *options)
            _pub(mqtt_broker, topic, "-q", "1", "-f", str(good))
            stats = await worker.wait_processed(len(sent) + 1, WAIT_S)
            ack_payload, _ = ack.communicate(timeout=WAIT_S)
        finally:
            ack.kill()
    _pub(mqtt_broker, topic, "-r", "-n")  # clear the retained message (with no worker to see it)
    assert (stats.accepted, stats.dead_lettered) == (1, len(sent))
    letters = await storage.list_dead_letters(limit=20)
    assert sorted(d.reason for d in letters) == sorted(reason for *_, reason in sent)
    (oversized,) = [d for d in letters if d.payload_size == huge.stat().st_size]
    assert oversized.payload == huge.read_bytes()[:KEEP_BYTES]
    assert verify_ack(_payload(ack_payload), secret, "gw-1").committed == (7,)
    series = await all_readings(storage, "gw-1")
    assert [r.value for r in series.readings] == [20.5, 21.0]
