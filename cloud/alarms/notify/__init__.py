"""Alarm notifications: who is told, over which channel, and how hard we try.

Layer: asyncio I/O over :mod:`cloud.storage.alarm_contacts`.

* :mod:`cloud.alarms.notify.message` - the message of one alarm event (pure)
* :mod:`cloud.alarms.notify.senders` - webhook (signed), e-mail (SMTP), SMS (an interface)
* :mod:`cloud.alarms.notify.dispatch` - quiet hours, rate limit, retries, dead letters,
  escalation
"""

from cloud.alarms.notify.dispatch import Notifier
from cloud.alarms.notify.message import SIGNATURE_HEADER, sign
from cloud.alarms.notify.senders import (
    LoggingSmsGateway,
    NotifyError,
    Sender,
    SmsGateway,
    SmsSender,
    SmtpSender,
    WebhookSender,
)

__all__ = [
    "SIGNATURE_HEADER",
    "LoggingSmsGateway",
    "Notifier",
    "NotifyError",
    "Sender",
    "SmsGateway",
    "SmsSender",
    "SmtpSender",
    "WebhookSender",
    "sign",
]
