"""``Storage``: every query the running cloud makes, over one async connection pool.

Layer: storage, the only layer with SQL (with ``admin.py`` and the migration
files). It must not know about HTTP, MQTT or the wire envelope: it takes
verified :class:`wire.Batch` objects and returns records from ``models.py``.
All SQL is parameterised; psycopg errors are translated at this boundary.

Ingest is idempotent twice over: ``ingested_batches`` (gateway, seq) makes a
replayed batch a no-op, and readings are inserted with ``ON CONFLICT (series_id,
time) DO NOTHING`` so overlapping batches never duplicate a reading. Rows are
inserted in a stable order (sorted devices, series, times) so that concurrent
workers take row locks in the same order and do not deadlock each other.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from cloud.errors import (
    CloudError,
    GatewayExistsError,
    InvalidIdentifierError,
    SeqReusedError,
    SeriesNotFoundError,
    StorageError,
    StorageUnavailableError,
    UnknownGatewayError,
    UnknownQuantityError,
)
from cloud.storage.errors import translate
from cloud.storage.models import (
    DeadLetter,
    DeviceSummary,
    GatewaySummary,
    LatestReading,
    SeriesReadings,
    StoredReading,
    StoreResult,
)
from device_profiles import Quantity, load_quantities
from wire import Batch, MalformedError, check_gateway_id, encode_batch

SECRET_BYTES = 32
MAX_DEAD_LETTER_PAYLOAD = 1024 * 1024
MAX_DETAIL_CHARS = 2000
MAX_CLAIMED_ID_CHARS = 256
MAX_SITE_NAME_CHARS = 200

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

# Get-or-create in one statement that always returns the id. Not "DO NOTHING, then
# SELECT": when a concurrent registration inserts the same tenant or site, our
# INSERT waits for it to commit and then skips, but the SELECT still runs on the
# statement's snapshot, taken before that commit, and finds no row. DO UPDATE (a
# no-op assignment) instead locks and returns the committed row (READ COMMITTED).
_UPSERT_TENANT = """
INSERT INTO tenants (name) VALUES (%(name)s)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
RETURNING id
"""

_UPSERT_SITE = """
INSERT INTO sites (tenant_id, name) VALUES (%(tenant_id)s, %(name)s)
ON CONFLICT (tenant_id, name) DO UPDATE SET name = EXCLUDED.name
RETURNING id
"""

_INSERT_GATEWAY = """
INSERT INTO gateways (id, tenant_id, site_id, secret)
VALUES (%(id)s, %(tenant_id)s, %(site_id)s, %(secret)s)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

_SELECT_HMAC_KEY = "SELECT secret FROM gateways WHERE id = %(id)s AND NOT disabled"

_SET_DISABLED = "UPDATE gateways SET disabled = %(disabled)s WHERE id = %(id)s RETURNING id"

_SET_SECRET = "UPDATE gateways SET secret = %(secret)s WHERE id = %(id)s RETURNING id"  # noqa: S105

_SET_PRESENCE = """
UPDATE gateways SET presence = %(state)s, presence_at = now()
WHERE id = %(id)s AND NOT disabled
RETURNING id
"""

_SET_DEVICE_HEALTH = """
INSERT INTO devices (gateway_id, name, health, health_error, health_at)
SELECT %(gw)s, h.name, h.health, h.error, now()
FROM unnest(%(names)s::text[], %(healths)s::text[], %(errors)s::text[]) AS h(name, health, error)
ORDER BY h.name
ON CONFLICT (gateway_id, name) DO UPDATE
SET health = EXCLUDED.health, health_error = EXCLUDED.health_error, health_at = EXCLUDED.health_at
"""

_GATEWAY_DEVICES = """
SELECT d.name, d.model, d.health, d.health_error, d.health_at,
       coalesce(array_agg(s.quantity ORDER BY s.quantity) FILTER (WHERE s.id IS NOT NULL), '{}')
FROM devices d LEFT JOIN series s ON s.device_id = d.id
WHERE d.gateway_id = %(gw)s
GROUP BY d.id
ORDER BY d.name
"""

_LIST_GATEWAYS = """
SELECT g.id, t.name, s.name, g.disabled, g.created_at, g.presence, g.presence_at,
       (SELECT max(b.received_at) FROM ingested_batches b WHERE b.gateway_id = g.id)
FROM gateways g
JOIN tenants t ON t.id = g.tenant_id
LEFT JOIN sites s ON s.id = g.site_id
ORDER BY g.id
"""

_GATEWAY_EXISTS = "SELECT EXISTS (SELECT 1 FROM gateways WHERE id = %(id)s)"

_FIND_SERIES = """
SELECT s.id, s.unit
FROM devices d JOIN series s ON s.device_id = d.id
WHERE d.gateway_id = %(gw)s AND d.name = %(device)s AND s.quantity = %(quantity)s
"""

_SELECT_READINGS = """
SELECT time, value, quality
FROM readings
WHERE series_id = %(series_id)s AND time >= %(start)s AND time < %(end)s
ORDER BY time
LIMIT %(limit)s
"""

_LATEST = """
SELECT d.name, s.quantity, s.unit, r.time, r.value, r.quality
FROM devices d
JOIN series s ON s.device_id = d.id
JOIN LATERAL (
    SELECT time, value, quality FROM readings
    WHERE series_id = s.id
    ORDER BY time DESC
    LIMIT 1
) AS r ON true
WHERE d.gateway_id = %(gw)s
ORDER BY d.name, s.quantity
"""

_INSERT_DEAD_LETTER = """
INSERT INTO dead_letters (source, gateway_id, reason, detail, payload, payload_size)
VALUES (%(source)s, %(gw)s, %(reason)s, %(detail)s, %(payload)s, %(size)s)
RETURNING id
"""

_LIST_DEAD_LETTERS = """
SELECT id, received_at, source, gateway_id, reason, detail, payload, payload_size
FROM dead_letters
ORDER BY received_at DESC, id DESC
LIMIT %(limit)s
"""


class Storage:
    """The cloud's database, behind a psycopg async connection pool.

    The pool is created by :meth:`open` (``AsyncConnectionPool(open=False)`` then
    ``await pool.open()``) inside the event loop that will use it: FastAPI's
    lifespan or the ingest worker's loop. A closed Storage can be opened again.

    Example::

        async with Storage(conninfo) as storage:
            secret = await storage.register_gateway("gw-001")

    Args:
        conninfo: libpq conninfo string or URI.
        min_size: connections kept open.
        max_size: most connections at once.
        timeout_s: how long an operation waits for a free connection.
        quantities: the vocabulary; defaults to ``device_profiles``' ``quantities.yaml``.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout_s: float = 10.0,
        quantities: Mapping[str, Quantity] | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._min_size = min_size
        self._max_size = max_size
        self._timeout_s = timeout_s
        self._quantities = dict(load_quantities() if quantities is None else quantities)
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<Storage {state}>"  # never the conninfo: it may hold a password

    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and :meth:`close`."""
        return self._pool is not None

    async def open(self) -> None:
        """Create the pool and wait until it holds ``min_size`` connections.

        Raises:
            StorageUnavailableError: the database cannot be reached within ``timeout_s``.
        """
        if self._pool is not None:
            return
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            self._conninfo,
            min_size=self._min_size,
            max_size=self._max_size,
            timeout=self._timeout_s,
            open=False,
            check=AsyncConnectionPool.check_connection,
            name="shanshui-cloud",
        )
        try:
            await pool.open(wait=True, timeout=self._timeout_s)
        except (PoolTimeout, psycopg.Error) as exc:
            await pool.close()
            raise StorageUnavailableError(f"cannot connect to the database: {exc}") from exc
        self._pool = pool

    async def close(self) -> None:
        """Close the pool and its connections. Safe to call twice."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """True if a connection can run a trivial query within ``timeout_s``."""
        try:
            async with self._connection("checking the database", timeout_s) as conn:
                await conn.execute("SELECT 1")
        except StorageError:
            return False
        return True

    async def register_gateway(
        self, gateway_id: str, tenant: str = "default", site: str | None = None
    ) -> bytes:
        """Register a gateway with a fresh 32-byte secret and return the secret.

        The secret is returned once; only its holder can sign batches for this
        gateway. The tenant and the site are created if they do not exist yet.

        Raises:
            InvalidIdentifierError: the gateway id or tenant name breaks the wire rules,
                or the site name is empty or too long.
            GatewayExistsError: the id is taken.
        """
        _check_identifier("gateway id", gateway_id)
        _check_identifier("tenant", tenant)
        if site is not None and not 1 <= len(site) <= MAX_SITE_NAME_CHARS:
            raise InvalidIdentifierError(f"site name must be 1-{MAX_SITE_NAME_CHARS} characters")
        secret = secrets.token_bytes(SECRET_BYTES)
        async with self._connection("registering a gateway") as conn:
            tenant_id = await _scalar(conn, _UPSERT_TENANT, {"name": tenant})
            site_id = None
            if site is not None:
                site_id = await _scalar(conn, _UPSERT_SITE, {"tenant_id": tenant_id, "name": site})
            params = {
                "id": gateway_id,
                "tenant_id": tenant_id,
                "site_id": site_id,
                "secret": secret,
            }
            cursor = await conn.execute(_INSERT_GATEWAY, params)
            if await cursor.fetchone() is None:
                raise GatewayExistsError(gateway_id)
        return secret

    async def gateway_secret(self, gateway_id: str) -> bytes | None:
        """The gateway's HMAC secret; None if it is unknown or disabled."""
        async with self._connection("looking up a gateway") as conn:
            cursor = await conn.execute(_SELECT_HMAC_KEY, {"id": gateway_id})
            row = await cursor.fetchone()
        return None if row is None else bytes(row[0])

    async def rotate_secret(self, gateway_id: str) -> bytes:
        """Give a gateway a fresh secret and return it; the old one stops verifying at once.

        For a gateway whose secret leaked, or that was re-provisioned. Batches it
        signed with the old secret and has not yet delivered will be dead-lettered
        as ``bad_signature`` (kept, with their payload, for an operator to replay).

        Raises:
            UnknownGatewayError: no such gateway.
        """
        secret = secrets.token_bytes(SECRET_BYTES)
        async with self._connection("rotating a gateway secret") as conn:
            cursor = await conn.execute(_SET_SECRET, {"id": gateway_id, "secret": secret})
            if await cursor.fetchone() is None:
                raise UnknownGatewayError(gateway_id)
        return secret

    async def set_presence(
        self,
        gateway_id: str,
        state: str,
        devices: Mapping[str, tuple[str, str | None]] | None = None,
    ) -> None:
        """Record what the gateway said on ``up/status``, now, in one transaction.

        Args:
            gateway_id: the gateway the status topic names.
            state: ``online`` or ``offline``.
            devices: device name -> (``ok``/``degraded``/``unknown``, error or None);
                devices not seen before are created, so a sensor that never
                answered still shows up as degraded.

        Raises:
            UnknownGatewayError: no such gateway, or it is disabled.
        """
        health = sorted((devices or {}).items())
        async with self._connection("recording a gateway's presence") as conn:
            cursor = await conn.execute(_SET_PRESENCE, {"id": gateway_id, "state": state})
            if await cursor.fetchone() is None:
                raise UnknownGatewayError(gateway_id)
            if health:
                params = {
                    "gw": gateway_id,
                    "names": [name for name, _ in health],
                    "healths": [device_state for _, (device_state, _) in health],
                    "errors": [error for _, (_, error) in health],
                }
                await conn.execute(_SET_DEVICE_HEALTH, params)

    async def gateway_devices(self, gateway_id: str) -> list[DeviceSummary]:
        """The devices of a gateway with their reported health and quantities, by name.

        Raises:
            UnknownGatewayError: no such gateway.
        """
        rows = await self._gateway_rows("listing a gateway's devices", _GATEWAY_DEVICES, gateway_id)
        return [
            DeviceSummary(
                name=name,
                model=model,
                health=health,
                health_error=error,
                health_at=None if at is None else _utc(at),
                quantities=list(quantities),
            )
            for name, model, health, error, at, quantities in rows
        ]

    async def list_gateways(self) -> list[GatewaySummary]:
        """Every registered gateway with its presence and newest batch, by id."""
        async with self._connection("listing gateways") as conn:
            cursor = await conn.execute(_LIST_GATEWAYS)
            rows = await cursor.fetchall()
        return [
            GatewaySummary(
                id=gw,
                tenant=tenant,
                site=site,
                disabled=disabled,
                created_at=_utc(created),
                presence=presence,
                presence_at=None if presence_at is None else _utc(presence_at),
                last_batch_at=None if last_batch is None else _utc(last_batch),
            )
            for gw, tenant, site, disabled, created, presence, presence_at, last_batch in rows
        ]

    async def set_gateway_disabled(self, gateway_id: str, disabled: bool = True) -> None:
        """Disable (or re-enable) a gateway: its batches are refused while disabled.

        Raises:
            UnknownGatewayError: no such gateway.
        """
        async with self._connection("updating a gateway") as conn:
            params = {"id": gateway_id, "disabled": disabled}
            cursor = await conn.execute(_SET_DISABLED, params)
            if await cursor.fetchone() is None:
                raise UnknownGatewayError(gateway_id)

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
                stored = await _scalar(conn, _BATCH_DIGEST, head)
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

    async def dead_letter(
        self,
        source: str,
        reason: str,
        detail: str,
        payload: bytes,
        gateway_id: str | None = None,
    ) -> int:
        """Keep a message that was not accepted, with the reason; return its id.

        Payloads over 1 MiB are cut to their first MiB (``payload_size`` keeps the
        real size); ``detail`` is cut to 2000 characters.
        """
        params = {
            "source": source,
            "gw": None if gateway_id is None else gateway_id[:MAX_CLAIMED_ID_CHARS],
            "reason": reason,
            "detail": detail[:MAX_DETAIL_CHARS],
            "payload": bytes(payload[:MAX_DEAD_LETTER_PAYLOAD]),
            "size": len(payload),
        }
        async with self._connection("keeping a dead letter") as conn:
            return int(await _scalar(conn, _INSERT_DEAD_LETTER, params))

    async def list_dead_letters(self, limit: int = 50) -> list[DeadLetter]:
        """The newest ``limit`` dead letters, newest first."""
        async with self._connection("listing dead letters") as conn:
            cursor = await conn.execute(_LIST_DEAD_LETTERS, {"limit": limit})
            rows = await cursor.fetchall()
        return [
            DeadLetter(
                id=row[0],
                received_at=_utc(row[1]),
                source=row[2],
                gateway_id=row[3],
                reason=row[4],
                detail=row[5],
                payload=bytes(row[6]),
                payload_size=row[7],
            )
            for row in rows
        ]

    async def readings(
        self,
        gateway_id: str,
        device: str,
        quantity: str,
        *,
        start: datetime,
        end: datetime,
        limit: int = 1000,
    ) -> SeriesReadings:
        """Readings of one series with ``start <= time < end``, oldest first, at most ``limit``.

        Raises:
            SeriesNotFoundError: the gateway has no such device or quantity.
        """
        key = {"gw": gateway_id, "device": device, "quantity": quantity}
        async with self._connection("reading a series") as conn:
            cursor = await conn.execute(_FIND_SERIES, key)
            found = await cursor.fetchone()
            if found is None:
                raise SeriesNotFoundError(gateway_id, device, quantity)
            series_id, unit = found
            window = {"series_id": series_id, "start": start, "end": end, "limit": limit}
            cursor = await conn.execute(_SELECT_READINGS, window)
            rows = await cursor.fetchall()
        return SeriesReadings(
            gateway_id=gateway_id,
            device=device,
            quantity=quantity,
            unit=unit,
            readings=[StoredReading(_utc(t), v, q) for t, v, q in rows],
        )

    async def latest(self, gateway_id: str) -> list[LatestReading]:
        """The newest reading of every series of a gateway, by device then quantity.

        Raises:
            UnknownGatewayError: no such gateway.
        """
        rows = await self._gateway_rows("reading the latest values", _LATEST, gateway_id)
        return [
            LatestReading(device, quantity, unit, StoredReading(_utc(t), v, q))
            for device, quantity, unit, t, v, q in rows
        ]

    async def _gateway_rows(self, doing: str, query: str, gateway_id: str) -> list[tuple[Any, ...]]:
        """Rows of ``query`` (parameter ``gw``) for a gateway that must exist."""
        async with self._connection(doing) as conn:
            if not await _scalar(conn, _GATEWAY_EXISTS, {"id": gateway_id}):
                raise UnknownGatewayError(gateway_id)
            cursor = await conn.execute(query, {"gw": gateway_id})
            return await cursor.fetchall()

    def _units(self, batch: Batch) -> dict[str, str]:
        units: dict[str, str] = {}
        for reading in batch.readings:
            if reading.quantity not in units:
                known = self._quantities.get(reading.quantity)
                if known is None:
                    raise UnknownQuantityError(reading.quantity)
                units[reading.quantity] = known.unit
        return units

    def connection(
        self, doing: str, timeout_s: float | None = None
    ) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
        """A pooled connection in a transaction, for the query modules of this package."""
        return self._connection(doing, timeout_s)

    @asynccontextmanager
    async def _connection(
        self, doing: str, timeout_s: float | None = None
    ) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection in a transaction (committed on success), errors translated."""
        if self._pool is None:
            raise StorageUnavailableError(f"{doing}: storage is not open")
        try:
            async with self._pool.connection(timeout=timeout_s) as conn:
                yield conn
        except CloudError:
            raise
        except (PoolTimeout, psycopg.Error) as exc:
            raise translate(exc, doing) from exc


async def _scalar(conn: AsyncConnection[Any], query: str, params: Mapping[str, object]) -> Any:
    cursor = await conn.execute(query, params)
    row = await cursor.fetchone()
    if row is None:
        raise StorageError(f"query returned no row: {query.split(maxsplit=1)[0]}")
    return row[0]


def _check_identifier(what: str, value: str) -> None:
    try:
        check_gateway_id(value)
    except MalformedError:
        raise InvalidIdentifierError(
            f"{what} {value!r} must be 1-64 characters of letters, digits, '_', '.', ':', '-' "
            "starting with a letter or digit"
        ) from None


def _utc(time: datetime) -> datetime:
    return time.astimezone(UTC)
