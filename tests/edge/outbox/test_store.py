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
from wire import Quality, Reading, open_envelope, verify_envelope

SECRET = bytes(range(32))
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


def test_seal_takes_the_oldest_readings_into_a_signed_batch(store: OutboxStore) -> None:
    store.enqueue(readings(5))
    sealed = store.seal(GW, SECRET, max_readings=3)
    assert sealed is not None
    assert (sealed.seq, sealed.readings) == (1, 3)
    batch = verify_envelope(open_envelope(sealed.payload), SECRET)
    assert (batch.gateway_id, batch.seq) == (GW, 1)
    assert list(batch.readings) == readings(3)
    counts = store.counts()
    assert (counts.pending_readings, counts.unacked_batches, counts.next_seq) == (2, 1, 2)


def test_quality_and_values_survive_the_round_trip(store: OutboxStore) -> None:
    over = Reading("th1", "air_temperature", T0, 85.5, Quality.OVER_RANGE)
    store.enqueue([over])
    sealed = store.seal(GW, SECRET, 10)
    assert sealed is not None
    assert verify_envelope(open_envelope(sealed.payload), SECRET).readings == (over,)


def test_nothing_pending_seals_nothing(store: OutboxStore) -> None:
    assert store.seal(GW, SECRET, 10) is None
    assert store.counts().next_seq == 1


def test_unacked_in_seq_order_and_ack_deletes(store: OutboxStore) -> None:
    store.enqueue(readings(6))
    seqs = [store.seal(GW, SECRET, 2) for _ in range(3)]
    assert [s.seq for s in seqs if s] == [1, 2, 3]
    assert [seq for seq, _ in store.unacked()] == [1, 2, 3]
    assert store.unacked(limit=2)[1][0] == 2
    assert store.ack(2) is True
    assert store.ack(2) is False  # idempotent: a duplicate PUBACK changes nothing
    assert [seq for seq, _ in store.unacked()] == [1, 3]
    assert store.unacked_seqs() == [1, 3]
    assert store.ack_many([1, 3, 99]) == 2
    assert store.unacked() == []
    assert store.unacked_seqs() == []


def test_unacked_batches_keep_their_payload(store: OutboxStore) -> None:
    store.enqueue(readings(2))
    sealed = store.seal(GW, SECRET, 10)
    assert sealed is not None
    assert store.unacked() == [(sealed.seq, sealed.payload)]


def test_seq_survives_reopen_and_is_never_reused(tmp_path: Path) -> None:
    first = OutboxStore.open(tmp_path, first_seq=1)
    first.enqueue(readings(2))
    assert first.seal(GW, SECRET, 1) is not None
    assert first.seal(GW, SECRET, 1) is not None
    first.ack_many([1, 2])  # the batches table is empty now
    first.close()

    second = OutboxStore.open(tmp_path, first_seq=1)
    try:
        assert second.unacked() == []
        second.enqueue(readings(1, start=10))
        sealed = second.seal(GW, SECRET, 10)
        assert sealed is not None
        assert sealed.seq == 3
    finally:
        second.close()


def test_nothing_is_lost_without_acks_across_reopen(tmp_path: Path) -> None:
    first = OutboxStore.open(tmp_path, first_seq=1)
    first.enqueue(readings(3))
    first.enqueue(readings(2, start=3))
    sealed = first.seal(GW, SECRET, 4)
    first.close()
    assert sealed is not None

    second = OutboxStore.open(tmp_path, first_seq=1)
    try:
        assert second.unacked() == [(sealed.seq, sealed.payload)]
        rest = second.seal(GW, SECRET, 10)
        assert rest is not None
        assert verify_envelope(open_envelope(rest.payload), SECRET).readings == tuple(
            readings(1, start=4)
        )
    finally:
        second.close()


def test_uses_wal_journal(store: OutboxStore, tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()


def test_a_failed_seal_rolls_back(store: OutboxStore) -> None:
    store.enqueue(readings(2))
    with pytest.raises(ValueError, match="secret must be at least 16 bytes"):
        store.seal(GW, b"short", 10)
    counts = store.counts()
    assert (counts.pending_readings, counts.unacked_batches, counts.next_seq) == (2, 0, 1)


def test_unusable_directory_is_an_outbox_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutboxError, match="cannot open outbox"):
        OutboxStore.open(blocker / "var")


def test_batches_are_cut_to_the_payload_limit(store: OutboxStore) -> None:
    store.enqueue(readings(400))
    sizes = []
    while (sealed := store.seal(GW, SECRET, max_readings=500, max_payload_bytes=4096)) is not None:
        assert len(sealed.payload) <= 4096
        sizes.append(sealed.readings)
    assert sum(sizes) == 400
    assert len(sizes) > 1
    taken = [
        reading
        for _, payload in store.unacked()
        for reading in verify_envelope(open_envelope(payload), SECRET).readings
    ]
    assert taken == readings(400)  # in order, none lost, none twice


def test_payloads_of_chosen_batches(store: OutboxStore) -> None:
    store.enqueue(readings(3))
    sealed = [store.seal(GW, SECRET, 1) for _ in range(3)]
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
    sealed = store.seal(GW, SECRET, 10)
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
        sealed = store.seal(GW, SECRET, 10)
        assert sealed is not None
        batch = verify_envelope(open_envelope(sealed.payload), SECRET)
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
