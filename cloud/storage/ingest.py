"""``BatchIngest``: verified batches into ``ingested_batches``, devices, series, readings.

Layer: storage (SQL over the pool of :class:`cloud.storage.pool.PooledStorage`).
It takes verified :class:`wire.Batch` objects; it must not know about MQTT,
signatures or the wire envelope.

Ingest is idempotent twice over: ``ingested_batches`` (gateway, seq) makes a
replayed batch a no-op, and readings are inserted with ``ON CONFLICT (series_id,
time) DO NOTHING`` so overlapping batches never duplicate a reading. Rows are
inserted in a stable order (sorted devices, series, times) so that concurrent
workers take row locks in the same order and do not deadlock each other.
"""

from __future__ import annotations

import hashlib

import psycopg

from cloud.errors import SeqReusedError, UnknownGatewayError, UnknownQuantityError
from cloud.storage.models import StoreResult
from cloud.storage.pool import PooledStorage, scalar
from device_profiles import Quantity
from wire import Batch, encode_batch

_INSERT_BATCH = """
INSERT INTO ingested_batches (gateway_id, seq, reading_count, source, digest)
VALUES (%(gw)s, %(seq)s, %(count)s, %(source)s, %(digest)s)
ON CONFLICT (gateway_id, seq) DO NOTHING
"""

_BATCH_DIGEST = """
SELECT digest FROM ingested_batches WHERE gateway_id = %(gw)s AND seq = %(seq)s
"""

_UPSERT_DEVICES = """
INSERT INTO devices (gateway_id, name)
SELECT %(gw)s, name FROM unnest(%(names)s::text[]) AS name ORDER BY name
ON CONFLICT (gateway_id, name) DO NOTHING
"""

_UPSERT_SERIES = """
INSERT INTO series (device_id, quantity, unit, site_id)
SELECT d.id, p.quantity, p.unit, g.site_id
FROM unnest(%(devices)s::text[], %(quantities)s::text[], %(units)s::text[])
     AS p (device, quantity, unit)
JOIN devices d ON d.gateway_id = %(gw)s AND d.name = p.device
JOIN gateways g ON g.id = d.gateway_id
ORDER BY d.id, p.quantity
ON CONFLICT (device_id, quantity) DO NOTHING
"""

_INSERT_READINGS = """
INSERT INTO readings (time, series_id, value, quality)
SELECT 'epoch'::timestamptz + r.time_ms * interval '1 millisecond', s.id, r.value, r.quality
FROM unnest(%(devices)s::text[], %(quantities)s::text[], %(times)s::bigint[],
            %(values)s::float8[], %(qualities)s::text[])
     AS r (device, quantity, time_ms, value, quality)
JOIN devices d ON d.gateway_id = %(gw)s AND d.name = r.device
JOIN series s ON s.device_id = d.id AND s.quantity = r.quantity
ORDER BY s.id, r.time_ms
ON CONFLICT (series_id, time) DO NOTHING
"""


class BatchIngest(PooledStorage):
    """Store verified batches exactly once.

    Subclasses set ``_quantities``, the vocabulary that gives each quantity its unit.
    """

    _quantities: dict[str, Quantity]

    async def store_batch(self, batch: Batch, source: str) -> StoreResult:
        """Store a verified batch exactly once, in one transaction.

        Args:
            batch: a batch whose signature has been verified.
            source: where it came from (e.g. the MQTT topic), kept for audit.

        Returns:
            How many readings were written, and whether the batch was a replay.

        Raises:
            UnknownQuantityError: a reading names a quantity outside the vocabulary;
                nothing is stored.
            UnknownGatewayError: the gateway is not registered.
            SeqReusedError: this (gateway, seq) was stored with other content.
            StorageUnavailableError: the database failed transiently; retry.
        """
        readings = sorted(batch.readings, key=lambda r: (r.device, r.quantity, r.time_ms))
        units = self._units(batch)
        pairs = sorted({(r.device, r.quantity) for r in readings})
        head = {
            "gw": batch.gateway_id,
            "seq": batch.seq,
            "count": len(readings),
            "source": source,
            "digest": hashlib.sha256(encode_batch(batch)).digest(),
        }
        async with self._connection("storing a batch") as conn:
            try:
                cursor = await conn.execute(_INSERT_BATCH, head)
            except psycopg.errors.ForeignKeyViolation:
                raise UnknownGatewayError(batch.gateway_id) from None
            if cursor.rowcount == 0:
                stored = await scalar(conn, _BATCH_DIGEST, head)
                if stored is not None and bytes(stored) != head["digest"]:
                    raise SeqReusedError(batch.gateway_id, batch.seq)
                return StoreResult(stored=0, duplicate=True)
            if not readings:
                return StoreResult(stored=0, duplicate=False)
            async with conn.pipeline():
                await conn.execute(
                    _UPSERT_DEVICES,
                    {"gw": batch.gateway_id, "names": sorted({d for d, _ in pairs})},
                )
                await conn.execute(
                    _UPSERT_SERIES,
                    {
                        "gw": batch.gateway_id,
                        "devices": [d for d, _ in pairs],
                        "quantities": [q for _, q in pairs],
                        "units": [units[q] for _, q in pairs],
                    },
                )
                cursor = await conn.execute(
                    _INSERT_READINGS,
                    {
                        "gw": batch.gateway_id,
                        "devices": [r.device for r in readings],
                        "quantities": [r.quantity for r in readings],
                        "times": [r.time_ms for r in readings],
                        "values": [float(r.value) for r in readings],
                        "qualities": [r.quality.value for r in readings],
                    },
                )
            return StoreResult(stored=max(cursor.rowcount, 0), duplicate=False)

    def _units(self, batch: Batch) -> dict[str, str]:
        units: dict[str, str] = {}
        for reading in batch.readings:
            if reading.quantity not in units:
                known = self._quantities.get(reading.quantity)
                if known is None:
                    raise UnknownQuantityError(reading.quantity)
                units[reading.quantity] = known.unit
        return units
