"""``Notifier``: each recorded alarm event to each of its contacts, once, politely.

Layer: asyncio over :mod:`cloud.storage.alarm_contacts` and the senders. For each
event and contact it claims the (contact, event) delivery row first, so an event
reaches a contact once even when two workers hear of it. Then:

* quiet hours of the contact (its local time) hold back all but critical alarms:
  recorded as ``quiet``;
* past ``rate_per_hour`` deliveries in the last hour: recorded as ``limited``;
* otherwise it sends, retrying with exponential back-off (about 4 min in all by
  default); when the attempts run out the delivery stays ``dead`` with its last
  error (the dead-letter record), and for 5 min the contact's next events get one
  attempt each (a receiver that is down does not hold them back minutes apiece).

Sending runs in tasks of its own: the evaluation loop never waits for a slow
receiver. :meth:`Notifier.tick` escalates alarms left unacknowledged, and takes up
deliveries that a notifier which died (kill -9, a lost host) left ``sending``, once
they have not moved for longer than a live notifier waits between two attempts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from cloud.alarms.notify.message import Outgoing
from cloud.alarms.notify.senders import (
    LoggingSmsGateway,
    NotifyError,
    Sender,
    SmsSender,
    SmtpSender,
    WebhookSender,
)
from cloud.errors import StorageError
from cloud.settings import Settings
from cloud.storage import Storage
from cloud.storage.alarm_contacts import (
    Contact,
    claim_delivery,
    claim_escalations,
    contact_by_id,
    contacts_for_event,
    finish_delivery,
    recent_deliveries,
)
from cloud.storage.alarm_deliveries import alarm_context, resume_stalled
from cloud.storage.alarm_eval import Notice

log = logging.getLogger(__name__)
SMTPS_PORT = 465  # SMTP over implicit TLS (RFC 8314)
DOWN_FOR_S = 300.0  # after a delivery died, a contact's next ones get one attempt each


class Notifier:
    """Send alarm events to contacts; see the module docstring.

    Args:
        storage: an open :class:`Storage`.
        senders: one :class:`Sender` per contact kind (``webhook``, ``email``, ``sms``).
        attempts: tries per delivery before it is dead-lettered.
        first_retry_s: the first back-off; each next one doubles, up to ``max_retry_s``.
        clock: seconds since the epoch, for quiet hours.
        resume_after_s: a ``sending`` delivery unmoved this long belongs to no live
            notifier and is taken up (default: the longest back-off and a minute more).
    """

    def __init__(
        self,
        storage: Storage,
        senders: Mapping[str, Sender],
        *,
        attempts: int = 8,
        first_retry_s: float = 2.0,
        max_retry_s: float = 120.0,
        clock: Callable[[], float] = time.time,
        resume_after_s: float | None = None,
    ) -> None:
        self._storage = storage
        self._senders = dict(senders)
        self._attempts = attempts
        self._first_retry_s = first_retry_s
        self._max_retry_s = max_retry_s
        self._clock = clock
        self._resume_after_s = max_retry_s + 60 if resume_after_s is None else resume_after_s
        self._mine: set[int] = set()  # deliveries this notifier is working on
        # contact id -> monotonic time until which its receiver counts as down (a delivery
        # to it died): its next events get one attempt each instead of queueing behind
        # minutes of retries apiece (they can be sent again: `contacts redeliver`)
        self._down_until: dict[int, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[int, asyncio.Lock] = {}  # one per contact: its events in order
        self._previous: asyncio.Task[None] | None = None

    async def notify(self, notices: Sequence[Notice]) -> None:
        """Start delivering each event to its contacts; returns without waiting.

        A contact gets its events in the order they were recorded.
        """
        previous = self._previous
        self._previous = self._spawn(self._fan_out(list(notices), previous))

    async def tick(self) -> None:
        """Escalate alarms unacknowledged for longer than their contacts allow; take up
        stalled deliveries."""
        for notice, contact_id, delivery in await claim_escalations(self._storage):
            contact = await contact_by_id(self._storage, contact_id)
            if contact is not None:
                self._spawn(self._deliver_in_order(contact, notice, "critical", (delivery, 0)))
        for stalled in await resume_stalled(self._storage, self._resume_after_s):
            if stalled.delivery_id in self._mine:
                continue  # still retrying here, between two long back-offs
            contact = await contact_by_id(self._storage, stalled.contact_id)
            if contact is not None:
                log.info("alarm event %d to %r: taking up a stalled delivery after %d attempt(s)",
                         stalled.notice.event_id, contact, stalled.attempts)  # fmt: skip
                claimed = (stalled.delivery_id, stalled.attempts)
                self._spawn(self._deliver_in_order(contact, stalled.notice, stalled.severity,
                                                   claimed))  # fmt: skip

    async def idle(self) -> None:
        """Wait until every delivery started so far has finished (sent, dead, held back)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Stop retrying; deliveries in progress stay ``sending``."""
        tasks, self._tasks = set(self._tasks), set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _fan_out(self, notices: list[Notice], previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        for notice in notices:
            try:
                contacts = await contacts_for_event(self._storage, notice.event_id)
            except StorageError as exc:
                log.warning("alarm event %d: contacts not read: %s", notice.event_id, exc)
                continue
            for contact, severity in contacts:
                # spawned in order, each first takes its contact's (FIFO) lock
                self._spawn(self._deliver_in_order(contact, notice, severity))

    async def _deliver_in_order(
        self,
        contact: Contact,
        notice: Notice,
        severity: str,
        claimed: tuple[int, int] | None = None,
    ) -> None:
        async with self._locks.setdefault(contact.id, asyncio.Lock()):
            try:
                await self._deliver(contact, notice, severity, claimed)
            except StorageError as exc:
                log.warning("alarm event %d to %r not recorded: %s", notice.event_id, contact, exc)

    async def _deliver(
        self, contact: Contact, notice: Notice, severity: str, claimed: tuple[int, int] | None
    ) -> None:
        """Send, unless held back; ``claimed``: the delivery row and the attempts it had."""
        sender = self._senders.get(contact.kind)
        status = "sending"
        if sender is None:
            status = "dead"
        elif claimed is not None and claimed[1] > 0:
            pass  # taken up again: it was let through before
        elif severity != "critical" and self._quiet(contact):
            status = "quiet"
        elif await recent_deliveries(self._storage, contact.id) >= contact.rate_per_hour + (
            claimed is not None
        ):  # a claimed row counts itself
            status = "limited"
        if claimed is None:
            delivery = await claim_delivery(self._storage, contact.id, notice.event_id, status)
            done = 0
        else:
            delivery, done = claimed
            if status != "sending":
                await finish_delivery(self._storage, delivery, status, done, None)
        if delivery is None or sender is None or status != "sending":
            return  # delivered by another worker, or held back (recorded as such)
        self._mine.add(delivery)
        try:
            context = await alarm_context(self._storage, notice.alarm_id)
            out = Outgoing(notice, severity, context)
            await self._attempt(sender, contact, out, (delivery, done))
        finally:
            self._mine.discard(delivery)

    async def _attempt(
        self, sender: Sender, contact: Contact, out: Outgoing, claimed: tuple[int, int]
    ) -> None:
        notice, (delivery, done) = out.notice, claimed
        delay_s = min(self._first_retry_s * 2 ** max(done - 1, 0), self._max_retry_s)
        down = self._down_until.get(contact.id, 0.0) > time.monotonic()
        budget = done + 1 if down else max(self._attempts, done + 1)
        for attempt in range(done + 1, budget + 1):
            try:
                await sender.send(contact, out)
            except NotifyError as exc:
                last = attempt >= budget
                await finish_delivery(
                    self._storage, delivery, "dead" if last else "sending", attempt, str(exc)
                )
                if last:
                    self._down_until[contact.id] = time.monotonic() + DOWN_FOR_S
                    log.warning("alarm event %d to %r dead-lettered after %d attempts: %s",
                                notice.event_id, contact, attempt, exc)  # fmt: skip
                    return
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, self._max_retry_s)
            else:
                await finish_delivery(self._storage, delivery, "sent", attempt, None)
                self._down_until.pop(contact.id, None)
                return

    def _quiet(self, contact: Contact) -> bool:
        if contact.quiet_from is None or contact.quiet_until is None:
            return False
        local = datetime.fromtimestamp(self._clock(), UTC).astimezone(ZoneInfo(contact.time_zone))
        now = local.time().replace(tzinfo=None)
        start, end = contact.quiet_from, contact.quiet_until
        return start <= now < end if start <= end else now >= start or now < end


def notifier_from_settings(storage: Storage, settings: Settings) -> Notifier:
    """Webhooks; e-mail when ``SHANSHUI_SMTP_HOST`` is set (implicit TLS on port 465);
    SMS through the logging stand-in."""
    senders: dict[str, Sender] = {
        "webhook": WebhookSender(),
        "sms": SmsSender(LoggingSmsGateway()),
    }
    if settings.smtp_host:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        senders["email"] = SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            settings.smtp_username,
            password,
            settings.smtp_starttls,
            implicit_tls=settings.smtp_port == SMTPS_PORT,
        )
    return Notifier(storage, senders)
