"""Notifications as their receivers see them, and after a notifier died mid-delivery.

A receiver written from the README alone (the hex secret shown once, decoded; HMAC-SHA256
of the body), an e-mail as a mail client shows it (UTF-8 station name, Date, Message-ID),
and deliveries that a killed notifier left ``sending`` taken up by the next one, once.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from cloud.alarms.notify import Notifier, SmtpSender, WebhookSender
from cloud.embedded.broker import free_port
from cloud.storage import Storage
from cloud.storage.alarm_contacts import (
    NewContact,
    add_contact,
    claim_delivery,
    claim_escalations,
    list_deliveries,
)
from cloud.storage.alarm_deliveries import redeliver_dead
from cloud.storage.sites import SiteAttributes, add_site
from tests.cloud.alarms.live_helpers import (
    PLATFORM,
    T0,
    Clock,
    Station,
    evaluator,
    receiving,
    rules,
)

pytestmark = pytest.mark.anyio
STATION = "鱼塘3号 Pond 3"
DO_LOW = {
    "id": "pond-do-low", "name": "溶解氧过低", "kind": "threshold", "below": 3.0, "clear": 3.5,
    "severity": "critical", "scope": {"sites": [STATION]},
}  # fmt: skip


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url) as opened:
        await add_site(
            opened, "fish", STATION, SiteAttributes(time_zone="Asia/Shanghai"), new_tenant=True
        )
        await opened.register_gateway("gw-1", tenant="fish", site=STATION)
        await rules(opened, DO_LOW | {"tenant": "fish"})
        yield opened


async def _raise_alarm(storage: Storage, notifier: Notifier | None) -> None:
    clock = Clock()
    engine = await evaluator(storage, clock, notifier)
    await Station(storage, engine, clock).send("dissolved_oxygen", [2.0], T0)
    if notifier is not None:
        await notifier.idle()
    await engine.stop()


async def _age_deliveries(storage: Storage, seconds: int) -> None:
    async with storage.connection("test") as conn:
        await conn.execute(
            "UPDATE alarm_deliveries SET updated_at = now() - make_interval(secs => %s)",
            (seconds,),
        )


async def test_a_receiver_written_from_the_readme_verifies_the_signature(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    with receiving() as receiver:
        url = receiver.url + "?access_token=tok-do-not-log"
        contact, secret = await add_contact(storage, NewContact("fish", "ops", "webhook", url))
        assert secret is not None
        shown = secret.hex()  # what `contacts add` prints, once
        receiver.secret = secret
        caplog.set_level(logging.DEBUG)
        await _raise_alarm(storage, Notifier(storage, {"webhook": WebhookSender()}))
        await receiver.wait_for(1)
    assert receiver.bad_signatures == 0
    assert "tok-do-not-log" not in caplog.text
    # what the README says: HMAC-SHA256 of the exact body, key = the hex string decoded
    body = receiver.last_body
    expected = "sha256=" + hmac.new(bytes.fromhex(shown), body, hashlib.sha256).hexdigest()
    assert receiver.last_signature == expected
    event = json.loads(body.decode("utf-8"))
    assert (event["station"], event["rule_name"]) == (STATION, "溶解氧过低")
    assert STATION.encode() in body  # UTF-8, not \\u escapes
    assert [d.status for d in await list_deliveries(storage, contact.id)] == ["sent"]


async def test_an_email_names_the_station_in_utf8_with_date_and_message_id(
    storage: Storage,
) -> None:
    received: list[bytes] = []

    class Keep(Message):
        def handle_message(self, message: object) -> None:
            received.append(message.as_bytes())  # type: ignore[attr-defined]

    controller = Controller(Keep(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        await add_contact(storage, NewContact("fish", "王站长", "email", "wang@pond.cn"))
        sender = SmtpSender("127.0.0.1", controller.port, sender="预警 <alarms@bureau.cn>")
        await _raise_alarm(storage, Notifier(storage, {"email": sender}))
    finally:
        controller.stop()
    [raw] = received
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == f"[critical] ALARM: {STATION}: 溶解氧过低"
    assert mail["Date"] is not None
    assert mail["Message-ID"].endswith("@bureau.cn>")
    content = mail.get_content()
    assert "dissolved_oxygen 2 below 3" in content
    assert "(Asia/Shanghai)" in content


async def test_a_delivery_left_sending_by_a_dead_notifier_is_taken_up_once(
    storage: Storage,
) -> None:
    with receiving() as receiver:
        contact, secret = await add_contact(
            storage, NewContact("fish", "ops", "webhook", receiver.url)
        )
        receiver.secret = secret
        await _raise_alarm(storage, None)  # recorded; no notifier heard of it
        async with storage.connection("test") as conn:
            cursor = await conn.execute("SELECT max(id) FROM alarm_events")
            (event_id,) = await cursor.fetchone()  # type: ignore[misc]
        # the notifier that claimed it died before its first attempt went through
        assert await claim_delivery(storage, contact.id, event_id, "sending") is not None
        notifier = Notifier(storage, {"webhook": WebhookSender()}, resume_after_s=60)
        await notifier.tick()
        await notifier.idle()
        assert receiver.bodies == []  # too fresh: maybe a live notifier between two tries
        await _age_deliveries(storage, 120)
        await notifier.tick()
        await notifier.idle()
        await _age_deliveries(storage, 120)
        await notifier.tick()  # sent: nothing left to take up
        await notifier.idle()
        bodies = await receiver.wait_for(1)
    assert len(bodies) == 1
    assert json.loads(bodies[0])["event_id"] == event_id
    [delivery] = await list_deliveries(storage, contact.id)
    assert (delivery.status, delivery.attempts) == ("sent", 1)


async def test_an_escalation_claimed_before_a_crash_is_still_sent(storage: Storage) -> None:
    with receiving() as receiver:
        boss, secret = await add_contact(
            storage, NewContact("fish", "boss", "webhook", receiver.url)
        )
        receiver.secret = secret
        await add_contact(
            storage,
            NewContact("fish", "duty", "sms", "+8613800000000", escalate_to=boss.id,
                       escalate_after_s=600, min_severity="critical"),
        )  # fmt: skip
        await _raise_alarm(storage, None)
        async with storage.connection("test") as conn:
            await conn.execute("UPDATE alarms SET recorded_at = now() - interval '11 minutes'")
        [(notice, contact_id, _)] = await claim_escalations(storage)  # then the process died
        assert (notice.kind, contact_id) == ("escalate", boss.id)
        await _age_deliveries(storage, 600)
        notifier = Notifier(storage, {"webhook": WebhookSender()})
        await notifier.tick()
        await notifier.idle()
        bodies = await receiver.wait_for(1)
    assert [json.loads(b)["kind"] for b in bodies] == ["escalate"]
    assert [d.status for d in await list_deliveries(storage, boss.id)] == ["sent"]


async def test_escalation_follows_the_contacts_least_severity(storage: Storage) -> None:
    boss, _ = await add_contact(storage, NewContact("fish", "boss", "sms", "+8613800000001"))
    await add_contact(
        storage,
        NewContact("fish", "duty", "sms", "+8613800000000", escalate_to=boss.id,
                   escalate_after_s=600, min_severity="critical"),
    )  # fmt: skip
    async with storage.connection("test") as conn:
        await conn.execute('UPDATE alarm_rules SET body = body || \'{"severity": "warning"}\'')
    await _raise_alarm(storage, None)
    async with storage.connection("test") as conn:
        await conn.execute("UPDATE alarms SET recorded_at = now() - interval '11 minutes'")
    # a warning the duty contact never hears of is not escalated on its behalf
    assert await claim_escalations(storage) == []


async def test_dead_letters_are_sent_again_once_the_receiver_is_back(storage: Storage) -> None:
    contact, secret = await add_contact(
        storage, NewContact("fish", "ops", "webhook", f"http://127.0.0.1:{free_port()}/hook")
    )
    down = Notifier(storage, {"webhook": WebhookSender(timeout_s=2)}, attempts=2,
                    first_retry_s=0.01)  # fmt: skip
    await _raise_alarm(storage, down)
    [dead] = await list_deliveries(storage, contact.id)
    assert (dead.status, dead.attempts) == ("dead", 2)
    with receiving() as receiver:
        receiver.secret = secret
        async with storage.connection("test") as conn:
            await conn.execute(
                "UPDATE alarm_contacts SET address = %s WHERE id = %s", (receiver.url, contact.id)
            )
        assert await redeliver_dead(storage, PLATFORM, contact.id) == 1
        assert await redeliver_dead(storage, PLATFORM, contact.id) == 0  # queued, not dead
        up = Notifier(storage, {"webhook": WebhookSender()})
        await up.tick()
        await up.idle()
        bodies = await receiver.wait_for(1)
    assert json.loads(bodies[0])["event_id"] == dead.event_id
    [sent] = await list_deliveries(storage, contact.id)
    assert (sent.id, sent.status, sent.attempts) == (dead.id, "sent", 1)


async def test_while_a_receiver_is_down_its_next_events_get_one_attempt(storage: Storage) -> None:
    contact, _ = await add_contact(
        storage, NewContact("fish", "ops", "webhook", f"http://127.0.0.1:{free_port()}/hook")
    )
    notifier = Notifier(storage, {"webhook": WebhookSender(timeout_s=2)}, attempts=3,
                        first_retry_s=0.01)  # fmt: skip
    clock = Clock()
    engine = await evaluator(storage, clock, notifier)
    await Station(storage, engine, clock).send("dissolved_oxygen", [2.0, 4.0, 2.0], T0)
    await notifier.idle()
    await engine.stop()
    deliveries = await list_deliveries(storage, contact.id)
    assert [(d.status, d.attempts) for d in deliveries] == [("dead", 3), ("dead", 1), ("dead", 1)]
