"""gateway.yaml: a good file loads; a broken one names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import SECRET_ENV, describe_config, load_config
from edge.errors import ConfigError

SECRET_HEX = "00112233445566778899aabbccddeeff"

GOOD = """\
gateway:
  id: gw-demo-01
  secret_file: gateway.secret
  data_dir: var
mqtt:
  host: 127.0.0.1
  port: 1883
  topic_root: shanshui/v1
  keepalive_s: 30
publish:
  max_batch_readings: 500
  max_delay_s: 1.0
buses:
  - name: station-1
    type: modbus_tcp
    host: 127.0.0.1
    port: 5020
    timeout_s: 1.0
    devices:
      - id: th1
        model: jxct-th-rs485
        slave: 1
        interval_s: 5
      - id: th2
        model: jxct-th-rs485
        slave: 2
        interval_s: 5
"""


def write(tmp_path: Path, text: str, secret: str | None = SECRET_HEX) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text, encoding="utf-8")
    if secret is not None:
        (tmp_path / "gateway.secret").write_text(secret + "\n", encoding="ascii")
    return path


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing ``fragment``."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    return hits[occurrence - 1]


def problems(tmp_path: Path, text: str, **env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ=env)
    return str(caught.value)


def test_good_file_loads_with_paths_relative_to_it(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={})
    assert config.gateway_id == "gw-demo-01"
    assert config.data_dir == tmp_path.resolve() / "var"
    assert config.secret.get_secret_value() == bytes.fromhex(SECRET_HEX)
    bus = config.settings.buses[0]
    assert (bus.type, bus.port, [d.id for d in bus.devices]) == ("modbus_tcp", 5020, ["th1", "th2"])
    assert bus.devices[0].profile.model == "jxct-th-rs485"


def test_secret_never_shows_in_repr_or_summary(tmp_path: Path) -> None:
    (tmp_path / "mqtt.password").write_text("hunter2-broker\n")
    text = GOOD.replace("  keepalive_s: 30\n", "  username: gw\n  password_file: mqtt.password\n")
    config = load_config(write(tmp_path, text), environ={})
    assert config.mqtt_password is not None
    assert config.mqtt_password.get_secret_value() == "hunter2-broker"
    shown = repr(config) + str(config) + "\n".join(describe_config(config))
    assert SECRET_HEX not in shown
    assert bytes.fromhex(SECRET_HEX).hex() not in shown
    assert "hunter2" not in shown


def test_slave_out_of_range_names_line_and_key(tmp_path: Path) -> None:
    text = GOOD.replace("slave: 2", "slave: 300")
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'slave: 300')}: buses[0].devices[1].slave: "
        "slave 300 is not a Modbus address: use 1..247"
    )


def test_status_interval_defaults_to_a_minute_and_must_be_positive(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD), environ={}).settings.publish.status_interval_s == 60
    text = GOOD.replace("  max_delay_s: 1.0\n", "  max_delay_s: 1.0\n  status_interval_s: 0\n")
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'status_interval_s')}: publish.status_interval_s: "
        "Input should be greater than 0"
    )


def test_the_only_device_of_a_bus_is_not_also_called_missing(tmp_path: Path) -> None:
    """One bad device on a one-device bus (the usual install) gives one line, not two.

    pydantic adds "Tuple should have at least 1 item after validation, not 0" to a
    tuple with min_length whose items all failed; the technician has a device.
    """
    text = GOOD.replace(
        "      - id: th2\n        model: jxct-th-rs485\n        slave: 2\n        interval_s: 5\n",
        "",
    ).replace("slave: 1", "slave: 300")
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'slave: 300')}: buses[0].devices[0].slave: "
        "slave 300 is not a Modbus address: use 1..247"
    )


def test_a_bus_without_devices_is_refused(tmp_path: Path) -> None:
    start = GOOD.index("    devices:")
    text = GOOD[:start] + "    devices: []\n"
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'devices: []')}: buses[0].devices: "
        "a bus needs at least one device"
    )


def test_unknown_model_lists_the_known_ones(tmp_path: Path) -> None:
    text = GOOD.replace("model: jxct-th-rs485", "model: acme-9000", 1)
    message = problems(tmp_path, text)
    assert message.startswith(
        f"gateway.yaml:{line_of(text, 'acme-9000')}: buses[0].devices[0].model: "
        "no device profile 'acme-9000'"
    )
    assert "jxct-th-rs485" in message


def test_misspelt_key_is_reported_at_the_key(tmp_path: Path) -> None:
    text = GOOD.replace("    timeout_s: 1.0", "    timeout: 1.0")
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'timeout: 1.0')}: buses[0].timeout: "
        "Extra inputs are not permitted"
    )


def test_bus_fields_are_not_prefixed_with_the_bus_type(tmp_path: Path) -> None:
    text = GOOD.replace("port: 5020", "port: fifty")
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'port: fifty')}: buses[0].port: "
        "Input should be a valid integer, unable to parse string as an integer"
    )


def test_unknown_bus_type_is_reported_at_type(tmp_path: Path) -> None:
    text = GOOD.replace("type: modbus_tcp", "type: modbus_udp")
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'modbus_udp')}: buses[0].type: "
        "must be one of modbus_tcp, modbus_rtu, modbus_rtu_over_tcp, ascii"
    )


def test_several_problems_give_one_line_each(tmp_path: Path) -> None:
    text = GOOD.replace("slave: 1", "slave: 0").replace("interval_s: 5", "interval_s: -1", 1)
    lines = problems(tmp_path, text).splitlines()
    assert lines == [
        f"gateway.yaml:{line_of(text, 'slave: 0')}: buses[0].devices[0].slave: "
        "slave 0 is the Modbus broadcast address (no device answers it): use 1..247",
        f"gateway.yaml:{line_of(text, 'interval_s: -1')}: buses[0].devices[0].interval_s: "
        "Input should be greater than or equal to 0.05",
    ]


def test_device_ids_must_be_unique_across_buses(tmp_path: Path) -> None:
    second_bus = """\
  - name: station-2
    type: modbus_tcp
    host: 127.0.0.2
    devices:
      - id: th2
        model: jxct-th-rs485
        slave: 1
"""
    text = GOOD + second_bus
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'id: th2', occurrence=2)}: buses[1].devices[0].id: "
        "device id 'th2' is already used by buses[0].devices[1]"
    )


def test_slave_ids_must_be_unique_on_a_bus(tmp_path: Path) -> None:
    text = GOOD.replace("slave: 2", "slave: 1")
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'slave: 1', occurrence=2)}: buses[0].devices[1].slave: "
        "slave 1 is already used by devices[0]"
    )


def test_gateway_id_follows_the_wire_rules(tmp_path: Path) -> None:
    text = GOOD.replace("id: gw-demo-01", "id: gw demo")
    message = problems(tmp_path, text)
    assert message.startswith(f"gateway.yaml:{line_of(text, 'gw demo')}: gateway.id: gateway id")


def test_topic_root_must_not_hold_wildcards(tmp_path: Path) -> None:
    text = GOOD.replace("topic_root: shanshui/v1", "topic_root: shanshui/#")
    assert problems(tmp_path, text).startswith(
        f"gateway.yaml:{line_of(text, 'topic_root')}: mqtt.topic_root: must be topic levels"
    )


def test_password_file_needs_a_username(tmp_path: Path) -> None:
    text = GOOD.replace("  keepalive_s: 30\n", "  password_file: mqtt.password\n")
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'password_file')}: mqtt.password_file: "
        "password_file needs a username"
    )


def test_unreadable_tls_files_are_refused_at_their_keys(tmp_path: Path) -> None:
    tls = "  tls:\n    ca_file: ca.pem\n    cert_file: gw.pem\n    key_file: gw.key\n"
    text = GOOD.replace("  keepalive_s: 30\n", tls)
    (tmp_path / "gw.pem").write_text("certificate")
    assert problems(tmp_path, text).splitlines() == [
        f"gateway.yaml:{line_of(text, key)}: mqtt.tls.{key}: cannot read {tmp_path / name}: "
        "No such file or directory"
        for key, name in (("ca_file", "ca.pem"), ("key_file", "gw.key"))
    ]
    (tmp_path / "ca.pem").write_text("ca")
    (tmp_path / "gw.key").write_text("key")
    assert load_config(write(tmp_path, text)).settings.mqtt.tls is not None


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    text = GOOD.replace("    port: 5020", "    port: [5020")
    assert problems(tmp_path, text).startswith("gateway.yaml:")
    assert "invalid YAML" in problems(tmp_path, text)


def test_a_key_given_twice_is_refused_not_overwritten(tmp_path: Path) -> None:
    """PyYAML keeps the last of two equal keys; a second `devices:` would drop sensors."""
    text = GOOD.replace(
        "        interval_s: 5\n      - id: th2",
        "        interval_s: 5\n        slave: 3\n      - id: th2",
    )
    first = text.index("        slave: 1")
    first_line = text[:first].count("\n") + 1
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{first_line + 2}: key 'slave' appears twice (first on line {first_line})"
    )


def test_empty_and_missing_files(tmp_path: Path) -> None:
    assert problems(tmp_path, "") == "gateway.yaml: file is empty"
    with pytest.raises(ConfigError, match="cannot read: No such file"):
        load_config(tmp_path / "absent.yaml", environ={})


def test_missing_secret_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, secret=None)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value).startswith(
        f"gateway.yaml:{line_of(GOOD, 'secret_file')}: gateway.secret_file: cannot read "
    )
    assert "No such file or directory" in str(caught.value)


@pytest.mark.parametrize(
    ("secret", "complaint"),
    [("00112233", "holds 4 bytes; the secret needs at least 16 bytes"), ("xyz", "hex digits")],
)
def test_short_or_garbled_secret(tmp_path: Path, secret: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint) as caught:
        load_config(write(tmp_path, GOOD, secret=secret), environ={})
    assert secret not in str(caught.value)


def test_environment_secret_overrides_the_file(tmp_path: Path) -> None:
    other = "ff" * 20
    config = load_config(write(tmp_path, GOOD, secret=None), environ={SECRET_ENV: other})
    assert config.secret.get_secret_value() == bytes.fromhex(other)
    with pytest.raises(ConfigError, match=f"environment variable {SECRET_ENV} holds 2 bytes"):
        load_config(write(tmp_path, GOOD), environ={SECRET_ENV: "abcd"})


def test_no_secret_at_all(tmp_path: Path) -> None:
    text = GOOD.replace("  secret_file: gateway.secret\n", "")
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'id: gw-demo-01')}: gateway.secret_file: "
        f"missing, and {SECRET_ENV} is not set"
    )


RTU = GOOD.replace(
    """    type: modbus_tcp
    host: 127.0.0.1
    port: 5020
    timeout_s: 1.0
""",
    """    type: modbus_rtu
    port: /dev/ttyUSB0
    baudrate: 4800
    parity: E
    stopbits: 1
    turnaround_s: 0.02
""",
)


def test_rtu_bus_loads_with_its_line_settings(tmp_path: Path) -> None:
    bus = load_config(write(tmp_path, RTU), environ={}).settings.buses[0]
    assert bus.type == "modbus_rtu"
    assert (bus.port, bus.baudrate, bus.parity, bus.turnaround_s) == (
        "/dev/ttyUSB0",
        4800,
        "E",
        0.02,
    )
    assert bus.gap_s == pytest.approx(3.5 * 11 / 4800)  # t3.5 of 8E1 at 4800 baud
    assert bus.where == "/dev/ttyUSB0 4800 8E1"


def test_rtu_over_tcp_bus_loads(tmp_path: Path) -> None:
    text = GOOD.replace("type: modbus_tcp", "type: modbus_rtu_over_tcp\n    baudrate: 9600")
    bus = load_config(write(tmp_path, text), environ={}).settings.buses[0]
    assert bus.type == "modbus_rtu_over_tcp"
    assert bus.where == "127.0.0.1:5020 (RS-485 side 9600 8N1)"


def test_bad_parity_names_line_and_key(tmp_path: Path) -> None:
    text = RTU.replace("parity: E", "parity: X")
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'parity: X')}: buses[0].parity: "
        "Input should be 'N', 'E' or 'O'"
    )


@pytest.mark.parametrize("slave", [248, 255])
def test_reserved_slave_ids_are_refused_with_the_reason(tmp_path: Path, slave: int) -> None:
    text = RTU.replace("slave: 2", f"slave: {slave}")
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, f'slave: {slave}')}: buses[0].devices[1].slave: "
        f"slave {slave} is reserved by the Modbus specification: use 1..247"
    )


def test_ascii_bus_refuses_a_modbus_model(tmp_path: Path) -> None:
    start = GOOD.index("buses:")
    text = GOOD[:start] + (
        "buses:\n"
        "  - name: serial-1\n"
        "    type: ascii\n"
        "    port: /dev/ttyUSB1\n"
        "    devices:\n"
        "      - id: wind\n"
        "        model: jxct-th-rs485\n"
    )
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'model: jxct-th-rs485')}: buses[0].devices[0].model: "
        "jxct-th-rs485 speaks Modbus: put it on a modbus_rtu bus"
    )


def test_the_deploy_example_is_a_valid_gateway_yaml() -> None:
    example = Path(__file__).parents[2] / "deploy" / "edge" / "gateway.example.yaml"
    config = load_config(example, environ={SECRET_ENV: SECRET_HEX})
    assert [bus.type for bus in config.settings.buses] == ["modbus_rtu", "modbus_tcp"]


def test_ascii_bus_loads_a_library_ascii_sensor(tmp_path: Path) -> None:
    start = GOOD.index("buses:")
    text = GOOD[:start] + (
        "buses:\n"
        "  - name: serial-1\n"
        "    type: ascii\n"
        "    port: /dev/ttyUSB1\n"
        "    devices:\n"
        "      - id: wind\n"
        "        model: gill-windsonic\n"
        "        interval_s: 10\n"
    )
    bus = load_config(write(tmp_path, text), environ={}).settings.buses[0]
    assert (bus.type, bus.where, bus.devices[0].model) == (
        "ascii",
        "/dev/ttyUSB1 9600 8N1",
        "gill-windsonic",
    )


def test_a_modbus_bus_refuses_an_ascii_sensor(tmp_path: Path) -> None:
    text = GOOD.replace("model: jxct-th-rs485", "model: gill-windsonic", 1)
    assert problems(tmp_path, text) == (
        f"gateway.yaml:{line_of(text, 'gill-windsonic')}: buses[0].devices[0].model: "
        "gill-windsonic is a serial ASCII sensor: put it on a bus of type ascii"
    )
