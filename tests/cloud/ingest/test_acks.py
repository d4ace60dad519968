"""AckSender: the pipeline's verdicts become one signed ack per gateway (pure, no servers)."""

from __future__ import annotations

import asyncio

from cloud.errors import StorageUnavailableError
from cloud.ingest.acks import FLUSH_AT, AckSender
from cloud.ingest.decode import Rejected
from cloud.ingest.pipeline import DEAD_LETTERED, DUPLICATE, PRESENCE, STORED, Settled
from wire import Batch, sign_batch
from wire.ack import Ack, Refusal, verify_ack
from wire.signing import signature

ROOT = "shanshui/v1"
SECRETS = {"gw-1": b"a" * 32, "gw-2": b"b" * 32}


def sender() -> tuple[AckSender, list[tuple[str, bytes]]]:
    published: list[tuple[str, bytes]] = []

    async def secret_of(gateway_id: str) -> bytes | None:
        if gateway_id == "gw-down":
            raise StorageUnavailableError("database unavailable")
        return SECRETS.get(gateway_id)

    return AckSender(lambda t, p: published.append((t, p)), secret_of, ROOT), published


def telemetry(gateway_id: str) -> str:
    return f"{ROOT}/{gateway_id}/up/telemetry"


def test_many_settlements_go_out_as_one_signed_ack_per_gateway() -> None:
    acks, published = sender()
    for seq in (5, 3, 4, 4):
        acks.add(telemetry("gw-1"), b"", Settled(STORED, "gw-1", seq))
    acks.add(telemetry("gw-1"), b"", Settled(DUPLICATE, "gw-1", 9))
    acks.add(telemetry("gw-2"), b"", Settled(STORED, "gw-2", 1))
    acks.add(f"{ROOT}/gw-1/up/status", b"", Settled(PRESENCE, "gw-1"))
    assert asyncio.run(acks.flush()) == 2
    topics = dict(published)
    assert set(topics) == {f"{ROOT}/gw-1/down/ack", f"{ROOT}/gw-2/down/ack"}
    gw1 = verify_ack(topics[f"{ROOT}/gw-1/down/ack"], SECRETS["gw-1"], "gw-1")
    assert gw1 == Ack("gw-1", (3, 4, 5, 9))
    assert verify_ack(topics[f"{ROOT}/gw-2/down/ack"], SECRETS["gw-2"], "gw-2").committed == (1,)
    assert asyncio.run(acks.flush()) == 0  # nothing left over


def test_a_dead_letter_is_refused_with_its_reason_and_the_tag_it_came_with() -> None:
    acks, published = sender()
    old_secret = b"o" * 32
    envelope = sign_batch(Batch("gw-1", 77, ()), old_secret)
    rejected = Rejected("bad_signature", "does not verify", "gw-1")
    acks.add(telemetry("gw-1"), envelope, Settled(DEAD_LETTERED, "gw-1", rejected=rejected))
    asyncio.run(acks.flush())
    ((topic, payload),) = published
    assert topic == f"{ROOT}/gw-1/down/ack"
    tag = signature(b'{"v":1,"gw":"gw-1","seq":77,"r":[]}', old_secret)[:8]
    assert verify_ack(payload, SECRETS["gw-1"], "gw-1") == Ack(
        "gw-1", refused=(Refusal(77, "bad_signature", tag),)
    )


def test_no_ack_without_a_seq_a_secret_or_a_matching_topic() -> None:
    acks, published = sender()
    rejected = Rejected("malformed", "not json", "gw-1")
    dead = Settled(DEAD_LETTERED, "gw-1", rejected=rejected)
    acks.add(telemetry("gw-1"), b"not json", dead)
    other = sign_batch(Batch("gw-2", 1, ()), SECRETS["gw-2"])
    acks.add(telemetry("gw-1"), other, dead)  # envelope of another gateway than the topic's
    acks.add(telemetry("gw-x"), b"", Settled(STORED, "gw-x", 1))  # no secret: unknown
    acks.add(telemetry("gw-down"), b"", Settled(STORED, "gw-down", 1))  # database down
    assert asyncio.run(acks.flush()) == 0
    assert published == []


def test_acks_are_due_when_many_settlements_wait() -> None:
    acks, _ = sender()
    for seq in range(FLUSH_AT - 1):
        acks.add(telemetry("gw-1"), b"", Settled(STORED, "gw-1", seq))
    assert not acks.due
    acks.add(telemetry("gw-1"), b"", Settled(STORED, "gw-1", FLUSH_AT))
    assert acks.due


def test_an_ack_is_signed_with_the_secret_that_verified_its_batches() -> None:
    acks, published = sender()
    old_secret = b"o" * 32  # verified during a rotation's grace period
    acks.add(telemetry("gw-1"), b"", Settled(STORED, "gw-1", 4, secret=old_secret))
    asyncio.run(acks.flush())
    ((_, payload),) = published
    assert verify_ack(payload, old_secret, "gw-1") == Ack("gw-1", (4,))
