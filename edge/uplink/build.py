"""``build_uplink``: the transport that ``gateway.yaml``'s ``uplink:`` section chooses.

Layer: wiring. Turns the validated configuration into an
:class:`edge.uplink.base.Uplink` (MQTT, NB-IoT module, or HJ 212 data logger);
holds no protocol code. Opening an NB-IoT module's serial port happens here.
"""

from __future__ import annotations

from edge.config import EdgeConfig
from edge.errors import ConfigError
from edge.uplink.base import RetiredSecret, SecretSource, Uplink
from edge.uplink.hj212 import Hj212Sender, Hj212Uplink
from edge.uplink.mqtt import MqttUplink
from edge.uplink.nbiot.links import MqttLink, compact_ack_topic, compact_topic
from edge.uplink.nbiot.modem import Bc95Modem
from edge.uplink.nbiot.sender import NbiotSender
from edge.uplink.nbiot.uplink import NbiotUplink
from edge.uplink_config import Hj212UplinkSection, NbiotUplinkSection
from wire.hj212 import Edition, PeerCipher


def build_uplink(
    config: EdgeConfig, secret: SecretSource, retired: RetiredSecret | None = None
) -> Uplink:
    """The uplink ``config.settings.uplink`` names.

    Args:
        config: the resolved gateway configuration.
        secret: the gateway's current secret (read at every send).
        retired: the secret before a rotation, verifying acks until confirmed (MQTT).

    Raises:
        ModemError: the NB-IoT module's serial port cannot be opened.
        ConfigError: an HJ 212 configuration built by hand lacks its password.
    """
    chosen = config.settings.uplink
    if isinstance(chosen, NbiotUplinkSection):
        modem = Bc95Modem(
            chosen.serial_port, baudrate=chosen.baudrate, apn=chosen.apn, bands=chosen.bands
        )
        link = None
        if chosen.transport == "mqtt":
            link = MqttLink(
                modem,
                chosen.host,
                chosen.port,
                client_id=config.gateway_id,
                up_topic=compact_topic(chosen.topic_root, config.gateway_id),
                down_topic=compact_ack_topic(chosen.topic_root, config.gateway_id),
                attach_timeout_s=60.0,
                keepalive_s=chosen.keepalive_s,
            )
        sender = NbiotSender(
            modem,
            chosen.host,
            chosen.port,
            secret(),
            [entry.channel() for entry in chosen.channels],
            ack_timeout_s=chosen.ack_timeout_s,
            attempts=chosen.attempts,
            link=link,
        )
        return NbiotUplink(sender, modem, config.gateway_id, secret)
    if isinstance(chosen, Hj212UplinkSection):
        if config.hj212_password is None:
            raise ConfigError("uplink.password_file: the HJ 212 password is not loaded")
        key = config.hj212_key
        hj212 = Hj212Sender(
            chosen.host,
            chosen.port,
            mn=chosen.mn,
            password=config.hj212_password.get_secret_value(),
            st=chosen.st,
            edition=Edition(chosen.edition),
            cipher=PeerCipher(key.get_secret_value()) if key is not None else None,
            answer_timeout_s=chosen.answer_timeout_s,
            attempts=chosen.attempts,
        )
        return Hj212Uplink(hj212, config.gateway_id)
    return MqttUplink(
        config.gateway_id,
        config.settings.mqtt,
        config.mqtt_password,
        secret=secret,
        retired=retired,
        base_dir=config.source.parent if config.source is not None else None,
    )
