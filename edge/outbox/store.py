"""The durable outbox: readings wait here until the cloud settles their batch.

Layer: SQLite storage. No crypto, no network I/O, nothing about MQTT: batches
are kept encoded but unsigned (``wire.encode_batch``), and the uplink signs
them with the current secret when it sends them, so a secret rotated while
batches wait does not strand them. The publisher hands back settled sequence
numbers and :meth:`OutboxStore.ack_many` deletes those batches.

Flow::

    enqueue(readings)        -> pending            (one transaction per poll cycle)
    seal(...)                -> batches(seq)       (one transaction: take N pending, encode)
    batches_after(seq, n)    -> [(seq, body)]      (the next n owed, by the primary key)
    ack_many(seqs)           -> gone               (committed by the cloud)
    strike(seq)              -> batches.strikes+1  (passed over by the cloud again)
    quarantine(seq, reason)  -> quarantine(seq)    (refused by the cloud; kept for people)
    resend(seqs)             -> batches(seq)       (a person decided to try again)

The next ``seq`` lives in a ``meta`` row, so it is monotonic across restarts and
never reused, even after every batch has been acknowledged and deleted. A new
outbox starts at its creation time in UTC milliseconds, not at 1: a gateway
whose SD card was replaced (outbox lost, same gateway id) then still sends
sequence numbers above every one it sent before, and the cloud does not drop
its batches as replays. One batch per millisecond, for ever, would be needed to
catch up with the clock. So a new outbox is refused while the clock reads a
time before 2000 (a gateway without RTC, before NTP).

Every ``sqlite3.Error`` (a full SD card, a locked file, a failed PRAGMA) leaves
as :class:`~edge.errors.OutboxError`.

Threading: an :class:`OutboxStore` is confined to the thread that opened it
(sqlite3's default ``check_same_thread``). The agent opens it and calls it from
one dedicated worker thread, so a slow SD-card fsync never blocks the event loop.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from edge.errors import OutboxError
from edge.outbox.models import OutboxCounts, Quarantined, Sealed
from edge.outbox.schema import body_of, connect
from edge.outbox.thinning import thin_oldest
from wire import MAX_BATCH_BYTES, Batch, Quality, Reading, encode_batch
from wire.signing import envelope_size

_NEXT_SEQ = "SELECT value FROM meta WHERE key = 'next_seq'"
_TAKE = "SELECT id, device, quantity, time_ms, value, quality, mean_of FROM pending ORDER BY id "
_OLDEST = _TAKE + "LIMIT ?"
_NEWEST = _TAKE + "DESC LIMIT ?"


class OutboxStore:
    """SQLite outbox in ``data_dir/outbox.sqlite3`` (WAL mode)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        """Wrap an open connection; use :meth:`open` instead."""
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, data_dir: Path, first_seq: int | None = None) -> OutboxStore:
        """Open (creating if needed) the outbox in ``data_dir``.

        Args:
            data_dir: directory of the outbox file.
            first_seq: seq of a new outbox's first batch (default: now, in UTC ms).
                Ignored when the outbox exists.

        Raises:
            OutboxError: the directory or the database cannot be used, or a new
                outbox would take its first seq from a clock that is not set.
        """
        db, path = connect(data_dir, first_seq)
        return cls(db, path)

    def close(self) -> None:
        """Close the database (checkpointing the WAL)."""
        with suppress(sqlite3.Error):
            self._db.close()

    def enqueue(self, readings: Iterable[Reading]) -> int:
        """Store ``readings`` in one transaction; return how many were stored."""
        rows = [
            (r.device, r.quantity, r.time_ms, r.value, r.quality.value, r.mean_of) for r in readings
        ]
        if not rows:
            return 0
        with self._transaction():
            self._db.executemany(
                "INSERT INTO pending(device, quantity, time_ms, value, quality, mean_of) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def seal(
        self,
        gateway_id: str,
        max_readings: int,
        max_payload_bytes: int = MAX_BATCH_BYTES,
        *,
        newest: bool = False,
    ) -> Sealed | None:
        """Turn up to ``max_readings`` pending readings into one stored batch.

        One transaction: take the oldest pending readings, assign the next seq,
        store the encoded batch and delete those readings. Fewer readings are
        taken when the signed envelope would exceed ``max_payload_bytes``
        (brokers cap message sizes). Returns ``None`` when nothing is pending.
        ``newest``: take the newest readings instead, so live data overtakes a backlog.
        """
        self._pragma("synchronous=FULL")
        try:
            with self._transaction():
                return self._seal(gateway_id, max_readings, max_payload_bytes, newest)
        finally:
            self._pragma("synchronous=NORMAL")

    def batches_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """The next ``limit`` unacked batches above ``seq``, as ``(seq, body)``.

        A range scan of the primary key: catching up on a deep outbox never
        sorts or loads the whole of it.
        """
        rows = self._query(
            "SELECT seq, payload FROM batches WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        )
        return [(int(s), body_of(bytes(p))) for s, p in rows]

    def unacked(self, limit: int | None = None) -> list[tuple[int, bytes]]:
        """Unacked batches as ``(seq, body)`` in seq order (all of them: tests and tools)."""
        return self.batches_after(-1, -1 if limit is None else limit)

    def payloads(self, seqs: Sequence[int]) -> list[tuple[int, bytes]]:
        """The bodies of the batches ``seqs`` that are still unacked, in seq order."""
        sql = "SELECT seq, payload FROM batches WHERE seq = ?"
        rows = [row for seq in sorted(seqs) for row in self._query(sql, (seq,))]
        return [(int(seq), body_of(bytes(payload))) for seq, payload in rows]

    def ack(self, seq: int) -> bool:
        """Delete the batch ``seq``; ``False`` if it was already gone."""
        return self.ack_many([seq]) == 1

    def ack_many(self, seqs: Sequence[int]) -> int:
        """Delete several settled batches in one transaction; return how many existed."""
        if not seqs:
            return 0
        with self._transaction():
            cursor = self._db.executemany("DELETE FROM batches WHERE seq = ?", [(s,) for s in seqs])
        return cursor.rowcount

    def strike(self, seq: int) -> int:
        """Count one more strike against unacked batch ``seq``; return its strikes (0: gone).

        Strikes are the publisher's (see :mod:`edge.publisher`); kept here, they
        survive a restart. Written only when a strike is earned, never per send.
        """
        with self._transaction():
            self._db.execute("UPDATE batches SET strikes = strikes + 1 WHERE seq = ?", (seq,))
            row = self._db.execute("SELECT strikes FROM batches WHERE seq = ?", (seq,)).fetchone()
        return 0 if row is None else int(row[0])

    def quarantine(self, seq: int, reason: str) -> bool:
        """Move batch ``seq`` aside with the cloud's ``reason``; ``False`` if it is gone."""
        now_ms = int(time.time() * 1000)
        with self._transaction():
            cursor = self._db.execute(
                "INSERT OR REPLACE INTO quarantine "
                "SELECT seq, payload, readings, created_ms, ?, ? FROM batches WHERE seq = ?",
                (reason, now_ms, seq),
            )
            self._db.execute("DELETE FROM batches WHERE seq = ?", (seq,))
        return cursor.rowcount == 1

    def quarantined(self, limit: int = 1000) -> list[Quarantined]:
        """Quarantined batches, oldest seq first (payloads are batch bodies)."""
        rows = self._query(
            "SELECT seq, payload, readings, created_ms, reason, quarantined_ms "
            "FROM quarantine ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [
            Quarantined(int(s), body_of(bytes(p)), int(n), int(c), str(r), int(q))
            for s, p, n, c, r, q in rows
        ]

    def resend(self, seqs: Sequence[int] | None = None) -> int:
        """Put quarantined batches (all, or ``seqs``) back in line; return how many."""
        with self._transaction():
            if seqs is None:
                return self._requeue(None)
            return sum(self._requeue(seq) for seq in seqs)

    def counts(self) -> OutboxCounts:
        """Pending readings, unacked batches and readings, quarantine, oldest reading."""
        pending, batches, readings, quarantined, next_seq, thinned = self._query(
            "SELECT (SELECT count(*) FROM pending), (SELECT count(*) FROM batches), "
            "(SELECT coalesce(sum(readings), 0) FROM batches), "
            "(SELECT count(*) FROM quarantine), "
            "(SELECT value FROM meta WHERE key = 'next_seq'), "
            "(SELECT coalesce(sum(value), 0) FROM meta WHERE key = 'thinned_readings')"
        )[0]
        return OutboxCounts(
            int(pending),
            int(batches),
            int(next_seq),
            int(readings),
            int(quarantined),
            self._oldest_ms(),
            int(thinned),
        )

    def thin(self, fraction: float, window_min: int) -> int:
        """Thin the oldest ``fraction`` of pending readings (see :mod:`edge.outbox.thinning`)."""
        with self._transaction():
            return thin_oldest(self._db, fraction, window_min)

    def size_bytes(self) -> int:
        """Bytes of the outbox's pages in use (free pages, reused by SQLite, not counted)."""
        (pages,) = self._query("PRAGMA page_count")[0]
        (free,) = self._query("PRAGMA freelist_count")[0]
        (size,) = self._query("PRAGMA page_size")[0]
        return (int(pages) - int(free)) * int(size)

    def oldest_ms(self) -> int | None:
        """When the oldest reading not yet settled was sealed or taken (UTC ms), if any."""
        return self._oldest_ms()

    def _oldest_ms(self) -> int | None:
        """When the oldest unsent reading was sealed or taken (UTC ms), if any."""
        (created,) = self._query("SELECT min(created_ms) FROM batches")[0]
        if created is not None:
            return int(created)
        rows = self._query("SELECT time_ms FROM pending ORDER BY id LIMIT 1")
        return int(rows[0][0]) if rows else None

    def _requeue(self, seq: int | None) -> int:
        """Move one quarantined batch (or all, for None) back into ``batches``."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO batches(seq, payload, readings, created_ms) "
            "SELECT seq, payload, readings, created_ms FROM quarantine "
            "WHERE ? IS NULL OR seq = ?",
            (seq, seq),
        )
        self._db.execute("DELETE FROM quarantine WHERE ? IS NULL OR seq = ?", (seq, seq))
        return cursor.rowcount

    def _seal(
        self, gateway_id: str, max_readings: int, max_payload_bytes: int, newest: bool
    ) -> Sealed | None:
        rows = self._db.execute(_NEWEST if newest else _OLDEST, (max_readings,)).fetchall()
        rows.sort()
        if not rows:
            return None
        (seq,) = self._db.execute(_NEXT_SEQ).fetchone()
        readings = tuple(Reading(d, q, t, v, Quality(f), n) for _, d, q, t, v, f, n in rows)
        body = encode_batch(Batch(gateway_id, seq, readings))
        while (size := envelope_size(gateway_id, body)) > max_payload_bytes and len(readings) > 1:
            # shrink in proportion; floor(n * max / size) < n, so this always progresses
            keep = max(1, len(readings) * max_payload_bytes // size)
            readings = readings[:keep]
            body = encode_batch(Batch(gateway_id, seq, readings))
        taken = [row[0] for row in rows[: len(readings)]]
        self._db.execute(
            "INSERT INTO batches(seq, payload, readings, created_ms) VALUES (?, ?, ?, ?)",
            (seq, body, len(readings), int(time.time() * 1000)),
        )
        self._db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq + 1,))
        # the rows taken are consecutive ids (the lowest, or the highest, in order)
        self._db.execute("DELETE FROM pending WHERE id BETWEEN ? AND ?", (taken[0], taken[-1]))
        return Sealed(seq=seq, payload=body, readings=len(readings))

    def _pragma(self, setting: str) -> None:
        try:
            self._db.execute(f"PRAGMA {setting}")
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: PRAGMA {setting}: {exc}") from exc

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: {exc}") from exc
        try:
            yield
        except sqlite3.Error as exc:
            self._rollback()
            raise OutboxError(f"outbox {self.path}: {exc}") from exc
        except BaseException:
            self._rollback()
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            # a failed COMMIT (SQLITE_BUSY, or FULL/IOERR on a full SD card) can leave
            # the transaction open, and then every later BEGIN fails until a restart
            self._rollback()
            raise OutboxError(f"outbox {self.path}: commit failed: {exc}") from exc

    def _rollback(self) -> None:
        # SQLite may already have rolled back by itself (SQLITE_FULL, SQLITE_IOERR,
        # SQLITE_BUSY, SQLITE_NOMEM); a ROLLBACK then raises "no transaction is
        # active", which would replace the OutboxError with a raw sqlite3 error that
        # neither the pollers nor the publisher catch.
        if self._db.in_transaction:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
