"""API keys: issue (shown once, stored hashed), authenticate, list, revoke.

Layer: storage. A key is ``ssk_`` followed by 43 characters of a 256-bit random
token; the database keeps only its SHA-256 and a 10-character public prefix (the
characters after ``ssk_``) so listings and the audit log can name it. A key that
is revoked or expired no longer authenticates. No HTTP here.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloud.errors import InvalidValueError, NotFoundError
from cloud.storage.access import ROLES, Role, Scope
from cloud.storage.sites import check_region_code
from cloud.storage.store import Storage

TOKEN_PREFIX = "ssk_"  # noqa: S105 - not a secret: the visible start of every key
TOKEN_BYTES = 32
PUBLIC_PREFIX_CHARS = 10
MAX_NAME_CHARS = 200
DEFAULT_RATE_PER_S = 20.0
DEFAULT_BURST = 100


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as stored (never the token itself).

    Attributes:
        prefix: the public part of the token, enough to tell keys apart.
        tenant: its tenant's name; None for a platform admin.
        scope: what it may see.
        rate_per_s: sustained requests per second of its token bucket.
        burst: the bucket's size.
    """

    id: int
    prefix: str
    name: str
    role: Role
    tenant: str | None
    scope: Scope
    rate_per_s: float
    burst: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def actor(self) -> str:
        """How the audit log names it."""
        return f"key:{self.prefix}"


_COLUMNS = """k.id, k.prefix, k.name, k.role, t.name, k.tenant_id, k.regions, k.site_ids,
       k.gateway_ids, k.rate_per_s, k.burst, k.created_at, k.expires_at, k.revoked_at"""

_INSERT = f"""
WITH k AS (
    INSERT INTO api_keys (prefix, token_hash, name, role, tenant_id, regions, site_ids,
                          gateway_ids, rate_per_s, burst, expires_at)
    VALUES (%(prefix)s, %(hash)s, %(name)s, %(role)s, %(tenant_id)s, %(regions)s, %(sites)s,
            %(gateways)s, %(rate)s, %(burst)s, %(expires)s)
    RETURNING *
)
SELECT {_COLUMNS} FROM k LEFT JOIN tenants t ON t.id = k.tenant_id
"""

_TENANT_ID = "SELECT id FROM tenants WHERE name = %(name)s"

_AUTHENTICATE = f"""
SELECT {_COLUMNS} FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant_id
WHERE k.token_hash = %(hash)s AND k.revoked_at IS NULL
  AND (k.expires_at IS NULL OR k.expires_at > now())
"""

_LIST = f"""
SELECT {_COLUMNS} FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant_id
WHERE (%(tenant_id)s::bigint IS NULL OR k.tenant_id = %(tenant_id)s::bigint)
ORDER BY k.id
"""

_REVOKE = """
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE id = %(id)s AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s::bigint)
RETURNING id
"""


@dataclass(frozen=True, slots=True)
class NewKey:
    """What :func:`create_key` needs; ``tenant`` None makes a platform admin."""

    name: str
    role: Role
    tenant: str | None = None
    regions: Sequence[str] = ()
    site_ids: Sequence[int] = ()
    gateway_ids: Sequence[str] = ()
    rate_per_s: float = DEFAULT_RATE_PER_S
    burst: int = DEFAULT_BURST
    expires_at: datetime | None = None


def hash_token(token: str) -> bytes:
    """SHA-256 of the token's UTF-8 bytes: what is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


async def create_key(storage: Storage, new: NewKey) -> tuple[str, ApiKey]:
    """Issue a key; return its token (to show once) and the stored record.

    Raises:
        InvalidValueError: unknown role, a non-admin without a tenant, bad region code,
            bad name, rate or burst.
        NotFoundError: the tenant does not exist.
    """
    _check_new_key(new)
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    params = {
        "prefix": token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + PUBLIC_PREFIX_CHARS],
        "hash": hash_token(token),
        "name": new.name,
        "role": new.role,
        "regions": list(new.regions),
        "sites": list(new.site_ids),
        "gateways": list(new.gateway_ids),
        "rate": new.rate_per_s,
        "burst": new.burst,
        "expires": new.expires_at,
    }
    async with storage.connection("issuing an API key") as conn:
        params["tenant_id"] = None
        if new.tenant is not None:
            cursor = await conn.execute(_TENANT_ID, {"name": new.tenant})
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError("tenant", new.tenant)
            params["tenant_id"] = row[0]
        cursor = await conn.execute(_INSERT, params)
        stored = await cursor.fetchone()
    if stored is None:  # pragma: no cover - INSERT ... RETURNING returns the row
        raise InvalidValueError("the key was not stored")
    return token, _key(stored)


async def authenticate(storage: Storage, token: str) -> ApiKey | None:
    """The active key of this token; None if unknown, revoked or expired."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    async with storage.connection("checking an API key") as conn:
        cursor = await conn.execute(_AUTHENTICATE, {"hash": hash_token(token)})
        row = await cursor.fetchone()
    return None if row is None else _key(row)


async def list_keys(storage: Storage, tenant_id: int | None = None) -> list[ApiKey]:
    """Every key (of one tenant, when given), revoked ones included, by id."""
    async with storage.connection("listing API keys") as conn:
        cursor = await conn.execute(_LIST, {"tenant_id": tenant_id})
        rows = await cursor.fetchall()
    return [_key(row) for row in rows]


async def revoke_key(storage: Storage, key_id: int, tenant_id: int | None = None) -> None:
    """Revoke a key (of ``tenant_id`` only, when given); revoking twice is harmless.

    Raises:
        NotFoundError: no such key (in that tenant).
    """
    async with storage.connection("revoking an API key") as conn:
        cursor = await conn.execute(_REVOKE, {"id": key_id, "tenant_id": tenant_id})
        if await cursor.fetchone() is None:
            raise NotFoundError("key", key_id)


def _check_new_key(new: NewKey) -> None:
    if new.role not in ROLES:
        raise InvalidValueError(f"role must be one of {', '.join(ROLES)}, not {new.role!r}")
    if new.tenant is None and new.role != "admin":
        raise InvalidValueError(f"a {new.role} key needs a tenant")
    if not 1 <= len(new.name) <= MAX_NAME_CHARS or "\x00" in new.name:
        raise InvalidValueError(f"key name must be 1-{MAX_NAME_CHARS} characters")
    for region in new.regions:
        check_region_code(region, prefix=True)
    if not 0 < new.rate_per_s <= 100_000:
        raise InvalidValueError("rate must be above 0 and at most 100000 requests per second")
    if not 1 <= new.burst <= 1_000_000:
        raise InvalidValueError("burst must be 1-1000000 requests")
    if new.expires_at is not None and new.expires_at.tzinfo is None:
        raise InvalidValueError("expiry needs a time zone offset")


def _key(row: Sequence[Any]) -> ApiKey:
    (kid, prefix, name, role, tenant, tenant_id, regions, sites, gateways) = row[:9]
    rate, burst, created, expires, revoked = row[9:]
    return ApiKey(
        id=kid,
        prefix=prefix,
        name=name,
        role=role,
        tenant=tenant,
        scope=Scope(tenant_id, tuple(regions), tuple(sites), tuple(gateways)),
        rate_per_s=rate,
        burst=burst,
        created_at=created.astimezone(UTC),
        expires_at=None if expires is None else expires.astimezone(UTC),
        revoked_at=None if revoked is None else revoked.astimezone(UTC),
    )


__all__ = ["ApiKey", "NewKey", "authenticate", "create_key", "list_keys", "revoke_key"]
