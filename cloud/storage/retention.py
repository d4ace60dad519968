"""``Retention``: old rows deleted in bounded chunks: readings, the batch log, dead letters.

Layer: storage (SQL over the pool of :class:`cloud.storage.pool.PooledStorage`).
Every delete here takes at most :data:`CHUNK_ROWS` rows per transaction, so a
first run over years of history, or a shortened retention, never holds one huge
transaction (locks, WAL, a long rollback) and ingest goes on between chunks.

Readings: on plain PostgreSQL they are deleted here (``shanshui cloud retention
run`` and the ingest workers' hourly housekeeping); on TimescaleDB the retention
policy set by ``shanshui cloud migrate`` drops whole chunks. The hourly and daily
rollups are kept on both, as TimescaleDB keeps its continuous aggregates: years
of rollups are small, and they are what bureaus query over long periods.

``reading_means`` (which readings are thinned means, migration 0065) goes with
its readings, on both: on plain PostgreSQL the rows before the same cut-off; on
TimescaleDB, where a chunk is dropped only once all of it is past the cut-off,
the rows before the oldest chunk left (and before the cut-off), so the mark of
a reading still stored is never lost.
"""

from __future__ import annotations

from datetime import datetime

from cloud.storage import ingest_sql
from cloud.storage.pool import PooledStorage, scalar

CHUNK_ROWS = 50_000

# ctid: the rows' physical addresses, taken and deleted in one statement (one
# snapshot); readings are never updated, so no row moves in between
_DELETE_CHUNK = """
DELETE FROM {table} WHERE ctid = ANY (ARRAY (
    SELECT ctid FROM {table} WHERE {column} < %(before)s LIMIT %(chunk)s
))
"""
# the oldest time a reading can still have on TimescaleDB: the start of its oldest chunk
_OLDEST_CHUNK_START = """
SELECT min(range_start) FROM timescaledb_information.chunks
WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings'
"""
_TABLES = {
    "readings": ("readings", "time"),
    "means": ("reading_means", "time"),
    "batch log": ("ingested_batches", "received_at"),
    "dead letters": ("dead_letters", "received_at"),
}


class Retention(PooledStorage):
    """Delete what the deployment no longer keeps."""

    async def prune_readings(self, before: datetime, chunk_rows: int = CHUNK_ROWS) -> int:
        """Delete readings taken before ``before`` on plain PostgreSQL; return how many.

        On TimescaleDB no reading is deleted (its retention policy drops old
        chunks). On both, the ``reading_means`` rows of readings gone are deleted
        (see the module docstring). The rollups of the deleted readings stay.
        """
        async with self._connection("checking the readings table") as conn:
            plain = bool(await scalar(conn, ingest_sql.ROLLUPS_ARE_TABLES, {}))
            oldest = None if plain else await scalar(conn, _OLDEST_CHUNK_START, {})
        readings = await self._delete_before("readings", before, chunk_rows) if plain else 0
        if oldest is not None:
            before = min(before, oldest)
        await self._delete_before("means", before, chunk_rows)
        return readings

    async def prune_ingested_batches(self, before: datetime, chunk_rows: int = CHUNK_ROWS) -> int:
        """Forget batches received before ``before``; return how many.

        The (gateway, seq) log is what recognises a replayed batch cheaply and a
        reused seq at all. After pruning, a replay older than ``before`` is stored
        again as a new batch, which writes no reading twice (readings are unique
        on series and time); a seq reused after that long is no longer detected.
        """
        return await self._delete_before("batch log", before, chunk_rows)

    async def prune_dead_letters(self, before: datetime, chunk_rows: int = CHUNK_ROWS) -> int:
        """Delete dead letters received before ``before``; return how many."""
        return await self._delete_before("dead letters", before, chunk_rows)

    async def _delete_before(self, what: str, before: datetime, chunk_rows: int) -> int:
        table, column = _TABLES[what]
        statement = _DELETE_CHUNK.format(table=table, column=column)
        deleted = 0
        while True:
            async with self._connection(f"pruning the {what}") as conn:
                cursor = await conn.execute(statement, {"before": before, "chunk": chunk_rows})
                count = max(cursor.rowcount, 0)
            deleted += count
            if count < chunk_rows:
                return deleted
