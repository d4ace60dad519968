"""Thinning: what a full outbox does instead of dropping readings.

Layer: SQL over the outbox's ``pending`` table, called by
:meth:`edge.outbox.store.OutboxStore.thin` inside its transaction; no I/O of
its own, no policy (the publisher decides when).

The policy, stated once: keep every reading as long as the outbox has room.
When it is full (readings, bytes, or disk), the oldest half of the pending
readings is thinned to one reading per series, quality and ``window_min``
minutes: the mean of the values, at the time of the window's first reading
(a time that was never sent, so it cannot collide with a stored reading), in
the place of the first reading (so the order of the backlog is kept). Nothing
is dropped silently: ``meta.thinned_readings`` counts the readings folded into
means, and the status reports it. Each mean is flagged in the data:
``pending.mean_of`` holds how many raw readings it averages (a mean thinned
again is weighted by its own count), and it travels in the batch
(:mod:`wire.batch`) to the database and the API.
"""

from __future__ import annotations

import sqlite3

_CREATE = """
CREATE TEMP TABLE IF NOT EXISTS thin_groups (
    id INTEGER PRIMARY KEY, device TEXT, quantity TEXT, quality TEXT,
    bucket INTEGER, time_ms INTEGER, value REAL, folded INTEGER, mean_of INTEGER
)
"""

_GROUP = """
INSERT INTO thin_groups
SELECT min(id), device, quantity, quality, time_ms / :window_ms, min(time_ms),
       sum(value * mean_of) / sum(mean_of), count(*), sum(mean_of)
FROM pending WHERE id <= :last_id
GROUP BY device, quantity, quality, time_ms / :window_ms
HAVING count(*) > 1
"""

_DELETE = """
DELETE FROM pending WHERE id <= :last_id AND EXISTS (
    SELECT 1 FROM thin_groups g
    WHERE g.device = pending.device AND g.quantity = pending.quantity
      AND g.quality = pending.quality AND g.bucket = pending.time_ms / :window_ms)
"""

_INSERT = """
INSERT INTO pending(id, device, quantity, time_ms, value, quality, mean_of)
SELECT id, device, quantity, time_ms, value, quality, min(mean_of, 2147483647) FROM thin_groups
"""


def thin_oldest(db: sqlite3.Connection, fraction: float, window_min: int) -> int:
    """Thin the oldest ``fraction`` of pending readings; return how many readings were folded.

    A reading folded into a mean counts once; a window's mean itself does not.
    Runs in the caller's transaction.
    """
    (total,) = db.execute("SELECT count(*) FROM pending").fetchone()
    take = int(total * fraction)
    if take < 2:
        return 0
    row = db.execute("SELECT id FROM pending ORDER BY id LIMIT 1 OFFSET ?", (take - 1,)).fetchone()
    params = {"last_id": row[0], "window_ms": window_min * 60_000}
    db.execute(_CREATE)
    db.execute("DELETE FROM thin_groups")
    db.execute(_GROUP, params)
    (folded,) = db.execute("SELECT coalesce(sum(folded - 1), 0) FROM thin_groups").fetchone()
    db.execute(_DELETE, params)
    db.execute(_INSERT)
    db.execute("DELETE FROM thin_groups")
    db.execute(
        "INSERT INTO meta(key, value) VALUES ('thinned_readings', ?) "
        "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
        (int(folded),),
    )
    return int(folded)
