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
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Protocol

import httpx

from cloud.alarms.notify import message
from cloud.alarms.notify.message import Outgoing
from cloud.errors import CloudError
from cloud.storage.alarm_contacts import Contact

log = logging.getLogger(__name__)
# httpx logs each request's URL at INFO; a webhook URL may carry a token
# (chat-robot webhooks put theirs in the query string): never logged
logging.getLogger("httpx").setLevel(logging.WARNING)


class NotifyError(CloudError):
    """A message did not get through (worth retrying)."""


class Sender(Protocol):
    """Sends one event to one contact."""

    async def send(self, contact: Contact, out: Outgoing) -> None:
        """Deliver, or raise :class:`NotifyError`."""


class WebhookSender:
    """POST the JSON body, signed with the contact's secret; any 2xx is delivered."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self._timeout_s = timeout_s

    async def send(self, contact: Contact, out: Outgoing) -> None:
        """POST to ``contact.address``.

        Raises:
            NotifyError: unreachable, timed out, or a non-2xx answer.
        """
        if contact.secret is None:
            raise NotifyError(f"webhook contact {contact.id} has no secret")
        data = message.body(out)
        headers = {
            "Content-Type": "application/json",
            message.SIGNATURE_HEADER: message.sign(contact.secret, data),
            "X-Shanshui-Event": str(out.notice.event_id),
        }
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.post(contact.address, content=data, headers=headers)
        except httpx.HTTPError as exc:
            # the message names the URL, which may hold a token: the type says enough
            raise NotifyError(f"{type(exc).__name__} (webhook unreachable)") from exc
        if not response.is_success:
            raise NotifyError(f"HTTP {response.status_code}")


@dataclass(frozen=True)
class SmtpSender:
    """E-mail over SMTP: implicit TLS (``implicit_tls``, port 465 by custom) or STARTTLS,
    the server's certificate verified against ``tls`` (the system's CAs by default);
    login when configured."""

    host: str
    port: int = 25
    sender: str = "shanshui@localhost"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout_s: float = 10.0
    implicit_tls: bool = False
    tls: ssl.SSLContext | None = field(default=None, repr=False)

    async def send(self, contact: Contact, out: Outgoing) -> None:
        """Mail ``contact.address`` (UTF-8; Date and Message-ID set, as RFC 5322 asks).

        Raises:
            NotifyError: the server cannot be reached or refuses the message.
        """
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = contact.address
        mail["Subject"] = message.subject_line(out)
        mail["Date"] = format_datetime(datetime.now(UTC))  # when it is written
        domain = self.sender.rpartition("@")[2].strip(" >") or "localhost"
        mail["Message-ID"] = make_msgid(f"alarm-event-{out.notice.event_id}", domain=domain)
        mail.set_content(message.text(out))
        try:
            await asyncio.to_thread(self._send, mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"SMTP {self.host}:{self.port}: {exc}") from exc

    def _send(self, mail: EmailMessage) -> None:
        # smtplib's own default context verifies nothing: a password sent over it could
        # be read by whoever sits in between
        tls = self.tls or ssl.create_default_context()
        if self.implicit_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=tls
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        with smtp:
            if self.starttls and not self.implicit_tls:
                smtp.starttls(context=tls)
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
        if not self.sent:
            log.warning("no SMS gateway is configured: SMS alarms are only logged, not sent")
        self.sent.append((number, text))
        log.info("SMS to …%s: %s", number[-4:], text)


class SmsSender:
    """A :class:`Sender` over an :class:`SmsGateway`: one short line per event."""

    def __init__(self, gateway: SmsGateway) -> None:
        self._gateway = gateway

    async def send(self, contact: Contact, out: Outgoing) -> None:
        """Text ``contact.address``: summary, detail, local time (at most 300 characters)."""
        line = message.subject_line(out)
        when = f"{out.local_time():%m-%d %H:%M}"
        await self._gateway.send_sms(contact.address, f"{line} {out.notice.detail} {when}"[:300])
