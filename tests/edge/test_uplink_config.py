"""gateway.yaml ``uplink:``: MQTT stays the default; NB-IoT and HJ 212 load and are checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from edge.config import describe_config, load_config
from edge.uplink.build import build_uplink
from edge.uplink.hj212 import Hj212Uplink
from edge.uplink.mqtt import MqttUplink
from edge.uplink_config import (
    Hj212UplinkSection,
    MqttUplinkSection,
    NbiotUplinkSection,
)
from tests.edge.test_config import GOOD, line_of, problems, write

KEY_HEX = "000102030405060708090a0b0c0d0e0f"

NBIOT = """\
gateway:
  id: gw-nb-01
  secret_file: gateway.secret
uplink:
  type: nbiot
  serial_port: /dev/ttyUSB0
  baudrate: 9600
  host: ingest.example.org
  port: 5683
  channels:
    - {device: aq1, quantity: pm2_5, decimals: 1}
    - {device: aq1, quantity: so2, decimals: 2}
"""

HJ212 = """\
gateway:
  id: gw-hj-01
  secret_file: gateway.secret
uplink:
  type: hj212
  host: platform.example.org
  port: 6000
  mn: 010000A8900016F000169DC0
  password_file: hj212.password
  edition: "2025"
  sm4_key_file: hj212.key
"""


def hj212_files(tmp_path: Path, key: str = KEY_HEX) -> None:
    (tmp_path / "hj212.password").write_text("123456\n", encoding="utf-8")
    (tmp_path / "hj212.key").write_text(key + "\n", encoding="ascii")


def test_todays_mqtt_file_still_loads_and_mqtt_is_the_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.settings.uplink == MqttUplinkSection()
    assert config.hj212_password is None
    uplink = build_uplink(config, config.secret.get_secret_value)
    assert isinstance(uplink, MqttUplink)
    explicit = load_config(write(tmp_path, GOOD + "uplink:\n  type: mqtt\n"))
    assert explicit.settings.uplink == MqttUplinkSection()


def test_nbiot_uplink_loads_its_channel_table(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, NBIOT))
    chosen = config.settings.uplink
    assert isinstance(chosen, NbiotUplinkSection)
    assert (chosen.serial_port, chosen.host, chosen.port) == (
        "/dev/ttyUSB0",
        "ingest.example.org",
        5683,
    )
    assert [(c.device, c.quantity, c.decimals) for c in chosen.channels] == [
        ("aq1", "pm2_5", 1),
        ("aq1", "so2", 2),
    ]
    assert (
        "nbiot /dev/ttyUSB0 at 9600 baud to udp ingest.example.org:5683"
        in describe_config(config)[1]
    )


def test_nbiot_over_the_modules_mqtt_with_apn_and_bands(tmp_path: Path) -> None:
    text = NBIOT.replace(
        "  port: 5683\n",
        "  port: 1883\n  transport: mqtt\n  apn: ctnb\n  bands: [5, 8]\n  keepalive_s: 300\n",
    )
    config = load_config(write(tmp_path, text))
    chosen = config.settings.uplink
    assert isinstance(chosen, NbiotUplinkSection)
    assert (chosen.transport, chosen.apn, chosen.bands, chosen.topic_root) == (
        "mqtt",
        "ctnb",
        (5, 8),
        "shanshui/v1",
    )
    assert (
        "to mqtt ingest.example.org:1883, 2 channel(s), bands 5,8, APN ctnb"
        in (describe_config(config)[1])
    )
    bad_band = text.replace("bands: [5, 8]", "bands: [5, 7]")
    assert problems(tmp_path, bad_band).startswith(
        f"gateway.yaml:{line_of(bad_band, 'bands:')}: uplink.bands[1]: "
    )
    bad_apn = text.replace("apn: ctnb", 'apn: "c,tnb"')
    assert problems(tmp_path, bad_apn).startswith(
        f"gateway.yaml:{line_of(bad_apn, 'apn:')}: uplink.apn: "
    )


def test_nbiot_uplink_on_a_missing_serial_port_is_an_uplink_error(tmp_path: Path) -> None:
    from edge.errors import UplinkError  # noqa: PLC0415

    text = NBIOT.replace("/dev/ttyUSB0", str(tmp_path / "no-such-tty"))
    config = load_config(write(tmp_path, text))
    with pytest.raises(UplinkError, match="cannot open"):
        build_uplink(config, config.secret.get_secret_value)


def test_hj212_uplink_loads_password_and_key_without_showing_them(tmp_path: Path) -> None:
    hj212_files(tmp_path)
    config = load_config(write(tmp_path, HJ212))
    chosen = config.settings.uplink
    assert isinstance(chosen, Hj212UplinkSection)
    assert chosen.edition == "2025"
    assert config.hj212_password == SecretStr("123456")
    assert config.hj212_key is not None
    assert config.hj212_key.get_secret_value() == bytes(range(16))
    assert "123456" not in repr(config)
    assert KEY_HEX not in repr(config)
    summary = "\n".join(describe_config(config))
    assert "hj212 2025 to platform.example.org:6000 as MN 010000A8900016F000169DC0" in summary
    assert "123456" not in summary
    uplink = build_uplink(config, config.secret.get_secret_value)
    assert isinstance(uplink, Hj212Uplink)


def test_hj212_2017_needs_no_key_and_refuses_one(tmp_path: Path) -> None:
    hj212_files(tmp_path)
    text = HJ212.replace('edition: "2025"\n  sm4_key_file: hj212.key\n', "")
    config = load_config(write(tmp_path, text))
    assert config.hj212_key is None
    text = HJ212.replace('"2025"', '"2017"')
    assert f"gateway.yaml:{line_of(text, 'sm4_key_file')}: uplink.sm4_key_file: " in problems(
        tmp_path, text
    )


def test_hj212_2025_without_a_key_names_the_line(tmp_path: Path) -> None:
    hj212_files(tmp_path)
    text = HJ212.replace("  sm4_key_file: hj212.key\n", "")
    message = problems(tmp_path, text)
    assert "uplink.sm4_key_file: edition 2025 needs sm4_key_file" in message


@pytest.mark.parametrize(
    ("key", "complaint"),
    [("0011", "16-byte SM4 key"), ("zz" * 16, "16-byte SM4 key")],
)
def test_a_bad_sm4_key_file_names_line_and_key(tmp_path: Path, key: str, complaint: str) -> None:
    hj212_files(tmp_path, key)
    message = problems(tmp_path, HJ212)
    assert message.startswith(
        f"gateway.yaml:{line_of(HJ212, 'sm4_key_file')}: uplink.sm4_key_file: "
    )
    assert complaint in message
    assert key not in message


def test_a_missing_or_empty_password_file_names_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "hj212.key").write_text(KEY_HEX, encoding="ascii")
    where = f"gateway.yaml:{line_of(HJ212, 'password_file')}: uplink.password_file: "
    assert problems(tmp_path, HJ212).startswith(where + "cannot read")
    (tmp_path / "hj212.password").write_text("\n", encoding="utf-8")
    assert "is empty" in problems(tmp_path, HJ212)


def test_unknown_uplink_type_is_reported_at_type(tmp_path: Path) -> None:
    text = GOOD + "uplink:\n  type: lora\n"
    message = problems(tmp_path, text)
    assert message.startswith(f"gateway.yaml:{line_of(text, 'type: lora')}: uplink.type: ")
    assert message.endswith("must be one of mqtt, nbiot, hj212")


@pytest.mark.parametrize(
    ("fragment", "replacement", "key"),
    [
        ("port: 5683", "port: 70000", "uplink.port"),
        ("baudrate: 9600", "baudrate: fast", "uplink.baudrate"),
        (
            "    - {device: aq1, quantity: so2, decimals: 2}",
            "    - {device: aq1, quantity: pm2_5}",
            "uplink.channels[1]",
        ),
        ("decimals: 2", "decimals: 12", "uplink.channels[1].decimals"),
        ("quantity: so2,", "quantity: so_2,", "uplink.channels[1].quantity"),
    ],
)
def test_nbiot_problems_name_line_and_key(
    tmp_path: Path, fragment: str, replacement: str, key: str
) -> None:
    text = NBIOT.replace(fragment, replacement)
    line = line_of(text, replacement.strip())
    assert problems(tmp_path, text).startswith(f"gateway.yaml:{line}: {key}: ")


def test_nbiot_without_channels_or_serial_port_is_refused(tmp_path: Path) -> None:
    text = NBIOT.split("  channels:", maxsplit=1)[0].replace("  serial_port: /dev/ttyUSB0\n", "")
    message = problems(tmp_path, text)
    assert "uplink.serial_port: Field required" in message
    assert "uplink.channels: Field required" in message


def test_hj212_mn_must_be_letters_and_digits(tmp_path: Path) -> None:
    hj212_files(tmp_path)
    text = HJ212.replace("mn: 010000A8900016F000169DC0", "mn: 'bad mn'")
    assert problems(tmp_path, text).startswith(
        f"gateway.yaml:{line_of(text, 'bad mn')}: uplink.mn: "
    )


def test_nbiot_channel_of_a_device_on_no_bus_is_refused(tmp_path: Path) -> None:
    uplink = "uplink:\n" + NBIOT.split("uplink:\n", maxsplit=1)[1].replace("aq1", "th1")
    config = load_config(write(tmp_path, GOOD + uplink), environ={})
    assert isinstance(config.settings.uplink, NbiotUplinkSection)
    text = GOOD + uplink.replace("{device: th1, quantity: so2", "{device: th9, quantity: so2")
    line = line_of(text, "{device: th9")
    assert problems(tmp_path, text).startswith(
        f"gateway.yaml:{line}: uplink.channels[1].device: no device 'th9' on any bus"
    )
