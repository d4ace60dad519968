"""Sharing grants: one tenant (department) lets another read some of its data.

Layer: storage. A grant names the granting and the receiving tenant, optionally the
quantities and the time range of readings it covers, and when it expires; it can be
revoked. :mod:`cloud.storage.access` applies active grants to every read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloud.errors import InvalidValueError, NotFoundError
from cloud.storage.store import Storage
from device_profiles import load_quantities

MAX_NOTE_CHARS = 500


@dataclass(frozen=True, slots=True)
class Grant:
    """A sharing grant as stored; ``quantities`` empty means all of them."""

    id: int
    from_tenant: str
    to_tenant: str
    quantities: tuple[str, ...]
    valid_from: datetime | None
    valid_until: datetime | None
    expires_at: datetime | None
    note: str
    created_at: datetime
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True, slots=True)
class NewGrant:
    """What :func:`create_grant` needs."""

    from_tenant: str
    to_tenant: str
    quantities: Sequence[str] = ()
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    expires_at: datetime | None = None
    note: str = ""


_COLUMNS = """gr.id, tf.name, tt.name, gr.quantities, gr.valid_from, gr.valid_until,
       gr.expires_at, gr.note, gr.created_at, gr.revoked_at"""

_INSERT = f"""
WITH gr AS (
    INSERT INTO sharing_grants (from_tenant_id, to_tenant_id, quantities, valid_from,
                                valid_until, expires_at, note)
    SELECT tf.id, tt.id, %(quantities)s, %(valid_from)s, %(valid_until)s, %(expires_at)s, %(note)s
    FROM tenants tf, tenants tt WHERE tf.name = %(from)s AND tt.name = %(to)s
    RETURNING *
)
SELECT {_COLUMNS} FROM gr
JOIN tenants tf ON tf.id = gr.from_tenant_id JOIN tenants tt ON tt.id = gr.to_tenant_id
"""

_TENANT_EXISTS = "SELECT EXISTS (SELECT 1 FROM tenants WHERE name = %(name)s)"

_LIST = f"""
SELECT {_COLUMNS} FROM sharing_grants gr
JOIN tenants tf ON tf.id = gr.from_tenant_id JOIN tenants tt ON tt.id = gr.to_tenant_id
WHERE (%(tenant_id)s::bigint IS NULL
       OR %(tenant_id)s::bigint IN (gr.from_tenant_id, gr.to_tenant_id))
ORDER BY gr.id
"""

_REVOKE = """
UPDATE sharing_grants SET revoked_at = coalesce(revoked_at, now())
WHERE id = %(id)s AND (%(tenant_id)s::bigint IS NULL OR from_tenant_id = %(tenant_id)s::bigint)
RETURNING id
"""


async def create_grant(storage: Storage, new: NewGrant) -> Grant:
    """Record a grant.

    Raises:
        InvalidValueError: same tenant twice, unknown quantity, empty time range, long note,
            a time without an offset.
        NotFoundError: a tenant does not exist.
    """
    _check(new)
    params = {
        "from": new.from_tenant,
        "to": new.to_tenant,
        "quantities": sorted(set(new.quantities)),
        "valid_from": new.valid_from,
        "valid_until": new.valid_until,
        "expires_at": new.expires_at,
        "note": new.note,
    }
    async with storage.connection("granting access") as conn:
        for tenant in (new.from_tenant, new.to_tenant):
            cursor = await conn.execute(_TENANT_EXISTS, {"name": tenant})
            row = await cursor.fetchone()
            if not (row and row[0]):
                raise NotFoundError("tenant", tenant)
        cursor = await conn.execute(_INSERT, params)
        row = await cursor.fetchone()
    if row is None:  # pragma: no cover - both tenants exist
        raise NotFoundError("tenant", new.from_tenant)
    return _grant(row)


async def list_grants(storage: Storage, tenant_id: int | None = None) -> list[Grant]:
    """Every grant (given or received by one tenant, when given), revoked ones too, by id."""
    async with storage.connection("listing grants") as conn:
        cursor = await conn.execute(_LIST, {"tenant_id": tenant_id})
        rows = await cursor.fetchall()
    return [_grant(row) for row in rows]


async def revoke_grant(storage: Storage, grant_id: int, tenant_id: int | None = None) -> None:
    """Revoke a grant (only one ``tenant_id`` gave, when given); twice is harmless.

    Raises:
        NotFoundError: no such grant.
    """
    async with storage.connection("revoking a grant") as conn:
        cursor = await conn.execute(_REVOKE, {"id": grant_id, "tenant_id": tenant_id})
        if await cursor.fetchone() is None:
            raise NotFoundError("grant", grant_id)


def _check(new: NewGrant) -> None:
    if new.from_tenant == new.to_tenant:
        raise InvalidValueError("a tenant cannot grant access to itself")
    vocabulary = load_quantities()
    for quantity in new.quantities:
        if quantity not in vocabulary:
            raise InvalidValueError(f"{quantity[:64]!r} is not a quantity code of the vocabulary")
    for what, time in (
        ("valid_from", new.valid_from),
        ("valid_until", new.valid_until),
        ("expires_at", new.expires_at),
    ):
        if time is not None and time.tzinfo is None:
            raise InvalidValueError(f"{what} needs a time zone offset")
    if new.valid_from and new.valid_until and new.valid_from >= new.valid_until:
        raise InvalidValueError("valid_from must be before valid_until")
    if len(new.note) > MAX_NOTE_CHARS or "\x00" in new.note:
        raise InvalidValueError(f"note must be at most {MAX_NOTE_CHARS} characters")


def _utc(time: datetime | None) -> datetime | None:
    return None if time is None else time.astimezone(UTC)


def _grant(row: Sequence[Any]) -> Grant:
    gid, from_t, to_t, quantities, lo, hi, expires, note, created, revoked = row
    return Grant(
        id=gid,
        from_tenant=from_t,
        to_tenant=to_t,
        quantities=tuple(quantities),
        valid_from=_utc(lo),
        valid_until=_utc(hi),
        expires_at=_utc(expires),
        note=note,
        created_at=created.astimezone(UTC),
        revoked_at=_utc(revoked),
    )
