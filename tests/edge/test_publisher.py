"""Publisher against a real outbox and the package's fake uplink, the test playing the cloud."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from edge.config import OutboxSection, PublishSection
from edge.outbox import OutboxRunner, OutboxStore
from edge.publisher import Publisher
from edge.uplink.fake import FakeUplink, SentBatch
from tests.edge.support import SECRET
from wire import Reading, decode_batch, open_envelope, verify_envelope

GW = "gw-pub-01"
T0 = 1_700_000_000_000
NEW_SECRET = bytes(range(200, 232))


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


def readings(count: int, start: int = 0) -> list[Reading]:
    return [
        Reading("th1", "air_temperature", T0 + 1000 * i, 20.0) for i in range(start, start + count)
    ]


class Changes:
    """An event for "something happened", so tests wait on conditions, never sleep."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __call__(self, *_args: object) -> None:
        self._event.set()

    async def until(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self._event.clear()
                await self._event.wait()


@dataclass
class Rig:
    publisher: Publisher
    uplink: FakeUplink
    outbox: OutboxRunner
    changes: Changes
    secret: list[bytes]

    def sent_seqs(self) -> list[int]:
        return [s.seq for s in self.uplink.sent]


@asynccontextmanager
async def rig(
    folder: Path,
    *,
    window: int = 20,
    auto_commit: bool = False,
    connected: bool = True,
    on_send: Callable[[SentBatch], None] | None = None,
    limits: OutboxSection | None = None,
    **publish: float,
) -> AsyncIterator[Rig]:
    changes = Changes()
    secret = [SECRET]
    outbox = OutboxRunner(folder)

    def sent(batch: SentBatch) -> None:
        changes()
        if on_send is not None:
            on_send(batch)

    uplink = FakeUplink(
        GW,
        lambda: secret[0],
        window=window,
        auto_commit=auto_commit,
        connected=connected,
        on_send=sent,
    )
    publisher = Publisher(
        outbox,
        uplink,
        gateway_id=GW,
        secret=lambda: secret[0],
        publish=PublishSection.model_validate({"max_delay_s": 0.05} | publish),
        on_change=changes,
        limits=limits,
    )
    await outbox.open()
    try:
        await publisher.load()
        await uplink.open(publisher.on_settled, publisher.on_state)
        task = asyncio.create_task(publisher.run())
        try:
            yield Rig(publisher, uplink, outbox, changes, secret)
        finally:
            publisher.request_stop(flush_timeout_s=0)
            await task
    finally:
        await outbox.close()


def deep_outbox(folder: Path, batches: int, per_batch: int = 1) -> list[int]:
    store = OutboxStore.open(folder, first_seq=1)
    try:
        store.enqueue(readings(batches * per_batch))
        while store.seal(GW, per_batch):
            pass
        return [seq for seq, _ in store.unacked()]
    finally:
        store.close()


def test_only_the_clouds_ack_deletes_a_batch(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path, max_batch_readings=1) as r:
            await r.publisher.store(readings(2))
            await r.changes.until(lambda: len(r.uplink.sent) == 2)
            first, second = r.sent_seqs()
            sent = verify_envelope(open_envelope(r.uplink.sent[0].envelope), SECRET)
            assert sent.seq == first  # signed when sent, with the current secret
            assert r.publisher.view.unacked_batches == 2  # sent is not settled
            r.uplink.commit([first])
            await r.changes.until(lambda: r.publisher.is_settled(first))
            assert [seq for seq, _ in await r.outbox.batches_after(-1, 10)] == [second]
            assert r.publisher.view.unacked_batches == 1

    run(scenario)


def test_a_batch_settled_twice_or_during_a_step_is_not_sent_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path, max_batch_readings=1) as r:
            await r.publisher.store(readings(2))
            await r.changes.until(lambda: len(r.uplink.sent) == 2)
            first, second = r.sent_seqs()
            r.uplink.commit([first])
            r.uplink.commit([first, second])
            await r.changes.until(lambda: r.publisher.view.unacked_batches == 0)
            assert r.sent_seqs() == [first, second]
            assert r.publisher.view.acked_batches == 2

    run(scenario)


def test_unsettled_batches_are_sent_again_after_the_timeout(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path, max_batch_readings=1, ack_timeout_s=0.1) as r:
            await r.publisher.store(readings(1))
            await r.changes.until(lambda: len(r.uplink.sent) >= 3)  # nobody acks: again, again
            assert len(set(r.sent_seqs())) == 1
            r.uplink.commit(r.sent_seqs()[:1])
            await r.changes.until(lambda: r.publisher.view.unacked_batches == 0)
            assert r.publisher.view.resent_batches >= 2

    run(scenario)


def test_every_reconnect_sends_all_unsettled_batches_oldest_first(tmp_path: Path) -> None:
    seqs = deep_outbox(tmp_path, 5)

    async def scenario() -> None:
        async with rig(tmp_path) as r:
            await r.changes.until(lambda: len(r.uplink.sent) == 5)
            r.uplink.commit(seqs[:2])
            r.uplink.set_connected(False)
            r.uplink.set_connected(True)
            await r.changes.until(lambda: len(r.uplink.sent) == 8)
            assert r.sent_seqs() == seqs + seqs[2:]

    run(scenario)


def test_a_deep_backlog_drains_in_order_with_bounded_unsettled_and_live_data_first(
    tmp_path: Path,
) -> None:
    backlog = deep_outbox(tmp_path, 300)
    peak = [0]

    async def scenario() -> None:
        live_seqs: list[int] = []

        def on_send(batch: SentBatch) -> None:
            peak[0] = max(peak[0], r.publisher.unsettled + 1)
            if len(r.uplink.sent) == 20 and not live_seqs:
                live_seqs.append(-1)  # store live readings once the drain is under way
                asyncio.get_running_loop().create_task(r.publisher.store(readings(1, 9999)))

        async with rig(
            tmp_path,
            auto_commit=True,
            window=4,
            max_unconfirmed_batches=8,
            max_batch_readings=1,  # the live reading is sealed at once
            max_sealed_batches=1000,  # a backlog sealed by an older agent, beyond the cap
            on_send=on_send,
        ) as r:
            await r.changes.until(
                lambda: len(set(r.sent_seqs())) == 301 and r.publisher.view.unacked_batches == 0
            )
            sent = r.sent_seqs()
            live = [s for s in sent if s not in set(backlog)]
            assert len(live) == 1
            assert [s for s in sent if s != live[0]] == backlog  # oldest first, once each
            assert sent.index(live[0]) < len(backlog) - 100  # not behind the whole backlog
        assert peak[0] <= 8

    run(scenario)


def test_a_refused_batch_is_quarantined_not_deleted(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(tmp_path, max_batch_readings=1) as r:
            await r.publisher.store(readings(1))
            await r.changes.until(lambda: len(r.uplink.sent) == 1)
            (seq,) = r.sent_seqs()
            r.uplink.refuse(seq, "unknown_quantity")
            await r.changes.until(lambda: r.publisher.view.quarantined_batches == 1)
            assert r.publisher.view.unacked_batches == 0
        async with rig(tmp_path) as again:
            assert again.publisher.view.quarantined_batches == 1
        kept = OutboxStore.open(tmp_path)
        try:
            (quarantined,) = kept.quarantined()
        finally:
            kept.close()
        assert (quarantined.seq, quarantined.reason) == (seq, "unknown_quantity")
        assert decode_batch(quarantined.payload).readings == tuple(readings(1))

    run(scenario)


def stored_strikes(folder: Path, seq: int) -> int | None:
    """The strikes the outbox file holds for ``seq`` (None: not in line), read beside the run."""
    db = sqlite3.connect(folder / "outbox.sqlite3")
    try:
        row = db.execute("SELECT strikes FROM batches WHERE seq = ?", (seq,)).fetchone()
    finally:
        db.close()
    return None if row is None else int(row[0])


async def pass_over(r: Rig, lost: int, reading: int) -> None:
    """One newer batch sent after ``lost``'s last send and committed; ``lost`` due again.

    At most one strike: ``lost`` is sent again after the ack (or given up).
    """
    sends = r.sent_seqs().count(lost)
    out = len(set(r.sent_seqs()))
    await r.publisher.store(readings(1, start=reading))
    await r.changes.until(lambda: len(set(r.sent_seqs())) == out + 1)
    r.uplink.commit([max(r.sent_seqs())])
    await r.changes.until(
        lambda: r.publisher.view.quarantined_batches == 1 or r.sent_seqs().count(lost) > sends + 1
    )


def test_a_batch_never_acked_while_newer_ones_are_is_quarantined(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(
            tmp_path, max_batch_readings=1, ack_timeout_s=0.05, quarantine_after_sends=3
        ) as r:
            await r.publisher.store(readings(1))
            await r.changes.until(lambda: len(r.uplink.sent) >= 4)
            (lost,) = set(r.sent_seqs())
            # sent again and again, but no newer batch is acked: the cloud may just be away
            assert r.publisher.view.quarantined_batches == 0
            # live data keeps flowing and is acked while `lost` is passed over, time after
            # time: each newer batch sent after its last send and committed is a strike
            newer = 0
            while r.publisher.view.quarantined_batches == 0:
                newer += 1
                assert newer <= 20, "never quarantined"
                await pass_over(r, lost, newer)
            assert newer >= 3  # one strike per newer batch at most
            await r.changes.until(lambda: r.publisher.view.unacked_batches == 0)
            assert r.sent_seqs().count(lost) >= 3
        kept = OutboxStore.open(tmp_path)
        try:
            (quarantined,) = kept.quarantined()
        finally:
            kept.close()
        assert (quarantined.seq, quarantined.reason) == (lost, "never_acknowledged")

    run(scenario)


def test_strikes_against_a_never_acked_batch_add_up_across_restarts(tmp_path: Path) -> None:
    """A gateway restarted between strikes still gives the batch up at the third."""
    options: dict[str, float] = {
        "max_batch_readings": 1,
        "ack_timeout_s": 0.05,
        "quarantine_after_sends": 3,
    }
    newer = 0

    async def strikes_then_restart() -> int:
        nonlocal newer
        async with rig(tmp_path, **options) as r:
            await r.publisher.store(readings(1))
            await r.changes.until(lambda: len(r.uplink.sent) >= 2)
            (lost,) = set(r.sent_seqs())
            while stored_strikes(tmp_path, lost) != 2:
                newer += 1
                assert newer <= 20, "no strikes"
                await pass_over(r, lost, newer)
            assert r.publisher.view.quarantined_batches == 0
        return lost

    async def after_the_restart(lost: int) -> None:
        nonlocal newer
        async with rig(tmp_path, **options) as r:
            await r.changes.until(lambda: lost in r.sent_seqs())  # still in line
            while r.publisher.view.quarantined_batches == 0:
                assert stored_strikes(tmp_path, lost) == 2  # no strike earned in this run yet
                newer += 1
                assert newer <= 40, "never quarantined"
                await pass_over(r, lost, newer)
            # the first strike of this run was the third: 0 + 1 would not have been enough
            assert stored_strikes(tmp_path, lost) is None

    lost = asyncio.run(asyncio.wait_for(strikes_then_restart(), timeout=30))
    assert stored_strikes(tmp_path, lost) == 2  # on disk while the gateway is down
    run(lambda: after_the_restart(lost))
    kept = OutboxStore.open(tmp_path)
    try:
        (quarantined,) = kept.quarantined()
    finally:
        kept.close()
    assert (quarantined.seq, quarantined.reason) == (lost, "never_acknowledged")


def test_bad_signature_after_a_rotation_is_re_signed_once_then_quarantined(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with rig(tmp_path, max_batch_readings=1) as r:
            await r.publisher.store(readings(1))
            await r.changes.until(lambda: len(r.uplink.sent) == 1)
            (seq,) = r.sent_seqs()
            r.secret[0] = NEW_SECRET  # the operator rotated; the gateway got the new secret
            r.uplink.refuse(seq, "bad_signature", secret=SECRET)  # the copy it refused
            await r.changes.until(lambda: len(r.uplink.sent) == 2)
            resent = r.uplink.sent[1]
            assert verify_envelope(open_envelope(resent.envelope), NEW_SECRET).seq == seq
            # refused again though signed with the current secret: nothing more to try
            r.uplink.refuse(seq, "bad_signature")
            await r.changes.until(lambda: r.publisher.view.quarantined_batches == 1)
            assert len(r.uplink.sent) == 2

    run(scenario)


def test_settling_seqs_unknown_to_the_outbox_changes_nothing(tmp_path: Path) -> None:
    seqs = deep_outbox(tmp_path, 2)

    async def scenario() -> None:
        async with rig(tmp_path) as r:
            await r.changes.until(lambda: len(r.uplink.sent) == 2)
            r.uplink.commit([10_000, 10_001])
            r.uplink.commit(seqs[:1])
            await r.changes.until(lambda: r.publisher.is_settled(seqs[0]))
            assert r.publisher.view.unacked_batches == 1

    run(scenario)


def test_a_full_outbox_thins_the_oldest_readings_to_means_and_counts_them(
    tmp_path: Path,
) -> None:
    """Disconnected for long: readings wait unsealed; past capacity the oldest become means."""
    minute_ms = 60_000
    t0 = 1_700_000_040_000  # on a minute: windows follow the clock's minutes

    def burst(start_min: int, minutes: int) -> list[Reading]:
        # one reading every 10 s, values 0..5 within each minute: a mean of 2.5 per minute
        return [
            Reading("th1", "air_temperature", t0 + m * minute_ms + k * 10_000, float(k))
            for m in range(start_min, start_min + minutes)
            for k in range(6)
        ]

    async def scenario() -> None:
        limits = OutboxSection(max_readings=1000, thin_window_min=1)
        async with rig(
            tmp_path, connected=False, limits=limits, max_sealed_batches=1, max_batch_readings=100
        ) as r:
            for start in range(0, 200, 20):  # 200 minutes: 1200 readings, 200 over capacity
                await r.publisher.store(burst(start, 20))
            view = r.publisher.view
            assert view.thinned_readings > 0
            assert view.pending_readings + view.unacked_batches * 100 <= 1000
        store = OutboxStore.open(tmp_path)
        try:
            counts = store.counts()
            waiting = [r for _, body in store.unacked() for r in decode_batch(body).readings]
            store.seal(GW, 2000)
            waiting += [r for _, body in store.unacked()[1:] for r in decode_batch(body).readings]
        finally:
            store.close()
        assert counts.thinned_readings == view.thinned_readings  # counted, and it persists
        times = [r.time_ms for r in waiting]
        assert times == sorted(times)  # the backlog keeps its order

        def minute(m: int) -> list[tuple[int, float]]:
            start = t0 + m * minute_ms
            return [(r.time_ms, r.value) for r in waiting if start <= r.time_ms < start + minute_ms]

        whole = [float(k) for k in range(6)]
        assert [v for _, v in minute(0)] == whole  # sealed before the outbox was full
        assert minute(30) == [(t0 + 30 * minute_ms, 2.5)]  # old: one mean, at its first time
        assert [v for _, v in minute(199)] == whole  # the newest are kept whole
        # folded readings + what is left = what came: nothing dropped silently
        assert len(waiting) + counts.thinned_readings == 1200
        # and each mean says so in the data: how many raw readings it stands for
        (mean,) = [r for r in waiting if r.time_ms == t0 + 30 * minute_ms]
        assert (mean.thinned, mean.mean_of) == (True, 6)
        assert not any(r.thinned for r in waiting if r.time_ms >= t0 + 199 * minute_ms)
        assert sum(r.mean_of for r in waiting) == 1200

    run(scenario)


def test_an_unsealed_backlog_drains_oldest_first_with_the_newest_in_between(
    tmp_path: Path,
) -> None:
    store = OutboxStore.open(tmp_path, first_seq=1)
    try:
        store.enqueue(readings(3000))
    finally:
        store.close()

    async def scenario() -> None:
        async with rig(tmp_path, auto_commit=True, max_batch_readings=100) as r:
            await r.changes.until(
                lambda: (
                    r.publisher.view.pending_readings == 0 and r.publisher.view.unacked_batches == 0
                )
            )
            firsts = [decode_batch(s.body).readings[0].time_ms for s in r.uplink.sent]
        assert firsts[0] == T0  # the oldest first
        assert firsts[1] == T0 + 1000 * 2900  # then the newest hundred
        sent = sorted(x.time_ms for s in r.uplink.sent for x in decode_batch(s.body).readings)
        assert sent == [T0 + 1000 * i for i in range(3000)]  # each once

    run(scenario)
