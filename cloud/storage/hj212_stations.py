"""HJ 212 data loggers the cloud accepts: MN, gateway, sealed password and SM4 key, edition.

Layer: storage (SQL only; functions over a :class:`Storage`, as ``alarm_rules`` and
``keys``). Passwords and keys are sealed like gateway secrets
(:meth:`Storage.seal_secret`, labels ``hj212:<mn>`` and ``hj212-sm4:<mn>``) and
never leave this module except in :class:`StationSecrets`, whose ``repr`` hides
them. The HJ 212 server reads a station at every packet, so a change applies at
once. Every change is in the audit log (without the secrets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from cloud.errors import InvalidValueError, NotFoundError, UnknownGatewayError
from cloud.storage import audit
from cloud.storage.store import Storage

EDITIONS = ("2017", "2025")
SM4_KEY_BYTES = 16

_INSERT = """
INSERT INTO hj212_stations (mn, gateway_id, password, sm4_key, sealed, edition)
VALUES (%(mn)s, %(gateway)s, %(password)s, %(key)s, %(sealed)s, %(edition)s)
ON CONFLICT (mn) DO UPDATE SET gateway_id = excluded.gateway_id, password = excluded.password,
    sm4_key = excluded.sm4_key, sealed = excluded.sealed, edition = excluded.edition
"""
_SELECT = """
SELECT mn, gateway_id, password, sm4_key, sealed, edition FROM hj212_stations WHERE mn = %(mn)s
"""
_LIST = "SELECT mn, gateway_id, edition, created_at FROM hj212_stations ORDER BY mn"
_DELETE = "DELETE FROM hj212_stations WHERE mn = %(mn)s RETURNING gateway_id"


@dataclass(frozen=True, slots=True)
class StationSecrets:
    """A station as the server needs it; ``repr`` shows no secret."""

    mn: str
    gateway_id: str
    edition: str
    password: str = field(repr=False)
    sm4_key: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class StationRow:
    """A station as listed: no secrets."""

    mn: str
    gateway_id: str
    edition: str
    created_at: object


def _check(mn: str, password: str, edition: str, sm4_key: bytes | None) -> None:
    if not mn.isalnum() or not mn.isascii() or not 1 <= len(mn) <= 27:
        raise InvalidValueError("MN must be 1-27 letters and digits")
    if not password or len(password) > 64 or not password.isprintable():
        raise InvalidValueError("password must be 1-64 printable characters")
    if edition not in EDITIONS:
        raise InvalidValueError(f"edition must be one of {', '.join(EDITIONS)}")
    if (edition == "2025") != (sm4_key is not None):
        raise InvalidValueError("edition 2025 needs an SM4 key; 2017 takes none")
    if sm4_key is not None and len(sm4_key) != SM4_KEY_BYTES:
        raise InvalidValueError("the SM4 key must be 16 bytes (32 hex digits)")


async def put_station(
    storage: Storage,
    mn: str,
    gateway_id: str,
    password: str,
    *,
    edition: str = "2017",
    sm4_key: bytes | None = None,
    actor: str,
) -> None:
    """Add a station, or replace the one with this MN.

    Raises:
        InvalidValueError: a malformed MN, password, edition or key.
        UnknownGatewayError: no such gateway.
    """
    _check(mn, password, edition, sm4_key)
    params = {
        "mn": mn,
        "gateway": gateway_id,
        "password": storage.seal_secret(f"hj212:{mn}", password.encode()),
        "key": None if sm4_key is None else storage.seal_secret(f"hj212-sm4:{mn}", sm4_key),
        "sealed": storage.seals_secrets,
        "edition": edition,
    }
    async with storage.connection("storing an HJ 212 station") as conn:
        try:
            await conn.execute(_INSERT, params)
        except psycopg.errors.ForeignKeyViolation:
            raise UnknownGatewayError(gateway_id) from None
    detail = {"gateway": gateway_id, "edition": edition}
    await audit.record(storage, actor, "logger_station.put", mn, detail)


async def station(storage: Storage, mn: str) -> StationSecrets | None:
    """The station with this MN, secrets opened; None if unknown.

    Raises:
        StorageError: its secrets are sealed and the operator key is missing or another.
    """
    async with storage.connection("looking up an HJ 212 station") as conn:
        cursor = await conn.execute(_SELECT, {"mn": mn})
        row = await cursor.fetchone()
    if row is None:
        return None
    mn, gateway_id, password, key, sealed, edition = row
    opened = storage.open_secret(f"hj212:{mn}", bytes(password), sealed)
    sm4 = None if key is None else storage.open_secret(f"hj212-sm4:{mn}", bytes(key), sealed)
    return StationSecrets(mn, gateway_id, edition, opened.decode(), sm4)


async def list_stations(storage: Storage) -> list[StationRow]:
    """Every station, by MN (no secrets)."""
    async with storage.connection("listing HJ 212 stations") as conn:
        cursor = await conn.execute(_LIST)
        return [StationRow(*row) for row in await cursor.fetchall()]


async def remove_station(storage: Storage, mn: str, *, actor: str) -> None:
    """Forget a station: its logger is refused from its next packet on.

    Raises:
        NotFoundError: no station with this MN.
    """
    async with storage.connection("removing an HJ 212 station") as conn:
        cursor = await conn.execute(_DELETE, {"mn": mn})
        row = await cursor.fetchone()
    if row is None:
        raise NotFoundError("station", mn)
    await audit.record(storage, actor, "logger_station.remove", mn, {"gateway": row[0]})
