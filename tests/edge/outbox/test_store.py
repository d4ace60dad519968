"""The SQLite outbox: seal, ack, unacked, and seq that survives restarts (real SQLite)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from edge.errors import OutboxError
from edge.outbox import OutboxStore
from wire import Batch, Quality, Reading, decode_batch, encode_batch, sign_batch

GW = "gw-test-01"
T0 = 1_700_000_000_000


def readings(count: int, start: int = 0) -> list[Reading]:
    return [
        Reading("th1", "air_temperature", T0 + 1000 * i, 20.0 + i / 10)
        for i in range(start, start + count)
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OutboxStore]:
    opened = OutboxStore.open(tmp_path, first_seq=1)
    yield opened
    opened.close()


def test_seal_takes_the_oldest_readings_into_an_unsigned_batch(store: OutboxStore) -> None:
    store.enqueue(readings(5))
    sealed = store.seal(GW, max_readings=3)
    assert sealed is not None
    assert (sealed.seq, sealed.readings) == (1, 3)
    batch = decode_batch(sealed.payload)
    assert (batch.gateway_id, batch.seq) == (GW, 1)
    assert list(batch.readings) == readings(3)
    counts = store.counts()
    assert (counts.pending_readings, counts.unacked_batches, counts.next_seq) == (2, 1, 2)


def test_quality_and_values_survive_the_round_trip(store: OutboxStore) -> None:
    over = Reading("th1", "air_temperature", T0, 85.5, Quality.OVER_RANGE)
    store.enqueue([over])
    sealed = store.seal(GW, 10)
    assert sealed is not None
    assert decode_batch(sealed.payload).readings == (over,)


def test_nothing_pending_seals_nothing(store: OutboxStore) -> None:
    assert store.seal(GW, 10) is None
    assert store.counts().next_seq == 1


def test_unacked_in_seq_order_and_ack_deletes(store: OutboxStore) -> None:
    store.enqueue(readings(6))
    seqs = [store.seal(GW, 2) for _ in range(3)]
    assert [s.seq for s in seqs if s] == [1, 2, 3]
    assert [seq for seq, _ in store.unacked()] == [1, 2, 3]
    assert store.unacked(limit=2)[1][0] == 2
    assert store.ack(2) is True
    assert store.ack(2) is False  # idempotent: a duplicate PUBACK changes nothing
    assert [seq for seq, _ in store.unacked()] == [1, 3]
    assert [seq for seq, _ in store.batches_after(1, 10)] == [3]
    assert store.ack_many([1, 3, 99]) == 2
    assert store.unacked() == []


def test_unacked_batches_keep_their_payload(store: OutboxStore) -> None:
    store.enqueue(readings(2))
    sealed = store.seal(GW, 10)
    assert sealed is not None
    assert store.unacked() == [(sealed.seq, sealed.payload)]


def test_seq_survives_reopen_and_is_never_reused(tmp_path: Path) -> None:
    first = OutboxStore.open(tmp_path, first_seq=1)
    first.enqueue(readings(2))
    assert first.seal(GW, 1) is not None
    assert first.seal(GW, 1) is not None
    first.ack_many([1, 2])  # the batches table is empty now
    first.close()

    second = OutboxStore.open(tmp_path, first_seq=1)
    try:
        assert second.unacked() == []
        second.enqueue(readings(1, start=10))
        sealed = second.seal(GW, 10)
        assert sealed is not None
        assert sealed.seq == 3
    finally:
        second.close()


def test_nothing_is_lost_without_acks_across_reopen(tmp_path: Path) -> None:
    first = OutboxStore.open(tmp_path, first_seq=1)
    first.enqueue(readings(3))
    first.enqueue(readings(2, start=3))
    sealed = first.seal(GW, 4)
    first.close()
    assert sealed is not None

    second = OutboxStore.open(tmp_path, first_seq=1)
    try:
        assert second.unacked() == [(sealed.seq, sealed.payload)]
        rest = second.seal(GW, 10)
        assert rest is not None
        assert decode_batch(rest.payload).readings == tuple(readings(1, start=4))
    finally:
        second.close()


def test_uses_wal_journal(store: OutboxStore, tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()


def test_a_failed_seal_rolls_back(tmp_path: Path) -> None:
    store = failing_store(tmp_path, "UPDATE meta", rolled_back=False)
    try:
        store.enqueue(readings(2))
        with pytest.raises(OutboxError, match="disk is full"):
            store.seal(GW, 10)
        counts = store.counts()
        assert (counts.pending_readings, counts.unacked_batches, counts.next_seq) == (2, 0, 1)
    finally:
        store.close()


def test_unusable_directory_is_an_outbox_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutboxError, match="cannot open outbox"):
        OutboxStore.open(blocker / "var")


def test_batches_are_cut_to_the_payload_limit(store: OutboxStore) -> None:
    store.enqueue(readings(400))
    sizes = []
    while (sealed := store.seal(GW, max_readings=500, max_payload_bytes=4096)) is not None:
        assert len(sealed.payload) <= 4096
        sizes.append(sealed.readings)
    assert sum(sizes) == 400
    assert len(sizes) > 1
    taken = [
        reading for _, payload in store.unacked() for reading in decode_batch(payload).readings
    ]
    assert taken == readings(400)  # in order, none lost, none twice


def test_payloads_of_chosen_batches(store: OutboxStore) -> None:
    store.enqueue(readings(3))
    sealed = [store.seal(GW, 1) for _ in range(3)]
    store.ack(2)
    assert [seq for seq, _ in store.payloads([3, 2, 1])] == [1, 3]
    assert store.payloads([]) == []
    assert store.payloads([3]) == [(3, sealed[2].payload if sealed[2] else b"")]


def test_a_new_outbox_starts_at_its_creation_time_in_ms(tmp_path: Path) -> None:
    """A replaced SD card loses the outbox: the new one must start above the old seqs.

    Starting at the creation time in ms guarantees that unless the old outbox
    sealed more than one batch per millisecond of its life.
    """
    before_ms = time.time_ns() // 1_000_000
    store = OutboxStore.open(tmp_path)
    after_ms = time.time_ns() // 1_000_000
    store.enqueue(readings(1))
    sealed = store.seal(GW, 10)
    store.close()
    assert sealed is not None
    assert before_ms <= sealed.seq <= after_ms


class FailingDb:
    """A real sqlite3 connection that fails one statement once, as a full SD card does.

    ``rolled_back``: SQLite has already rolled the transaction back when it reports
    the error (it may, for SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY and SQLITE_NOMEM).
    """

    def __init__(self, db: sqlite3.Connection, statement: str, *, rolled_back: bool) -> None:
        self._db, self._statement, self._rolled_back = db, statement, rolled_back

    def _check(self, sql: str) -> None:
        if self._statement and sql.startswith(self._statement):
            self._statement = ""
            if self._rolled_back:
                self._db.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        self._check(sql)
        return self._db.execute(sql, params)

    def executemany(self, sql: str, params: Any) -> sqlite3.Cursor:
        self._check(sql)
        return self._db.executemany(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def failing_store(tmp_path: Path, statement: str, *, rolled_back: bool) -> OutboxStore:
    opened = OutboxStore.open(tmp_path, first_seq=1)
    db = cast(sqlite3.Connection, FailingDb(opened._db, statement, rolled_back=rolled_back))
    return OutboxStore(db, opened.path)


@pytest.mark.parametrize("rolled_back", [False, True])
def test_a_failed_commit_does_not_wedge_the_outbox(tmp_path: Path, rolled_back: bool) -> None:
    store = failing_store(tmp_path, "COMMIT", rolled_back=rolled_back)
    try:
        with pytest.raises(OutboxError, match="commit failed"):
            store.enqueue(readings(2))
        assert store.enqueue(readings(1, start=5)) == 1  # the next transaction can begin
        sealed = store.seal(GW, 10)
        assert sealed is not None
        batch = decode_batch(sealed.payload)
        assert list(batch.readings) == readings(1, start=5)  # the failed ones were not stored
    finally:
        store.close()


def test_an_error_that_already_rolled_back_is_still_an_outbox_error(tmp_path: Path) -> None:
    store = failing_store(tmp_path, "INSERT INTO pending", rolled_back=True)
    try:
        with pytest.raises(OutboxError, match="disk is full"):
            store.enqueue(readings(2))
        assert store.enqueue(readings(1)) == 1
        assert store.counts().pending_readings == 1
    finally:
        store.close()


def test_a_new_outbox_refuses_a_clock_that_is_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway without RTC boots in 1970: a new outbox would number from ~0 again.

    Two outboxes created that way (an SD card re-imaged, a wiped data_dir) reuse
    each other's seqs, and the cloud drops the second one's batches as replays.
    """
    monkeypatch.setattr(time, "time_ns", lambda: 12_000_000_000)  # 12 s after 1970
    with pytest.raises(OutboxError, match="clock"):
        OutboxStore.open(tmp_path / "new")
    monkeypatch.undo()
    later = OutboxStore.open(tmp_path / "new")  # once the clock is set, it starts at now
    try:
        assert later.counts().next_seq > 946_684_800_000
    finally:
        later.close()

    existing = OutboxStore.open(tmp_path / "old", first_seq=7)
    existing.close()
    monkeypatch.setattr(time, "time_ns", lambda: 12_000_000_000)
    reopened = OutboxStore.open(tmp_path / "old")  # an existing outbox keeps its seq
    try:
        assert reopened.counts().next_seq == 7
    finally:
        reopened.close()


def test_batches_are_stored_unsigned_and_old_signed_ones_are_read_as_bodies(
    store: OutboxStore,
) -> None:
    """Signing happens at send time; an outbox from before that holds envelopes."""
    store.enqueue(readings(1))
    sealed = store.seal(GW, 10)
    assert sealed is not None
    assert b'"sig"' not in sealed.payload
    old = sign_batch(Batch(GW, 99, tuple(readings(1))), bytes(range(32)))
    store._db.execute(
        "INSERT INTO batches(seq, payload, readings, created_ms) VALUES (99, ?, 1, 0)", (old,)
    )
    assert store.payloads([99]) == [(99, encode_batch(Batch(GW, 99, tuple(readings(1)))))]


def test_quarantine_keeps_a_refused_batch_aside_until_resent(store: OutboxStore) -> None:
    store.enqueue(readings(3))
    sealed = [store.seal(GW, 1) for _ in range(3)]
    assert all(sealed)
    assert store.quarantine(2, "unknown_quantity") is True
    assert store.quarantine(2, "unknown_quantity") is False  # already moved
    assert [seq for seq, _ in store.unacked()] == [1, 3]
    (kept,) = store.quarantined()
    assert (kept.seq, kept.reason, kept.readings) == (2, "unknown_quantity", 1)
    assert decode_batch(kept.payload).readings == tuple(readings(1, start=1))
    counts = store.counts()
    assert (counts.unacked_batches, counts.quarantined_batches) == (2, 1)
    assert store.resend() == 1
    assert [seq for seq, _ in store.unacked()] == [1, 2, 3]
    assert store.quarantined() == []
    assert store.quarantine(3, "seq_reused")
    assert store.resend([3, 4]) == 1


def test_batches_after_walks_the_outbox_by_seq(store: OutboxStore) -> None:
    store.enqueue(readings(5))
    while store.seal(GW, 1):
        pass
    assert [seq for seq, _ in store.batches_after(-1, 2)] == [1, 2]
    assert [seq for seq, _ in store.batches_after(2, 10)] == [3, 4, 5]
    assert store.batches_after(5, 10) == []


def test_a_failing_pragma_is_an_outbox_error(tmp_path: Path) -> None:
    store = failing_store(tmp_path, "PRAGMA synchronous=FULL", rolled_back=False)
    try:
        store.enqueue(readings(1))
        with pytest.raises(OutboxError, match="PRAGMA"):
            store.seal(GW, 10)
    finally:
        store.close()


def test_an_outbox_from_before_means_were_marked_is_upgraded(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    with db:
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "INSERT INTO meta VALUES ('next_seq', 7);"
            "CREATE TABLE pending (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL,"
            " quantity TEXT NOT NULL, time_ms INTEGER NOT NULL, value REAL NOT NULL,"
            " quality TEXT NOT NULL);"
            "INSERT INTO pending(device, quantity, time_ms, value, quality)"
            " VALUES ('th1', 'air_temperature', 1700000000000, 20.5, 'N');"
        )
    db.close()
    store = OutboxStore.open(tmp_path)
    try:
        store.enqueue([Reading("th1", "air_temperature", 1_700_000_001_000, 21.0, mean_of=3)])
        sealed = store.seal("gw-1", 10)
        assert sealed is not None
        ((_, body),) = store.unacked()
    finally:
        store.close()
    assert [r.mean_of for r in decode_batch(body).readings] == [1, 3]


def test_strikes_are_kept_across_a_reopen_and_gone_with_the_batch(tmp_path: Path) -> None:
    first = OutboxStore.open(tmp_path)
    try:
        first.enqueue(readings(2))
        one, two = first.seal(GW, 1), first.seal(GW, 1)
        assert one is not None
        assert two is not None
        assert [first.strike(one.seq), first.strike(one.seq)] == [1, 2]
    finally:
        first.close()
    again = OutboxStore.open(tmp_path)
    try:
        assert again.strike(one.seq) == 3  # counted on from the file, not from 0
        assert again.strike(two.seq) == 1
        again.quarantine(one.seq, "never_acknowledged")
        assert again.strike(one.seq) == 0  # not in line any more: nothing to count
        assert again.resend([one.seq]) == 1
        assert again.strike(one.seq) == 1  # put back by a person: a fresh start
    finally:
        again.close()


def test_an_outbox_from_before_strikes_were_kept_is_upgraded(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    with db:
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "INSERT INTO meta VALUES ('next_seq', 8);"
            "CREATE TABLE batches (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL,"
            " readings INTEGER NOT NULL, created_ms INTEGER NOT NULL);"
            "INSERT INTO batches VALUES (7, x'7b7d', 1, 1700000000000);"
        )
    db.close()
    store = OutboxStore.open(tmp_path)
    try:
        assert [seq for seq, _ in store.unacked()] == [7]  # the waiting batch is kept
        assert store.strike(7) == 1
        store.enqueue(readings(1))
        sealed = store.seal(GW, 10)
        assert sealed is not None
        assert sealed.seq == 8
        assert store.strike(8) == 1
    finally:
        store.close()
