"""The alarm evaluator's feed: what ingest committed, read back in transaction order.

Layer: storage. Ingest writes nothing for the evaluator but two columns of the
batch log (``first_ms``/``last_ms``); every row of ``ingested_batches`` and of
``gateway_presence_log`` carries the id of the transaction that wrote it, and a
trigger wakes listeners of ``shanshui_alarm_feed`` (migration 0080 explains the
order without gaps). Here:

* :func:`choose` then :func:`read_chosen` (together :func:`read_step`), in an
  evaluation transaction: from a :class:`FeedPosition`, the next transactions'
  batches (their readings read back from ``readings``, flagged ``N`` only) and
  presence changes, with the position after them and the rules' version; a reading
  names its series by id (:func:`series_names` for the rest, once per series);
* :func:`read_position` / :func:`save_position`: the cursor row, whose
  generation counts the steps committed;
* :class:`FeedListener`: a connection of its own that holds the single active
  evaluator's session lock and listens for the feed's and the rules' notifications.

No evaluation here: that is :mod:`cloud.alarms`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import psycopg
from psycopg import AsyncConnection

from cloud.errors import StorageUnavailableError
from cloud.storage.errors import translate
from cloud.storage.store import Storage

FEED_CHANNEL = "shanshui_alarm_feed"
RULES_CHANNEL = "shanshui_alarm_rules"
# pg_try_advisory_lock key of the single active evaluator (any fixed bigint)
LEADER_LOCK = 0x5348_414E_0A1B


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """Where the evaluator stands: every transaction below ``frontier`` but ``pending``
    has been evaluated; ``generation`` counts the steps committed so far."""

    frontier: int = 0
    pending: tuple[int, ...] = ()
    generation: int = 0


class FeedReading(NamedTuple):
    """A reading of a committed batch (quality ``N``); a tuple: made by the ten thousand.

    ``series_id``: its series (:func:`series_names` tells its gateway, device, quantity).
    """

    series_id: int
    time_ms: int
    value: float


class SeriesName(NamedTuple):
    """Which gateway's device and quantity a series is."""

    gateway_id: str
    device: str
    quantity: str


@dataclass(frozen=True, slots=True)
class FeedPresence:
    """A gateway's presence changed."""

    gateway_id: str
    online: bool
    time_ms: int


@dataclass(frozen=True, slots=True)
class FeedStep:
    """What :func:`read_step` found, and the position after it.

    ``batches``: batch-log rows read (of the pending transactions: one per transaction).
    ``more``: the step stopped at its limit; call again at once.
    """

    position: FeedPosition
    transactions: int = 0
    batches: int = 0
    readings: list[FeedReading] = field(default_factory=list)
    presences: list[FeedPresence] = field(default_factory=list)
    more: bool = False


# One snapshot for all of it: its xmax and running transactions, the oldest committed
# transactions at or above the frontier in either log (a limit of rows each), which
# pending transactions have committed rows since, and the rules' version: a rule change
# committed before a batch of this step is seen here, so it applies to that batch.
_CHOOSE = """
WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s)
SELECT pg_snapshot_xmax(s)::text,
       ARRAY(SELECT x::text FROM pg_snapshot_xip(s) AS x),
       ARRAY(SELECT txid::text FROM ingested_batches WHERE txid >= %(frontier)s::xid8
             ORDER BY txid LIMIT %(limit)s),
       ARRAY(SELECT txid::text FROM gateway_presence_log WHERE txid >= %(frontier)s::xid8
             ORDER BY txid LIMIT %(limit)s),
       ARRAY(SELECT txid::text FROM ingested_batches WHERE txid = ANY(%(pending)s::xid8[])),
       ARRAY(SELECT txid::text FROM gateway_presence_log WHERE txid = ANY(%(pending)s::xid8[])),
       (SELECT rules_version FROM alarm_evaluation)
FROM snap
"""

# The readings of the chosen batches: the batch's gateway's series in its time span.
# Readings of another batch in that span come along too (and twice when both batches
# are in the step); the evaluator skips what it has evaluated already (readings are
# unique per series and time) and sorts by time itself. Each level is a LATERAL
# subquery behind OFFSET 0, so the plan cannot be anything but index lookups: the
# gateway's devices, their series, each series' readings in the span through the
# (series_id, time) key. A plain join let the planner scan every series and, with
# stale statistics, every reading: its cost grew with the history kept.
# Only gateways of the tenants and series of the quantities some rule watches (NULL:
# any), so readings no rule can judge are not read.
_READINGS = """
WITH b AS (
    SELECT ib.gateway_id,
           'epoch'::timestamptz + ib.first_ms * interval '1 millisecond' AS lo,
           'epoch'::timestamptz + ib.last_ms * interval '1 millisecond' AS hi
    FROM ingested_batches ib
    WHERE ib.txid = ANY(%(chosen)s::xid8[]) AND ib.first_ms IS NOT NULL
      AND (%(tenants)s::text[] IS NULL OR EXISTS (
          SELECT 1 FROM gateways g JOIN tenants t ON t.id = g.tenant_id
          WHERE g.id = ib.gateway_id AND t.name = ANY(%(tenants)s::text[])))
)
SELECT s.id, r.ms, r.value
FROM b
CROSS JOIN LATERAL (SELECT id FROM devices WHERE gateway_id = b.gateway_id OFFSET 0) d
CROSS JOIN LATERAL (
    SELECT id FROM series
    WHERE device_id = d.id
      AND (%(quantities)s::text[] IS NULL OR quantity = ANY(%(quantities)s::text[]))
    OFFSET 0
) s
CROSS JOIN LATERAL (
    SELECT (extract(epoch FROM time) * 1000)::bigint AS ms, value FROM readings
    WHERE series_id = s.id AND time >= b.lo AND time <= b.hi AND quality = 'N'
    OFFSET 0
) r
"""

_SERIES_NAMES = """
SELECT s.id, d.gateway_id, d.name, s.quantity
FROM series s JOIN devices d ON d.id = s.device_id
WHERE s.id = ANY(%(ids)s::bigint[])
"""

_PRESENCES = """
SELECT gateway_id, online, (extract(epoch FROM at) * 1000)::bigint FROM gateway_presence_log
WHERE txid = ANY(%(chosen)s::xid8[])
ORDER BY id
"""

_POSITION = "SELECT frontier::text, pending::text[], generation FROM alarm_evaluation"

_RULES_VERSION = "SELECT rules_version FROM alarm_evaluation"

_SAVE_POSITION = """
UPDATE alarm_evaluation SET frontier = %(frontier)s::xid8, pending = %(pending)s::xid8[],
    generation = generation + 1, evaluator = %(evaluator)s, updated_at = now()
RETURNING generation
"""

_TOUCH = """
UPDATE alarm_evaluation SET generation = generation + 1, evaluator = %(evaluator)s,
    updated_at = now()
RETURNING generation
"""

_PRUNE_PRESENCE = """
DELETE FROM gateway_presence_log
WHERE at < now() - make_interval(days => %(days)s)
  AND txid < (SELECT frontier FROM alarm_evaluation)
"""


def _texts(values: tuple[int, ...] | list[int]) -> list[str]:
    return [str(v) for v in values]


async def read_position(conn: AsyncConnection[Any]) -> FeedPosition:
    """The stored position."""
    cursor = await conn.execute(_POSITION)
    row = await cursor.fetchone()
    if row is None:
        return FeedPosition()
    return FeedPosition(int(row[0]), tuple(int(x) for x in row[1]), int(row[2]))


async def rules_version(conn: AsyncConnection[Any]) -> int:
    """How many times the rules changed (a trigger on ``alarm_rules`` counts)."""
    row = await (await conn.execute(_RULES_VERSION)).fetchone()
    return int(row[0]) if row else 0


async def save_position(
    conn: AsyncConnection[Any], position: FeedPosition | None, evaluator: str
) -> int:
    """Store ``position`` (None: keep the stored one) and count a step; the new generation."""
    if position is None:
        cursor = await conn.execute(_TOUCH, {"evaluator": evaluator})
    else:
        params = {
            "frontier": str(position.frontier),
            "pending": _texts(position.pending),
            "evaluator": evaluator,
        }
        cursor = await conn.execute(_SAVE_POSITION, params)
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True, slots=True)
class Chosen:
    """The transactions a step takes (see :func:`choose`), before their rows are read."""

    position: FeedPosition
    batch_txids: tuple[int, ...]
    presence_txids: tuple[int, ...]
    more: bool
    rules_version: int


async def choose(conn: AsyncConnection[Any], position: FeedPosition, *, limit: int) -> Chosen:
    """The next transactions after ``position`` (``limit`` rows of each log at most).

    Args:
        conn: a connection in the evaluation transaction, before it writes anything.
        position: where the last step ended.
        limit: rows of each log to look at, at most (a step takes whole transactions).
    """
    params = {
        "frontier": str(position.frontier),
        "pending": _texts(position.pending),
        "limit": limit,
    }
    cursor = await conn.execute(_CHOOSE, params)
    row = await cursor.fetchone()
    assert row is not None  # noqa: S101 - a SELECT without FROM filter returns a row
    xmax, running = int(row[0]), {int(x) for x in row[1]}
    ahead_batches, ahead_presences = [int(x) for x in row[2]], [int(x) for x in row[3]]
    # a log cut at its limit may hold more rows of its last transaction and later ones:
    # take transactions up to the lowest cut (whole: their rows are read by txid below)
    cuts = [found[-1] for found in (ahead_batches, ahead_presences) if len(found) >= limit]
    bound = min(cuts) if cuts else xmax - 1
    batch_rows = [x for x in ahead_batches if x <= bound] + [int(x) for x in row[4]]
    presence_rows = [x for x in ahead_presences if x <= bound] + [int(x) for x in row[5]]
    frontier = max(position.frontier, bound + 1)
    pending = tuple(
        sorted(x for x in running if x in position.pending or position.frontier <= x < frontier)
    )
    return Chosen(
        FeedPosition(frontier, pending, position.generation),
        tuple(batch_rows),
        tuple(presence_rows),
        bool(cuts),
        int(row[6] or 0),
    )


async def read_chosen(
    conn: AsyncConnection[Any],
    chosen: Chosen,
    *,
    readings: bool,
    tenants: Iterable[str] | None = None,
    quantities: Iterable[str] | None = None,
) -> FeedStep:
    """The rows of the transactions :func:`choose` took.

    Args:
        readings: False skips reading the batches' readings (no rules to evaluate).
        tenants: read only readings of these tenants' gateways (None: any).
        quantities: read only readings of these quantities (None: any).
    """
    found, presences = [], []
    if readings and chosen.batch_txids:
        ids = {
            "chosen": _texts(sorted(set(chosen.batch_txids))),
            "tenants": None if tenants is None else sorted(tenants),
            "quantities": None if quantities is None else sorted(quantities),
        }
        # binary: three numbers a row, made by the ten thousand, without text parsing
        async with conn.cursor(binary=True) as cursor:
            await cursor.execute(_READINGS, ids)
            found = list(map(FeedReading._make, await cursor.fetchall()))
    if chosen.presence_txids:
        ids = {"chosen": _texts(sorted(set(chosen.presence_txids)))}
        presences = [
            FeedPresence(*r) for r in await (await conn.execute(_PRESENCES, ids)).fetchall()
        ]
    transactions = len(set(chosen.batch_txids) | set(chosen.presence_txids))
    return FeedStep(
        chosen.position, transactions, len(chosen.batch_txids), found, presences, chosen.more
    )


async def series_names(conn: AsyncConnection[Any], ids: Iterable[int]) -> dict[int, SeriesName]:
    """Gateway, device and quantity of each series among ``ids`` that exists."""
    cursor = await conn.execute(_SERIES_NAMES, {"ids": list(ids)})
    return {int(row[0]): SeriesName(*row[1:]) for row in await cursor.fetchall()}


async def read_step(
    conn: AsyncConnection[Any], position: FeedPosition, *, limit: int, readings: bool = True
) -> FeedStep:
    """:func:`choose` then :func:`read_chosen`."""
    chosen = await choose(conn, position, limit=limit)
    return await read_chosen(conn, chosen, readings=readings)


async def prune_presence_log(storage: Storage, days: int) -> int:
    """Delete presence changes older than ``days`` days that the evaluator has passed."""
    async with storage.connection("pruning the presence log") as conn:
        cursor = await conn.execute(_PRUNE_PRESENCE, {"days": days})
        return max(cursor.rowcount, 0)


class FeedListener:
    """The evaluator's own connection: leadership and wake-ups.

    Leadership is a session advisory lock (:data:`LEADER_LOCK`): the evaluator that
    holds it evaluates, the others wait; PostgreSQL releases it when the holder's
    connection ends (the process died), and a waiting one takes over.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._conn: AsyncConnection[Any] | None = None

    async def open(self) -> None:
        """Connect and listen to the feed's and the rules' channels.

        Raises:
            StorageUnavailableError: the database cannot be reached.
        """
        conn = await self._storage.dedicated_connection("listening for committed batches")
        try:
            await conn.execute(f"LISTEN {FEED_CHANNEL}")
            await conn.execute(f"LISTEN {RULES_CHANNEL}")
        except psycopg.Error as exc:
            await conn.close()
            raise translate(exc, "listening for committed batches") from exc
        self._conn = conn

    async def close(self) -> None:
        """Close the connection (leadership ends with it). Safe to call twice."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    @property
    def alive(self) -> bool:
        """False once the connection is closed or broken (leadership is lost with it)."""
        return self._conn is not None and not self._conn.closed and not self._conn.broken

    async def try_lead(self) -> bool:
        """Take the evaluator's lock if nobody holds it; True if this connection holds it.

        Raises:
            StorageUnavailableError: the connection failed.
        """
        conn = self._live("taking the evaluator's lock")
        try:
            cursor = await conn.execute("SELECT pg_try_advisory_lock(%(k)s)", {"k": LEADER_LOCK})
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            raise translate(exc, "taking the evaluator's lock") from exc
        return bool(row and row[0])

    async def wait(self, timeout_s: float) -> set[str]:
        """The channels notified (``feed``, ``rules``), waiting up to ``timeout_s`` for one.

        Raises:
            StorageUnavailableError: the connection failed.
        """
        conn = self._live("waiting for committed batches")
        channels: set[str] = set()
        try:
            async for notify in conn.notifies(timeout=max(timeout_s, 0.0), stop_after=1):
                channels.add(notify.channel)
            if channels:  # take what else is queued, without waiting
                async for notify in conn.notifies(timeout=0.0):
                    channels.add(notify.channel)
        except psycopg.Error as exc:
            raise translate(exc, "waiting for committed batches") from exc
        except asyncio.CancelledError:
            with contextlib.suppress(psycopg.Error):
                await conn.close()
            raise
        return {"feed" if c == FEED_CHANNEL else "rules" for c in channels}

    def _live(self, doing: str) -> AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            raise StorageUnavailableError(f"{doing}: the listening connection is closed")
        return self._conn
