"""``Storage``: every query the running cloud makes, over one async connection pool.

Layer: storage, the only layer with SQL (with ``admin.py`` and the migration
files). It must not know about HTTP, MQTT or the wire envelope: it takes
verified :class:`wire.Batch` objects and returns records from ``models.py``.
All SQL is parameterised; psycopg errors are translated at this boundary.

``Storage`` holds no query itself: it combines one class per table family, each
in its own module over the shared pool of :mod:`cloud.storage.pool`:

- ``registry``: tenants, sites, gateways and their secrets;
- ``presence``: gateways' online state and their devices' health;
- ``ingest``: verified batches into readings, exactly once;
- ``dead_letters``: what was refused, and why;
- ``readings``: reading series back;
- ``rollups``: hourly and daily rollups of a series (TimescaleDB or not);
- ``retention``: old readings, batch log and dead letters deleted in bounded chunks.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloud.storage.dead_letters import DeadLetters
from cloud.storage.ingest import BatchIngest
from cloud.storage.presence import GatewayPresence
from cloud.storage.readings import ReadingQueries
from cloud.storage.registry import GatewayRegistry
from cloud.storage.retention import Retention
from cloud.storage.rollups import RollupQueries
from cloud.storage.sealing import SecretKey
from device_profiles import Quantity, load_quantities


class Storage(
    GatewayRegistry,
    GatewayPresence,
    BatchIngest,
    DeadLetters,
    ReadingQueries,
    RollupQueries,
    Retention,
):
    """The cloud's database, behind a psycopg async connection pool.

    The pool is created by :meth:`open` (``AsyncConnectionPool(open=False)`` then
    ``await pool.open()``) inside the event loop that will use it: FastAPI's
    lifespan or the ingest worker's loop. A closed Storage can be opened again.

    Example::

        async with Storage(conninfo, secret_key=key) as storage:
            secret = await storage.register_gateway("gw-001")

    Args:
        conninfo: libpq conninfo string or URI.
        min_size: connections kept open.
        max_size: most connections at once.
        timeout_s: how long an operation waits for a free connection.
        quantities: the vocabulary; defaults to ``device_profiles``' ``quantities.yaml``.
        secret_key: the operator key sealing gateway secrets at rest (see
            :mod:`cloud.storage.secret_custody`).
        plaintext_secrets: without ``secret_key``, True writes new secrets in
            plaintext (throwaway databases of tests and benchmarks); otherwise
            registering or rotating a gateway is refused (:class:`ConfigError`).
    """

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout_s: float = 10.0,
        quantities: Mapping[str, Quantity] | None = None,
        secret_key: SecretKey | None = None,
        plaintext_secrets: bool | None = None,
    ) -> None:
        super().__init__(conninfo, min_size=min_size, max_size=max_size, timeout_s=timeout_s)
        self.use_secret_key(secret_key, plaintext_secrets=plaintext_secrets)
        self._quantities = dict(load_quantities() if quantities is None else quantities)
        self._series_cache = {}
