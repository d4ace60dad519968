"""The files of ``deploy/`` as an operator uses them, checked by the tools that read them.

The systemd unit through ``systemd-analyze verify``; the production ``mosquitto.conf``
and its ACL by starting Mosquitto with them (paths and ports moved to the test's
folder) and talking to it with ``mosquitto_pub``/``mosquitto_sub``, over TLS too;
the compose file by what it must hand the broker.
"""

from __future__ import annotations

import datetime
import getpass
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloud.embedded.broker import free_port
from tests.fix_broker import find_mosquitto, wait_until_listening

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "edge" / "shanshui-edge.service"
MOSQUITTO_CONF = DEPLOY / "cloud" / "mosquitto.conf"
TIMEOUT_S = 10


def test_the_edge_unit_verifies_cleanly(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    text = UNIT.read_text()
    command = re.search(r"^ExecStart=(\S+)", text, re.MULTILINE)
    assert command is not None
    assert command.group(1) == "/opt/shanshui/venv/bin/shanshui-edge"  # the README's venv
    installed = Path(sys.executable).parent / "shanshui-edge"
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace(command.group(1), str(installed)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warned about
    # a pushed config is written next to gateway.yaml under a read-only system
    assert "ProtectSystem=strict" in text
    assert "ReadWritePaths=/etc/shanshui" in text


@dataclass(frozen=True)
class Broker:
    plain: int
    tls: int
    ca: Path


def _certificates(folder: Path) -> None:
    """A CA and a broker certificate for ``localhost`` signed by it, as PEM files."""
    folder.mkdir()

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def build(subject: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        build("test-ca", ca_key)
        .issuer_name(name("test-ca"))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    broker = (
        build("localhost", key)
        .issuer_name(ca.subject)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "broker.pem").write_bytes(broker.public_bytes(serialization.Encoding.PEM))
    (folder / "broker.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture
def production_broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto running deploy/cloud/mosquitto.conf, only its paths and ports moved."""
    mosquitto = find_mosquitto()
    if mosquitto is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto not installed")
    config = tmp_path / "config"
    config.mkdir()
    (config / "data").mkdir()
    _certificates(config / "tls")
    shutil.copy(DEPLOY / "cloud" / "mosquitto.acl", config / "acl")
    passwd = config / "passwd"
    for user in ("ingest", "gw-1", "gw-2"):
        create = ["-c"] if not passwd.exists() else []
        command = ["mosquitto_passwd", *create, "-b", str(passwd), user, f"{user}-password"]
        subprocess.run(command, check=True, timeout=TIMEOUT_S, capture_output=True)
    plain, tls = free_port(), free_port()
    text = MOSQUITTO_CONF.read_text()
    assert re.findall(r"^listener (\d+)$", text, re.MULTILINE) == ["1883", "8883"]
    text = text.replace("/mosquitto/config/", f"{config}/").replace(
        "/mosquitto/data/", f"{config}/data/"
    )
    text = text.replace("listener 1883", f"listener {plain} 127.0.0.1")
    text = text.replace("listener 8883", f"listener {tls} 127.0.0.1")
    # run as the test's user: as root Mosquitto would switch to a user who cannot read tmp_path
    (config / "mosquitto.conf").write_text(f"user {getpass.getuser()}\n{text}")
    log = (tmp_path / "mosquitto.log").open("wb")
    process = subprocess.Popen(
        [mosquitto, "-c", str(config / "mosquitto.conf")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until_listening("127.0.0.1", plain, process)
        wait_until_listening("127.0.0.1", tls, process)
        yield Broker(plain, tls, config / "tls" / "ca.pem")
    finally:
        process.terminate()
        process.wait(timeout=TIMEOUT_S)
        log.close()


def _client(tool: str, broker: Broker, user: str | None, *, tls: bool = False) -> list[str]:
    command = [tool, "-h", "localhost" if tls else "127.0.0.1"]
    command += ["-p", str(broker.tls if tls else broker.plain)]
    if tls:
        command += ["--cafile", str(broker.ca)]
    if user is not None:
        command += ["-u", user, "-P", f"{user}-password"]
    return command


def _publish(broker: Broker, user: str | None, topic: str, *, tls: bool = False) -> int:
    command = [*_client("mosquitto_pub", broker, user, tls=tls), "-t", topic, "-q", "1"]
    command += ["-m", f"from {user} on {topic}"]
    return subprocess.run(command, timeout=TIMEOUT_S, capture_output=True, check=False).returncode


def _subscriber(broker: Broker, user: str, topic: str, count: int) -> subprocess.Popen[bytes]:
    command = ["stdbuf", "-oL", *_client("mosquitto_sub", broker, user), "-t", topic]
    command += ["-q", "1", "-C", str(count), "-W", str(TIMEOUT_S), "-d"]
    sub = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert sub.stdout is not None
    for line in sub.stdout:
        if b"received SUBACK" in line:
            return sub
    raise AssertionError(f"mosquitto_sub did not subscribe: {sub.communicate()}")


def _received(sub: subprocess.Popen[bytes]) -> list[str]:
    output, _ = sub.communicate(timeout=TIMEOUT_S * 2)
    return [line for line in output.decode().splitlines() if line.startswith("from ")]


def test_the_production_broker_confines_each_gateway_to_its_topics(
    production_broker: Broker,
) -> None:
    broker = production_broker
    assert _publish(broker, None, "shanshui/v1/gw-1/up/telemetry") != 0  # no anonymous access
    ingest = _subscriber(broker, "ingest", "$share/ingest/shanshui/v1/+/up/#", 3)
    gateway = _subscriber(broker, "gw-1", "shanshui/v1/+/down/#", 1)
    # the ACL drops what a gateway publishes under another gateway's id, silently
    assert _publish(broker, "gw-1", "shanshui/v1/gw-2/up/telemetry") == 0
    assert _publish(broker, "gw-1", "shanshui/v1/gw-1/up/telemetry") == 0
    assert _publish(broker, "gw-2", "shanshui/v1/gw-2/up/status") == 0
    assert _publish(broker, "gw-1", "shanshui/v1/gw-1/up/cmd-ack", tls=True) == 0
    assert _publish(broker, "ingest", "shanshui/v1/gw-2/down/ack") == 0  # not gw-1's to read
    assert _publish(broker, "ingest", "shanshui/v1/gw-1/down/ack") == 0
    assert _received(ingest) == [
        "from gw-1 on shanshui/v1/gw-1/up/telemetry",
        "from gw-2 on shanshui/v1/gw-2/up/status",
        "from gw-1 on shanshui/v1/gw-1/up/cmd-ack",
    ]
    assert _received(gateway) == ["from ingest on shanshui/v1/gw-1/down/ack"]


def test_compose_hands_the_broker_every_file_and_port_its_config_names() -> None:
    compose = yaml.safe_load((DEPLOY / "cloud" / "compose.yaml").read_text())
    mosquitto = compose["services"]["mosquitto"]
    mounted = [volume.split(":")[1] for volume in mosquitto["volumes"]]
    text = MOSQUITTO_CONF.read_text()
    for path in re.findall(r"^\w+ (/mosquitto/\S+)$", text, re.MULTILINE):
        assert any(path.startswith(target.rstrip("/")) for target in mounted), path
    published = {entry.rsplit(":", 1)[1] for entry in mosquitto["ports"]}
    assert set(re.findall(r"^listener (\d+)$", text, re.MULTILINE)) <= published
