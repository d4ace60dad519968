"""Administrative SQL: migration bookkeeping, creating databases, inspecting TimescaleDB.

Layer: storage (synchronous; run from the CLI and tests, never on a request
path). ``cloud.migrate`` decides *what* to apply; the SQL that records it, and
the lock that serialises concurrent migrators, live here. Errors leave as
:mod:`cloud.errors` types.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cloud.errors import MigrationError
from cloud.storage.errors import translate
from cloud.storage.models import AppliedMigration

# pg_advisory_lock key shared by every Shanshui migrator: b"SHANSHUI" as a bigint.
MIGRATION_LOCK_KEY = int.from_bytes(b"SHANSHUI", "big")
_CONNECT_TIMEOUT_S = 10

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY CHECK (version > 0),
    name        text NOT NULL,
    checksum    text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""

_SELECT_APPLIED = "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY 1"

_RECORD = """
INSERT INTO schema_migrations (version, name, checksum)
VALUES (%(version)s, %(name)s, %(checksum)s)
"""

_HYPERTABLES = """
SELECT hypertable_name::text FROM timescaledb_information.hypertables
WHERE hypertable_schema = current_schema()
ORDER BY 1
"""

_HAS_TIMESCALE = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"

_DATABASE_EXISTS = "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %(name)s)"


class MigrationLedger:
    """The ``schema_migrations`` table of one database, held under the migration lock."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def applied(self) -> list[AppliedMigration]:
        """Migrations recorded as applied, by version."""
        rows = self._conn.execute(_SELECT_APPLIED).fetchall()
        return [AppliedMigration(*row) for row in rows]

    def apply(self, version: int, name: str, checksum: str, script: bytes) -> None:
        """Run one migration script and record it, in a single transaction.

        Raises:
            MigrationError: the script failed; nothing of it was kept.
        """
        try:
            with self._conn.transaction():
                self._conn.execute(script)
                params = {"version": version, "name": name, "checksum": checksum}
                self._conn.execute(_RECORD, params)
        except psycopg.Error as exc:
            raise MigrationError(f"{name} failed: {translate(exc, 'applying')}") from exc


@contextmanager
def migration_ledger(conninfo: str) -> Iterator[MigrationLedger]:
    """Connect, wait for the migration lock, make sure the ledger table exists.

    The session-level ``pg_advisory_lock`` is held until the block ends, so a
    second migrator waits and then finds everything applied. The lock goes away
    with the connection if the process dies.

    Raises:
        StorageUnavailableError: the database cannot be reached.
    """
    with connect(conninfo, "migrating") as conn:
        conn.execute("SELECT pg_advisory_lock(%(key)s)", {"key": MIGRATION_LOCK_KEY})
        try:
            conn.execute(_CREATE_LEDGER)
            yield MigrationLedger(conn)
        finally:
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%(key)s)", {"key": MIGRATION_LOCK_KEY})


def applied_migrations(conninfo: str) -> list[AppliedMigration]:
    """The recorded migrations of a database (empty if it was never migrated)."""
    with migration_ledger(conninfo) as ledger:
        return ledger.applied()


def ensure_database(server_conninfo: str, name: str) -> str:
    """Create database ``name`` on the server if missing; return its conninfo."""
    with connect(server_conninfo, "creating a database") as conn:
        exists = conn.execute(_DATABASE_EXISTS, {"name": name}).fetchone()
        if not (exists and exists[0]):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(server_conninfo, dbname=name)


def drop_database(server_conninfo: str, name: str) -> None:
    """Drop database ``name`` if it exists, ending its sessions."""
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with connect(server_conninfo, "dropping a database") as conn:
        conn.execute(statement)


def hypertables(conninfo: str) -> list[str]:
    """Names of the TimescaleDB hypertables in the current schema (empty without it)."""
    with connect(conninfo, "listing hypertables") as conn:
        if not has_timescaledb(conn):
            return []
        return [name for (name,) in conn.execute(_HYPERTABLES).fetchall()]


def has_timescaledb(conn: psycopg.Connection[Any]) -> bool:
    """True if the TimescaleDB extension is created in the connected database."""
    row = conn.execute(_HAS_TIMESCALE).fetchone()
    return bool(row and row[0])


@contextmanager
def connect(conninfo: str, doing: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection whose psycopg errors leave as :mod:`cloud.errors` types."""
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise translate(exc, doing) from exc
    try:
        with conn:
            yield conn
    except psycopg.Error as exc:
        raise translate(exc, doing) from exc
