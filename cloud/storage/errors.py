"""Map psycopg's exceptions onto the cloud's domain errors.

Layer: storage internals. Nothing outside ``cloud.storage`` sees a psycopg
exception: callers get :class:`cloud.errors.StorageError` subclasses. Messages
come from the server's diagnostics, which never include the conninfo password.
"""

from __future__ import annotations

import psycopg
from psycopg_pool import PoolTimeout

from cloud.errors import StorageError, StorageUnavailableError

# Transaction rollbacks (deadlock, serialization failure) are class 40: worth a retry.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57")
# undefined_table: the schema is not there, which on a fresh database means no migration ran
_UNDEFINED_TABLE = "42P01"
# libpq's conninfo parse errors; they quote the unparsable part of the string.
_CONNINFO_HINTS = ("connection info string", "connection option", "URI")


def translate(exc: Exception, doing: str) -> StorageError:
    """The domain error for a psycopg or pool exception raised while ``doing`` something."""
    if isinstance(exc, PoolTimeout):
        return StorageUnavailableError(f"{doing}: no database connection available ({exc})")
    if isinstance(exc, psycopg.ProgrammingError) and any(
        hint in str(exc) for hint in _CONNINFO_HINTS
    ):
        # libpq quotes the part of the conninfo it could not parse: possibly a password
        return StorageError(f"{doing}: invalid connection string")
    if isinstance(exc, psycopg.Error):
        sqlstate = exc.sqlstate or ""
        message = _first_line(exc)
        if isinstance(exc, psycopg.OperationalError) or sqlstate.startswith(
            _TRANSIENT_SQLSTATE_CLASSES
        ):
            return StorageUnavailableError(f"{doing}: {message}")
        if sqlstate == _UNDEFINED_TABLE:
            message += " (is the database migrated? run: shanshui cloud migrate)"
        return StorageError(f"{doing}: {message}")
    return StorageError(f"{doing}: {type(exc).__name__}: {exc}")


def _first_line(exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary
    if primary:
        return primary
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
