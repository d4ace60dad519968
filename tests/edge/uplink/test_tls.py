"""MQTT over TLS against a real Mosquitto with a CA the test generates (``cryptography``)."""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloud.embedded.broker import free_port
from edge.config import MqttSection, TlsSection
from edge.errors import UplinkError
from edge.uplink.mqtt import MqttUplink
from edge.uplink.tls import tls_context
from shanshui.children import die_with_parent
from tests.edge.support import SECRET
from tests.fix_broker import find_mosquitto, wait_until_listening
from wire import Batch, encode_batch

pytestmark = pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto is not installed")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_ca(folder: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def make_server_cert(folder: Path, ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> None:
    """A certificate for DNS name ``localhost`` only (not for 127.0.0.1)."""
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, folder / "server.key")


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    folder = tmp_path_factory.mktemp("tls")
    make_server_cert(folder, make_ca(folder, "ca"))
    make_ca(folder, "other-ca")
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        f"cafile {folder}/ca.pem\ncertfile {folder}/server.pem\nkeyfile {folder}/server.key\n"
        "tls_version tlsv1.2\nlog_type error\n"
        "user root\n"  # run as root, mosquitto would drop to a user that cannot read tmp_path
    )
    mosquitto = find_mosquitto()
    assert mosquitto is not None
    process = subprocess.Popen([mosquitto, "-c", str(conf)], preexec_fn=die_with_parent)  # noqa: PLW1509
    try:
        wait_until_listening("127.0.0.1", port, process)
        # the broker does serve TLS with this CA: the refusals below are not vacuous
        context = ssl.create_default_context(cafile=folder / "ca.pem")
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost"),
        ):
            pass
        yield port, folder
    finally:
        process.terminate()
        process.wait(timeout=10)


async def first_state(uplink: MqttUplink, timeout_s: float) -> bool | None:
    """The first link state the uplink reports within ``timeout_s``, or None."""
    states: asyncio.Queue[bool] = asyncio.Queue()
    await uplink.open(lambda _ack: None, states.put_nowait)
    try:
        return await asyncio.wait_for(states.get(), timeout_s)
    except TimeoutError:
        return None


def uplink_for(port: int, folder: Path, host: str, tls: TlsSection) -> MqttUplink:
    settings = MqttSection(host=host, port=port, topic_root="tls/shanshui/v1", tls=tls)
    return MqttUplink("gw-tls", settings, secret=lambda: SECRET, base_dir=folder)


def test_a_batch_goes_over_tls_to_a_broker_signed_by_the_configured_ca(
    tls_broker: tuple[int, Path],
) -> None:
    port, folder = tls_broker

    async def scenario() -> None:
        uplink = uplink_for(port, folder, "localhost", TlsSection(ca_file=Path("ca.pem")))
        states: asyncio.Queue[bool] = asyncio.Queue()
        await uplink.open(lambda _ack: None, states.put_nowait)
        try:
            assert await asyncio.wait_for(states.get(), 10) is True
            uplink.send(1, encode_batch(Batch("gw-tls", 1, ())))
            while uplink.in_flight:  # its PUBACK comes back over TLS and wakes us
                assert await asyncio.wait_for(states.get(), 10) is True
        finally:
            await uplink.close(5)

    asyncio.run(asyncio.wait_for(scenario(), 30))


@pytest.mark.parametrize(
    ("host", "tls"),
    [
        ("localhost", TlsSection(ca_file=Path("other-ca.pem"))),  # a broker we do not trust
        ("127.0.0.1", TlsSection(ca_file=Path("ca.pem"))),  # its certificate names localhost
    ],
)
# paho leaves the socket of a failed TLS handshake to the garbage collector
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_untrusted_or_misnamed_broker_is_refused(
    tls_broker: tuple[int, Path], host: str, tls: TlsSection
) -> None:
    port, folder = tls_broker

    async def scenario() -> None:
        uplink = uplink_for(port, folder, host, tls)
        try:
            assert await first_state(uplink, 3) is None  # never connects
        finally:
            await uplink.close(1)

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_without_the_hostname_check_an_ip_address_is_accepted(
    tls_broker: tuple[int, Path],
) -> None:
    port, folder = tls_broker

    async def scenario() -> None:
        tls = TlsSection(ca_file=Path("ca.pem"), check_hostname=False)
        uplink = uplink_for(port, folder, "127.0.0.1", tls)
        try:
            assert await first_state(uplink, 10) is True
        finally:
            await uplink.close(5)

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_missing_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        uplink = uplink_for(1883, tmp_path, "localhost", TlsSection(ca_file=Path("none.pem")))
        with pytest.raises(UplinkError, match=r"mqtt\.tls: cannot use the certificate files"):
            await uplink.open(lambda _ack: None, lambda _up: None)

    asyncio.run(scenario())


def test_the_tls_floor_and_hostname_check_are_in_the_context(tmp_path: Path) -> None:
    context = tls_context(TlsSection(min_version="1.3", check_hostname=False), tmp_path)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert context.check_hostname is False
    assert context.verify_mode == ssl.CERT_REQUIRED  # the broker's certificate is still checked
    assert tls_context(TlsSection(), tmp_path).minimum_version == ssl.TLSVersion.TLSv1_2
