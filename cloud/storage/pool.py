"""``PooledStorage``: the async connection pool every storage module queries through.

Layer: storage internals. Owns the psycopg ``AsyncConnectionPool`` (created
closed, opened in the caller's event loop), hands out connections inside a
transaction, and translates psycopg errors at this boundary. It holds no
queries of its own: each table family lives in its own module (``registry``,
``presence``, ``ingest``, ``dead_letters``, ``readings``) as a class deriving
from :class:`PooledStorage`, and :class:`cloud.storage.Storage` combines them.
A new family is a new module with one such class, added to ``Storage``'s bases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from cloud.errors import CloudError, StorageError, StorageUnavailableError, UnknownGatewayError
from cloud.storage.errors import translate

_GATEWAY_EXISTS = "SELECT EXISTS (SELECT 1 FROM gateways WHERE id = %(id)s)"


class PooledStorage:
    """Pool lifecycle and connection handling shared by the storage modules.

    The pool is created by :meth:`open` (``AsyncConnectionPool(open=False)`` then
    ``await pool.open()``) inside the event loop that will use it: FastAPI's
    lifespan or the ingest worker's loop. A closed storage can be opened again.

    Args:
        conninfo: libpq conninfo string or URI.
        min_size: connections kept open.
        max_size: most connections at once.
        timeout_s: how long an operation waits for a free connection.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout_s: float = 10.0,
    ) -> None:
        self._conninfo = conninfo
        self._min_size = min_size
        self._max_size = max_size
        self._timeout_s = timeout_s
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<{type(self).__name__} {state}>"  # never the conninfo: it may hold a password

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

    def connection(
        self, doing: str, timeout_s: float | None = None
    ) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
        """:meth:`_connection` for the query modules written as functions over a Storage
        (``access``, ``keys``, ``grants``, ``sites``, ``audit``, ``queries``)."""
        return self._connection(doing, timeout_s)

    async def dedicated_connection(self, doing: str) -> AsyncConnection[Any]:
        """A connection of its own, outside the pool, in autocommit mode; the caller closes it.

        For what a pooled connection must not hold: ``LISTEN``, session advisory locks.

        Raises:
            StorageUnavailableError: the database cannot be reached.
        """
        try:
            return await AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=max(1, int(self._timeout_s))
            )
        except psycopg.Error as exc:
            raise translate(exc, doing) from exc

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

    async def _gateway_rows(self, doing: str, query: str, gateway_id: str) -> list[tuple[Any, ...]]:
        """Rows of ``query`` (parameter ``gw``) for a gateway that must exist.

        Raises:
            UnknownGatewayError: no such gateway.
        """
        async with self._connection(doing) as conn:
            if not await scalar(conn, _GATEWAY_EXISTS, {"id": gateway_id}):
                raise UnknownGatewayError(gateway_id)
            cursor = await conn.execute(query, {"gw": gateway_id})
            return await cursor.fetchall()


async def scalar(conn: AsyncConnection[Any], query: str, params: Mapping[str, object]) -> Any:
    """The first column of the first row of ``query``.

    Raises:
        StorageError: the query returned no row.
    """
    cursor = await conn.execute(query, params)
    row = await cursor.fetchone()
    if row is None:
        raise StorageError(f"query returned no row: {query.split(maxsplit=1)[0]}")
    return row[0]


def utc(time: datetime) -> datetime:
    """An aware datetime from the database, in UTC."""
    return time.astimezone(UTC)


def utc_or_none(time: datetime | None) -> datetime | None:
    """:func:`utc` for a nullable column."""
    return None if time is None else time.astimezone(UTC)
