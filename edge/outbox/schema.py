"""The outbox file: its schema, the in-place migrations of older files, and opening it.

Layer: SQLite storage, under :class:`edge.outbox.store.OutboxStore`. An outbox
file written by an older version is brought up to date when opened (columns
added with defaults that mean what the old file meant), never rebuilt.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import suppress
from pathlib import Path

from edge.errors import OutboxError
from wire import WireError, open_envelope
from wire.batch import MIN_TIME_MS

FILE_NAME = "outbox.sqlite3"

# ``batches.payload`` holds the encoded batch body. Outboxes written before
# signing moved to send time hold signed envelopes there: see body_of().
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    device   TEXT    NOT NULL,
    quantity TEXT    NOT NULL,
    time_ms  INTEGER NOT NULL,
    value    REAL    NOT NULL,
    quality  TEXT    NOT NULL,
    mean_of  INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS batches (
    seq        INTEGER PRIMARY KEY,
    payload    BLOB    NOT NULL,
    readings   INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    strikes    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS quarantine (
    seq            INTEGER PRIMARY KEY,
    payload        BLOB    NOT NULL,
    readings       INTEGER NOT NULL,
    created_ms     INTEGER NOT NULL,
    reason         TEXT    NOT NULL,
    quarantined_ms INTEGER NOT NULL
);
"""


def _add_mean_of(db: sqlite3.Connection) -> None:
    """Outboxes written before means were marked lack ``pending.mean_of``: add it (1: raw)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(pending)")}
    if "mean_of" not in columns:
        db.execute("ALTER TABLE pending ADD COLUMN mean_of INTEGER NOT NULL DEFAULT 1")


def _add_strikes(db: sqlite3.Connection) -> None:
    """Outboxes written before strikes were kept lack ``batches.strikes``: add it (0)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(batches)")}
    if "strikes" not in columns:
        db.execute("ALTER TABLE batches ADD COLUMN strikes INTEGER NOT NULL DEFAULT 0")


def _first_seq_from_clock(path: Path) -> int:
    """The first seq of a new outbox: now in UTC ms, if the clock has been set.

    A gateway without RTC boots in 1970 and keeps that until NTP sets the clock.
    Two outboxes begun that way (a re-imaged SD card, a wiped data_dir) would
    both number from about 0, and the cloud would drop the second one's batches
    as replays of the first's; so a new outbox waits for a plausible clock.
    """
    now_ms = time.time_ns() // 1_000_000
    if now_ms < MIN_TIME_MS:
        shown = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now_ms / 1000))
        raise OutboxError(
            f"cannot create outbox {path}: the system clock reads {shown}; a new outbox "
            "numbers its batches from the current time, so set the clock (or wait for NTP)"
        )
    return now_ms


def body_of(payload: bytes) -> bytes:
    """The encoded batch in a stored payload (a signed envelope, in outboxes of old)."""
    if payload.startswith(b'{"v":1,"alg":'):
        with suppress(WireError):
            return open_envelope(payload).body
    return payload


_NEXT_SEQ = "SELECT value FROM meta WHERE key = 'next_seq'"


def connect(data_dir: Path, first_seq: int | None = None) -> tuple[sqlite3.Connection, Path]:
    """Open (creating and migrating if needed) the outbox file in ``data_dir``.

    Returns the connection (autocommit; transactions are the store's) and the path.

    Raises:
        OutboxError: the directory or the database cannot be used, or a new
            outbox would take its first seq from a clock that is not set.
    """
    path = data_dir / FILE_NAME
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    except (OSError, sqlite3.Error) as exc:
        raise OutboxError(f"cannot open outbox {path}: {exc}") from exc
    try:
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL by default: in WAL mode a commit is then safe against a crash of
        # the process, and only the last commits can be lost on power failure.
        # That is acceptable for enqueue (sensor readings nobody has acknowledged
        # yet) and for ack (a lost ack means a re-send, which seq dedupes).
        # seal() switches to FULL: a seq must be on disk before its payload
        # leaves, or a power cut could reuse the seq for other readings and the
        # cloud would drop them as duplicates. The FULL fsync also flushes every
        # earlier WAL frame, so the SD card sees one fsync per seal, not one
        # per poll cycle.
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        _add_mean_of(db)
        _add_strikes(db)
        first = first_seq
        if first is None and db.execute(_NEXT_SEQ).fetchone() is None:
            first = _first_seq_from_clock(path)
        if first is not None:
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('next_seq', ?)", (first,))
    except sqlite3.Error as exc:
        db.close()
        raise OutboxError(f"cannot initialise outbox {path}: {exc}") from exc
    except OutboxError:
        db.close()
        raise
    return db, path
