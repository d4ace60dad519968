"""Alarm notifications to real receivers: a local HTTP server, a local SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator
from datetime import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from cloud.alarms.notify import (
    LoggingSmsGateway,
    Notifier,
    SmsSender,
    SmtpSender,
    WebhookSender,
    sign,
)
from cloud.alarms.worker import AlarmWorker
from cloud.embedded.broker import free_port
from cloud.storage import Storage
from cloud.storage.alarm_contacts import NewContact, add_contact, list_deliveries
from tests.cloud.alarms.live_helpers import (
    MINUTE,
    T0,
    Clock,
    Station,
    evaluator,
    receiving,
    rules,
    station,
)

pytestmark = pytest.mark.anyio
NINE_IN_SHANGHAI_S = 1_796_000_400  # 2026-11-30T01:00:00Z
DO_LOW = {"id": "do-low", "kind": "threshold", "below": 3.0, "clear": 3.5, "severity": "warning"}


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url) as opened:
        await station(opened)
        await rules(opened, DO_LOW)
        yield opened


def _webhook(url: str, **extra: object) -> NewContact:
    return NewContact("env", "ops", "webhook", url, **extra)  # type: ignore[arg-type]


async def _run(storage: Storage, notifier: Notifier, values: list[float]) -> AlarmWorker:
    clock = Clock()
    engine = await evaluator(storage, clock, notifier)
    await Station(storage, engine, clock).send("dissolved_oxygen", values, T0)
    await notifier.idle()
    await engine.stop()
    return engine


def test_signature_is_hmac_sha256_of_the_body() -> None:
    assert sign(b"k" * 32, b"{}") == "sha256=" + hmac.new(b"k" * 32, b"{}", "sha256").hexdigest()


async def test_a_verifying_receiver_gets_exactly_one_notification_per_transition(
    storage: Storage,
) -> None:
    with receiving() as receiver:
        contact, secret = await add_contact(storage, _webhook(receiver.url))
        receiver.secret = secret
        notifier = Notifier(storage, {"webhook": WebhookSender()})
        # open, hold (two more low readings), resolve, open again
        await _run(storage, notifier, [2.0, 2.1, 2.2, 4.0, 2.0])
        bodies = await receiver.wait_for(3)
        # a second worker hearing of the same events sends nothing more
        other = Notifier(storage, {"webhook": WebhookSender()})
        await other.notify(_run_notices(bodies))
        await other.idle()
    assert receiver.bad_signatures == 0
    events = [json.loads(b) for b in receiver.bodies]
    assert [e["kind"] for e in events] == ["open", "resolve", "open"]
    assert len({e["event_id"] for e in events}) == 3
    assert events[0]["subject"] == "gw-1/d1/dissolved_oxygen"
    assert [d.status for d in await list_deliveries(storage, contact.id)] == ["sent"] * 3


def _run_notices(bodies: list[bytes]) -> list:  # type: ignore[type-arg]
    from cloud.storage.alarm_eval import Notice  # noqa: PLC0415

    out = []
    for body in bodies:
        e = json.loads(body)
        out.append(Notice(e["event_id"], e["alarm_id"], e["tenant"], e["rule_id"], e["subject"],
                          e["kind"], T0, e["level"], e["value"], e["detail"], False,
                          e["station_id"], e["gateway_id"]))  # fmt: skip
    return out


async def test_an_unreachable_receiver_is_retried_and_dead_lettered(storage: Storage) -> None:
    contact, _ = await add_contact(storage, _webhook(f"http://127.0.0.1:{free_port()}/hook"))
    notifier = Notifier(storage, {"webhook": WebhookSender(timeout_s=2)}, attempts=3,
                        first_retry_s=0.01)  # fmt: skip
    await _run(storage, notifier, [2.0])
    [delivery] = await list_deliveries(storage, contact.id)
    assert (delivery.status, delivery.attempts) == ("dead", 3)
    assert delivery.last_error


async def test_quiet_hours_and_rate_limit(storage: Storage) -> None:
    # the notifier's clock says 09:00 in Shanghai: quiet from 08:00 to 10:00 holds back a warning
    quiet, _ = await add_contact(
        storage, _webhook("http://127.0.0.1:9/", quiet_from=time(8), quiet_until=time(10))
    )
    sms = LoggingSmsGateway()
    limited, _ = await add_contact(
        storage, NewContact("env", "duty phone", "sms", "+8613800000000", rate_per_hour=1)
    )
    notifier = Notifier(
        storage,
        {"webhook": WebhookSender(), "sms": SmsSender(sms)},
        clock=lambda: NINE_IN_SHANGHAI_S,
    )
    await _run(storage, notifier, [2.0, 4.0])
    assert [d.status for d in await list_deliveries(storage, quiet.id)] == ["quiet", "quiet"]
    assert [d.status for d in await list_deliveries(storage, limited.id)] == ["sent", "limited"]
    assert len(sms.sent) == 1
    assert "do-low" in sms.sent[0][1]


async def test_email_over_smtp_and_escalation(storage: Storage) -> None:
    received: list[str] = []

    class Keep(Message):
        def handle_message(self, message: object) -> None:
            received.append(str(message))

    controller = Controller(Keep(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        boss, _ = await add_contact(storage, NewContact("env", "boss", "email", "boss@bureau.cn"))
        first, _ = await add_contact(
            storage,
            NewContact("env", "duty", "email", "duty@bureau.cn", escalate_to=boss.id,
                       escalate_after_s=600),
        )  # fmt: skip
        notifier = Notifier(storage, {"email": SmtpSender("127.0.0.1", controller.port)})
        await _run(storage, notifier, [2.0])
        assert len(received) == 2  # the alarm reaches both mailboxes
        await notifier.tick()
        await notifier.idle()
        assert len(received) == 2  # not yet unacknowledged for 10 minutes
        async with storage.connection("test") as conn:
            await conn.execute("UPDATE alarms SET recorded_at = now() - interval '11 minutes'")
        await asyncio.gather(notifier.tick(), notifier.tick())
        await notifier.idle()
        assert len(received) == 3
        assert "UNACKNOWLEDGED" in received[2]
        assert "To: boss@bureau.cn" in received[2]
        await notifier.tick()
        await notifier.idle()
        assert len(received) == 3  # escalated once
        assert [d.status for d in await list_deliveries(storage, first.id)] == ["sent"]
    finally:
        controller.stop()
    _ = MINUTE
