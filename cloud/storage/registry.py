"""``GatewayRegistry``: tenants, sites and gateways with their HMAC secrets.

Layer: storage (SQL over the pool of :class:`cloud.storage.pool.PooledStorage`).
It must not know about HTTP or MQTT; secrets are returned once and never logged.

Secrets are sealed at rest under the operator key (:mod:`cloud.storage.sealing`)
when the storage has one (the cloud's commands always give it one). A row still
in plaintext (written before migration 0013, or by a keyless storage) is sealed
by :meth:`GatewayRegistry.seal_secrets` (``shanshui cloud migrate``) or on its
first lookup. Every change is appended to ``audit_log`` (who, when, what).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from cloud.errors import (
    GatewayExistsError,
    InvalidIdentifierError,
    StorageError,
    UnknownGatewayError,
)
from cloud.storage.models import GatewaySummary
from cloud.storage.pool import scalar, utc, utc_or_none
from cloud.storage.secret_custody import SecretCustody
from wire import MalformedError, check_gateway_id

SECRET_BYTES = 32
MAX_SITE_NAME_CHARS = 200
DEFAULT_GRACE = timedelta(hours=24)
SYSTEM_ACTOR = "system"

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
INSERT INTO gateways (id, tenant_id, site_id, secret, secret_sealed)
VALUES (%(id)s, %(tenant_id)s, %(site_id)s, %(secret)s, %(sealed)s)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

_SELECT_KEYS = """
SELECT secret, secret_sealed, disabled, revoked_at IS NOT NULL,
       CASE WHEN previous_until > now() THEN previous_secret END
FROM gateways WHERE id = %(id)s
"""

_SET_DISABLED = "UPDATE gateways SET disabled = %(disabled)s WHERE id = %(id)s RETURNING tenant_id"

_SET_REVOKED = """
UPDATE gateways SET revoked_at = CASE WHEN %(revoked)s THEN coalesce(revoked_at, now()) END
WHERE id = %(id)s RETURNING tenant_id
"""

# The current secret becomes the previous one, verifying for the grace period.
_ROTATE = """
UPDATE gateways
SET previous_secret = CASE WHEN %(grace)s > interval '0' THEN secret END,
    previous_until = CASE WHEN %(grace)s > interval '0' THEN now() + %(grace)s END,
    secret = %(secret)s
WHERE id = %(id)s AND secret_sealed = %(sealed)s
RETURNING tenant_id
"""

_PLAINTEXT_ROWS = "SELECT id, secret, previous_secret FROM gateways WHERE NOT secret_sealed"

_SEAL_ROW = """
UPDATE gateways SET secret = %(secret)s, previous_secret = %(previous)s, secret_sealed = true
WHERE id = %(id)s AND NOT secret_sealed
"""

_AUDIT = """
INSERT INTO audit_log (actor, tenant_id, action, target, detail)
VALUES (%(actor)s, %(tenant_id)s, %(action)s, %(target)s, %(detail)s)
"""

_LIST_GATEWAYS = """
SELECT g.id, t.name, s.name, g.disabled, g.created_at, g.presence, g.presence_at,
       (SELECT max(b.received_at) FROM ingested_batches b WHERE b.gateway_id = g.id),
       g.revoked_at, CASE WHEN g.previous_until > now() THEN g.previous_until END,
       g.status_report
FROM gateways g
JOIN tenants t ON t.id = g.tenant_id
LEFT JOIN sites s ON s.id = g.site_id
ORDER BY g.id
"""


@dataclass(frozen=True, slots=True)
class GatewayKeys:
    """What verifies a gateway's batches now (never logged: ``repr`` hides the secrets).

    Attributes:
        current: the secret issued last.
        previous: the one before a rotation, while its grace period runs; else None.
        usable: False when the gateway is disabled or revoked.
        revoked: the gateway was revoked (its batches are dead-lettered as ``revoked``).
    """

    current: bytes = field(repr=False)
    previous: bytes | None = field(repr=False)
    usable: bool
    revoked: bool

    @property
    def accepted(self) -> tuple[bytes, ...]:
        """The secrets that verify, newest first; none when not usable."""
        if not self.usable:
            return ()
        return (self.current,) if self.previous is None else (self.current, self.previous)


class GatewayRegistry(SecretCustody):
    """Who may send: gateways, their tenant and site, their secret, enabled or not.

    Args (besides the pool's): secret_key: the operator key sealing secrets at rest.
    Without one, registering or rotating is refused (:class:`ConfigError`) unless
    ``plaintext_secrets=True`` (throwaway databases only); reading needs no key.
    """

    async def register_gateway(
        self,
        gateway_id: str,
        tenant: str = "default",
        site: str | None = None,
        *,
        actor: str = SYSTEM_ACTOR,
    ) -> bytes:
        """Register a gateway with a fresh 32-byte secret and return the secret.

        The secret is returned once; only its holder can sign batches for this
        gateway. The tenant and the site are created if they do not exist yet.

        Raises:
            InvalidIdentifierError: the gateway id or tenant name breaks the wire rules,
                or the site name is empty or too long.
            GatewayExistsError: the id is taken.
        """
        check_identifier("gateway id", gateway_id)
        check_identifier("tenant", tenant)
        if site is not None and not 1 <= len(site) <= MAX_SITE_NAME_CHARS:
            raise InvalidIdentifierError(f"site name must be 1-{MAX_SITE_NAME_CHARS} characters")
        secret = secrets.token_bytes(SECRET_BYTES)
        async with self._connection("registering a gateway") as conn:
            tenant_id = await scalar(conn, _UPSERT_TENANT, {"name": tenant})
            site_id = None
            if site is not None:
                site_id = await scalar(conn, _UPSERT_SITE, {"tenant_id": tenant_id, "name": site})
            params = {
                "id": gateway_id,
                "tenant_id": tenant_id,
                "site_id": site_id,
                "secret": self._stored(gateway_id, secret),
                "sealed": self._secret_key is not None,
            }
            cursor = await conn.execute(_INSERT_GATEWAY, params)
            if await cursor.fetchone() is None:
                raise GatewayExistsError(gateway_id)
            detail = {"tenant": tenant, "site": site}
            await _audit(conn, actor, tenant_id, "gateway.register", gateway_id, detail)
        return secret

    async def gateway_keys(self, gateway_id: str) -> GatewayKeys | None:
        """The secrets that verify the gateway's batches now; None if it is unknown.

        Raises:
            StorageError: a sealed secret and no (or another) operator key.
        """
        async with self._connection("looking up a gateway") as conn:
            cursor = await conn.execute(_SELECT_KEYS, {"id": gateway_id})
            row = await cursor.fetchone()
            if row is None:
                return None
            secret, sealed, disabled, revoked, previous = row
            if not sealed and self._secret_key is not None:  # sealed on first use
                await self._seal_row(conn, gateway_id, bytes(secret), _bytes(previous))
        current = self._opened(gateway_id, bytes(secret), sealed)
        before = None if previous is None else self._opened(gateway_id, bytes(previous), sealed)
        return GatewayKeys(current, before, usable=not (disabled or revoked), revoked=revoked)

    async def gateway_secret(self, gateway_id: str) -> bytes | None:
        """The gateway's current HMAC secret; None if it is unknown, disabled or revoked."""
        keys = await self.gateway_keys(gateway_id)
        return None if keys is None or not keys.usable else keys.current

    async def rotate_secret(
        self, gateway_id: str, *, grace: timedelta = DEFAULT_GRACE, actor: str = SYSTEM_ACTOR
    ) -> bytes:
        """Give a gateway a fresh secret and return it; the old one verifies for ``grace``.

        Without downtime: the gateway keeps signing with the old secret until it is
        re-provisioned, and both verify until the grace period ends (a zero grace
        stops the old secret at once, for a leaked one). Batches signed with the old
        secret that arrive later are dead-lettered as ``bad_signature``.

        Raises:
            UnknownGatewayError: no such gateway.
        """
        if grace < timedelta(0):
            raise InvalidIdentifierError("the grace period cannot be negative")
        await self.gateway_keys(gateway_id)  # seals a plaintext row first
        secret = secrets.token_bytes(SECRET_BYTES)
        async with self._connection("rotating a gateway secret") as conn:
            params = {
                "id": gateway_id,
                "secret": self._stored(gateway_id, secret),
                "sealed": self._secret_key is not None,
                "grace": grace,
            }
            cursor = await conn.execute(_ROTATE, params)
            row = await cursor.fetchone()
            if row is None:
                raise UnknownGatewayError(gateway_id)
            detail = {"grace_s": int(grace.total_seconds())}
            await _audit(conn, actor, row[0], "gateway.rotate_secret", gateway_id, detail)
        return secret

    async def seal_secrets(self) -> int:
        """Seal every secret still in plaintext under the operator key; return how many.

        Raises:
            StorageError: the storage has no operator key.
        """
        if self._secret_key is None:
            raise StorageError("sealing gateway secrets needs SHANSHUI_SECRET_KEY")
        async with self._connection("sealing gateway secrets") as conn:
            cursor = await conn.execute(_PLAINTEXT_ROWS)
            rows = await cursor.fetchall()
            for gateway_id, secret, previous in rows:
                await self._seal_row(conn, gateway_id, bytes(secret), _bytes(previous))
        return len(rows)

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
                created_at=utc(created),
                presence=presence,
                presence_at=utc_or_none(presence_at),
                last_batch_at=utc_or_none(last_batch),
                revoked_at=utc_or_none(revoked_at),
                previous_secret_until=utc_or_none(previous_until),
                status_report=dict(report or {}),
            )
            for (
                gw,
                tenant,
                site,
                disabled,
                created,
                presence,
                presence_at,
                last_batch,
                revoked_at,
                previous_until,
                report,
            ) in rows
        ]

    async def set_gateway_disabled(
        self, gateway_id: str, disabled: bool = True, *, actor: str = SYSTEM_ACTOR
    ) -> None:
        """Disable (or re-enable) a gateway: its batches are refused while disabled.

        Raises:
            UnknownGatewayError: no such gateway.
        """
        async with self._connection("updating a gateway") as conn:
            params = {"id": gateway_id, "disabled": disabled}
            cursor = await conn.execute(_SET_DISABLED, params)
            row = await cursor.fetchone()
            if row is None:
                raise UnknownGatewayError(gateway_id)
            action = "gateway.disable" if disabled else "gateway.enable"
            await _audit(conn, actor, row[0], action, gateway_id, {})

    async def set_gateway_revoked(
        self, gateway_id: str, revoked: bool = True, *, actor: str = SYSTEM_ACTOR
    ) -> None:
        """Revoke (or restore) a gateway: while revoked, its batches are dead-lettered
        as ``revoked`` and it gets no acks.

        Raises:
            UnknownGatewayError: no such gateway.
        """
        async with self._connection("revoking a gateway") as conn:
            cursor = await conn.execute(_SET_REVOKED, {"id": gateway_id, "revoked": revoked})
            row = await cursor.fetchone()
            if row is None:
                raise UnknownGatewayError(gateway_id)
            action = "gateway.revoke" if revoked else "gateway.restore"
            await _audit(conn, actor, row[0], action, gateway_id, {})

    async def _seal_row(
        self,
        conn: AsyncConnection[Any],
        gateway_id: str,
        secret: bytes,
        previous: bytes | None,
    ) -> None:
        params = {
            "id": gateway_id,
            "secret": self._stored(gateway_id, secret),
            "previous": None if previous is None else self._stored(gateway_id, previous),
        }
        await conn.execute(_SEAL_ROW, params)


async def _audit(  # noqa: PLR0917 - one audit line, every column
    conn: AsyncConnection[Any],
    actor: str,
    tenant_id: int | None,
    action: str,
    target: str,
    detail: dict[str, Any],
) -> None:
    params = {
        "actor": actor[:200],
        "tenant_id": tenant_id,
        "action": action,
        "target": target,
        "detail": Jsonb(detail),
    }
    await conn.execute(_AUDIT, params)


def _bytes(value: object) -> bytes | None:
    return None if value is None else bytes(value)  # type: ignore[call-overload]


def check_identifier(what: str, value: str) -> None:
    """Refuse a gateway id or tenant name outside the wire's identifier rules.

    Raises:
        InvalidIdentifierError: with a message that states the rule.
    """
    try:
        check_gateway_id(value)
    except MalformedError:
        raise InvalidIdentifierError(
            f"{what} {value!r} must be 1-64 characters of letters, digits, '_', '.', ':', '-' "
            "starting with a letter or digit"
        ) from None
