"""Channels that carry an alarm message: webhook, e-mail, SMS.

Layer: I/O adapters, one per channel, behind :class:`Sender`. Each raises
:class:`NotifyError` when the message did not get through (the dispatcher
retries); nothing else crosses. Secrets and passwords are never logged.
SMS gateways differ by vendor: :class:`SmsGateway` is the interface,
:class:`LoggingSmsGateway` a stand-in that logs and keeps what it was given.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

import httpx

from cloud.alarms.notify import message
from cloud.errors import CloudError
from cloud.storage.alarm_contacts import Contact
from cloud.storage.alarm_eval import Notice

log = logging.getLogger(__name__)


class NotifyError(CloudError):
    """A message did not get through (worth retrying)."""


class Sender(Protocol):
    """Sends one event to one contact."""

    async def send(self, contact: Contact, notice: Notice, severity: str) -> None:
        """Deliver, or raise :class:`NotifyError`."""


class WebhookSender:
    """POST the JSON body, signed with the contact's secret; any 2xx is delivered."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self._timeout_s = timeout_s

    async def send(self, contact: Contact, notice: Notice, severity: str) -> None:
        """POST to ``contact.address``.

        Raises:
            NotifyError: unreachable, timed out, or a non-2xx answer.
        """
        if contact.secret is None:
            raise NotifyError(f"webhook contact {contact.id} has no secret")
        data = message.body(notice, severity)
        headers = {
            "Content-Type": "application/json",
            message.SIGNATURE_HEADER: message.sign(contact.secret, data),
            "X-Shanshui-Event": str(notice.event_id),
        }
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.post(contact.address, content=data, headers=headers)
        except httpx.HTTPError as exc:
            raise NotifyError(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise NotifyError(f"HTTP {response.status_code}")


@dataclass(frozen=True)
class SmtpSender:
    """E-mail over SMTP (STARTTLS and login when configured)."""

    host: str
    port: int = 25
    sender: str = "shanshui@localhost"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout_s: float = 10.0

    async def send(self, contact: Contact, notice: Notice, severity: str) -> None:
        """Mail ``contact.address``.

        Raises:
            NotifyError: the server cannot be reached or refuses the message.
        """
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = contact.address
        mail["Subject"] = message.subject_line(notice, severity)
        mail.set_content(message.text(notice, severity))
        try:
            await asyncio.to_thread(self._send, mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"SMTP {self.host}:{self.port}: {exc}") from exc

    def _send(self, mail: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(mail)


class SmsGateway(Protocol):
    """A vendor's SMS gateway."""

    async def send_sms(self, number: str, text: str) -> None:
        """Send ``text``; raise :class:`NotifyError` when it did not get through."""


class LoggingSmsGateway:
    """A stand-in gateway: logs each message (number masked) and keeps it in ``sent``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send_sms(self, number: str, text: str) -> None:
        """Log and keep."""
        self.sent.append((number, text))
        log.info("SMS to …%s: %s", number[-4:], text)


class SmsSender:
    """A :class:`Sender` over an :class:`SmsGateway`: one short line per event."""

    def __init__(self, gateway: SmsGateway) -> None:
        self._gateway = gateway

    async def send(self, contact: Contact, notice: Notice, severity: str) -> None:
        """Text ``contact.address``."""
        line = message.subject_line(notice, severity)
        await self._gateway.send_sms(contact.address, f"{line} {notice.detail}"[:300])
