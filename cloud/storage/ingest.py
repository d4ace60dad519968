"""``BatchIngest``: verified batches into ``ingested_batches``, devices, series, readings.

Layer: storage (SQL over the pool of :class:`cloud.storage.pool.PooledStorage`;
the statements are in :mod:`cloud.storage.ingest_sql`). It takes verified
:class:`wire.Batch` objects; it must not know about MQTT, signatures or the wire
envelope.

Ingest is idempotent twice over: ``ingested_batches`` (gateway, seq) makes a
replayed batch a no-op, and readings are inserted with ``ON CONFLICT (series_id,
time) DO NOTHING`` so overlapping batches never duplicate a reading.

Group commit: :meth:`BatchIngest.store_batches` writes several batches in one
transaction (one batch-log statement, one readings statement, one commit), and
gives each batch its own outcome. A batch refused on purpose (reused seq, unknown
quantity, unknown gateway) is left out and reported; the others are stored. The
caller acknowledges a batch only after this returns, that is after the commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import psycopg
from psycopg import AsyncConnection

from cloud.errors import (
    SeqReusedError,
    StorageError,
    StorageUnavailableError,
    UnknownGatewayError,
    UnknownQuantityError,
)
from cloud.storage import ingest_sql as q
from cloud.storage.models import StoreResult
from cloud.storage.pool import PooledStorage, scalar
from device_profiles import Quantity
from wire import Batch, encode_batch

# Series ids known to this worker: (gateway, device, quantity) -> series id. Bounded
# by clearing when full; a series deleted by an operator is noticed by the foreign key.
MAX_CACHED_SERIES = 200_000

SeriesKey = tuple[str, str, str]
_SERIES = attrgetter("device", "quantity")
_TIME = attrgetter("time_ms")
_VALUE = attrgetter("value")
_QUALITY = attrgetter("quality")
#: What :meth:`BatchIngest.store_batches` reports for a batch it refused on purpose.
Refusal = SeqReusedError | UnknownQuantityError | UnknownGatewayError


@dataclass(frozen=True, slots=True)
class BatchToStore:
    """One verified batch of a group, with where it came from.

    Attributes:
        batch: a batch whose signature has been verified.
        source: where it came from (e.g. the MQTT topic), kept for audit.
        digest: SHA-256 of the batch as the gateway sent it, which tells a replay
            (same digest) from a reused seq; None: of ``batch`` as encoded now.
    """

    batch: Batch
    source: str
    digest: bytes | None = None


class _UnknownGatewayInGroupError(Exception):
    """The batch log refused a gateway of the group: store the batches one by one."""


class _OverlapError(Exception):
    """The group repeats stored readings: write it again, skipping those."""


# After a group that repeated stored readings, this many groups are written in the
# form that skips them from the start (a gateway's backlog often overlaps throughout).
SKIPPING_GROUPS_AFTER_OVERLAP = 50


@dataclass(slots=True, eq=False)
class _Head:
    index: int
    batch: Batch
    source: str
    digest: bytes
    units: dict[str, str]


class BatchIngest(PooledStorage):
    """Store verified batches exactly once.

    Subclasses set ``_quantities``, the vocabulary that gives each quantity its unit.
    """

    _quantities: dict[str, Quantity]
    _rollup_tables: bool | None = None  # learnt from the database on first use
    _series_cache: dict[SeriesKey, int]
    _skipping_groups = 0  # groups still to write in the form that skips stored readings

    async def store_batch(
        self, batch: Batch, source: str, *, digest: bytes | None = None
    ) -> StoreResult:
        """Store a verified batch exactly once, in one transaction.

        Args:
            batch: a batch whose signature has been verified.
            source: where it came from (e.g. the MQTT topic), kept for audit.
            digest: SHA-256 of the batch as the gateway sent it, which tells a replay
                (same digest) from a reused seq; default: of ``batch`` as encoded now.

        Returns:
            How many readings were written, and whether the batch was a replay.

        Raises:
            UnknownQuantityError: a reading names a quantity outside the vocabulary;
                nothing is stored.
            UnknownGatewayError: the gateway is not registered.
            SeqReusedError: this (gateway, seq) was stored with other content.
            StorageUnavailableError: the database failed transiently; retry.
        """
        (result,) = await self.store_batches([BatchToStore(batch, source, digest)])
        if isinstance(result, StorageError):
            raise result
        return result

    async def store_batches(self, items: Sequence[BatchToStore]) -> list[StoreResult | Refusal]:
        """Store several verified batches in one transaction; one outcome per batch.

        Each batch is stored exactly once, as by :meth:`store_batch`; a batch refused
        on purpose gets its error in its place of the list (nothing of it is stored)
        and does not stop the others.

        Returns:
            For each item, in order: a :class:`StoreResult`, or the
            :class:`UnknownQuantityError`, :class:`SeqReusedError` or
            :class:`UnknownGatewayError` that refused it.

        Raises:
            StorageUnavailableError: the database failed transiently; nothing of the
                group was committed; retry the group.
        """
        results: list[StoreResult | Refusal | None] = [None] * len(items)
        heads: list[_Head] = []
        for index, item in enumerate(items):
            try:
                units = self._units(item.batch)
            except UnknownQuantityError as exc:
                results[index] = exc
                continue
            digest = item.digest or hashlib.sha256(encode_batch(item.batch)).digest()
            heads.append(_Head(index, item.batch, item.source, digest, units))
        if heads:
            try:
                ids = await self._write_group_retrying_overlaps(heads, results)
            except _UnknownGatewayInGroupError:
                if len(heads) == 1:
                    results[heads[0].index] = UnknownGatewayError(heads[0].batch.gateway_id)
                else:  # which one? each alone says
                    for head in heads:
                        alone = BatchToStore(head.batch, head.source, head.digest)
                        (results[head.index],) = await self.store_batches([alone])
            else:
                self._remember(ids)  # only once committed: a rolled-back series has no id
        return [r if r is not None else StoreResult(0, False) for r in results]

    async def _write_group_retrying_overlaps(
        self, heads: list[_Head], results: list[StoreResult | Refusal | None]
    ) -> dict[SeriesKey, int]:
        skipping = self._skipping_groups > 0
        if skipping:
            self._skipping_groups -= 1
        try:
            async with self._connection("storing batches") as conn:
                return await self._write_group(conn, heads, results, skipping=skipping)
        except _OverlapError:  # rolled back: write it all again, skipping stored readings
            self._skipping_groups = SKIPPING_GROUPS_AFTER_OVERLAP
            for head in heads:
                results[head.index] = None
            async with self._connection("storing batches") as conn:
                return await self._write_group(conn, heads, results, skipping=True)

    async def _write_group(
        self,
        conn: AsyncConnection[Any],
        heads: list[_Head],
        results: list[StoreResult | Refusal | None],
        *,
        skipping: bool,
    ) -> dict[SeriesKey, int]:
        """The group's statements in ``conn``'s transaction; fills ``results``.

        Raises:
            _OverlapError: not ``skipping`` and the group repeats stored readings.
        """
        first: dict[tuple[str, int], _Head] = {}
        for head in heads:
            first.setdefault((head.batch.gateway_id, head.batch.seq), head)
        log_rows = sorted(first.values(), key=lambda h: (h.batch.gateway_id, h.batch.seq))
        try:
            cursor = await conn.execute(
                q.INSERT_BATCHES,
                {
                    "gws": [h.batch.gateway_id for h in log_rows],
                    "seqs": [h.batch.seq for h in log_rows],
                    "counts": [len(h.batch.readings) for h in log_rows],
                    "sources": [h.source for h in log_rows],
                    "digests": [h.digest for h in log_rows],
                    # the span the alarm evaluator reads back (migration 0080_alarm_feed)
                    "firsts": [min(map(_TIME, h.batch.readings), default=None) for h in log_rows],
                    "lasts": [max(map(_TIME, h.batch.readings), default=None) for h in log_rows],
                },
            )
        except psycopg.errors.ForeignKeyViolation:
            raise _UnknownGatewayInGroupError from None
        inserted = {(gw, int(seq)) for gw, seq in await cursor.fetchall()}
        new: list[_Head] = []
        seen: list[_Head] = []  # in the log already, or a second copy within the group
        for head in heads:
            key = (head.batch.gateway_id, head.batch.seq)
            (new if key in inserted and first[key] is head else seen).append(head)
        if seen:
            await self._settle_seen(conn, seen, results)
        for head in new:
            results[head.index] = StoreResult(stored=0, duplicate=False)
        writing = [h for h in new if h.batch.readings]
        if not writing:
            return {}
        if self._rollup_tables is None:
            self._rollup_tables = bool(await scalar(conn, q.ROLLUPS_ARE_TABLES, {}))
        ids = await self._group_series_ids(conn, writing)
        stored = await self._insert_readings(conn, writing, ids, skipping=skipping)
        for head, count in zip(writing, stored, strict=True):
            results[head.index] = StoreResult(stored=count, duplicate=False)
        return ids

    async def _settle_seen(
        self,
        conn: AsyncConnection[Any],
        seen: list[_Head],
        results: list[StoreResult | Refusal | None],
    ) -> None:
        """Batches whose (gateway, seq) is in the log already: replays or reused seqs."""
        cursor = await conn.execute(
            q.BATCH_DIGESTS,
            {"gws": [h.batch.gateway_id for h in seen], "seqs": [h.batch.seq for h in seen]},
        )
        digests = {(gw, int(seq)): bytes(d) for gw, seq, d in await cursor.fetchall()}
        for head in seen:
            stored = digests.get((head.batch.gateway_id, head.batch.seq))
            if stored is not None and stored != head.digest:
                results[head.index] = SeqReusedError(head.batch.gateway_id, head.batch.seq)
            else:  # the same batch again (or its log row was pruned just now)
                results[head.index] = StoreResult(stored=0, duplicate=True)

    async def _insert_readings(
        self,
        conn: AsyncConnection[Any],
        writing: list[_Head],
        ids: dict[SeriesKey, int],
        *,
        skipping: bool,
    ) -> list[int]:
        """Insert the readings of ``writing``; return how many each batch wrote."""
        series: list[int] = []
        times: list[int] = []
        values: list[float] = []
        flags: list[str] = []
        by_gateway: dict[str, dict[tuple[str, str], int]] = {}
        for (gw, device, quantity), series_id in ids.items():
            by_gateway.setdefault(gw, {})[(device, quantity)] = series_id
        for head in writing:  # map() over attrgetter: the loops run in C
            readings = head.batch.readings
            series.extend(
                map(by_gateway[head.batch.gateway_id].__getitem__, map(_SERIES, readings))
            )
            times.extend(map(_TIME, readings))
            values.extend(map(_VALUE, readings))
            flags.extend(map(_QUALITY, readings))  # StrEnum members: str
        params = {
            "series": q.int_array(series),
            "times": q.int_array(times),
            "values": q.float_array(values),
            "qualities": q.flag_array(flags),
        }
        if skipping:
            rollups, plain = q.INSERT_READINGS_SKIPPING_AND_ROLLUPS, q.INSERT_READINGS_SKIPPING
        else:
            rollups, plain = q.INSERT_READINGS_AND_ROLLUPS, q.INSERT_READINGS
        try:
            cursor = await conn.execute(rollups if self._rollup_tables else plain, params)
        except psycopg.errors.UniqueViolation:
            raise _OverlapError from None
        except psycopg.errors.ForeignKeyViolation as exc:
            self._series_cache.clear()  # a series was deleted since we cached its id
            raise StorageUnavailableError(f"storing a batch: {exc}; retrying") from None
        row = await cursor.fetchone() if self._rollup_tables else None
        total = int(row[0]) if row is not None else max(cursor.rowcount, 0)
        marks = [  # means of thinned readings (rare): marked beside them, same transaction
            (by_gateway[h.batch.gateway_id][(r.device, r.quantity)], r.time_ms, r.mean_of)
            for h in writing
            for r in h.batch.readings
            if r.mean_of != 1
        ]
        if marks:
            series_, times_, means = zip(*marks, strict=True)
            await conn.execute(
                q.INSERT_MEANS,
                {"series": list(series_), "times": list(times_), "means": list(means)},
            )
        sizes = [len(h.batch.readings) for h in writing]
        if total == sum(sizes):
            return sizes
        if len(writing) == 1:
            return [total]
        # some readings were stored before: ask which batch wrote what
        parts = [i for i, size in enumerate(sizes) for _ in range(size)]
        cursor = await conn.execute(
            q.INSERTED_PER_BATCH,
            {
                "series": q.int_array(series),
                "times": q.int_array(times),
                "parts": q.int_array(parts),
            },
        )
        per_part = {int(part): int(count) for part, count in await cursor.fetchall()}
        return [per_part.get(i, 0) for i in range(len(writing))]

    async def _group_series_ids(
        self, conn: AsyncConnection[Any], writing: list[_Head]
    ) -> dict[SeriesKey, int]:
        """Ids of the group's series, from the cache or created and looked up in ``conn``."""
        cache = self._series_cache
        ids: dict[SeriesKey, int] = {}
        missing: dict[str, set[tuple[str, str]]] = {}
        units: dict[str, str] = {}
        for head in writing:
            gw = head.batch.gateway_id
            units.update(head.units)
            for device, quantity in set(map(_SERIES, head.batch.readings)):
                key = (gw, device, quantity)
                known = cache.get(key)
                if known is None:
                    missing.setdefault(gw, set()).add((device, quantity))
                else:
                    ids[key] = known
        for gw in sorted(missing):
            ids.update(await self._create_series(conn, gw, sorted(missing[gw]), units))
        return ids

    async def _create_series(
        self,
        conn: AsyncConnection[Any],
        gateway_id: str,
        missing: list[tuple[str, str]],
        units: dict[str, str],
    ) -> dict[SeriesKey, int]:
        devices = [d for d, _ in missing]
        quantities = [qty for _, qty in missing]
        async with conn.pipeline():
            await conn.execute(q.UPSERT_DEVICES, {"gw": gateway_id, "names": sorted(set(devices))})
            await conn.execute(
                q.UPSERT_SERIES,
                {
                    "gw": gateway_id,
                    "devices": devices,
                    "quantities": quantities,
                    "units": [units[qty] for qty in quantities],
                },
            )
            cursor = await conn.execute(
                q.SERIES_IDS, {"gw": gateway_id, "devices": devices, "quantities": quantities}
            )
        return {
            (gateway_id, device, quantity): int(series_id)
            for device, quantity, series_id in await cursor.fetchall()
        }

    def _remember(self, ids: dict[SeriesKey, int]) -> None:
        if len(self._series_cache) + len(ids) > MAX_CACHED_SERIES:
            self._series_cache.clear()
        self._series_cache.update(ids)

    def _units(self, batch: Batch) -> dict[str, str]:
        units: dict[str, str] = {}
        for reading in batch.readings:
            if reading.quantity not in units:
                known = self._quantities.get(reading.quantity)
                if known is None:
                    raise UnknownQuantityError(reading.quantity)
                units[reading.quantity] = known.unit
        return units
