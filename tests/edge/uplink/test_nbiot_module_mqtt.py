"""The driver's MQTT over the module (QMT commands) against the simulated BC28 and a broker.

The broker is the suite's (Mosquitto or rumqttd); a paho client plays the cloud:
it reads the hex frames on ``up/compact`` and answers on ``down/compact-ack``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.uplink.nbiot.errors import ModemError, MqttLinkLostError
from edge.uplink.nbiot.links import MqttLink, compact_ack_topic, compact_topic
from edge.uplink.nbiot.modem import Bc95Modem
from edge.uplink.nbiot.module_mqtt import ModuleMqtt
from edge.uplink.nbiot.sender import NbiotSender
from simulators.modem import ModemSimulator
from tests.fix_broker import BrokerAddress
from wire import Batch, Reading
from wire.compact import Channel, CompactAck, decode_compact, encode_compact_ack

SECRET = bytes(range(32))
TABLE = (Channel("th1", "air_temperature", 1), Channel("th1", "relative_humidity", 1))
T0 = 1_790_000_000_000
WAIT_S = 10.0


class _Cloud:
    """Answers every frame on the up topic with its signed ack, as the ingest worker does."""

    def __init__(self, broker: BrokerAddress, topic_root: str) -> None:
        self.frames: list[int] = []
        self.subscribed = threading.Event()
        self._root = topic_root
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self._client.on_connect = lambda c, *_: c.subscribe(f"{topic_root}/+/up/compact", 1)
        self._client.on_subscribe = lambda *_: self.subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        batch = decode_compact(bytes.fromhex(msg.payload.decode()), TABLE, SECRET)
        self.frames.append(batch.seq)
        ack = encode_compact_ack(CompactAck(batch.gateway_id, batch.seq), SECRET)
        topic = compact_ack_topic(self._root, batch.gateway_id)
        client.publish(topic, ack.hex().upper(), qos=1)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def cloud(mqtt_broker: BrokerAddress, topic_root: str) -> Iterator[_Cloud]:
    answering = _Cloud(mqtt_broker, topic_root)
    assert answering.subscribed.wait(WAIT_S)
    yield answering
    answering.close()


@pytest.fixture
def modem() -> Iterator[tuple[ModemSimulator, Bc95Modem]]:
    with ModemSimulator(registration_delay_s=0.1) as sim:
        driver = Bc95Modem(sim.port, command_timeout_s=5)
        try:
            driver.configure()
            yield sim, driver
        finally:
            driver.close()


def _batch(seq: int) -> Batch:
    time_ms = T0 + seq * 60_000
    return Batch("gw-nb", seq, (Reading("th1", "air_temperature", time_ms, 20.0 + seq),))


def _sender(
    driver: Bc95Modem, broker: BrokerAddress, topic_root: str
) -> tuple[NbiotSender, MqttLink]:
    link = MqttLink(
        driver,
        broker.host,
        broker.port,
        client_id="gw-nb",
        up_topic=compact_topic(topic_root, "gw-nb"),
        down_topic=compact_ack_topic(topic_root, "gw-nb"),
        attach_timeout_s=5,
    )
    sender = NbiotSender(driver, "", 0, SECRET, TABLE, ack_timeout_s=2.0, link=link)
    return sender, link


def test_frames_go_through_the_modules_mqtt_and_the_ack_comes_back(
    modem: tuple[ModemSimulator, Bc95Modem],
    mqtt_broker: BrokerAddress,
    topic_root: str,
    cloud: _Cloud,
) -> None:
    sim, driver = modem
    sender, link = _sender(driver, mqtt_broker, topic_root)
    sender.attach()
    assert [sender.deliver(_batch(s)).seq for s in (1, 2)] == [1, 2]
    assert cloud.frames == [1, 2]
    assert (sender.sends, link.sessions, sim.mqtt.published) == (2, 1, 2)


def test_a_qmtstat_drop_mid_send_reopens_the_session_and_sends_again(
    modem: tuple[ModemSimulator, Bc95Modem],
    mqtt_broker: BrokerAddress,
    topic_root: str,
    cloud: _Cloud,
) -> None:
    sim, driver = modem
    sender, link = _sender(driver, mqtt_broker, topic_root)
    sender.attach()
    sim.mqtt.drop_on_next_publish = True  # the broker gets it; the module hears +QMTSTAT
    assert sender.deliver(_batch(1)).seq == 1
    assert cloud.frames == [1, 1]  # the cloud saw it twice; its dedupe stores it once
    # the first publish never reported its result: not counted as sent, yet the broker has it
    assert (sender.sends, link.sessions, sim.mqtt.published) == (1, 2, 2)

    sim.mqtt.drop_link()  # idle: the link goes between two batches
    assert sender.deliver(_batch(2)).seq == 2
    assert (sender.sends, link.sessions) == (2, 3)


def test_results_and_errors_of_the_qmt_commands(
    modem: tuple[ModemSimulator, Bc95Modem], mqtt_broker: BrokerAddress
) -> None:
    sim, driver = modem
    driver.attach(timeout_s=5)
    client = ModuleMqtt(driver, result_timeout_s=5)
    with pytest.raises(ModemError, match=r"\+CME ERROR:3"):
        client.publish("t", "00")  # no session
    with pytest.raises(ModemError, match="could not open the network"):
        client.open("127.0.0.1", 1, "gw-nb")  # nothing listens on port 1
    client.open(mqtt_broker.host, mqtt_broker.port, "gw-nb")
    assert client.subscribe("shanshui-test/x", qos=1) == 1
    with pytest.raises(ModemError, match="Ctrl-Z"):
        client.publish("shanshui-test/x", "a\x1ab")
    sim.drop_network()
    with pytest.raises(MqttLinkLostError) as lost:
        client.receive("shanshui-test/x", timeout_s=WAIT_S)
    assert lost.value.code == 2  # PINGREQ timeout: the cell is gone
