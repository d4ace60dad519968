"""Alarm e-mail over TLS to a local aiosmtpd: STARTTLS and implicit TLS (port 465's way),
the server's certificate verified (smtplib's own default verifies nothing).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloud.alarms.notify import NotifyError, SmtpSender
from cloud.alarms.notify.message import Outgoing
from cloud.embedded.broker import free_port
from cloud.storage.alarm_contacts import Contact
from cloud.storage.alarm_eval import Notice

pytestmark = pytest.mark.anyio
CONTACT = Contact(1, 1, "duty", "email", "duty@bureau.cn", None, None, None, "Asia/Shanghai", 60)
NOTICE = Notice(7, 3, "fish", "do-low", "gw-1/d1/dissolved_oxygen", "open", 1_796_000_400_000,
                "critical", 2.0, "dissolved_oxygen 2 below 3", False, 1, "gw-1")  # fmt: skip


class Keep(Message):
    def __init__(self) -> None:
        super().__init__()
        self.received: list[object] = []

    def handle_message(self, message: object) -> None:
        self.received.append(message)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    here = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(here, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Controller, Keep]]:
    handler = Keep()
    tls = _server_tls(certificate)
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), tls_context=tls, require_starttls=True
    )
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


async def test_starttls_refuses_a_certificate_it_cannot_verify(
    starttls_server: tuple[Controller, Keep],
) -> None:
    controller, handler = starttls_server
    sender = SmtpSender("127.0.0.1", controller.port, starttls=True)
    with pytest.raises(NotifyError, match="CERTIFICATE_VERIFY_FAILED"):
        await sender.send(CONTACT, Outgoing(NOTICE, "critical"))
    assert handler.received == []


async def test_starttls_with_a_trusted_certificate_delivers(
    starttls_server: tuple[Controller, Keep], certificate: tuple[Path, Path]
) -> None:
    controller, handler = starttls_server
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    sender = SmtpSender("127.0.0.1", controller.port, starttls=True, tls=trusted)
    await sender.send(CONTACT, Outgoing(NOTICE, "critical"))
    assert len(handler.received) == 1


def test_implicit_tls_delivers_and_verifies(certificate: tuple[Path, Path]) -> None:
    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            ssl_context=_server_tls(certificate))  # fmt: skip
    controller.start()
    try:
        unverified = SmtpSender("127.0.0.1", controller.port, implicit_tls=True)
        with pytest.raises(NotifyError, match="CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(unverified.send(CONTACT, Outgoing(NOTICE, "critical")))
        trusted = ssl.create_default_context(cafile=str(certificate[0]))
        sender = SmtpSender("127.0.0.1", controller.port, implicit_tls=True, tls=trusted)
        asyncio.run(sender.send(CONTACT, Outgoing(NOTICE, "critical")))
    finally:
        controller.stop()
    assert len(handler.received) == 1
